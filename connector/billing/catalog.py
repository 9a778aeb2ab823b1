"""sync-plans: mirror Billing_Plans into Stripe Products and Prices, then write back.

For each plan: one Product, and one active Price found by ``lookup_key = PlanKey``.

* A changed amount, currency or interval creates a new Price with
  ``transfer_lookup_key`` (the key moves to it) and archives the old one; existing
  subscriptions keep the old price.
* Name, description and tier live on the Product (name, description, metadata) and are
  updated in place. Only fields that differ are sent.
* An inactive plan archives its Price (the Product stays).
* A pay plan gets a Product, and a Price only when it has an Amount (the installment
  price); installments computed from Balance/Installments are priced at provision time.
  Intro prices (IntroAmount) are also created at provision time.
* Creates carry deterministic idempotency keys (PlanKey + the Stripe-relevant fields +
  the price holding the key / the product being replaced), so a retried run never creates
  duplicates and a later create never replays an archived price or deleted product.
  Updates are naturally idempotent and carry none (a replayed key would skip a later,
  real change). An old price a failed run left active is archived by the next run.
* A price or product that belongs to another plan (``caspio_plan_key``), reached through
  a lookup key moved by hand or a copied row, is never taken over.

Reads are batched (10 lookup keys per ``prices.list``); a plan with nothing to change
costs no Stripe write and no Caspio write. One bad plan never stops the others.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Sequence
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from typing import Any, Protocol

import stripe

from caspio_client import where as w
from caspio_client.errors import CaspioError
from connector.billing.plans import (
    TABLE,
    Plan,
    PlanRowError,
    format_caspio_datetime,
    plan_from_row,
    row_label,
)
from mappings import Mapping

# A bad key or missing permission is no plan's fault: stop the run instead of writing the
# same error into every row.
ACCOUNT_WIDE_ERRORS = (stripe.AuthenticationError, stripe.PermissionError)
# Stripe accepts at most 10 values in lookup_keys[] per list call.
LOOKUP_BATCH = 10
# Keep SyncError readable in a DataPage.
MAX_ERROR_LENGTH = 1000
PLAN_KEY_METADATA = "caspio_plan_key"
TIER_METADATA = "tier"

CREATED, UPDATED, ARCHIVED, UNCHANGED, ERROR = (
    "created",
    "updated",
    "archived",
    "unchanged",
    "error",
)
OUTCOMES = (CREATED, UPDATED, ARCHIVED, UNCHANGED, ERROR)


class CaspioRecords(Protocol):
    def select(self, table: str) -> Iterable[dict[str, Any]]: ...

    def update(self, table: str, where: w.Where, values: MappingABC[str, Any]) -> int: ...


class Gateway(Protocol):
    @property
    def client(self) -> stripe.StripeClient: ...

    def idempotency_key(self, *parts: object) -> str: ...


# ------------------------------------------------------------------ pure part


@dataclass(frozen=True)
class PriceSpec:
    """What the plan's Price must be; Stripe cannot change these on a Price."""

    unit_amount: int
    currency: str
    interval: str
    interval_count: int


@dataclass(frozen=True)
class ProductSpec:
    name: str
    description: str | None
    metadata: MappingABC[str, str]


@dataclass(frozen=True)
class LiveProduct:
    id: str
    name: str
    description: str | None
    active: bool
    metadata: MappingABC[str, str]


@dataclass(frozen=True)
class LivePrice:
    id: str
    product_id: str
    spec: PriceSpec | None  # None: not a plain recurring price (e.g. tiered)
    product: LiveProduct | None = None
    active: bool = True


def price_spec(plan: Plan) -> PriceSpec | None:
    """The Price an active plan needs, or None (inactive, or a pay plan without Amount)."""
    unit_amount = plan.unit_amount
    if not plan.active or unit_amount is None:
        return None
    return PriceSpec(unit_amount, plan.currency, plan.billing_interval, plan.interval_count)


def product_spec(plan: Plan) -> ProductSpec:
    metadata = {PLAN_KEY_METADATA: plan.plan_key, TIER_METADATA: plan.tier or ""}
    return ProductSpec(plan.product_name, plan.description, metadata)


