"""Reconcile: find and repair every difference between Stripe and the Caspio tables.

1. Read from Stripe what the window needs (subscriptions, invoices, payouts, disputes
   created in it, and optionally every live subscription), auto-paging 100 per call.
2. Read from Caspio only the rows those objects write (`IN` lists of keys, pages of 1,000).
3. Align the writer's memory with Caspio itself: a row edited by hand in Caspio differs from
   what the writer remembers writing, and the writer would otherwise skip the repair.
4. Run each object through the same handler its webhook uses (an invoice as `invoice.paid`,
   `invoice.payment_failed`…, a subscription through `apply_subscription`), with a writer
   that records every field it would send. Each recorded field is one difference.

`dry_run` does all of this on a scratch copy of the bridge's store and sends no Caspio
write; otherwise the handlers write, and only the differing fields (the writer sends what
differs from its memory, now equal to Caspio). A second run therefore finds nothing.

Limits (said here, not hidden): a refund or dispute already applied to a payment row is not
re-derived (only its dispute row is); the time of a failed attempt whose webhook was lost
is the invoice's finalization time (Stripe's invoice does not carry it).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from caspio_client import where as w
from connector.store import Store, caspio_rows, key_cache, object_state, subscriptions
from connector.stripe_gateway import StripeGateway
from connector.sync.caspio_values import WireValue, to_wire, wire_row
from connector.sync.caspio_writer import (
    INSERTED,
    SKIPPED,
    UPDATED,
    UPDATED_AT,
    CaspioWriter,
    MissingCaspioRow,
)
from connector.sync.context import RetryLinks, SyncContext
from connector.sync.dispatch import HANDLERS
from connector.sync.handlers.subscriptions import apply_subscription, write_totals
from connector.sync.keys import CUSTOMER_KEY_META, SUBSCRIPTION_KEY_META
from connector.sync.row_memory import RowMemory
from connector.sync.stripe_reader import GatewayStripeReader

log = logging.getLogger(__name__)

DEFAULT_WINDOW_DAYS = 30
STRIPE_PAGE = 100  # Stripe's largest list page
CASPIO_PAGE = 1000  # Caspio's largest page

PAYMENTS, SUBSCRIPTIONS, CUSTOMERS = (
    "Billing_Payments",
    "Billing_Subscriptions",
    "Billing_Customers",
)
PAYOUTS, DISPUTES = "Billing_Payouts", "Billing_Disputes"
KEY_FIELDS = {
    PAYMENTS: "InvoiceID",
    SUBSCRIPTIONS: "SubscriptionKey",
    CUSTOMERS: "CustomerKey",
    PAYOUTS: "PayoutID",
    DISPUTES: "DisputeID",
}
# Subscriptions that still bill (Stripe's list without `status` omits canceled ones).
LIVE_STATUSES = frozenset({"active", "trialing", "past_due", "unpaid", "paused", "incomplete"})

Row = dict[str, Any]


@dataclass(frozen=True)
class Difference:
    """One field Caspio holds differently from what Stripe implies (`caspio` None and
    `missing_row` True: the whole row is absent)."""

    table: str  # logical table name
    key: str
    field: str
    caspio: WireValue
    wanted: WireValue
    source: str  # the Stripe object id
    missing_row: bool = False


@dataclass(frozen=True)
class Failure:
    source: str
    error: str


@dataclass
class ReconcileReport:
    dry_run: bool
    since: int | None
    objects: Counter[str] = field(default_factory=Counter)  # kind -> objects compared
    differences: list[Difference] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    rows_written: int = 0
    caspio_calls: int = 0
    stripe_calls: int = 0

    @property
    def rows(self) -> list[tuple[str, str]]:
        """(table, key) of every row with a difference, in order found."""
        seen: dict[tuple[str, str], None] = {}
        for d in self.differences:
            seen.setdefault((d.table, d.key), None)
        return list(seen)

    def summary(self) -> str:
        compared = ", ".join(f"{n} {kind}" for kind, n in sorted(self.objects.items()))
        verb = "would repair" if self.dry_run else "repaired"
        repaired = len(self.rows) if self.dry_run else self.rows_written
        return (
            f"compared {compared or 'nothing'}; {len(self.differences)} difference(s) in "
            f"{len(self.rows)} row(s); {verb} {repaired}; "
            f"{len(self.failures)} could not be repaired; "
            f"{self.stripe_calls} Stripe and {self.caspio_calls} Caspio calls"
        )


# -- values as Caspio returns them, in the writer's wire form ---------------------------

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")


def caspio_wire(value: Any) -> WireValue:
    """A value read from Caspio in the form the writer remembers (`caspio_values.to_wire`):
    numbers as int when whole, date-times as `YYYY-MM-DDTHH:MM:SS` (Caspio may add
    fractions), an empty text as None (Caspio answers "" for a text field never set)."""
    if value == "":
        return None
    if isinstance(value, float):
        value = Decimal(repr(value))
    if isinstance(value, str) and _DATE.match(value):
        return value[:19]
    if isinstance(value, (dt.datetime, dt.date, Decimal)) or value is None:
        return to_wire(value)
    if isinstance(value, (str, bool, int)):
        return value
    return str(value)


def same_value(a: WireValue, b: WireValue) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return Decimal(repr(a)) == Decimal(repr(b))
    if isinstance(a, str) and isinstance(b, str) and _DATE.match(a) and _DATE.match(b):
        return a[:19] == b[:19]
    return a == b


# -- the writer that records what it would send -------------------------------------------


class RecordingWriter(CaspioWriter):
    """A `CaspioWriter` that records each field it sends; with `dry_run`, sends nothing and
    only updates its (scratch) memory."""

    def __init__(self, inner: CaspioWriter, *, dry_run: bool, exists: Callable[[str, str], bool]):
        super().__init__(inner.client, inner.memory, inner.mapping, clock=inner.clock)
        self.dry_run = dry_run
        self.exists = exists
        self.source = ""
        self.recorded: list[tuple[str, str, dict[str, WireValue], bool, str]] = []
        self.written_rows: set[tuple[str, str]] = set()

    def upsert(self, table: str, key_field: str, key: str, values: Mapping[str, Any]) -> str:
        changes, remembered = self._changes(table, key, values)
        if remembered and not changes:
            self.skipped += 1
            return SKIPPED
        self.recorded.append((table, key, dict(changes), not remembered, self.source))
        if self.dry_run:
            self.memory.remember(table, key, {key_field: key, **changes})
            return UPDATED if remembered else INSERTED
        result = super().upsert(table, key_field, key, values)
        self.written_rows.add((table, key))
        return result

    def update(self, table: str, key_field: str, key: str, values: Mapping[str, Any]) -> str:
        changes, _remembered = self._changes(table, key, values)
        if not changes:
            self.skipped += 1
            return SKIPPED
        if self.dry_run:
            if not self.exists(table, key):
                raise MissingCaspioRow(f"{table} has no row with {key_field} = {key!r}")
            self.recorded.append((table, key, dict(changes), False, self.source))
            self.memory.remember(table, key, changes)
            return UPDATED
        result = super().update(table, key_field, key, values)
        self.recorded.append((table, key, dict(changes), False, self.source))
        self.written_rows.add((table, key))
        return result

    def create(
        self,
        table: str,
        key_field: str,
        key: str,
        values: Mapping[str, Any],
        *,
        when_exists: Collection[str],
    ) -> str:
        wanted = wire_row({k: v for k, v in values.items() if k != UPDATED_AT})
        if self.dry_run:
            self.recorded.append((table, key, wanted, True, self.source))
            self.memory.remember(table, key, {key_field: key, **wanted})
            return INSERTED
        result = super().create(table, key_field, key, values, when_exists=when_exists)
        if result == INSERTED:
            self.recorded.append((table, key, wanted, True, self.source))
            self.written_rows.add((table, key))
        return result


# -- the run ---------------------------------------------------------------------------


@dataclass
class StripeObjects:
    subscriptions: list[Row] = field(default_factory=list)
    invoices: list[Row] = field(default_factory=list)
    payouts: list[Row] = field(default_factory=list)
    disputes: list[Row] = field(default_factory=list)

    def count(self) -> int:
        return len(self.subscriptions) + len(self.invoices) + len(self.payouts) + len(self.disputes)


class Reconciler:
    """Compare and repair; built from the same parts as the worker (`runtime`)."""

    def __init__(
        self,
        store: Store,
        caspio: Any,  # caspio_client.CaspioClient (select/get_one/insert/update + meter)
        stripe: StripeGateway,
        *,
        mapping: Any,
        past_due_access: bool = True,
        retry_links: RetryLinks | None = None,
        metrics: Any = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.caspio = caspio
        self.gateway = stripe
        self.stripe = stripe.client
        self.mapping = mapping
        self.past_due_access = past_due_access
        self.retry_links = retry_links
        self.metrics = metrics
        self.clock = clock
        self._snapshot: dict[tuple[str, str], Row] = {}

    # Stripe --------------------------------------------------------------------------

    def _list(self, resource: Any, params: dict[str, Any]) -> Iterator[Row]:
        page = resource.list({**params, "limit": STRIPE_PAGE})
        for item in page.auto_paging_iter():
            yield item.to_dict()

    def fetch_stripe(self, since: int | None, live: bool) -> StripeObjects:
        """What Stripe holds for the window (`since`: unix seconds) and/or live subscriptions."""
        v1 = self.stripe.v1
        window: dict[str, Any] = {} if since is None else {"created": {"gte": since}}
        found = StripeObjects()
        subs: dict[str, Row] = {}
        if since is not None:
            for sub in self._list(v1.subscriptions, {"status": "all", **window}):
                subs[sub["id"]] = sub
        if live:
            for sub in self._list(v1.subscriptions, {}):  # the default omits canceled ones
                if sub.get("status") in LIVE_STATUSES:
                    subs[sub["id"]] = sub
        found.subscriptions = sorted(subs.values(), key=lambda s: (s.get("created", 0), s["id"]))
        if since is not None:
            by_created = lambda o: (o.get("created", 0), o["id"])  # noqa: E731
            found.invoices = sorted(self._list(v1.invoices, window), key=by_created)
            found.payouts = sorted(self._list(v1.payouts, window), key=by_created)
            found.disputes = sorted(self._list(v1.disputes, window), key=by_created)
        return found

    # Caspio --------------------------------------------------------------------------

    def _select_in(self, table: str, fields_in: Mapping[str, Iterable[str]]) -> Iterator[Row]:
        """Rows of a logical table whose field is in the given values, OR-ed, in chunks."""
        caspio_table = self.mapping.table(table)
        for logical_field, values in fields_in.items():
            wanted = sorted({v for v in values if v})
            # As many keys per request as Caspio's URI limit allows (GUIDs fit fewer).
            column = self.mapping.field(table, logical_field)
            for condition in w.in_chunks(column, wanted):
                for row in self.caspio.select(caspio_table, condition, page_size=CASPIO_PAGE):
                    yield self.mapping.from_caspio(table, row)

    def read_caspio(self, objects: StripeObjects) -> dict[tuple[str, str], Row]:
        """The Caspio rows these objects write, keyed by (logical table, key)."""
        rows: dict[tuple[str, str], Row] = {}

        def keep(table: str, found: Iterable[Row]) -> None:
            for row in found:
                key = row.get(KEY_FIELDS[table])
                if isinstance(key, str) and key:
                    rows[(table, key)] = row

        applied = [i for i in objects.invoices if invoice_event_type(i) is not None]
        keep(PAYMENTS, self._select_in(PAYMENTS, {"InvoiceID": [i["id"] for i in applied]}))
        keep(PAYOUTS, self._select_in(PAYOUTS, {"PayoutID": [p["id"] for p in objects.payouts]}))
        keep(
            DISPUTES, self._select_in(DISPUTES, {"DisputeID": [d["id"] for d in objects.disputes]})
        )
        sub_ids = [s["id"] for s in objects.subscriptions]
        sub_keys = [_meta(s, SUBSCRIPTION_KEY_META) for s in objects.subscriptions]
        keep(
            SUBSCRIPTIONS,
            self._select_in(
                SUBSCRIPTIONS,
                {"StripeSubscriptionID": sub_ids, "SubscriptionKey": [k for k in sub_keys if k]},
            ),
        )
        customer_keys = {_meta(s, CUSTOMER_KEY_META) for s in objects.subscriptions}
        customer_keys |= {
            str(r.get("CustomerKey")) for (t, _), r in rows.items() if t == SUBSCRIPTIONS
        }
        keep(
            CUSTOMERS,
            self._select_in(CUSTOMERS, {"CustomerKey": [k for k in customer_keys if k]}),
        )
        return rows

    # The run --------------------------------------------------------------------------

    def run(
        self,
        *,
        since: int | None,
        live: bool = False,
        dry_run: bool = False,
        progress: Callable[[int], None] | None = None,
        on_objects: Callable[[int], None] | None = None,
    ) -> ReconcileReport:
        """Compare (and unless `dry_run`, repair). `progress(n)` after each n objects;
        `on_objects(total)` once the Stripe side is known (for a progress bar)."""
        caspio_before = self.caspio.meter.total()
        stripe_before = self.gateway.meter.total()
        report = ReconcileReport(dry_run=dry_run, since=since)
        objects = self.fetch_stripe(since, live)
        if on_objects is not None:
            on_objects(objects.count())
        snapshot = self.read_caspio(objects)
        self._snapshot = snapshot
        store = scratch_copy(self.store) if dry_run else self.store
        try:
            memory = RowMemory(store, clock=self.clock)
            align_memory(memory, snapshot)
            for table, ids in (
                (PAYMENTS, [i["id"] for i in objects.invoices]),
                (PAYOUTS, [p["id"] for p in objects.payouts]),
                (DISPUTES, [d["id"] for d in objects.disputes]),
            ):
                for key in ids:
                    if (table, key) not in snapshot:
                        memory.forget(table, key)  # deleted in Caspio, or never written
            # A subscription or customer row gone from Caspio must not be skipped as
            # "written before": its update then fails (a subscription row is never
            # invented, PRODUCT.md Traceability) or the customer row is created again.
            for sub in objects.subscriptions:
                sub_key = _meta(sub, SUBSCRIPTION_KEY_META)
                if sub_key and (SUBSCRIPTIONS, sub_key) not in snapshot:
                    memory.forget(SUBSCRIPTIONS, sub_key)
            for customer_key in self._customer_keys(objects):
                if (CUSTOMERS, customer_key) not in snapshot:
                    memory.forget(CUSTOMERS, customer_key)
            ctx = SyncContext.build(
                store,
                self.caspio,
                mapping=self.mapping,
                stripe=GatewayStripeReader(self.stripe),
                past_due_access=self.past_due_access,
                retry_links=None
                if self.retry_links is None
                else KeepIssuedLinks(self.retry_links, self.store, snapshot, dry_run=dry_run),
                clock=self.clock,
                metrics=self.metrics,
            )
            writer = RecordingWriter(
                ctx.writer, dry_run=dry_run, exists=self._exists_checker(snapshot)
            )
            ctx.writer = writer
            self._apply_all(ctx, writer, objects, report, progress)
        finally:
            if dry_run:
                store.dispose()
        report.differences = differences(writer.recorded, snapshot)
        report.rows_written = len(writer.written_rows)
        report.caspio_calls = self.caspio.meter.total() - caspio_before
        report.stripe_calls = self.gateway.meter.total() - stripe_before
        return report

    def _exists_checker(
        self, snapshot: Mapping[tuple[str, str], Row]
    ) -> Callable[[str, str], bool]:
        def exists(table: str, key: str) -> bool:
            if (table, key) in snapshot:
                return True
            found = self.caspio.get_one(
                self.mapping.table(table), w.eq(self.mapping.field(table, KEY_FIELDS[table]), key)
            )
            return found is not None

        return exists

    def _apply_all(
        self,
        ctx: SyncContext,
        writer: RecordingWriter,
        objects: StripeObjects,
        report: ReconcileReport,
        progress: Callable[[int], None] | None,
    ) -> None:
        work: list[tuple[str, Row]] = [("subscription", s) for s in objects.subscriptions]
        stripe_customers = {
            _meta(s, CUSTOMER_KEY_META): s.get("customer") for s in objects.subscriptions
        }
        work += [
            ("customer", {"id": key, "customer": stripe_customers.get(key)})
            for key in self._customer_keys(objects)
        ]
        work += [("invoice", i) for i in objects.invoices]
        work += [("dispute", d) for d in objects.disputes]
        work += [("payout", p) for p in objects.payouts]
        for kind, obj in work:
            writer.source = obj["id"]
            try:
                if self._apply(ctx, kind, obj):
                    report.objects[kind] += 1
            except Exception as error:  # one object's failure must not stop the others
                log.warning("reconcile: %s %s could not be repaired: %s", kind, obj["id"], error)
                report.failures.append(Failure(obj["id"], f"{type(error).__name__}: {error}"))
                report.objects[kind] += 1
            if progress is not None:
                progress(1)

    def _customer_keys(self, objects: StripeObjects) -> list[str]:
        keys = {_meta(s, CUSTOMER_KEY_META) for s in objects.subscriptions}
        keys |= {k for (t, k) in self._snapshot if t == CUSTOMERS}
        return sorted(k for k in keys if k)

    def _apply(self, ctx: SyncContext, kind: str, obj: Row) -> bool:
        if kind == "subscription":
            apply_subscription(ctx, obj)
            return True
        if kind == "customer":
            # Totals from the bridge's record of the customer's subscriptions, as the
            # subscription handler writes them (a hand edit of a total is repaired too).
            records = ctx.subscriptions.for_customer(obj["id"])
            if not records:
                return False
            customer = obj.get("customer")
            write_totals(ctx, obj["id"], records, customer if isinstance(customer, str) else None)
            return True
        if kind == "invoice":
            event_type = invoice_event_type(obj)
            if event_type is None:
                return False
            HANDLERS[event_type](ctx, self._event(ctx, event_type, obj, invoice_time(obj)))
            return True
        if kind == "dispute":
            event_type = (
                "charge.dispute.closed"
                if obj.get("status") in ("won", "lost", "warning_closed", "prevented")
                else "charge.dispute.updated"
            )
            HANDLERS[event_type](ctx, self._event(ctx, event_type, obj, obj.get("created")))
            return True
        status = str(obj.get("status") or "")
        event_type = f"payout.{status}" if f"payout.{status}" in HANDLERS else "payout.updated"
        HANDLERS[event_type](ctx, self._event(ctx, event_type, obj, obj.get("created")))
        return True

    def _event(self, ctx: SyncContext, event_type: str, obj: Row, natural: Any) -> Row:
        """A stand-in event for `obj`, dated at the last event the bridge applied to it (so
        its guards treat it as current, never as newer than what Stripe sent), or at the
        object's own time when the bridge never saw it."""
        state = ctx.objects.get(obj["id"])
        created = state.last_event_created if state else int(natural or 0)
        return {
            "id": f"evt_reconcile_{obj['id']}",
            "object": "event",
            "type": event_type,
            "created": created,
            "data": {"object": obj},
        }


