"""Fixed-window request counters in the bridge's store, so a limit holds across processes.

`hit(scope, key, limit, window)` counts one request and says whether it is within the
limit. One `INSERT … ON CONFLICT DO UPDATE … RETURNING` per request (SQLite ≥ 3.35 and
PostgreSQL), atomic without a read-modify-write race. Windows older than a day are pruned
whenever a new bucket opens.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.dialects import postgresql, sqlite

from connector.store import Store, rate_limits

PRUNE_AFTER = 86400.0


@dataclass(frozen=True)
class Limit:
    requests: int
    window_seconds: int


class RateLimiter:
    def __init__(self, store: Store, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    def hit(self, scope: str, key: str, limit: Limit) -> bool:
        """Count one request of `key` under `scope`; True while at most `limit.requests` fall
        in the current window of `limit.window_seconds`."""
        now = self.clock()
        window = int(now // limit.window_seconds)
        bucket = f"{scope}:{window}:{key}"[:255]
        start = float(window * limit.window_seconds)
        insert = (postgresql.insert if self.store.is_postgres else sqlite.insert)(rate_limits)
        statement = (
            insert.values(bucket=bucket, window_start=start, count=1)
            .on_conflict_do_update(
                index_elements=[rate_limits.c.bucket],
                set_={"count": rate_limits.c.count + 1},
            )
            .returning(rate_limits.c.count)
        )
        with self.store.transaction() as conn:
            count = int(conn.execute(statement).scalar_one())
            if count == 1:  # a new bucket: the moment to drop old ones (indexed delete)
                conn.execute(
                    rate_limits.delete().where(rate_limits.c.window_start < now - PRUNE_AFTER)
                )
        return count <= limit.requests
