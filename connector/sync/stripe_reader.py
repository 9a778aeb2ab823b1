"""The few Stripe reads the sync path makes, as plain dicts (every call is metered by the
gateway's HTTP client)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import stripe


def is_missing(exc: BaseException) -> bool:
    """Stripe's 404 `resource_missing`: the object was deleted (or test data wiped)."""
    return isinstance(exc, stripe.InvalidRequestError) and exc.http_status == 404


SUBSCRIPTION_EXPAND = ["discounts.source.coupon", "items.data.discounts.source.coupon"]


class StripeReader(Protocol):
    def subscription(self, subscription_id: str) -> dict[str, Any]: ...
    def price(self, price_id: str) -> dict[str, Any]: ...
    def retrieve(self, object_type: str, object_id: str) -> dict[str, Any]: ...
    def customer(self, customer_id: str) -> dict[str, Any]: ...
    def invoice_payments(self, invoice_id: str) -> list[dict[str, Any]]: ...
    def invoice_payments_for_intent(self, payment_intent_id: str) -> list[dict[str, Any]]: ...
    def charges_for_intent(self, payment_intent_id: str) -> list[dict[str, Any]]: ...


class GatewayStripeReader:
    """StripeReader over `StripeGateway.client` (a `stripe.StripeClient`)."""

    def __init__(self, client: stripe.StripeClient) -> None:
        self.client = client

    def subscription(self, subscription_id: str) -> dict[str, Any]:
        """The subscription with its discounts' coupons (what Stripe will charge depends on
        them; a Discount names its coupon by id unless expanded)."""
        return self.client.v1.subscriptions.retrieve(
            subscription_id, {"expand": SUBSCRIPTION_EXPAND}
        ).to_dict()

    def retrieve(self, object_type: str, object_id: str) -> dict[str, Any]:
        """One object by its `object` type, at the pinned API version. Raises KeyError for a
        type it cannot read, stripe.InvalidRequestError (404) for one Stripe does not know."""
        if object_type == "subscription":
            return self.subscription(object_id)
        v1 = self.client.v1
        readers: dict[str, Callable[[str], stripe.StripeObject]] = {
            "invoice": v1.invoices.retrieve,
            "charge": v1.charges.retrieve,
            "dispute": v1.disputes.retrieve,
            "payout": v1.payouts.retrieve,
            "checkout.session": v1.checkout.sessions.retrieve,
        }
        return readers[object_type](object_id).to_dict()

    def price(self, price_id: str) -> dict[str, Any]:
        """A price with its `tiers` (included only when expanded)."""
        return self.client.v1.prices.retrieve(price_id, {"expand": ["tiers"]}).to_dict()

    def customer(self, customer_id: str) -> dict[str, Any]:
        return self.client.v1.customers.retrieve(customer_id).to_dict()

    def invoice_payments(self, invoice_id: str) -> list[dict[str, Any]]:
        page = self.client.v1.invoice_payments.list(
            {"invoice": invoice_id, "expand": ["data.payment.payment_intent"], "limit": 100}
        )
        return [item.to_dict() for item in page.data]

    def invoice_payments_for_intent(self, payment_intent_id: str) -> list[dict[str, Any]]:
        page = self.client.v1.invoice_payments.list(
            {
                "payment": {"type": "payment_intent", "payment_intent": payment_intent_id},
                "limit": 10,
            }
        )
        return [item.to_dict() for item in page.data]

    def charges_for_intent(self, payment_intent_id: str) -> list[dict[str, Any]]:
        """Every charge (attempt) of one PaymentIntent, failed ones included, newest first."""
        page = self.client.v1.charges.list({"payment_intent": payment_intent_id, "limit": 100})
        return [item.to_dict() for item in page.data]
