"""`caspio-stripe serve` runs gunicorn (issue #11, fault 7): werkzeug's development server
gave every connection a thread with no read timeout (300 slow partial bodies held 300
threads) and left the socket open after a 413 to an oversized chunked body."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from connector.gunicorn_conf import THREADS

SLOW_CLIENTS = 60
BODY_TIMEOUT = "1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def process_threads(pid: int) -> int:
    """Threads of `pid` and of its children (gunicorn's master and its worker)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            status = (entry / "status").read_text()
        except OSError:
            continue
        if int(entry.name) == pid or int(stat[1]) == pid:
            total += int(status.split("Threads:")[1].split()[0])
    return total


@pytest.fixture
def served(tmp_path) -> Iterator[tuple[str, int, subprocess.Popen[bytes]]]:
    if not Path("/proc/self/status").exists():
        pytest.skip("counting threads needs /proc (Linux)")
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "CASPIO_ACCOUNT_URL": "http://127.0.0.1:9",
        "CASPIO_CLIENT_ID": "id",
        "CASPIO_CLIENT_SECRET": "caspio-secret-value",
        "STRIPE_SECRET_KEY": "sk_test_unused",
        "STRIPE_API_BASE": "http://127.0.0.1:9",
        "STRIPE_WEBHOOK_SECRET": "whsec_unused",
        "BRIDGE_PUBLIC_URL": "http://127.0.0.1:8000",
        "BRIDGE_DATABASE_URL": f"sqlite:///{tmp_path / 'bridge.db'}",
    }
    command = [str(Path(sys.executable).parent / "caspio-stripe"), "--log-level", "warning",
               "serve", "--port", str(port), "--no-worker", "--body-timeout", BODY_TIMEOUT]
    log = tmp_path / "serve.log"
    with log.open("wb") as sink:  # a file, not a pipe: a full pipe would stall the server
        process = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=sink, stderr=sink,
                                   start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, log.read_text()
        try:
            if requests.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline, "serve did not answer /healthz within 60 s"
        time.sleep(0.2)  # another process's port: polling is the only way to see it open
    try:
        yield url, port, process
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def read_until_closed(sock: socket.socket, limit: float) -> tuple[bytes, bool]:
    """Everything the server sends, and whether it closed the connection within `limit` s."""
    sock.settimeout(limit)
    received = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return received, True
            received += chunk
    except (ConnectionResetError, BrokenPipeError):
        return received, True
    except TimeoutError:
        return received, False


def test_the_server_is_gunicorn(served):
    url, _, _ = served
    assert "gunicorn" in requests.get(f"{url}/healthz", timeout=5).headers.get("Server", "")


def test_slow_partial_bodies_hold_a_bounded_number_of_threads_and_time_out(served):
    url, port, process = served
    before = process_threads(process.pid)
    slow = []
    for _ in range(SLOW_CLIENTS):
        client = socket.create_connection(("127.0.0.1", port))
        client.sendall(b"POST /stripe/webhook HTTP/1.1\r\nHost: x\r\n"
                       b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"id\":")
        slow.append(client)
    try:
        # However many clients trickle, the server's threads stay bounded by its pool
        # (werkzeug's development server started one thread per connection).
        assert process_threads(process.pid) <= before + THREADS + 2
        # Every slow client is answered 408 (or dropped) within the body timeout, in rounds
        # of THREADS, and the connection is closed.
        for client in slow:
            answer, closed = read_until_closed(client, 30)
            assert closed
            assert answer == b"" or answer.startswith(b"HTTP/1.1 408"), answer[:80]
        assert requests.get(f"{url}/healthz", timeout=10).status_code == 200
    finally:
        for client in slow:
            client.close()


def test_an_oversized_chunked_body_gets_413_and_the_socket_is_closed(served):
    _, port, _ = served
    client = socket.create_connection(("127.0.0.1", port))
    client.sendall(b"POST /stripe/webhook HTTP/1.1\r\nHost: x\r\n"
                   b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"%x\r\n%s\r\n" % (65536, b" " * 65536)
    try:
        for _ in range(64):  # 4 MiB offered, twice the largest body any route accepts
            client.sendall(chunk)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server stopped reading, as it should
    answer, closed = read_until_closed(client, 15)
    client.close()
    assert answer.startswith(b"HTTP/1.1 413"), answer[:80]
    assert closed


def test_an_oversized_declared_body_is_refused_before_it_is_read(served):
    _, port, _ = served
    client = socket.create_connection(("127.0.0.1", port))
    client.sendall(b"POST /stripe/webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\n")
    answer, closed = read_until_closed(client, 15)
    client.close()
    assert answer.startswith(b"HTTP/1.1 413") and closed


TRICKLED = 40


def trickle(clients: list[socket.socket], piece: bytes, stop: threading.Event) -> None:
    """Send `piece` on every open client every 0.3 s (a slowloris), until `stop` or 60 s."""
    open_clients = list(clients)
    deadline = time.monotonic() + 60
    while open_clients and not stop.is_set() and time.monotonic() < deadline:
        for client in list(open_clients):
            try:
                client.send(piece)
            except OSError:
                open_clients.remove(client)
        stop.wait(0.3)  # the trickle's pace, not a wait for the server


def test_trickled_headers_and_bodies_are_cut_at_the_deadline_and_others_are_served(served):
    """#11 fault 7: a header line or a body byte every so often kept every read alive, so 16
    such clients held all of gunicorn's threads for ever. Each request now has one deadline
    (--body-timeout, here 1 s) for its head and body together."""
    url, port, _ = served
    slow: list[socket.socket] = []
    headers, bodies = [], []
    for _ in range(TRICKLED):
        client = socket.create_connection(("127.0.0.1", port))
        client.sendall(b"POST /stripe/webhook HTTP/1.1\r\nHost: x\r\n")
        headers.append(client)
        client = socket.create_connection(("127.0.0.1", port))
        client.sendall(b"POST /stripe/webhook HTTP/1.1\r\nHost: x\r\n"
                       b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
        bodies.append(client)
    slow = headers + bodies
    stop = threading.Event()
    senders = [
        threading.Thread(target=trickle, args=(headers, b"X-Slow: 1\r\n", stop)),
        threading.Thread(target=trickle, args=(bodies, b" ", stop)),
    ]
    for sender in senders:
        sender.start()
    try:
        # Other requests are still served while the slow clients keep trickling.
        assert requests.get(f"{url}/healthz", timeout=15).status_code == 200
        # Every slow client is answered 408 (or dropped) and its connection closed.
        for client in slow:
            answer, closed = read_until_closed(client, 30)
            assert closed, "a trickling client was never cut off"
            assert answer == b"" or answer.startswith(b"HTTP/1.1 408"), answer[:80]
        assert requests.get(f"{url}/healthz", timeout=15).status_code == 200
    finally:
        stop.set()
        for sender in senders:
            sender.join()
        for client in slow:
            client.close()


def test_a_keep_alive_connection_gets_a_fresh_deadline_per_request(served):
    """A deadline armed for one request must not cut the next one on the same connection."""
    _, port, _ = served
    client = socket.create_connection(("127.0.0.1", port))
    try:
        for _ in range(3):
            client.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            client.settimeout(10)
            answer = b""
            while b"\r\n\r\n" not in answer:
                chunk = client.recv(65536)
                assert chunk, "the server closed a keep-alive connection"
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 200"), answer[:80]
            head, _, rest = answer.partition(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            while len(rest) < length:
                rest += client.recv(65536)
            # Idle past the first request's deadline (1 s): a stale deadline would fire now.
            time.sleep(1.5)
    finally:
        client.close()
