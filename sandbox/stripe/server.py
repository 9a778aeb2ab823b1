"""Running the emulator: ``run_emulator()`` on a free loopback port, in a daemon thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from werkzeug.serving import WSGIRequestHandler, make_server

from .emulator import StripeEmulator

API_KEY = "sk_test_emulator"


class QuietHandler(WSGIRequestHandler):
    """No access log line per request: tests and benchmarks make thousands."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


@dataclass
class EmulatorHandle:
    base_url: str
    api_key: str
    emulator: StripeEmulator

    def advance(self, seconds: int) -> int:
        return self.emulator.advance(seconds)

    def now(self) -> int:
        return self.emulator.now()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        return self.emulator.wait_idle(timeout)

    def reset(self) -> None:
        self.emulator.reset()


@contextmanager
def run_emulator(
    host: str = "127.0.0.1", port: int = 0, **options: Any
) -> Iterator[EmulatorHandle]:
    """Serve a fresh emulator until the block ends; ``options`` go to ``StripeEmulator``."""
    emulator = StripeEmulator(**options)
    server = make_server(host, port, emulator.app, threaded=True, request_handler=QuietHandler)
    base_url = f"http://{host}:{server.server_port}"
    if "public_url" not in options:
        emulator.public_url = base_url
    emulator.start()
    # A short poll interval makes shutdown quick.
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05,), name="stripe-emulator", daemon=True
    )
    thread.start()
    try:
        yield EmulatorHandle(base_url=base_url, api_key=API_KEY, emulator=emulator)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        emulator.close()
