"""Group commit: requests that arrive together share one durable transaction.

Each webhook must be committed before Stripe gets its 200, and a durable commit costs an
fsync (about a millisecond on a quiet disk, far more on a busy one). When several requests
arrive at once, one thread (the leader) writes everything queued so far in one transaction
while the others wait; when it is done it wakes them with their own results and hands the
lead to the first request that queued meanwhile. Nothing waits on a timer: a lone request
is written at once, and batches grow only while a commit is already under way (the way
database servers do group commit).

If a batch fails, each of its items is written again on its own, so one bad item fails
only its own request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass
class _Waiter(Generic[Item, Result]):
    item: Item
    done: threading.Event = field(default_factory=threading.Event)
    result: Result | None = None
    error: BaseException | None = None
    finished: bool = False
    lead: bool = False


class GroupCommit(Generic[Item, Result]):
    """Runs `write_batch(items) -> results` (one result per item, in order) for groups of
    concurrent `submit` calls. `batches` and `items` count what was written, for tests and
    benchmarks."""

    def __init__(self, write_batch: Callable[[Sequence[Item]], Sequence[Result]]) -> None:
        self._write_batch = write_batch
        self._lock = threading.Lock()
        self._queue: list[_Waiter[Item, Result]] = []
        self._leading = False
        self.batches = 0
        self.items = 0

    def submit(self, item: Item) -> Result:
        """Write `item` (with whatever else is queued) and return its result.

        Raises whatever writing this item alone raised.
        """
        me: _Waiter[Item, Result] = _Waiter(item)
        with self._lock:
            self._queue.append(me)
            if not self._leading:
                self._leading = me.lead = True
        if not me.lead:
            me.done.wait()
        if not me.finished:  # we lead (from the start, or handed the lead)
            self._lead()
        if me.error is not None:
            raise me.error
        return me.result  # type: ignore[return-value]  # set whenever error is None

    def _lead(self) -> None:
        with self._lock:
            batch, self._queue = self._queue, []
        try:
            self._write(batch)
        finally:
            with self._lock:
                if self._queue:
                    successor = self._queue[0]
                    successor.lead = True
                    successor.done.set()
                else:
                    self._leading = False

    def _write(self, batch: list[_Waiter[Item, Result]]) -> None:
        try:
            results = list(self._write_batch([w.item for w in batch]))
            if len(results) != len(batch):
                raise RuntimeError("write_batch returned a result count unlike its items")
        except Exception as batch_error:
            if len(batch) == 1:
                self._finish(batch[0], error=batch_error)
                return
            # Isolate the item at fault: each one alone, in its own transaction.
            for waiter in batch:
                try:
                    (result,) = self._write_batch([waiter.item])
                except Exception as error:
                    self._finish(waiter, error=error)
                else:
                    self._finish(waiter, result=result)
            return
        with self._lock:
            self.batches += 1
            self.items += len(batch)
        for waiter, result in zip(batch, results, strict=True):
            self._finish(waiter, result=result)

    @staticmethod
    def _finish(
        waiter: _Waiter[Item, Result],
        *,
        result: Result | None = None,
        error: BaseException | None = None,
    ) -> None:
        waiter.result, waiter.error, waiter.finished = result, error, True
        waiter.done.set()
