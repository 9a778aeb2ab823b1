"""`caspio-stripe sandbox` start-up, as a person runs it: a new process on a fresh data
folder until it prints the URL to open, Ctrl-C until it has exited, then the same command
again (resuming) until the URL. The issue's target is under 30 s for a fresh start.

    python -m bench.sandbox_startup [--runs 3]
"""

from __future__ import annotations

import argparse
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench._common import WAIT_SECONDS, positive_int, print_table

KEYS = ("fresh_to_url_s", "stop_s", "resume_to_url_s")
COMMAND = [sys.executable, "-c", "from connector.cli import main; main()", "sandbox"]


def _until_url(process: subprocess.Popen[str], lines: queue.Queue[str | None]) -> None:
    while True:
        line = lines.get(timeout=WAIT_SECONDS)
        if line is None:
            raise SystemExit(f"the sandbox exited with {process.wait()} before its URL")
        if "Open http" in line:
            return


def _run_once(data_dir: Path, ports: list[str]) -> tuple[float, float]:
    """Seconds from start to the URL line, and from SIGINT to exit."""
    started = time.monotonic()
    process = subprocess.Popen([*COMMAND, "--data-dir", str(data_dir), *ports],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        with process.stdout:
            for line in process.stdout:
                lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    try:
        _until_url(process, lines)
        up = time.monotonic() - started
    finally:
        stopping = time.monotonic()
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=WAIT_SECONDS)
    if code != 0:
        raise SystemExit(f"the sandbox exited with {code} after Ctrl-C")
    return up, time.monotonic() - stopping


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=positive_int, default=3)
    args = parser.parse_args(argv)
    ports = ["--bridge-port", "0", "--caspio-port", "0", "--stripe-port", "0"]
    fresh, stops, resumes = [], [], []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="bench-sandbox-") as folder:
            data_dir = Path(folder) / "data"
            up, stop = _run_once(data_dir, ports)
            fresh.append(up)
            stops.append(stop)
            again, stop = _run_once(data_dir, [])
            resumes.append(again)
            stops.append(stop)
    figures: dict[str, Any] = {"runs": args.runs, "fresh_to_url_s": max(fresh),
                               "stop_s": max(stops), "resume_to_url_s": max(resumes)}
    print_table(f"caspio-stripe sandbox, worst of {args.runs} runs (target: fresh < 30 s)", [
        ("fresh start to URL (s)", figures["fresh_to_url_s"]),
        ("Ctrl-C to exit (s)", figures["stop_s"]),
        ("resume to URL (s)", figures["resume_to_url_s"]),
    ])
    return figures


if __name__ == "__main__":
    main()