class KeepIssuedLinks:
    """The Retry feature's hook as reconcile must use it: a payer's link already in Caspio
    for the invoice's current attempt is kept (issuing again would replace it and break the
    link the payer holds); a dry run reads the bridge's store and writes nothing."""

    def __init__(
        self,
        inner: RetryLinks,
        store: Store,
        snapshot: Mapping[tuple[str, str], Row],
        *,
        dry_run: bool,
    ) -> None:
        self.inner = inner
        self.store = store
        self.snapshot = snapshot
        self.dry_run = dry_run

    def _attempts_linked(self, invoice_id: str) -> set[int]:
        from connector.store import retry_links

        c = retry_links.c
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                sa.select(c.attempt).where(c.invoice_id == invoice_id, c.state != "replaced")
            ).all()
        return {int(r[0]) for r in rows}

    def payment_fields(
        self,
        ctx: SyncContext,
        invoice: dict[str, Any],
        status: str,
        attempt: int,
        row: dict[str, Any],
    ) -> dict[str, Any]:
        invoice_id = str(invoice["id"])
        if status == "failed" and invoice.get("status") == "open":
            in_caspio = (self.snapshot.get((PAYMENTS, invoice_id)) or {}).get("RetryURL")
            if in_caspio and attempt in self._attempts_linked(invoice_id):
                return {}
            if self.dry_run:
                return {"RetryURL": "(a new retry link)", "RetryStatus": "available"}
        elif self.dry_run:
            if status == "succeeded" and self._attempts_linked(invoice_id):
                return {"RetryStatus": "succeeded"}
            return {}
        return self.inner.payment_fields(ctx, invoice, status, attempt, row)

    def subscription_ended(self, ctx: SyncContext, subscription_id: str) -> int:
        """A dry run changes no link and no row."""
        return 0 if self.dry_run else self.inner.subscription_ended(ctx, subscription_id)


