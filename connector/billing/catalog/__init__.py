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

The parts: `planning` (pure: what a plan needs), `stripe_catalog` (Stripe reads and
writes), `write_back` (Caspio rows in, outcomes out), `report` (the run's results). This
module runs them, one plan at a time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from collections.abc import Mapping as MappingABC
from typing import Any

import stripe

from connector.billing.catalog.planning import (
    PLAN_KEY_METADATA,
    TIER_METADATA,
    LivePrice,
    LiveProduct,
    PlanActions,
    PriceSpec,
    ProductSpec,
    belongs_to,
    outcome_of,
    plan_actions,
    price_spec,
    product_changes,
    product_spec,
)
from connector.billing.catalog.report import (
    ARCHIVED,
    CREATED,
    ERROR,
    OUTCOMES,
    UNCHANGED,
    UPDATED,
    PlanResult,
    SyncReport,
)
from connector.billing.catalog.stripe_catalog import (
    ACCOUNT_WIDE_ERRORS,
    LOOKUP_BATCH,
    Gateway,
    PlanFailed,
    StripeCatalog,
    live_price,
    live_product,
    stripe_message,
)
from connector.billing.catalog.write_back import MAX_ERROR_LENGTH, CaspioRecords, PlanWriteBack
from connector.billing.plans import Plan, PlanRowError, plan_from_row
from mappings import Mapping

__all__ = [
    "ACCOUNT_WIDE_ERRORS",
    "ARCHIVED",
    "CREATED",
    "ERROR",
    "LOOKUP_BATCH",
    "MAX_ERROR_LENGTH",
    "OUTCOMES",
    "PLAN_KEY_METADATA",
    "TIER_METADATA",
    "UNCHANGED",
    "UPDATED",
    "CaspioRecords",
    "Gateway",
    "LivePrice",
    "LiveProduct",
    "PlanActions",
    "PlanCatalog",
    "PlanResult",
    "PriceSpec",
    "ProductSpec",
    "SyncReport",
    "belongs_to",
    "live_price",
    "live_product",
    "outcome_of",
    "plan_actions",
    "price_spec",
    "product_changes",
    "product_spec",
    "sync_plans",
]


def _chunks(items: Sequence[Plan], size: int) -> Iterator[Sequence[Plan]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


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
        self._stripe = StripeCatalog(gateway)
        self._write_back = PlanWriteBack(caspio, mapping, now)
        self._mapping = mapping

    def read_rows(self) -> list[dict[str, Any]]:
        return self._write_back.read_rows()

    def sync(
        self,
        rows: Sequence[MappingABC[str, Any]] | None = None,
        on_result: Callable[[PlanResult], None] | None = None,
    ) -> SyncReport:
        """Sync ``rows`` (default: every Billing_Plans row); ``on_result`` per plan.

        Raises the Stripe errors in `ACCOUNT_WIDE_ERRORS` (bad key, no permission); every
        other failure is one plan's ERROR result, written back to its row.
        """
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
                record(self._write_back.row_failed(row, error, report))

        for batch in _chunks(plans, LOOKUP_BATCH):
            try:
                found = self._stripe.find_prices([p.plan_key for p in batch])
            except ACCOUNT_WIDE_ERRORS:
                raise
            except stripe.StripeError as error:
                for plan in batch:
                    record(self._write_back.failed(plan, stripe_message(error), None, report))
                continue
            for plan in batch:
                record(self._sync_plan(plan, found.get(plan.plan_key), report))
        return report

    def _sync_plan(self, plan: Plan, holder: LivePrice | None, report: SyncReport) -> PlanResult:
        product_id: str | None = None
        # ``holder`` holds the lookup key; only an active one is the plan's current price.
        current = holder if holder is not None and holder.active else None
        try:
            product = current.product if current else None
            if current is not None and product is None:
                product = self._stripe.product(current.product_id)
            if product is not None and not belongs_to(plan, product):
                # The key was moved by hand onto another plan's product: never adopt
                # (rename, re-tag) that product; the plan's own price is made again.
                product = None
            if product is None and plan.active:
                product = self._stripe.known_product(plan)
            actions = plan_actions(plan, current, product)
            product_id = product.id if product else plan.stripe_product_id
            leftover = self._stripe.leftover_price(plan, current)
            product_id, price_id = self._stripe.apply(plan, actions, product_id, current, holder)
            if leftover is not None:
                self._stripe.archive_price(leftover)
        except ACCOUNT_WIDE_ERRORS:
            raise
        except stripe.StripeError as error:
            return self._write_back.failed(plan, stripe_message(error), product_id, report)
        except PlanFailed as failure:
            return self._write_back.failed(plan, str(failure), failure.product_id, report)
        outcome = outcome_of(actions)
        if leftover is not None and outcome == UNCHANGED:
            outcome = UPDATED
        return self._write_back.synced(plan, outcome, product_id, price_id, report)


def sync_plans(
    caspio: CaspioRecords,
    gateway: Gateway,
    mapping: Mapping,
    on_result: Callable[[PlanResult], None] | None = None,
) -> SyncReport:
    """Sync every Billing_Plans row to Stripe (see the module docstring)."""
    return PlanCatalog(caspio, gateway, mapping).sync(on_result=on_result)
