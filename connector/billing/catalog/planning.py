"""The pure part of sync-plans: what a plan needs in Stripe, given what Stripe has now.

No I/O: `plan_actions(plan, live_price, live_product)` compares and lists the writes.
"""

from __future__ import annotations

from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from typing import Any

from connector.billing.catalog.report import ARCHIVED, CREATED, UNCHANGED, UPDATED
from connector.billing.plans import Plan

PLAN_KEY_METADATA = "caspio_plan_key"
TIER_METADATA = "tier"


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


def belongs_to(plan: Plan, product: LiveProduct) -> bool:
    """Whether ``product`` is this plan's own product (not another plan's, by hand)."""
    owner = product.metadata.get(PLAN_KEY_METADATA)
    if owner:
        return owner == plan.plan_key
    return not plan.stripe_product_id or product.id == plan.stripe_product_id
