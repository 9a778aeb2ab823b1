"""The bridge's processes as deployed (gunicorn web, `caspio-stripe worker`), started as
child process groups from the command lines in deploy/, against in-process emulators."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import requests

START_SECONDS = 90.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Process:
    """One child process group, its output in a file (a full pipe would stall it)."""

    def __init__(self, name: str, command: Sequence[str], env: dict[str, str],
                 workdir: Path) -> None:
        self.name = name
        self.log_path = workdir / f"{name}.log"
        with self.log_path.open("wb") as sink:
            self.popen = subprocess.Popen(list(command), env=env, cwd=workdir, stdout=sink,
                                          stderr=sink, start_new_session=True)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.popen.poll() is None

    def wait_http(self, url: str, expect: int = 200) -> requests.Response:
        """Poll `url` until it answers `expect` (another process's port: polling is the
        only way to see it open); fail with the log if the process exits or time runs out."""
        deadline = time.monotonic() + START_SECONDS
        last: object = None
        while True:
            assert self.alive(), f"{self.name} exited:\n{self.log()}"
            try:
                answer = requests.get(url, timeout=2)
                if answer.status_code == expect:
                    return answer
                last = (answer.status_code, answer.text[:300])
            except requests.RequestException as error:
                last = type(error).__name__
            assert time.monotonic() < deadline, f"{url}: {last}\n{self.log()}"
            time.sleep(0.2)

    def stop(self) -> int | None:
        """SIGTERM to the group, as systemd and Docker stop it; SIGKILL after 30 s."""
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()
        return self.popen.returncode
