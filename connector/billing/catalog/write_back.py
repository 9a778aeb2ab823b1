"""The Caspio side of sync-plans: read Billing_Plans, write each plan's outcome back.

Only write-back fields that differ are sent; `SyncedAt` only alongside a change. A Caspio
failure never hides the Stripe outcome: it is added to the plan's result message.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from collections.abc import Mapping as MappingABC
from typing import Any, Protocol

from caspio_client import where as w
from caspio_client.errors import CaspioError
from connector.billing.catalog.report import ERROR, UNCHANGED, PlanResult, SyncReport
from connector.billing.plans import TABLE, Plan, PlanRowError, format_caspio_datetime, row_label
from mappings import Mapping

# Keep SyncError readable in a DataPage.
MAX_ERROR_LENGTH = 1000


class CaspioRecords(Protocol):
    def select(self, table: str) -> Iterable[dict[str, Any]]: ...

    def update(self, table: str, where: w.Where, values: MappingABC[str, Any]) -> int: ...


class PlanWriteBack:
    """Billing_Plans rows in and sync outcomes out, in the builder's names (`mapping`)."""

    def __init__(
        self, caspio: CaspioRecords, mapping: Mapping, now: Callable[[], dt.datetime]
    ) -> None:
        self._caspio = caspio
        self._mapping = mapping
        self._now = now

    def read_rows(self) -> list[dict[str, Any]]:
        """Every Billing_Plans row, as Caspio names them."""
        return list(self._caspio.select(self._mapping.table(TABLE)))

    def synced(
        self,
        plan: Plan,
        outcome: str,
        product_id: str | None,
        price_id: str | None,
        report: SyncReport,
    ) -> PlanResult:
        """Write back a plan Stripe now matches; an ERROR result if Caspio refuses."""
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

    def failed(
        self, plan: Plan, message: str, product_id: str | None, report: SyncReport
    ) -> PlanResult:
        """Write back a plan Stripe refused (keeping a product already created)."""
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

    def row_failed(
        self, row: MappingABC[str, Any], error: PlanRowError, report: SyncReport
    ) -> PlanResult:
        """Write back a row that is not a valid plan (found by PlanKey, else PK_ID)."""
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


def _plan_state(plan: Plan) -> dict[str, Any]:
    return {
        "StripeProductID": plan.stripe_product_id,
        "StripePriceID": plan.stripe_price_id,
        "SyncStatus": plan.sync_status,
        "SyncError": plan.sync_error,
    }


def _clip(message: str) -> str:
    return message if len(message) <= MAX_ERROR_LENGTH else message[: MAX_ERROR_LENGTH - 1] + "…"