def product_changes(spec: ProductSpec, live: LiveProduct) -> dict[str, Any]:
    """Only the product fields that differ; metadata keys we do not own are left alone."""
    changes: dict[str, Any] = {}
    if live.name != spec.name:
        changes["name"] = spec.name
    if (live.description or None) != spec.description:
        # An empty string unsets a field in Stripe.
        changes["description"] = spec.description or ""
    metadata = {
        key: value
        for key, value in spec.metadata.items()
        if (live.metadata.get(key) or "") != value
    }
    if metadata:
        changes["metadata"] = metadata
    if not live.active:
        changes["active"] = True
    return changes


@dataclass(frozen=True)
class PlanActions:
    """What one plan needs in Stripe (computed without calling Stripe)."""

    create_product: bool = False
    product_changes: MappingABC[str, Any] = field(default_factory=dict)
    create_price: PriceSpec | None = None
    archive_price: str | None = None
    keep_price: str | None = None

    @property
    def writes(self) -> bool:
        return bool(
            self.create_product or self.product_changes or self.create_price or self.archive_price
        )


def plan_actions(
    plan: Plan, live_price: LivePrice | None, live_product: LiveProduct | None
) -> PlanActions:
    """Compare a plan with what Stripe has now and list the writes needed."""
    wanted = price_spec(plan)
    if not plan.active:
        # Leave the product alone; only take the price off sale.
        return PlanActions(archive_price=live_price.id if live_price else None)
    create_product = live_product is None
    changes = {} if live_product is None else product_changes(product_spec(plan), live_product)
    if wanted is None:
        return PlanActions(
            create_product=create_product,
            product_changes=changes,
            archive_price=live_price.id if live_price else None,
        )
    if (
        live_price is not None
        and live_price.spec == wanted
        and live_product is not None
        # A price on another product (lookup key moved by hand) is not this plan's price.
        and live_price.product_id == live_product.id
    ):
        return PlanActions(product_changes=changes, keep_price=live_price.id)
    return PlanActions(
        create_product=create_product,
        product_changes=changes,
        create_price=wanted,
        archive_price=live_price.id if live_price else None,
    )


def outcome_of(actions: PlanActions) -> str:
    if actions.create_product:
        return CREATED
    if actions.archive_price and not actions.create_price and not actions.product_changes:
        return ARCHIVED
    return UPDATED if actions.writes else UNCHANGED


# ------------------------------------------------------------------ Stripe reads


def _metadata(obj: Any) -> dict[str, str]:
    metadata = getattr(obj, "metadata", None)
    if metadata is None:
        return {}
    return {str(k): str(v) for k, v in metadata.to_dict().items()}


def live_product(obj: Any) -> LiveProduct:
    return LiveProduct(
        id=obj.id,
        name=obj.name,
        description=getattr(obj, "description", None) or None,
        active=bool(obj.active),
        metadata=_metadata(obj),
    )


def live_price(obj: Any) -> LivePrice:
    recurring = getattr(obj, "recurring", None)
    spec = None
    if (
        recurring is not None
        and getattr(obj, "billing_scheme", "per_unit") == "per_unit"
        and obj.unit_amount is not None
    ):
        spec = PriceSpec(
            obj.unit_amount, obj.currency, recurring.interval, recurring.interval_count
        )
    product = obj.product
    active = bool(obj.active)
    if isinstance(product, str):
        return LivePrice(obj.id, product, spec, active=active)
    return LivePrice(obj.id, product.id, spec, live_product(product), active)


def belongs_to(plan: Plan, product: LiveProduct) -> bool:
    """Whether ``product`` is this plan's own product (not another plan's, by hand)."""
    owner = product.metadata.get(PLAN_KEY_METADATA)
    if owner:
        return owner == plan.plan_key
    return not plan.stripe_product_id or product.id == plan.stripe_product_id


