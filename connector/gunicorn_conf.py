"""The bridge's gunicorn settings, in one place: `caspio-stripe serve` uses `options()`, and
this module is itself a gunicorn config file for a deployment that runs gunicorn directly:

    gunicorn -c python:connector.gunicorn_conf 'connector.wsgi:create_app()'

(`deploy/gunicorn.conf.py` can `from connector.gunicorn_conf import *` and override.)

Why these values (https://docs.gunicorn.org/en/stable/settings.html):
- `gthread`, one process, a bounded pool of threads: the bridge's requests are short (verify,
  commit, answer) and the background worker must run once per process, so one process with
  threads is the default; `WEB_CONCURRENCY` adds processes (each runs its own background
  worker, which the inbox's leases make safe).
- `timeout`/`graceful_timeout`: a stuck worker process is restarted; a stopping one gets the
  time a webhook batch needs to settle.
- `keepalive`: idle connections close after a few seconds instead of holding a slot.
- Request line and header limits are gunicorn's defaults, stated so they are not lost; the
  body is bounded by connector.wsgi.RequestBodyLimits (size and read time).
"""

from __future__ import annotations

import os
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


def options(host: str = "127.0.0.1", port: int | None = None, **overrides: Any) -> dict[str, Any]:
    """gunicorn settings for `serve`: `bind` from host and port (None: $PORT or 8000).
    Raises connector.settings.SettingsError for a malformed PORT or WEB_CONCURRENCY."""
    chosen = port if port is not None else env_int("PORT", DEFAULT_PORT, 1, 65535)
    address = f"[{host}]" if ":" in host else host
    settings: dict[str, Any] = {
        "bind": f"{address}:{chosen}",
        "workers": env_int("WEB_CONCURRENCY", 1, 1, 64),
        "worker_class": WORKER_CLASS,
        "threads": THREADS,
        "timeout": TIMEOUT_SECONDS,
        "graceful_timeout": GRACEFUL_TIMEOUT_SECONDS,
        "keepalive": KEEPALIVE_SECONDS,
        "limit_request_line": 4094,
        "limit_request_fields": 100,
        "limit_request_field_size": 8190,
        "worker_exit": worker_exit,
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
