"""The watchdog behind serve's per-request deadline (issue #11, fault 7): an armed socket is
answered 408 and shut down when its deadline passes; a disarmed one is left alone."""

from __future__ import annotations

import socket

from connector.request_deadline import TIMEOUT_RESPONSE, Watchdog


def read_all(sock: socket.socket) -> bytes:
    sock.settimeout(10)
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def test_an_expired_socket_is_answered_408_and_its_blocked_read_returns():
    watchdog = Watchdog(seconds=0.2)
    server, client = socket.socketpair()
    with server, client:
        watchdog.arm(server)
        # The server side's blocked read returns (EOF) once the watchdog shuts it down.
        server.settimeout(10)
        assert server.recv(1) == b""
        assert read_all(client) == TIMEOUT_RESPONSE
        length = int(TIMEOUT_RESPONSE.split(b"Content-Length: ")[1].split(b"\r\n")[0])
        assert length == len(TIMEOUT_RESPONSE.split(b"\r\n\r\n", 1)[1])


def test_a_disarmed_socket_is_left_open():
    watchdog = Watchdog(seconds=0.2)
    kept_server, kept_client = socket.socketpair()
    later_server, later_client = socket.socketpair()
    with kept_server, kept_client, later_server, later_client:
        watchdog.arm(kept_server)
        watchdog.arm(later_server)  # the same delay, armed after: it expires after kept's
        watchdog.disarm(kept_server)
        assert read_all(later_client) == TIMEOUT_RESPONSE  # the watchdog has passed kept's
        kept_server.sendall(b"still open")
        kept_client.settimeout(10)
        assert kept_client.recv(64) == b"still open"


def test_re_arming_replaces_the_earlier_deadline():
    watchdog = Watchdog(seconds=0.2)
    server, client = socket.socketpair()
    marker_server, marker_client = socket.socketpair()
    with server, client, marker_server, marker_client:
        watchdog.arm(server)
        watchdog.arm(marker_server)
        watchdog.arm(server, seconds=60)  # a keep-alive's next request: a fresh deadline
        assert read_all(marker_client) == TIMEOUT_RESPONSE
        server.sendall(b"x")
        client.settimeout(10)
        assert client.recv(1) == b"x"
