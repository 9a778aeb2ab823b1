"""``python -m sandbox.caspio --port N [--db FILE] [--client-id X --client-secret Y]``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from sandbox.caspio.server import start_emulator


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.caspio",
                                     description="Run the Caspio REST API emulator.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--db", default=":memory:", help="SQLite file (default: in memory)")
    parser.add_argument("--client-id", default="emulator-client-id")
    parser.add_argument("--client-secret", default="emulator-client-secret")
    parser.add_argument("--token-ttl", type=int, default=86399,
                        help="access token lifetime in seconds")
    parser.add_argument("--webhook", nargs=3, action="append", default=[],
                        metavar=("TABLE", "URL", "SECRET"),
                        help="POST new rows of TABLE to URL (repeatable)")
    args = parser.parse_args(argv)
    running, thread = start_emulator(
        args.host, args.port, access_log=True, db_path=args.db, client_id=args.client_id,
        client_secret=args.client_secret, token_ttl_seconds=args.token_ttl,
    )
    for table, url, secret in args.webhook:
        running.controls.configure_webhook(table, url, secret)
    print(f"CASPIO_ACCOUNT_URL={running.base_url}", flush=True)
    print(f"CASPIO_CLIENT_ID={running.client_id}", flush=True)
    print(f"CASPIO_CLIENT_SECRET={running.client_secret}", flush=True)
    try:
        thread.join()
    except KeyboardInterrupt:
        print("stopping", file=sys.stderr)
    finally:
        running.server.shutdown()
        running.server.server_close()
        running.emulator.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
