"""Webhook intake under the production server, loaded from a separate process.

The bridge's web side runs exactly as `deploy/` runs it (`gunicorn -c deploy/gunicorn.conf.py
'connector.wsgi:create_app(run_worker=False)'`, its processes from `WEB_CONCURRENCY` or that
file's default) in its own process group, its store a SQLite file with durable commits or a
fresh PostgreSQL schema. The load comes from `bench.loadgen` in another process:
signed events (7 per paid renewal, ~3 KB, indented as Stripe sends them) at fixed offered
rates, open loop, then as fast as its connections go. Only the door is measured (verify,
parse, commit to the inbox); afterwards the inbox must hold every accepted event exactly once.

    python -m bench.intake [--rates 100,250,500,1000] [--duration 10] [--max-events 5000]
                           [--database sqlite,postgres] [--web-concurrency N]
                           [--json FILE] [--plot FILE]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa

from bench._common import (
    WEBHOOK_SECRET,
    database_url,
    non_negative_float,
    positive_float,
    positive_int,
    print_table,
    run_main,
)
from bench.webhook_ingest import build_bodies
from connector.store import engine_url

KEYS = (
    "database",
    "offered_per_s",
    "sent",
    "accepted",
    "accepted_per_s",
    "latency_p50_ms",
    "latency_p99_ms",
    "latency_max_ms",
    "errors",
    "server_peak_rss_mib",
    "web_processes",
)
ROOT = Path(__file__).resolve().parents[1]
START_SECONDS = 60.0


def offered_rates(text: str) -> list[float]:
    """`--rates`: comma-separated offered rates, each above 0 (the maximum is always run)."""
    rates = [positive_float(part.strip()) for part in text.split(",") if part.strip()]
    if not rates:
        raise argparse.ArgumentTypeError("give at least one rate")
    return rates


def store_kinds(text: str) -> list[str]:
    """`--database`: comma-separated stores, each sqlite or postgres."""
    kinds = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [kind for kind in kinds if kind not in ("sqlite", "postgres")]
    if unknown or not kinds:
        raise argparse.ArgumentTypeError("give sqlite, postgres or sqlite,postgres")
    return kinds


def writable_file(text: str) -> Path:
    """An output path whose folder exists (checked before measuring, not after)."""
    path = Path(text)
    if not path.parent.is_dir():
        raise argparse.ArgumentTypeError(f"no such folder: {path.parent}")
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def installed_script(name: str) -> str:
    """The console script `name` next to this interpreter (or on PATH)."""
    script = Path(sys.executable).with_name(name)
    found = str(script) if script.exists() else shutil.which(name)
    if found is None:
        raise SystemExit(f"{name} is not installed: pip install -e .")
    return found


def bridge_command() -> list[str]:
    """The bridge's console script (`caspio-stripe`)."""
    return [installed_script("caspio-stripe")]


def deployed_web_command(port: int) -> list[str]:
    """The web side as deploy/ (compose, systemd, Procfile) runs it, on a loopback port."""
    return [installed_script("gunicorn"), "-c", str(ROOT / "deploy" / "gunicorn.conf.py"),
            "--bind", f"127.0.0.1:{port}", "connector.wsgi:create_app(run_worker=False)"]


