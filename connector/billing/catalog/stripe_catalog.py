"""The Stripe side of sync-plans: read a plan's Product and Price, and make the writes
`planning.plan_actions` listed.

Creates carry deterministic idempotency keys (see the package docstring); updates carry
none. `PlanFailed` stops one plan and carries a product already created, so it is still
written back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import stripe

from connector.billing.catalog.planning import (
    PLAN_KEY_METADATA,
    LivePrice,
    LiveProduct,
    PlanActions,
    PriceSpec,
    belongs_to,
    product_spec,
)
from connector.billing.plans import Plan

# A bad key or missing permission is no plan's fault: stop the run instead of writing the
# same error into every row.
ACCOUNT_WIDE_ERRORS = (stripe.AuthenticationError, stripe.PermissionError)
# Stripe accepts at most 10 values in lookup_keys[] per list call.
LOOKUP_BATCH = 10


class Gateway(Protocol):
    @property
    def client(self) -> stripe.StripeClient: ...

    def idempotency_key(self, *parts: object) -> str: ...


class PlanFailed(Exception):
    """Stops one plan; carries what was already created so it is still written back."""

    def __init__(self, message: str, product_id: str | None) -> None:
        super().__init__(message)
        self.product_id = product_id


def stripe_message(error: stripe.StripeError) -> str:
    """The one line a plan's SyncError shows for a Stripe refusal."""
    detail = error.user_message or str(error) or type(error).__name__
    return f"Stripe refused ({type(error).__name__}): {detail}"


def _metadata(obj: Any) -> dict[str, str]:
    metadata = getattr(obj, "metadata", None)
    if metadata is None:
        return {}
    return {str(k): str(v) for k, v in metadata.to_dict().items()}


def live_product(obj: Any) -> LiveProduct:
    """A Stripe Product as planning compares it."""
    return LiveProduct(
        id=obj.id,
        name=obj.name,
        description=getattr(obj, "description", None) or None,
        active=bool(obj.active),
        metadata=_metadata(obj),
    )


def live_price(obj: Any) -> LivePrice:
    """A Stripe Price (product id or expanded product) as planning compares it."""
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


class StripeCatalog:
    """Products and Prices of the plans, through the gateway's `StripeClient`."""

    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway
        self._stripe = gateway.client

    def find_prices(self, plan_keys: Sequence[str]) -> dict[str, LivePrice]:
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

    def product(self, product_id: str) -> LiveProduct:
        return live_product(self._stripe.v1.products.retrieve(product_id))

    def known_product(self, plan: Plan) -> LiveProduct | None:
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

    def leftover_price(self, plan: Plan, current: LivePrice | None) -> str | None:
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

    def archive_price(self, price_id: str) -> None:
        self._stripe.v1.prices.update(price_id, {"active": False})

    def apply(
        self,
        plan: Plan,
        actions: PlanActions,
        product_id: str | None,
        current: LivePrice | None,
        holder: LivePrice | None,
    ) -> tuple[str | None, str | None]:
        """Make the writes of `actions`; returns (product id, price id) to write back.

        Raises `PlanFailed` when the price cannot be made after a product was created.
        """
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
            # planning builds the changes as a plain dict of ProductUpdateParams keys (it
            # imports nothing from stripe); mypy cannot see the TypedDict in it.
            changes = dict(actions.product_changes)
            self._stripe.v1.products.update(product_id, changes)  # type: ignore[arg-type]

        try:
            price_id = self._apply_price(plan, actions, product_id, current, holder)
        except stripe.StripeError as error:
            # Keep the product just made: it is written back and reused next time.
            raise PlanFailed(stripe_message(error), product_id) from error
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
                raise PlanFailed("no Stripe product to attach the price to", None)
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
                raise PlanFailed(
                    f"Stripe answered with archived price {price.id} (a replayed request)",
                    product_id,
                )
            price_id = price.id
        if actions.archive_price:
            self.archive_price(actions.archive_price)
            if plan.active and wanted is None:
                # An active pay plan that lost its Amount has no price any more. An
                # inactive plan keeps pointing at its (archived) last price.
                price_id = None
        return price_id
