"""A total deadline for each request's head and body, so slow clients cannot hold gunicorn's
threads (issue #11, fault 7).

gunicorn's gthread worker reads the request line, the headers and the body with blocking reads
on a pool thread; a client that sends one header line every few seconds, or one body byte at a
time, keeps each read alive, so a socket timeout never fires and per-read deadlines are only
checked between reads. Instead one watchdog thread keeps a heap of deadlines: a pool thread arms
one when it starts on a connection (`DeadlineThreadWorker.handle`), `connector.wsgi.
RequestBodyLimits` disarms it once the whole body is in memory, and on expiry the watchdog
answers 408 (best effort, without blocking) and shuts the socket down, so the blocked read
returns at once and the thread is free. Keep-alive requests go through `handle` again, so
each request gets its own deadline.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import threading
import time
from typing import Any

from gunicorn.workers.gthread import ThreadWorker

# Seconds from a pool thread taking a connection until its request body is read whole; set by
# connector.wsgi.RequestBodyLimits from `serve --body-timeout` (default 10).
DEFAULT_SECONDS = 10.0

TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n"
    b"Content-Type: application/json\r\nContent-Length: 30\r\n\r\n"
    b'{"error": "request too slow"}\n'
)


class Watchdog:
    """Deadlines for sockets, enforced by one daemon thread (started on the first `arm`)."""

    def __init__(self, seconds: float = DEFAULT_SECONDS) -> None:
        self.seconds = seconds
        self._condition = threading.Condition()
        self._heap: list[tuple[float, int, socket.socket]] = []
        self._armed: dict[int, int] = {}  # id(sock) -> the sequence number of its live deadline
        self._sequence = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, sock: socket.socket, seconds: float | None = None) -> None:
        """Shut `sock` down `seconds` (default: self.seconds) from now unless disarmed first."""
        deadline = time.monotonic() + (self.seconds if seconds is None else seconds)
        with self._condition:
            number = next(self._sequence)
            self._armed[id(sock)] = number
            heapq.heappush(self._heap, (deadline, number, sock))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="request-deadline", daemon=True
                )
                self._thread.start()
            self._condition.notify()

    def disarm(self, sock: object) -> None:
        """Forget `sock`'s deadline; once this returns the watchdog will not touch it."""
        with self._condition:
            self._armed.pop(id(sock), None)

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._heap:
                    self._condition.wait()
                deadline, number, sock = self._heap[0]
                wait = deadline - time.monotonic()
                if wait > 0:
                    self._condition.wait(wait)
                    continue
                heapq.heappop(self._heap)
                if self._armed.get(id(sock)) != number:
                    continue  # disarmed, or re-armed for a later request
                del self._armed[id(sock)]
                # Under the lock: a disarm racing with expiry waits until the socket is shut.
                _expire(sock)


def _expire(sock: socket.socket) -> None:
    """Answer 408 if the send buffer takes it now, then unblock any read with a shutdown."""
    with contextlib.suppress(OSError):  # a full buffer or a gone client: no answer
        sock.send(TIMEOUT_RESPONSE, socket.MSG_DONTWAIT)
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


watchdog = Watchdog()


class DeadlineThreadWorker(ThreadWorker):
    """gunicorn's gthread worker with a per-request deadline on reading the head and body
    (`worker_class` in connector/gunicorn_conf.py)."""

    def handle(self, conn: Any) -> Any:
        watchdog.arm(conn.sock)
        try:
            return super().handle(conn)
        finally:
            watchdog.disarm(conn.sock)
