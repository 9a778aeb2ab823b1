"""The WSGI entry point for a production server: `connector.wsgi:create_app()`.

`create_app()` reads the settings from the environment (and `.env`), builds the services,
starts the background webhook worker (and the sign-up poller, when configured) in this
process, and returns the Flask app wrapped in `RequestBodyLimits`. gunicorn calls it once per
worker process, after the fork, so threads and database connections are never shared across a
fork. `serve` runs gunicorn with `connector.gunicorn_conf`.
"""

from __future__ import annotations

import contextlib
import io
import json
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from connector import request_deadline

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

# Any request body: the app's own outer bound (webhooks are capped at 1 MiB in their blueprint).
MAX_REQUEST_BYTES = 2 * 1024 * 1024
# A client has this long to send its whole body; Stripe sends a webhook in well under a second.
BODY_READ_SECONDS = 10.0

_lock = threading.Lock()
_stoppers: list[Callable[[], None]] = []


class RequestBodyLimits:
    """Reads each request body completely, within `max_bytes` and `read_seconds`, before the
    app sees it. A body that is too large (Content-Length or chunked) is answered 413, one that
    is too slow 408; either way the connection is closed, so what the client still sends is
    never read. The app then reads its body from memory and never blocks on a slow client."""

    def __init__(
        self,
        app: WSGIApp,
        *,
        max_bytes: int = MAX_REQUEST_BYTES,
        read_seconds: float = BODY_READ_SECONDS,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.read_seconds = read_seconds

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        length_header = environ.get("CONTENT_LENGTH") or ""
        chunked = "chunked" in (environ.get("HTTP_TRANSFER_ENCODING") or "").lower()
        if not length_header and not chunked:
            _release(environ)
            return self.app(environ, start_response)
        try:
            declared = int(length_header) if length_header else None
        except ValueError:
            _release(environ)
            return self._refuse(environ, start_response, "400 Bad Request", "bad Content-Length")
        if declared is not None and declared > self.max_bytes:
            _release(environ)
            return self._refuse(environ, start_response, "413 Request Entity Too Large",
                                "body too large")
        outcome = self._read(environ, declared)
        # The body is in memory (or refused): the head-and-body deadline no longer applies.
        _release(environ)
        if outcome is None or (declared is not None and len(outcome) < declared):
            # Too slow, or cut short (the deadline's shutdown, or the client hung up).
            return self._refuse(environ, start_response, "408 Request Timeout", "body too slow")
        if len(outcome) > self.max_bytes:
            return self._refuse(environ, start_response, "413 Request Entity Too Large",
                                "body too large")
        environ["wsgi.input"] = io.BytesIO(outcome)
        environ["CONTENT_LENGTH"] = str(len(outcome))
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        return self.app(environ, start_response)

    def _read(self, environ: dict[str, Any], declared: int | None) -> bytes | None:
        """The body, at most max_bytes + 1 of it; None when the deadline passed first."""
        stream = environ["wsgi.input"]
        sock = environ.get("gunicorn.socket")
        deadline = time.monotonic() + self.read_seconds
        wanted = self.max_bytes + 1 if declared is None else declared
        parts: list[bytes] = []
        got = 0
        try:
            while got < wanted:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                if isinstance(sock, socket.socket):
                    sock.settimeout(remaining)
                chunk = stream.read(min(65536, wanted - got))
                if not chunk:
                    break
                parts.append(chunk)
                got += len(chunk)
        except TimeoutError:
            return None
        finally:
            if isinstance(sock, socket.socket):
                sock.settimeout(None)
        return b"".join(parts)

    @staticmethod
    def _refuse(
        environ: dict[str, Any], start_response: StartResponse, status: str, reason: str
    ) -> Iterable[bytes]:
        body = json.dumps({"error": reason}).encode()
        start_response(status, [("Content-Type", "application/json"),
                                ("Content-Length", str(len(body)))])
        _close_after_response(environ)
        return [body]


def _close_after_response(environ: dict[str, Any]) -> None:
    """Make the server close the connection after this answer (the rest of the body is never
    read). gunicorn ignores a Connection header from the app, so shut the read side: the
    server then sees the connection end instead of draining or reusing it."""
    sock = environ.get("gunicorn.socket")
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RD)


def _release(environ: dict[str, Any]) -> None:
    """Disarm the connection's head-and-body deadline (connector.request_deadline)."""
    sock = environ.get("gunicorn.socket")
    if sock is not None:
        request_deadline.watchdog.disarm(sock)


def create_app(
    *,
    run_worker: bool = True,
    poll_seconds: int | None = None,
    body_read_seconds: float = BODY_READ_SECONDS,
) -> WSGIApp:
    """The bridge as a WSGI app, configured from the environment (see the module doc).
    `poll_seconds`: the sign-up poller's interval (None: BRIDGE_POLL_SECONDS)."""
    from connector import redaction
    from connector.app import create_app as create_flask_app
    from connector.services import build_services
    from connector.settings import Settings

    redaction.install()
    settings = Settings.from_env()
    redaction.register_settings(settings)
    services = build_services(settings)
    flask_app = create_flask_app(settings, services=services)
    if run_worker:
        start_background(services, poll_seconds or settings.bridge_poll_seconds)
    # gunicorn's worker (connector.request_deadline) gives each request this long, head and
    # body together, so a client trickling either one is cut off at the same time.
    request_deadline.watchdog.seconds = body_read_seconds
    return RequestBodyLimits(flask_app, read_seconds=body_read_seconds)


def start_background(services: Any, poll_seconds: int | None = None) -> None:
    """The webhook worker (and the sign-up poller, when BRIDGE_POLL_SECONDS is set), once per
    process; `stop_background()` stops them."""
    from connector.sync.runtime import start_background_worker

    with _lock:
        if _stoppers:
            return
        worker = start_background_worker(services)
        _stoppers.append(worker.stop)
        if poll_seconds:
            from connector.billing.poller import Poller
            from connector.billing.provisioning import Provisioner

            poller = Poller(Provisioner.from_services(services), poll_seconds).start()
            _stoppers.append(poller.stop)


def stop_background() -> None:
    with _lock:
        while _stoppers:
            _stoppers.pop()()
