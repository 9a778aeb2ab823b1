"""``python -m sandbox.stripe --port 12111``: a standalone emulator."""

from __future__ import annotations

import argparse
import logging

from werkzeug.serving import make_server

from .api import valid_version
from .emulator import StripeEmulator
from .server import QuietHandler
from .shapes import API_VERSION


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Stateful Stripe API emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12111, help="0 picks a free port")
    parser.add_argument("--public-url", help="base of hosted invoice links (default: own address)")
    parser.add_argument("--start-time", type=int, help="emulator epoch (default: now)")
    parser.add_argument(
        "--after-retries", choices=["canceled", "unpaid", "past_due"], default="canceled"
    )
    parser.add_argument(
        "--webhook-retry-base",
        type=float,
        default=60.0,
        help="seconds before the first webhook retry (doubles each time)",
    )
    parser.add_argument(
        "--webhook-workers", type=int, default=1, help="parallel webhook deliveries (1 keeps order)"
    )
    parser.add_argument(
        "--account-api-version",
        default=API_VERSION,
        help="the version a request without Stripe-Version gets (e.g. 2025-08-27.basil to run "
        "the Stripe CLI's trigger fixtures, whose schedules use phase iterations)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    if not valid_version(args.account_api_version):
        parser.error(f"not a Stripe API version the emulator knows: {args.account_api_version}")
    emulator = StripeEmulator(
        account_api_version=args.account_api_version,
        start_time=args.start_time,
        after_retries=args.after_retries,
        webhook_retry_base=args.webhook_retry_base,
        webhook_workers=args.webhook_workers,
    )
    server = make_server(
        args.host, args.port, emulator.app, threaded=True, request_handler=QuietHandler
    )
    emulator.public_url = args.public_url or f"http://{args.host}:{server.server_port}"
    emulator.start()
    print(f"Stripe emulator on http://{args.host}:{server.server_port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        emulator.close()


if __name__ == "__main__":
    main()
