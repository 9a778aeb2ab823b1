"""The bridge's gunicorn settings, in one place: `caspio-stripe serve` uses `options()`, and
this module is itself a gunicorn config file for a deployment that runs gunicorn directly:

    gunicorn -c python:connector.gunicorn_conf 'connector.wsgi:create_app()'

(`deploy/gunicorn.conf.py` can `from connector.gunicorn_conf import *` and override.)

Why these values (https://docs.gunicorn.org/en/stable/settings.html):
- `gthread`, a bounded pool of threads per process: the bridge's requests are short (verify,
  commit, answer). Processes (`WEB_CONCURRENCY`, else `default_web_processes`): one on
  SQLite, two on PostgreSQL. Measured on 2 cores (bench/intake.py): SQLite takes one writer
  at a time across processes, so a second process only adds lock waits (500 events/s: p99
  16 ms with one process, 53 ms with two), while PostgreSQL commits from both at once and
  one process's Python tops out near 1,000 events/s. Each `serve` process runs its own
  background worker, which the inbox's leases make safe; admin jobs and /metrics are shared
  through the store and the multiprocess directory.
- `timeout`/`graceful_timeout`: a stuck worker process is restarted; a stopping one gets the
  time a webhook batch needs to settle.
- `keepalive`: idle connections close after a few seconds instead of holding a slot.
- Request line and header limits are gunicorn's defaults, stated so they are not lost; the
  body is bounded by connector.wsgi.RequestBodyLimits (size and read time).
- `on_starting`, `child_exit`, `on_exit`: /metrics adds up every process (prometheus_client's
  multiprocess mode, connector.metrics), whatever WEB_CONCURRENCY is: one code path, and a
  worker that gunicorn restarts (timeout, HUP) keeps its counts instead of starting from 0.
  Never use `preload_app`: the app would be built (and its threads started) before the fork.
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
from typing import Any

DEFAULT_PORT = 8000
# gthread with a total deadline on each request's head and body (slow clients, #11 fault 7).
WORKER_CLASS = "connector.request_deadline.DeadlineThreadWorker"
THREADS = 16
TIMEOUT_SECONDS = 30
GRACEFUL_TIMEOUT_SECONDS = 30
KEEPALIVE_SECONDS = 5


def env_int(name: str, default: int, low: int, high: int) -> int:
    """The integer in environment variable `name` (unset or empty: `default`), within
    [low, high]. Raises connector.settings.SettingsError naming the variable otherwise."""
    from connector.settings import SettingsError

    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(name, f"must be a whole number from {low} to {high}") from None
    if not low <= value <= high:
        raise SettingsError(name, f"must be a whole number from {low} to {high}")
    return value


SQLITE_WEB_PROCESSES = 1
POSTGRES_WEB_PROCESSES = 2


def default_web_processes(database_url: str | None = None) -> int:
    """Web processes when WEB_CONCURRENCY is unset: 1 on SQLite, 2 on PostgreSQL (why: the
    module doc). `database_url` None: BRIDGE_DATABASE_URL from the environment, else from
    `.env` in the working directory, as the settings read it; unset means SQLite."""
    if database_url is None:
        database_url = os.environ.get("BRIDGE_DATABASE_URL")
    if database_url is None and os.path.isfile(".env"):
        from pathlib import Path

        from connector.settings import read_env_file

        database_url = read_env_file(Path(".env")).get("BRIDGE_DATABASE_URL")
    postgres = (database_url or "").strip().lower().startswith(("postgres://", "postgresql"))
    return POSTGRES_WEB_PROCESSES if postgres else SQLITE_WEB_PROCESSES


def options(
    host: str = "127.0.0.1",
    port: int | None = None,
    *,
    database_url: str | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """gunicorn settings for `serve`: `bind` from host and port (None: $PORT or 8000), the
    processes from WEB_CONCURRENCY or the store (`default_web_processes(database_url)`).
    Raises connector.settings.SettingsError for a malformed PORT or WEB_CONCURRENCY."""
    chosen = port if port is not None else env_int("PORT", DEFAULT_PORT, 1, 65535)
    address = f"[{host}]" if ":" in host else host
    settings: dict[str, Any] = {
        "bind": f"{address}:{chosen}",
        "workers": env_int("WEB_CONCURRENCY", default_web_processes(database_url), 1, 64),
        "worker_class": WORKER_CLASS,
        "threads": THREADS,
        "timeout": TIMEOUT_SECONDS,
        "graceful_timeout": GRACEFUL_TIMEOUT_SECONDS,
        "keepalive": KEEPALIVE_SECONDS,
        "limit_request_line": 4094,
        "limit_request_fields": 100,
        "limit_request_field_size": 8190,
        "worker_exit": worker_exit,
        "on_starting": on_starting,
        "child_exit": child_exit,
        "on_exit": on_exit,
        # gunicorn 24+ opens a control socket at one fixed path per user: two bridges on one
        # machine (or a test run) would fight over it, and nothing here uses it.
        "control_socket_disable": True,
        # Logs go through the bridge's own handler (connector.logs), redacted.
        "accesslog": None,
        "errorlog": "-",
    }
    settings.update(overrides)
    return settings


def worker_exit(server: Any, worker: Any) -> None:
    """Stop the process's background worker and poller so a batch settles before exit."""
    from connector import wsgi

    wsgi.stop_background()


