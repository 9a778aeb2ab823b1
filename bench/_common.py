"""Shared pieces of the benchmarks: servers on loopback, stores, meters, figures, tables.

Nothing here asserts on time: benchmarks measure and print; the reader judges.
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import sys
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from werkzeug.serving import WSGIRequestHandler, make_server

from connector.settings import Settings
from connector.store import engine_url

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
WEBHOOK_SECRET = "whsec_bench_secret"
# Longest any single wait (webhook delivery, worker catch-up) may take before a run gives up.
WAIT_SECONDS = 120.0


class QuietHandler(WSGIRequestHandler):
    """No access-log line per request: it would cost more than the request itself."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Serve a WSGI app on a free loopback port from a thread (threaded, like `serve`)."""
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    # A short poll interval makes shutdown() quick.
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def emulator_settings(caspio_emu: Any, stripe_emu: Any, store_url: str) -> Settings:
    """The bridge's settings pointing at running emulators (`sandbox.*.server.run_emulator`)
    and a store, with the benchmarks' webhook secret."""
    return Settings.for_tests(
        caspio_account_url=caspio_emu.base_url,
        caspio_client_id=caspio_emu.client_id,
        caspio_client_secret=caspio_emu.client_secret,
        stripe_secret_key=stripe_emu.api_key,
        stripe_api_base=stripe_emu.base_url,
        stripe_webhook_secrets=(WEBHOOK_SECRET,),
        bridge_database_url=store_url,
    )


def postgres_base_url() -> str:
    return os.environ.get("BRIDGE_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


@contextmanager
def database_url(kind: str) -> Iterator[str]:
    """A fresh bridge store: a SQLite file in a temporary folder, or a PostgreSQL schema.

    The schema is dropped afterwards so repeated runs never see each other's rows.
    """
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="bench-store-") as folder:
            yield f"sqlite:///{folder}/bridge.db"
        return
    if kind != "postgres":
        raise ValueError(f"unknown database {kind!r}")
    base = postgres_base_url()
    schema = f"bridge_bench_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(engine_url(base), connect_args={"connect_timeout": 5})
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    except Exception:
        admin.dispose()
        raise
    try:
        option = "options=" + quote(f"-csearch_path={schema}")
        yield base + ("&" if "?" in base else "?") + option
    finally:
        try:
            with admin.begin() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            admin.dispose()


def add_database_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database",
        choices=("sqlite", "postgres"),
        default="sqlite",
        help="bridge store: a SQLite file, or PostgreSQL at $BRIDGE_TEST_POSTGRES_URL "
        f"(default {DEFAULT_POSTGRES_URL}) in a fresh schema",
    )


def _number_option(
    convert: Callable[[str], float], low: float, *, above: bool
) -> Callable[[str], Any]:
    """An argparse type: `convert(text)`, finite, and above `low` (`above`) or at least `low`."""
    kind = "whole number" if convert is int else "number"
    rule = f"must be {'above' if above else 'at least'} {low:g}"

    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a {kind}: {text!r}") from None
        if not (value > low if above else value >= low) or value == float("inf"):
            raise argparse.ArgumentTypeError(rule)
        return value

    return parse


positive_int = _number_option(int, 1, above=False)
non_negative_int = _number_option(int, 0, above=False)
positive_float = _number_option(float, 0, above=True)
non_negative_float = _number_option(float, 0, above=False)


def stop_cleanly_on_sigterm() -> None:
    """SIGTERM (plain `kill`) ends the benchmark as Ctrl-C does: through its `finally` and
    `with` blocks, which stop the servers it started and drop its PostgreSQL schema. Python's
    default for SIGTERM is to die at once and leave them behind."""

    def stop(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)


def run_main(main: Any, argv: Sequence[str] | None = None) -> Any:
    """Run a benchmark's `main`: SIGTERM handled as above, and an unreachable PostgreSQL or a
    Ctrl-C reported in one line (exit 2 and 130) instead of a traceback."""
    stop_cleanly_on_sigterm()
    try:
        return main(argv)
    except KeyboardInterrupt:
        print("interrupted: its servers were stopped, its store dropped", file=sys.stderr)
        raise SystemExit(130) from None
    except sa.exc.OperationalError as error:
        reason = str(error.orig or error).strip().splitlines()[0]
        print(f"PostgreSQL at {postgres_base_url()} cannot be used: {reason}", file=sys.stderr)
        raise SystemExit(2) from None


def peak_rss_mib() -> float:
    """Peak resident set size of this process (emulators included: they run in-process)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def calls(snapshot: Mapping[tuple[str, str, int], int]) -> tuple[int, int]:
    """(all calls, writes) from a meter snapshot; a write is anything but GET and the token."""
    total = sum(snapshot.values())
    writes = sum(
        n for (method, where, _), n in snapshot.items() if method != "GET" and where != "oauth"
    )
    return total, writes


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else 0.0


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def print_table(title: str, rows: Iterable[tuple[str, Any]], *, unit_width: int = 0) -> None:
    """A two-column table: figure, value."""
    pairs = [(name, fmt(value)) for name, value in rows]
    width = max([len(name) for name, _ in pairs] + [len("figure")])
    value_width = max([len(v) for _, v in pairs] + [len("value"), unit_width])
    print(f"\n{title}")
    print(f"  {'figure'.ljust(width)}  {'value'.rjust(value_width)}")
    print(f"  {'-' * width}  {'-' * value_width}")
    for name, value in pairs:
        print(f"  {name.ljust(width)}  {value.rjust(value_width)}")
    sys.stdout.flush()
