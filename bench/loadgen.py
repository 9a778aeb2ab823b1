"""An open-loop HTTP load generator for signed Stripe webhooks, run in its own process.

The intake benchmark starts this module as a separate Python process, so the client never
competes with the server for one interpreter's GIL. It reads event bodies from a file
(one base64-encoded body per line, so bodies keep Stripe's indentation), signs each at send
time (`Stripe-Signature: t=…,v1=…`, the secret from the `BENCH_WEBHOOK_SECRET` environment
variable), and sends them over asyncio connections with keep-alive (reconnecting when the
server closes).

Two modes:
- `--rate R`: open loop. Request i is *due* at start + i/R; its latency is measured from
  when it was due, not from when a connection became free, so a server that falls behind
  shows its queueing delay (no coordinated omission).
- `--rate 0`: as fast as the connections go (closed loop), for the maximum throughput.

Prints one JSON object: counts by status, errors, achieved rate and latency percentiles.

    python -m bench.loadgen --url http://127.0.0.1:8000/stripe/webhook --bodies F \
        [--rate 500] [--duration 10] [--connections 32]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

# A request unanswered this long counts as an error (and its connection is dropped).
REQUEST_TIMEOUT = 30.0


@dataclass
class Results:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    first_sent: float = 0.0
    last_done: float = 0.0


def sign(secret: bytes, body: bytes, now: int) -> str:
    """Stripe's scheme: HMAC-SHA256 over `"{t}." + body` (stripe.md §1.1)."""
    digest = hmac.new(secret, f"{now}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={now},v1={digest}"


class Connection:
    """One keep-alive HTTP/1.1 connection, reopened when the server closes it."""

    def __init__(self, host: str, port: int, path: str) -> None:
        self.host, self.port, self.path = host, port, path
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.reader is None or self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        return self.reader, self.writer

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def post(self, body: bytes, signature: str) -> int:
        reader, writer = await self._open()
        head = (
            f"POST {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: application/json\r\nStripe-Signature: {signature}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        writer.write(head + body)
        await writer.drain()
        status_line = await reader.readline()
        if not status_line:
            raise ConnectionError("closed before answering")
        status = int(status_line.split()[1])
        length, close = 0, False
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value.strip())
            elif name == "connection" and value.strip().lower() == "close":
                close = True
        if length:
            await reader.readexactly(length)
        if close:
            self.close()
        return status


async def run_open(
    url: str, bodies: list[bytes], secret: bytes, rate: float, duration: float, connections: int
) -> Results:
    """Open loop: request i is due at start + i/rate, whatever the server's pace."""
    parts = urlsplit(url)
    host, port, path = parts.hostname or "127.0.0.1", parts.port or 80, parts.path or "/"
    total = min(len(bodies), int(rate * duration))
    results = Results()
    queue: asyncio.Queue[tuple[int, float] | None] = asyncio.Queue()

    async def client() -> None:
        connection = Connection(host, port, path)
        while (item := await queue.get()) is not None:
            index, due = item
            body = bodies[index]
            try:
                status = await asyncio.wait_for(
                    connection.post(body, sign(secret, body, int(time.time()))), REQUEST_TIMEOUT
                )
                results.statuses[status] += 1
            except (OSError, asyncio.IncompleteReadError, ValueError, TimeoutError) as error:
                results.errors[type(error).__name__] += 1
                connection.close()
            done = time.perf_counter()
            results.latencies.append(done - due)
            results.last_done = max(results.last_done, done)
        connection.close()

    workers = [asyncio.create_task(client()) for _ in range(connections)]
    start = time.perf_counter()
    results.first_sent = start
    for index in range(total):
        due = start + index / rate
        delay = due - time.perf_counter()
        if delay > 0:
            # The schedule itself: requests are due at fixed times (open loop).
            await asyncio.sleep(delay)
        queue.put_nowait((index, due))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    return results


async def run_closed(url: str, bodies: list[bytes], secret: bytes, connections: int) -> Results:
    """Closed loop: each connection sends its next body as soon as the last one is answered."""
    parts = urlsplit(url)
    host, port, path = parts.hostname or "127.0.0.1", parts.port or 80, parts.path or "/"
    results = Results()
    next_index = iter(range(len(bodies)))

    async def client() -> None:
        connection = Connection(host, port, path)
        for index in next_index:
            body = bodies[index]
            sent = time.perf_counter()
            try:
                status = await asyncio.wait_for(
                    connection.post(body, sign(secret, body, int(time.time()))), REQUEST_TIMEOUT
                )
                results.statuses[status] += 1
            except (OSError, asyncio.IncompleteReadError, ValueError, TimeoutError) as error:
                results.errors[type(error).__name__] += 1
                connection.close()
            done = time.perf_counter()
            results.latencies.append(done - sent)
            results.last_done = max(results.last_done, done)
        connection.close()

    results.first_sent = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(connections)))
    return results


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(results: Results, offered: float) -> dict[str, object]:
    wall = max(results.last_done - results.first_sent, 1e-9)
    ok = sum(n for status, n in results.statuses.items() if 200 <= status < 300)
    ms = [value * 1000 for value in results.latencies]
    return {
        "offered_per_s": offered,
        "sent": len(results.latencies),
        "accepted": ok,
        "statuses": {str(k): v for k, v in sorted(results.statuses.items())},
        "errors": dict(results.errors),
        "wall_s": wall,
        "accepted_per_s": ok / wall,
        "latency_p50_ms": percentile(ms, 50),
        "latency_p99_ms": percentile(ms, 99),
        "latency_max_ms": max(ms, default=0.0),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--bodies", required=True, help="file with one base64 body per line")
    parser.add_argument("--rate", type=float, default=0.0, help="requests/s; 0 = maximum")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds at --rate")
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args(argv)
    secret = os.environ["BENCH_WEBHOOK_SECRET"].encode()
    with open(args.bodies, "rb") as handle:
        bodies = [base64.b64decode(line) for line in handle if line.strip()]
    if args.rate > 0:
        results = asyncio.run(
            run_open(args.url, bodies, secret, args.rate, args.duration, args.connections)
        )
    else:
        results = asyncio.run(run_closed(args.url, bodies, secret, args.connections))
    json.dump(summary(results, args.rate), sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