def invoice_event_type(invoice: Row) -> str | None:
    """The webhook whose handler brings an invoice's Caspio row to its current state."""
    status = invoice.get("status")
    if status == "paid":
        return "invoice.paid"
    if status == "void":
        return "invoice.voided"
    if status == "open":
        if int(invoice.get("attempt_count") or 0) > 0 and _has_failed(invoice):
            return "invoice.payment_failed"
        return "invoice.finalized"
    return None  # draft (nothing for Caspio yet), uncollectible (no row state for it)


def _has_failed(invoice: Row) -> bool:
    # An automatically charged open invoice with attempts has failed at least once.
    return invoice.get("collection_method", "charge_automatically") == "charge_automatically" or (
        invoice.get("next_payment_attempt") is not None
    )


def invoice_time(invoice: Row) -> int:
    transitions = invoice.get("status_transitions") or {}
    for name in ("paid_at", "voided_at", "finalized_at"):
        if transitions.get(name):
            return int(transitions[name])
    return int(invoice.get("created") or 0)


def _meta(obj: Row, key: str) -> str | None:
    metadata = obj.get("metadata") or {}
    value = metadata.get(key) if isinstance(metadata, dict) else None
    return value if isinstance(value, str) and value else None


def differences(
    recorded: Iterable[tuple[str, str, dict[str, WireValue], bool, str]],
    snapshot: Mapping[tuple[str, str], Row],
) -> list[Difference]:
    """One `Difference` per recorded field (a missing row: one per field it would get)."""
    found: dict[tuple[str, str, str], Difference] = {}
    for table, key, changes, _new, source in recorded:
        row = snapshot.get((table, key))
        for name, wanted in changes.items():
            if name == KEY_FIELDS.get(table):
                continue
            current = None if row is None else caspio_wire(row.get(name))
            found[(table, key, name)] = Difference(
                table, key, name, current, wanted, source, missing_row=row is None
            )
    return list(found.values())


def align_memory(memory: RowMemory, snapshot: Mapping[tuple[str, str], Row]) -> None:
    """Make the writer's memory of each row read equal to what Caspio holds, keeping the
    remembered form where Caspio's value is the same (so equal values never look changed)."""
    for (table, key), row in snapshot.items():
        remembered = memory.get(table, key)
        old = remembered.values if remembered else {}
        aligned: dict[str, WireValue] = {}
        for name, value in row.items():
            if name == "PK_ID":
                continue
            current = caspio_wire(value)
            aligned[name] = old[name] if name in old and same_value(old[name], current) else current
        if remembered is None or not remembered.known_to_exist or aligned != old:
            memory.replace(table, key, aligned)  # only rows that differ: each is a commit


_COPIED = (object_state, subscriptions, key_cache, caspio_rows)


def scratch_copy(store: Store) -> Store:
    """A throw-away SQLite store holding the sync state of `store` (the dry run writes there)."""
    scratch = Store.from_url("sqlite://")
    with store.engine.connect() as source, scratch.transaction() as target:
        for table in _COPIED:
            result = source.execute(sa.select(table)).mappings()
            while batch := result.fetchmany(1000):
                target.execute(table.insert(), [dict(r) for r in batch])
    return scratch