def _chunks(items: Sequence[Plan], size: int) -> Iterator[Sequence[Plan]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# ------------------------------------------------------------------ results


@dataclass(frozen=True)
class PlanResult:
    label: str  # "Billing_Plans PlanKey=gold" in the builder's names
    outcome: str
    error: str | None = None
    product_id: str | None = None
    price_id: str | None = None


@dataclass
class SyncReport:
    results: list[PlanResult] = field(default_factory=list)
    caspio_writes: int = 0

    def count(self, outcome: str) -> int:
        return sum(1 for r in self.results if r.outcome == outcome)

    @property
    def errors(self) -> list[PlanResult]:
        return [r for r in self.results if r.outcome == ERROR]

    def summary(self) -> str:
        label = {ERROR: "errors"}
        return ", ".join(f"{label.get(o, o)} {self.count(o)}" for o in OUTCOMES)


class _PlanFailed(Exception):
    """Stops one plan; carries what was already created so it is still written back."""

    def __init__(self, message: str, product_id: str | None) -> None:
        super().__init__(message)
        self.product_id = product_id


def _stripe_message(error: stripe.StripeError) -> str:
    detail = error.user_message or str(error) or type(error).__name__
    return f"Stripe refused ({type(error).__name__}): {detail}"


# ------------------------------------------------------------------ the service


class PlanCatalog:
    """Runs one sync of every Billing_Plans row."""

    def __init__(
        self,
        caspio: CaspioRecords,
        gateway: Gateway,
        mapping: Mapping,
        *,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.timezone.utc),
    ) -> None:
        self._caspio = caspio
        self._gateway = gateway
        self._stripe = gateway.client
        self._mapping = mapping
        self._now = now

    def read_rows(self) -> list[dict[str, Any]]:
        return list(self._caspio.select(self._mapping.table(TABLE)))

    def sync(
        self,
        rows: Sequence[MappingABC[str, Any]] | None = None,
        on_result: Callable[[PlanResult], None] | None = None,
    ) -> SyncReport:
        """Sync ``rows`` (default: every Billing_Plans row); ``on_result`` per plan."""
        rows = self.read_rows() if rows is None else rows
        report = SyncReport()

        def record(result: PlanResult) -> None:
            report.results.append(result)
            if on_result is not None:
                on_result(result)

        plans: list[Plan] = []
        for row in rows:
            try:
                plans.append(plan_from_row(row, self._mapping))
            except PlanRowError as error:
                record(self._write_back_row_error(row, error, report))

        for batch in _chunks(plans, LOOKUP_BATCH):
            try:
                found = self._find_prices([p.plan_key for p in batch])
            except ACCOUNT_WIDE_ERRORS:
                raise
            except stripe.StripeError as error:
                for plan in batch:
                    record(self._finish_error(plan, _stripe_message(error), None, report))
                continue
            for plan in batch:
                record(self._sync_plan(plan, found.get(plan.plan_key), report))
        return report

    # ------------------------------------------------------------ Stripe side

    def _find_prices(self, plan_keys: Sequence[str]) -> dict[str, LivePrice]:
        """The price holding each lookup key, active or archived (a key has one holder),
        products expanded: one call per 10 plans.

        Archived holders are listed too: the holder's id goes into the next create's
        idempotency key, so a create never replays an earlier, since-archived price.
        """
        listed = self._stripe.v1.prices.list(
            {
                "lookup_keys": list(plan_keys),
                "expand": ["data.product"],
                "limit": 100,
            }
        )
        return {
            price.lookup_key: live_price(price)
            for price in listed.data
            if price.lookup_key is not None and price.lookup_key in plan_keys
        }

    def _known_product(self, plan: Plan) -> LiveProduct | None:
        """The product written back earlier, when no active price points at it."""
        if not plan.stripe_product_id:
            return None
        try:
            product = self._stripe.v1.products.retrieve(plan.stripe_product_id)
        except stripe.InvalidRequestError as error:
            if error.http_status == 404:
                return None  # deleted in Stripe: make a new one
            raise
        if getattr(product, "deleted", False):
            # Stripe may answer a deleted product with a {"deleted": true} stub.
            return None
        known = live_product(product)
        # A row copied from another plan carries that plan's product id: taking it over
        # would rename it back and forth on every run.
        return known if belongs_to(plan, known) else None

    def _sync_plan(self, plan: Plan, holder: LivePrice | None, report: SyncReport) -> PlanResult:
        product_id: str | None = None
        # ``holder`` holds the lookup key; only an active one is the plan's current price.
        current = holder if holder is not None and holder.active else None
        try:
            product = current.product if current else None
            if current is not None and product is None:
                product = live_product(self._stripe.v1.products.retrieve(current.product_id))
            if product is not None and not belongs_to(plan, product):
                # The key was moved by hand onto another plan's product: never adopt
                # (rename, re-tag) that product; the plan's own price is made again.
                product = None
            if product is None and plan.active:
                product = self._known_product(plan)
            actions = plan_actions(plan, current, product)
            product_id = product.id if product else plan.stripe_product_id
            leftover = self._leftover_price(plan, current)
            product_id, price_id = self._apply(plan, actions, product_id, current, holder)
            if leftover is not None:
                self._stripe.v1.prices.update(leftover, {"active": False})
        except ACCOUNT_WIDE_ERRORS:
            raise
        except stripe.StripeError as error:
            return self._finish_error(plan, _stripe_message(error), product_id, report)
        except _PlanFailed as failure:
            return self._finish_error(plan, str(failure), failure.product_id, report)
        outcome = outcome_of(actions)
        if leftover is not None and outcome == UNCHANGED:
            outcome = UPDATED
        return self._finish_ok(plan, outcome, product_id, price_id, report)

    def _leftover_price(self, plan: Plan, current: LivePrice | None) -> str | None:
        """The plan's previous price if still active: a run that created its successor
        stopped before archiving it (the written-back id then still names it)."""
        old = plan.stripe_price_id
        if current is None or not old or old == current.id:
            return None
        try:
            price = self._stripe.v1.prices.retrieve(old)
        except stripe.InvalidRequestError as error:
            if error.http_status == 404:
                return None
            raise
        # Only a price the bridge made for this plan: a pasted id must not archive
        # another plan's price.
        if price.active and _metadata(price).get(PLAN_KEY_METADATA) == plan.plan_key:
            return str(price.id)
        return None

    def _apply(
        self,
        plan: Plan,
        actions: PlanActions,
        product_id: str | None,
        current: LivePrice | None,
        holder: LivePrice | None,
    ) -> tuple[str | None, str | None]:
        key = self._gateway.idempotency_key
        spec = product_spec(plan)
        if actions.create_product:
            params: stripe.params.ProductCreateParams = {
                "name": spec.name,
                "metadata": {k: v for k, v in spec.metadata.items() if v},
            }
            if spec.description:
                params["description"] = spec.description
            created = self._stripe.v1.products.create(
                params,
                {
                    # The product being replaced (deleted in Stripe) is part of the key, or
                    # the create would replay the deleted product within Stripe's 24 h.
                    "idempotency_key": key(
                        "plan-product",
                        plan.plan_key,
                        spec.name,
                        spec.description,
                        plan.tier,
                        plan.stripe_product_id or "-",
                    )
                },
            )
            product_id = created.id
        elif actions.product_changes and product_id:
            self._stripe.v1.products.update(product_id, dict(actions.product_changes))  # type: ignore[arg-type]

        try:
            price_id = self._apply_price(plan, actions, product_id, current, holder)
        except stripe.StripeError as error:
            # Keep the product just made: it is written back and reused next time.
            raise _PlanFailed(_stripe_message(error), product_id) from error
        return product_id, price_id

    def _apply_price(
        self,
        plan: Plan,
        actions: PlanActions,
        product_id: str | None,
        current: LivePrice | None,
        holder: LivePrice | None,
    ) -> str | None:
        key = self._gateway.idempotency_key
        price_id = current.id if current else plan.stripe_price_id
        wanted = actions.create_price
        if wanted is not None:
            if product_id is None:
                raise _PlanFailed("no Stripe product to attach the price to", None)
            # The price the key moves from (active or archived) is part of the key: going
            # back to an earlier amount, or re-activating, must create a new price, not
            # replay an earlier create whose price has been archived since.
            replaced = holder.id if holder else plan.stripe_price_id
            price = self._stripe.v1.prices.create(
                {
                    "product": product_id,
                    "unit_amount": wanted.unit_amount,
                    "currency": wanted.currency,
                    "recurring": {
                        "interval": wanted.interval,
                        "interval_count": wanted.interval_count,
                    },
                    "lookup_key": plan.plan_key,
                    "transfer_lookup_key": True,
                    "metadata": {PLAN_KEY_METADATA: plan.plan_key},
                },
                {
                    "idempotency_key": key(
                        "plan-price",
                        plan.plan_key,
                        product_id,
                        wanted.unit_amount,
                        wanted.currency,
                        wanted.interval,
                        wanted.interval_count,
                        replaced or "-",
                    )
                },
            )
            if not price.active:
                raise _PlanFailed(
                    f"Stripe answered with archived price {price.id} (a replayed request)",
                    product_id,
                )
            price_id = price.id
        if actions.archive_price:
            self._stripe.v1.prices.update(actions.archive_price, {"active": False})
            if plan.active and wanted is None:
                # An active pay plan that lost its Amount has no price any more. An
                # inactive plan keeps pointing at its (archived) last price.
                price_id = None
        return price_id

    # ------------------------------------------------------------ Caspio side

    def _key_where(self, plan_key: str | None, pk_id: Any) -> w.Where | None:
        if plan_key:
            try:
                return w.eq(self._mapping.field(TABLE, "PlanKey"), plan_key)
            except ValueError:
                pass  # a key no WHERE can carry (a NUL): the row's PK_ID, if known
        if isinstance(pk_id, int) and not isinstance(pk_id, bool):
            return w.eq("PK_ID", pk_id)
        return None

    def _write_back(
        self,
        where: w.Where | None,
        current: MappingABC[str, Any],
        wanted: dict[str, Any],
        stamp: bool,
        report: SyncReport,
    ) -> None:
        """Update only the write-back fields that differ; SyncedAt only alongside a change."""
        changed = {
            name: value for name, value in wanted.items() if (current.get(name) or None) != value
        }
        if not changed and not stamp:
            return
        if where is None:
            return
        if stamp:
            changed["SyncedAt"] = format_caspio_datetime(self._now())
        self._caspio.update(
            self._mapping.table(TABLE), where, self._mapping.to_caspio(TABLE, changed)
        )
        report.caspio_writes += 1

    def _finish_ok(
        self,
        plan: Plan,
        outcome: str,
        product_id: str | None,
        price_id: str | None,
        report: SyncReport,
    ) -> PlanResult:
        label = row_label({"PlanKey": plan.plan_key}, self._mapping)
        current = _plan_state(plan)
        wanted = {
            "StripeProductID": product_id,
            "StripePriceID": price_id,
            "SyncStatus": "synced",
            "SyncError": None,
        }
        stamp = outcome != UNCHANGED or any(current.get(k) != v for k, v in wanted.items())
        try:
            self._write_back(self._key_where(plan.plan_key, None), current, wanted, stamp, report)
        except CaspioError as error:
            # Named like every other error line: sync-plans prints only this text.
            message = f"{label}: synced to Stripe but not written back to Caspio: {error}"
            return PlanResult(label, ERROR, message, product_id, price_id)
        return PlanResult(label, outcome, None, product_id, price_id)

    def _finish_error(
        self, plan: Plan, message: str, product_id: str | None, report: SyncReport
    ) -> PlanResult:
        label = row_label({"PlanKey": plan.plan_key}, self._mapping)
        wanted: dict[str, Any] = {"SyncStatus": "error", "SyncError": _clip(message)}
        if product_id:
            wanted["StripeProductID"] = product_id
        try:
            where = self._key_where(plan.plan_key, None)
            self._write_back(where, _plan_state(plan), wanted, False, report)
        except CaspioError as error:
            message = f"{message} (and not written back to Caspio: {error})"
        return PlanResult(label, ERROR, f"{label}: {message}", product_id)

    def _write_back_row_error(
        self, row: MappingABC[str, Any], error: PlanRowError, report: SyncReport
    ) -> PlanResult:
        logical = self._mapping.from_caspio(TABLE, row)
        message = str(error)
        # The message already names the row; SyncError holds only the reasons. (Not split
        # on ": ", which a PlanKey may contain.)
        label, reasons = error.label, error.reasons
        wanted = {"SyncStatus": "error", "SyncError": _clip(reasons)}
        try:
            where = self._key_where(error.plan_key, error.pk_id)
            self._write_back(where, logical, wanted, False, report)
        except CaspioError as caspio_error:
            message = f"{message} (and not written back to Caspio: {caspio_error})"
        return PlanResult(label, ERROR, message)


def _plan_state(plan: Plan) -> dict[str, Any]:
    return {
        "StripeProductID": plan.stripe_product_id,
        "StripePriceID": plan.stripe_price_id,
        "SyncStatus": plan.sync_status,
        "SyncError": plan.sync_error,
    }


def _clip(message: str) -> str:
    return message if len(message) <= MAX_ERROR_LENGTH else message[: MAX_ERROR_LENGTH - 1] + "…"


def sync_plans(
    caspio: CaspioRecords,
    gateway: Gateway,
    mapping: Mapping,
    on_result: Callable[[PlanResult], None] | None = None,
) -> SyncReport:
    """Sync every Billing_Plans row to Stripe (see the module docstring)."""
    return PlanCatalog(caspio, gateway, mapping).sync(on_result=on_result)