# The metrics folders this process created (removed by on_exit); an operator's is left.
_created_metrics_dirs: list[str] = []


def metrics_directory() -> str:
    """A folder for this server run's metrics files, empty: the operator's
    PROMETHEUS_MULTIPROC_DIR (created if missing; the `*.db` files of an earlier run removed,
    as prometheus_client requires), else a new private folder in the temporary directory, so
    two bridges on one machine never share one. Raises OSError if it cannot be made."""
    from connector.metrics import MULTIPROCESS_ENV

    given = os.environ.get(MULTIPROCESS_ENV, "").strip()
    if given:
        os.makedirs(given, exist_ok=True)
        for stale in glob.glob(os.path.join(glob.escape(given), "*.db")):
            os.remove(stale)
        return given
    remove_orphaned_metrics_dirs()
    created = tempfile.mkdtemp(prefix=f"{METRICS_DIR_PREFIX}{os.getpid()}-")
    _created_metrics_dirs.append(created)
    return created


METRICS_DIR_PREFIX = "caspio-stripe-metrics-"


def remove_orphaned_metrics_dirs(temp_dir: str | None = None) -> list[str]:
    """Remove the private metrics folders of masters that are gone (a SIGKILLed server never
    runs `on_exit`), named `caspio-stripe-metrics-<master pid>-…`; returns what was removed.
    A folder whose pid is alive, or whose name carries none, is left alone."""
    removed: list[str] = []
    pattern = os.path.join(glob.escape(temp_dir or tempfile.gettempdir()), METRICS_DIR_PREFIX + "*")
    for folder in glob.glob(pattern):
        pid_text = os.path.basename(folder)[len(METRICS_DIR_PREFIX):].split("-", 1)[0]
        if not pid_text.isdigit() or _pid_alive(int(pid_text)):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def on_starting(server: Any) -> None:
    """In the master, before any worker is forked: every process will write its counts to
    this run's metrics folder and every /metrics answer adds them up (connector.metrics)."""
    from connector.metrics import share_counts_through

    share_counts_through(metrics_directory())


def child_exit(server: Any, worker: Any) -> None:
    """In the master, after a worker process ended: prometheus_client's bookkeeping for a dead
    process (its live gauges go; its counters and histograms stay in the sums)."""
    from prometheus_client import multiprocess

    from connector.metrics import multiprocess_directory

    directory = multiprocess_directory()
    if directory is not None:
        # prometheus_client leaves it unannotated.
        multiprocess.mark_process_dead(worker.pid, directory)  # type: ignore[no-untyped-call]


def on_exit(server: Any) -> None:
    """The master stops: remove the metrics folder it created (not the operator's)."""
    while _created_metrics_dirs:
        shutil.rmtree(_created_metrics_dirs.pop(), ignore_errors=True)


# Module-level names, for `gunicorn -c python:connector.gunicorn_conf`.
_defaults = options(os.environ.get("HOST", "127.0.0.1"))
bind = _defaults["bind"]
workers = _defaults["workers"]
worker_class = _defaults["worker_class"]
threads = _defaults["threads"]
timeout = _defaults["timeout"]
graceful_timeout = _defaults["graceful_timeout"]
keepalive = _defaults["keepalive"]
limit_request_line = _defaults["limit_request_line"]
limit_request_fields = _defaults["limit_request_fields"]
limit_request_field_size = _defaults["limit_request_field_size"]
errorlog = _defaults["errorlog"]
control_socket_disable = True
