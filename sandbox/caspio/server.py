"""Serve the emulator on a loopback port in a background thread (tests, sandbox)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from sandbox.caspio.app import CaspioEmulator


@dataclass
class RunningEmulator:
    """A served emulator: where it listens, its credentials and its controls."""

    base_url: str
    emulator: CaspioEmulator
    server: BaseWSGIServer

    @property
    def client_id(self) -> str:
        return self.emulator.client_id

    @property
    def client_secret(self) -> str:
        return self.emulator.client_secret

    @property
    def controls(self) -> CaspioEmulator:
        return self.emulator

    @property
    def port(self) -> int:
        return int(self.server.server_port)

    def fresh(self) -> RunningEmulator:
        """Reset every table, token, fault, counter and webhook; returns self."""
        self.emulator.reset()
        return self


class _RequestHandler(WSGIRequestHandler):
    """Keep-alive connections; a dropped-connection fault closes the socket."""

    protocol_version = "HTTP/1.1"

    def connection_dropped(self, error: BaseException,
                           environ: dict[str, Any] | None = None) -> None:
        # Without this a keep-alive socket stays open and the client waits for an answer.
        self.close_connection = True


class _QuietRequestHandler(_RequestHandler):
    """No access log: tests make thousands of calls."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


def start_emulator(host: str = "127.0.0.1", port: int = 0, *, access_log: bool = False,
                   **options: Any) -> tuple[RunningEmulator, threading.Thread]:
    """Serve a new ``CaspioEmulator(**options)`` from a daemon thread."""
    emulator = CaspioEmulator(**options)
    handler = _RequestHandler if access_log else _QuietRequestHandler
    server = make_server(host, port, emulator, threaded=True, request_handler=handler)
    # A short poll interval makes shutdown() quick (it waits for the next poll).
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name="caspio-emulator", daemon=True)
    thread.start()
    base_url = f"http://{host}:{server.server_port}"
    return RunningEmulator(base_url, emulator, server), thread


@contextmanager
def run_emulator(host: str = "127.0.0.1", port: int = 0,
                 **options: Any) -> Iterator[RunningEmulator]:
    """Run a ``CaspioEmulator(**options)`` on ``host:port`` (0: a free port) until exit."""
    running, thread = start_emulator(host, port, **options)
    try:
        yield running
    finally:
        running.server.shutdown()
        running.server.server_close()
        thread.join(timeout=5)
        running.emulator.close()