def bridge_environment(store_url: str, port: int,
                       web_concurrency: int | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CASPIO_", "STRIPE_"))}
    if web_concurrency is not None:
        env["WEB_CONCURRENCY"] = str(web_concurrency)
    env.update(
        {
            # Intake never calls Caspio or Stripe: the addresses only have to be valid.
            "CASPIO_ACCOUNT_URL": "http://127.0.0.1:9",
            "CASPIO_CLIENT_ID": "bench",
            "CASPIO_CLIENT_SECRET": "bench-secret",
            "STRIPE_SECRET_KEY": "sk_test_bench",
            "STRIPE_API_BASE": "http://127.0.0.1:9",
            "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "BRIDGE_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "BRIDGE_DATABASE_URL": store_url,
        }
    )
    return env


def _process_tree(pid: int) -> list[int]:
    """pid and its descendants (gunicorn's master and workers), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def peak_rss_mib(pid: int) -> float:
    """Sum over the server's processes of their peak resident set (VmHWM)."""
    total_kib = 0
    for member in _process_tree(pid):
        try:
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total_kib += int(line.split()[1])
        except OSError:
            continue
    return total_kib / 1024


@contextmanager
def running_bridge(
    store_url: str, web_concurrency: int | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in the finally below
    process = subprocess.Popen(
        deployed_web_command(port),
        env=bridge_environment(store_url, port, web_concurrency),
        cwd=tempfile.gettempdir(),
        stdout=subprocess.DEVNULL,
        stderr=log,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            if process.poll() is not None:
                log.seek(0)
                raise SystemExit(f"the bridge exited: {log.read().decode()[-2000:]}")
            try:
                if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the bridge did not answer /healthz within 60 s")
            # Polling a child process's port: there is nothing to await across processes.
            time.sleep(0.1)
        yield base, process
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
        except ProcessLookupError:
            process.wait()  # the server had already exited (its error is in the log)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def run_loadgen(
    url: str, bodies_file: Path, rate: float, duration: float, connections: int
) -> dict[str, Any]:
    env = dict(os.environ, BENCH_WEBHOOK_SECRET=WEBHOOK_SECRET)
    command = [sys.executable, "-m", "bench.loadgen", "--url", url, "--bodies",
               str(bodies_file), "--rate", str(rate), "--duration", str(duration),
               "--connections", str(connections)]
    done = subprocess.run(
        command, env=env, cwd=ROOT, capture_output=True, text=True, check=False,
        timeout=duration * 20 + 300,
    )
    if done.returncode != 0:
        raise SystemExit(f"load generator failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def inbox_rows(store_url: str) -> int:
    engine = sa.create_engine(engine_url(store_url))
    try:
        with engine.connect() as conn:
            count = conn.exec_driver_sql("SELECT count(*) FROM bridge_inbox_events").scalar_one()
            return int(count)
    finally:
        engine.dispose()


WARMUP_RATE = 100.0


def measure(database: str, rates: Sequence[float], duration: float, max_events: int,
            connections: int, workdir: Path, web_concurrency: int | None = None,
            warmup: float = 3.0) -> list[dict[str, Any]]:
    """One server, then each offered rate in turn (and the maximum); first `warmup` seconds
    at 100 events/s that are not reported (each process's first requests open the store,
    fill SQLAlchemy's statement cache and import lazily: a deployed bridge is past that)."""
    rows: list[dict[str, Any]] = []
    runs = [(rate, int(rate * duration)) for rate in rates] + [(0.0, max_events)]
    if warmup > 0:
        runs.insert(0, (-WARMUP_RATE, int(WARMUP_RATE * warmup)))
    with (
        database_url(database) as store_url,
        running_bridge(store_url, web_concurrency) as (base, process),
    ):
        web_processes = len(_process_tree(process.pid)) - 1  # gunicorn's master serves none
        sent_total = 0
        for rate, count in runs:
            bodies_file = workdir / f"bodies-{database}-{int(rate)}.b64"
            with bodies_file.open("wb") as handle:
                for body in build_bodies(count):
                    handle.write(base64.b64encode(body) + b"\n")
            figures = run_loadgen(f"{base}/stripe/webhook", bodies_file, abs(rate),
                                  warmup if rate < 0 else duration, connections)
            sent_total += int(figures["accepted"])
            if rate < 0:  # the warm-up: stored (and checked below), not reported
                continue
            figures["database"] = database
            figures["errors"] = sum(figures["errors"].values()) + sum(
                n for status, n in figures["statuses"].items() if not status.startswith("2")
            )
            figures["server_peak_rss_mib"] = peak_rss_mib(process.pid)
            figures["web_processes"] = web_processes
            rows.append(figures)
        stored = inbox_rows(store_url)
        if stored != sent_total:
            raise SystemExit(f"{database}: {sent_total} events accepted but {stored} stored")
    return rows


def plot(rows: Sequence[dict[str, Any]], path: Path) -> bool:
    """Latency against offered rate, one line per store and percentile (needs matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    figure, axis = plt.subplots(figsize=(7, 4))
    for database in sorted({row["database"] for row in rows}):
        fixed = [r for r in rows if r["database"] == database and r["offered_per_s"] > 0]
        rates = [r["offered_per_s"] for r in fixed]
        for key, style in (("latency_p50_ms", "o--"), ("latency_p99_ms", "o-")):
            axis.plot(rates, [r[key] for r in fixed], style,
                      label=f"{database} {key.split('_')[1]}")
    axis.axhline(50, color="grey", linestyle=":", label="p99 target (50 ms at 500/s)")
    axis.set_xlabel("offered events / s")
    axis.set_ylabel("acknowledgement latency (ms)")
    axis.set_yscale("log")
    axis.set_title("Webhook intake under gunicorn (2 cores)")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=offered_rates, default=offered_rates("100,250,500,1000"),
                        help="offered rates, events/s, comma-separated")
    parser.add_argument("--duration", type=positive_float, default=10.0, help="seconds per rate")
    parser.add_argument("--max-events", type=positive_int, default=5000,
                        help="events for the as-fast-as-possible run")
    parser.add_argument("--connections", type=positive_int, default=64)
    parser.add_argument("--database", type=store_kinds, default=store_kinds("sqlite,postgres"),
                        help="stores to measure, comma-separated: sqlite, postgres")
    parser.add_argument("--warmup", type=non_negative_float, default=3.0,
                        help="seconds at 100 events/s before measuring, not reported")
    parser.add_argument("--web-concurrency", type=positive_int, default=None,
                        help="gunicorn processes (default: deploy/gunicorn.conf.py's)")
    parser.add_argument("--json", type=writable_file, default=None,
                        help="also write the figures here")
    parser.add_argument("--plot", type=writable_file, default=None,
                        help="write a PNG of latency/rate")
    args = parser.parse_args(argv)
    rates = args.rates
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-intake-") as folder:
        for database in args.database:
            rows += measure(database, rates, args.duration, args.max_events,
                            args.connections, Path(folder), args.web_concurrency,
                            args.warmup)
    for row in rows:
        offered = "max" if row["offered_per_s"] == 0 else f"{row['offered_per_s']:.0f}/s"
        print_table(
            f"intake, {row['database']}, offered {offered}",
            [
                ("sent", row["sent"]),
                ("accepted / s", row["accepted_per_s"]),
                ("latency p50 (ms)", row["latency_p50_ms"]),
                ("latency p99 (ms)", row["latency_p99_ms"]),
                ("latency max (ms)", row["latency_max_ms"]),
                ("errors", row["errors"]),
                ("server peak RSS (MiB)", row["server_peak_rss_mib"]),
                ("web processes", row["web_processes"]),
            ],
        )
    figures: dict[str, Any] = {"runs": rows}
    print(json.dumps(figures))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    if args.plot and not plot(rows, args.plot):
        print("no plot: matplotlib is not installed (pip install -e '.[bench]')")
    return figures


if __name__ == "__main__":
    run_main(main)
