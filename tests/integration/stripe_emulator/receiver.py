"""A loopback webhook receiver for the emulator's tests: records requests, answers as told."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response


@dataclass
class Received:
    path: str
    body: bytes
    signature: str


class _Quiet(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class Receiver:
    def __init__(self) -> None:
        self.url = ""
        self._cond = threading.Condition()
        self._received: list[Received] = []
        self._statuses: deque[int] = deque()

    def reset(self) -> None:
        with self._cond:
            self._received.clear()
            self._statuses.clear()

    def answer_next(self, *statuses: int) -> None:
        """Status codes for the next requests, in order; 200 afterwards."""
        with self._cond:
            self._statuses.extend(statuses)

    @property
    def received(self) -> list[Received]:
        with self._cond:
            return list(self._received)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        with self._cond:
            self._cond.wait_for(lambda: len(self._received) >= count, timeout)
            return list(self._received)

    def __call__(self, environ, start_response):  # type: ignore[no-untyped-def]
        request = Request(environ)
        with self._cond:
            status = self._statuses.popleft() if self._statuses else 200
            self._received.append(
                Received(
                    request.path, request.get_data(), request.headers.get("Stripe-Signature", "")
                )
            )
            self._cond.notify_all()
        return Response("ok", status=status)(environ, start_response)


@contextmanager
def run_receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    server = make_server("127.0.0.1", 0, receiver, threaded=True, request_handler=_Quiet)
    receiver.url = f"http://127.0.0.1:{server.server_port}/hook"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
