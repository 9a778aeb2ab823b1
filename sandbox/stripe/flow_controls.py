"""Python-side controls for disputes, payouts and refunds, for tests and scripts.

Each takes the ``StripeEmulator`` (``handle.emulator``) and behaves like the matching
``/_emulator/…`` route: the change happens under the state lock and its events are sent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .control_calls import run
from .resources import disputes, payouts, refunds

if TYPE_CHECKING:
    from .emulator import StripeEmulator

Obj = dict[str, Any]


def open_dispute(
    em: StripeEmulator, charge: str, reason: str = "general", amount: int | None = None
) -> Obj:
    return run(em, lambda: disputes.open_dispute(em, charge, reason, amount))


def close_dispute(em: StripeEmulator, dispute: str, status: str) -> Obj:
    return run(em, lambda: disputes.close_dispute(em, dispute, status))


def create_payout(
    em: StripeEmulator,
    amount: int,
    currency: str = "usd",
    status: str = "paid",
    failure_code: str | None = None,
) -> Obj:
    return run(em, lambda: payouts.create_payout(em, amount, currency, status, failure_code))


def refund(em: StripeEmulator, charge: str, amount: int | None = None) -> Obj:
    return run(em, lambda: refunds.refund_charge(em, em.store.require("charge", charge), amount))
