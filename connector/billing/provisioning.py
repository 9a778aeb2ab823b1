"""A Billing_Subscriptions row -> a live Stripe subscription, and the app's requests on it.

Three ways in, one set of rules (PRODUCT.md Customers, Initial billing period, Pay plans,
Declined first payment, Traceability):

* **Sign-up** (`checkout_url`): the payer's browser opens `/signup/<SubscriptionKey>`; the
  bridge finds or creates the Stripe customer and opens a Checkout Session in
  `subscription` mode for the first period. Checkout creates nothing in Stripe until the card
  is charged, so a declined first payment leaves nothing behind. When the session completes,
  the sync worker calls `ScheduleMaker.after_first_charge`, which turns the subscription into
  a schedule (`from_subscription`) carrying the later phases (intro end, installments).
* **Server-side provisioning** (`provision`): for a customer that already has a default
  card, a subscription is created with `payment_behavior=error_if_incomplete` (Stripe answers
  402 and creates nothing when the card is declined; stripe.md §4.4), then scheduled the same
  way. Used by `caspio-stripe provision`, `POST /caspio/webhook` and polling in `serve`.
* **RequestedAction** (`perform_action`): `cancel_at_period_end`, `cancel_now`,
  `change_plan:<PlanKey>`, set by the app on the row, done in Stripe, written back, cleared.

Every Stripe create carries a deterministic idempotency key, every object the bridge creates
names its Caspio row in metadata, and every Caspio write goes through the sync path's
`CaspioWriter` (its memory must see sign-up's writes; docs/contracts.md).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, NoReturn, cast
from urllib.parse import unquote

import stripe

from caspio_client import where as w
from caspio_client.errors import CaspioError
from connector.billing.plans import Plan, PlanRowError, plan_from_row
from connector.billing.schedules import BillingPlan, Phase, ScheduleError, billing_plan
from connector.errors import classify_stripe_error
from connector.stripe_gateway import StripeGateway
from connector.sync.caspio_keys import caspio_key
from connector.sync.caspio_writer import CaspioTables, MissingCaspioRow
from connector.sync.context import SyncContext
from connector.sync.handlers.subscriptions import apply_subscription
from connector.sync.key_cache import KeyCache
from connector.sync.keys import (
    CUSTOMER_KEY_META,
    PLAN_KEY_META,
    SUBSCRIPTION_KEY_META,
    meta,
    remember_customer_key,
    stripe_id,
)
from connector.sync.stripe_reader import GatewayStripeReader

if TYPE_CHECKING:
    from connector.metrics import BridgeMetrics
    from connector.services import Services

log = logging.getLogger(__name__)

SUBSCRIPTIONS = "Billing_Subscriptions"
CUSTOMERS = "Billing_Customers"
PLANS = "Billing_Plans"

PENDING, CHECKOUT, FAILED = "pending", "checkout", "failed"
# Statuses whose row a sign-up link may still (re)start; "" is a row the app left blank.
SIGNUP_STATUSES = frozenset({"", PENDING, CHECKOUT, FAILED})
# Key-cache kinds (the bridge's own store).
CHECKOUT_SESSION = "checkout_session"  # SubscriptionKey -> cs_… of its latest session
SCHEDULE_PLAN = "schedule_plan"  # SubscriptionKey -> the phases chosen at sign-up
# SubscriptionKey -> CHECKOUT or PROVISION: the one path that may create the row's Stripe
# subscription. A sign-up link and server-side provisioning racing for a new row would
# otherwise both succeed (a Checkout session paid after the server-side subscription is a
# second subscription and a double charge). Taken by whichever path reaches Stripe first.
SUBSCRIPTION_PATH = "subscription_path"
PROVISION = "provision"
# Subscriptions whose card may pay for the customer's next row (`_customer_with_card`).
LIVE_STATUSES = frozenset({"active", "trialing", "past_due"})

CHECKOUT_MIN_TRIAL = 48 * 3600  # seconds: Checkout's subscription_data.trial_end minimum
NO_CARD = (
    "the customer has no default card in Stripe: send the payer the sign-up link "
    "(/signup/<SubscriptionKey>) instead"
)
ACTIONS = ("cancel_at_period_end", "cancel_now", "change_plan:<PlanKey>")

# Outcomes of `process` (FAILED too), and ERROR for a row whose Stripe or Caspio call failed.
PROVISIONED, NEEDS_SIGNUP, SKIPPED, ACTION_DONE, ACTION_FAILED, ERROR = (
    "provisioned",
    "needs_signup",
    "skipped",
    "action_done",
    "action_failed",
    "error",
)


@dataclass
class ProvisionReport:
    """Rows by outcome, for the one summary line of `provision` and the poller's log."""

    counts: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        names = (PROVISIONED, NEEDS_SIGNUP, FAILED, ACTION_DONE, ACTION_FAILED, SKIPPED, ERROR)
        return ", ".join(f"{name.replace('_', ' ')} {self.counts.get(name, 0)}" for name in names)

    @property
    def errors(self) -> int:
        return self.counts.get(ERROR, 0) + self.counts.get(FAILED, 0)


class ProvisioningError(Exception):
    """A row that cannot be provisioned as it is; `str()` is the text for `LastError`."""


class NotFound(ProvisioningError):
    """No sign-up behind this key: unknown, malformed or finished (never said which)."""


class Unavailable(ProvisioningError):
    """The row exists but cannot start now (plan not synced, settings missing)."""


class Refused(ProvisioningError):
    """Stripe refused the registration in a way no retry can change (a 4xx other than 429
    and lock/idempotency conflicts; `connector.errors.classify_stripe_error`). The row is
    `failed` with `LastError`; `str()` is the payer's plain-words reason (no row detail)."""


# Stripe's `param` of a refused request -> the field of the row (or its customer) at fault.
_PARAM_FIELDS = {"email": "Email", "name": "Name", "customer": "StripeCustomerID"}
# Stripe error codes with wording of our own: (LastError, the payer's page).
_PLAIN = {
    "email_invalid": (
        "Email {value}is not a valid email address (Stripe email_invalid): correct Email on "
        "the row (and on its Billing_Customers row), then open the sign-up link again",
        "The email address given is not valid.",
    ),
}


def refusal(
    error: stripe.StripeError, value: str | None = None, field_name: str | None = None
) -> tuple[str, str] | None:
    """(LastError, the payer's reason) for a Stripe error no retry can fix, or None when it
    is retryable (5xx, 429, network, lock timeout): those keep the row as it is.
    `value`: the row's value of the field Stripe names, quoted in LastError when given;
    `field_name`: the field at fault when the caller knows it better than Stripe's `param`."""
    if classify_stripe_error(error).retryable:
        return None
    code = error.code or ""
    param = getattr(error, "param", None) or ""
    if code in _PLAIN:
        last_error, public = _PLAIN[code]
        return last_error.format(value=f"{value!r} " if value else ""), public
    field_name = field_name or _PARAM_FIELDS.get(param, param)
    about = f" ({field_name})" if field_name else ""
    message = error.user_message or type(error).__name__
    return (
        f"Stripe refused the registration{about}: {message}" + (f" [{code}]" if code else ""),
        "Our payment provider cannot accept the details of this registration.",
    )


def canonical_key(raw: str) -> str | None:
    """A SubscriptionKey from a URL as Caspio substitutes it (URL-encoded or not, braces or
    not, any case) -> the canonical GUID text, or None when it is not a GUID."""
    text = raw
    for _ in range(2):  # once encoded by Caspio, once more by a browser at most
        if "%" not in text:
            break
        text = unquote(text)
    text = text.strip().strip("{}").strip()
    if len(text) > 64:
        return None
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return None


def path_key(subscription_key: str) -> str:
    """The SubscriptionKey as the bridge's store keys it: the canonical GUID text (any case,
    braces, URL-encoding) or, for a key that is not a GUID, `caspio_key`."""
    return canonical_key(subscription_key) or caspio_key(subscription_key)


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ("" if value is None else str(value))


@dataclass(frozen=True)
class Registration:
    """One Billing_Subscriptions row, under logical field names."""

    subscription_key: str
    customer_key: str
    plan_key: str
    status: str = ""
    email: str | None = None
    name: str | None = None
    initial_amount: Decimal | None = None
    initial_billing_end: dt.datetime | None = None
    requested_action: str = ""
    stripe_subscription_id: str | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Registration:
        """Raises ProvisioningError naming the field at fault."""
        key = _text(row.get("SubscriptionKey"))
        if not key:
            raise ProvisioningError("the row has no SubscriptionKey")
        amount = row.get("InitialAmount")
        initial_amount: Decimal | None = None
        if amount not in (None, ""):
            try:
                initial_amount = Decimal(repr(amount) if isinstance(amount, float) else str(amount))
            except InvalidOperation:
                raise ProvisioningError(f"InitialAmount {amount!r} is not a number") from None
        end = row.get("InitialBillingEnd")
        initial_end: dt.datetime | None = None
        if end not in (None, ""):
            try:
                initial_end = dt.datetime.fromisoformat(str(end).strip())
            except ValueError:
                raise ProvisioningError(f"InitialBillingEnd {end!r} is not a date") from None
            if initial_end.tzinfo is None:  # Caspio dates have no zone; the bridge uses UTC
                initial_end = initial_end.replace(tzinfo=dt.timezone.utc)
        return cls(
            subscription_key=key,
            customer_key=_text(row.get("CustomerKey")),
            plan_key=_text(row.get("PlanKey")),
            status=_text(row.get("Status")).lower(),
            email=_text(row.get("Email")) or None,
            name=_text(row.get("Name")) or None,
            initial_amount=initial_amount,
            initial_billing_end=initial_end,
            requested_action=_text(row.get("RequestedAction")),
            stripe_subscription_id=_text(row.get("StripeSubscriptionID")) or None,
        )


@dataclass(frozen=True)
class SchedulePlan:
    """A BillingPlan with the Stripe ids its phases are priced with."""

    billing: BillingPlan
    plan_key: str
    price_id: str | None  # the plan's active Price (its regular amount), if it has one
    product_id: str
    regular_minor: int | None

    def item(self, amount_minor: int) -> dict[str, Any]:
        """A subscription or phase item charging `amount_minor` per period."""
        if self.price_id and amount_minor == self.regular_minor:
            return {"price": self.price_id}
        billing = self.billing
        return {
            "price_data": {
                "currency": billing.currency,
                "product": self.product_id,
                "unit_amount": amount_minor,
                "recurring": {
                    "interval": billing.interval,
                    "interval_count": billing.interval_count,
                },
            }
        }

    def to_json(self) -> dict[str, Any]:
        b = self.billing
        return {
            "currency": b.currency,
            "interval": b.interval,
            "interval_count": b.interval_count,
            "phases": [[p.amount_minor, p.periods, p.end_date] for p in b.phases],
            "end_behavior": b.end_behavior,
            "trial_end": b.trial_end,
            "trial_days": b.trial_days,
            "plan_key": self.plan_key,
            "price_id": self.price_id,
            "product_id": self.product_id,
            "regular_minor": self.regular_minor,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SchedulePlan:
        billing = BillingPlan(
            currency=data["currency"],
            interval=data["interval"],
            interval_count=int(data["interval_count"]),
            phases=tuple(Phase(a, p, e) for a, p, e in data["phases"]),
            end_behavior=data["end_behavior"],
            trial_end=data.get("trial_end"),
            trial_days=data.get("trial_days"),
        )
        return cls(
            billing, data["plan_key"], data["price_id"], data["product_id"], data["regular_minor"]
        )


def _metadata(registration: Registration, plan_key: str | None = None) -> dict[str, str]:
    return {
        SUBSCRIPTION_KEY_META: registration.subscription_key,
        CUSTOMER_KEY_META: registration.customer_key,
        PLAN_KEY_META: plan_key or registration.plan_key,
    }


def _as_dict(obj: Any) -> dict[str, Any]:
    result: dict[str, Any] = obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)
    return result


class ScheduleMaker:
    """Turns a subscription whose first period is paid into the schedule of its plan."""

    def __init__(self, gateway: StripeGateway, keys: KeyCache) -> None:
        self.gateway = gateway
        self.keys = keys

    def remember(self, subscription_key: str, plan: SchedulePlan) -> None:
        self.keys.put(SCHEDULE_PLAN, subscription_key, plan.to_json())

    def after_first_charge(
        self, subscription: dict[str, Any], subscription_key: str
    ) -> dict[str, Any] | None:
        stored = self.keys.get(SCHEDULE_PLAN, subscription_key)
        if not isinstance(stored, dict):
            return None
        plan = SchedulePlan.from_json(stored)
        if not plan.billing.needs_schedule:
            return None
        return self.attach(subscription, plan, subscription_key)

    def attach(
        self, subscription: dict[str, Any], plan: SchedulePlan, subscription_key: str
    ) -> dict[str, Any]:
        """`from_subscription`, then the phases (stripe.md §4.2: no other parameter is allowed
        in the converting call). Idempotent: a schedule already carrying our metadata is left
        as it is. Returns the subscription re-read."""
        client = self.gateway.client
        subscription_id: str = subscription["id"]
        schedule_id = stripe_id(subscription.get("schedule"))
        if schedule_id:
            schedule = _as_dict(client.v1.subscription_schedules.retrieve(schedule_id))
        else:
            schedule = _as_dict(
                client.v1.subscription_schedules.create(
                    {"from_subscription": subscription_id},
                    {"idempotency_key": self.gateway.idempotency_key("schedule", subscription_id)},
                )
            )
        if meta(schedule, SUBSCRIPTION_KEY_META) is None:
            billing = plan.billing
            first = (schedule.get("phases") or [{}])[0]
            items = ((subscription.get("items") or {}).get("data")) or []
            current_price = stripe_id((items[0].get("price") if items else None) or None)
            phases: list[dict[str, Any]] = []
            for index, phase in enumerate(billing.phases):
                item = (
                    {"price": current_price}
                    if index == 0 and current_price
                    else plan.item(phase.amount_minor)
                )
                entry: dict[str, Any] = {"items": [item], "proration_behavior": "none"}
                if index == 0 and first.get("start_date"):
                    entry["start_date"] = first["start_date"]
                if phase.periods:
                    entry["duration"] = {
                        "interval": billing.interval,
                        "interval_count": phase.periods * billing.interval_count,
                    }
                elif phase.end_date:
                    entry["end_date"] = phase.end_date
                phases.append(entry)
            update = {
                "end_behavior": billing.end_behavior,
                "phases": phases,
                "metadata": {
                    SUBSCRIPTION_KEY_META: subscription_key,
                    PLAN_KEY_META: plan.plan_key,
                    CUSTOMER_KEY_META: meta(subscription, CUSTOMER_KEY_META) or "",
                },
            }
            client.v1.subscription_schedules.update(
                schedule["id"],
                cast("stripe.params.SubscriptionScheduleUpdateParams", update),
                {"idempotency_key": self.gateway.idempotency_key("phases", schedule["id"])},
            )
        return _as_dict(client.v1.subscriptions.retrieve(subscription_id))


class Provisioner:
    """Sign-up, server-side provisioning and requested actions over one set of clients.

    `caspio`: the CaspioClient; `gateway`: the StripeGateway; `store`: the bridge's store;
    `mapping`: the loaded mapping; `success_url`/`cancel_url`: BRIDGE_SUCCESS_URL and
    BRIDGE_CANCEL_URL (sign-up needs both)."""

    def __init__(
        self,
        *,
        caspio: CaspioTables,
        gateway: StripeGateway,
        store: Any,
        mapping: Any,
        success_url: str | None = None,
        cancel_url: str | None = None,
        past_due_access: bool = True,
        metrics: BridgeMetrics | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.caspio = caspio
        self.gateway = gateway
        self.client = gateway.client
        self.mapping = mapping
        self.success_url = success_url
        self.cancel_url = cancel_url
        self.clock = clock
        keys = KeyCache(store, clock=clock)
        self.schedules = ScheduleMaker(gateway, keys)
        self.ctx = SyncContext.build(
            store,
            caspio,
            mapping=mapping,
            stripe=GatewayStripeReader(gateway.client),
            past_due_access=past_due_access,
            schedules=self.schedules,
            clock=clock,
            metrics=metrics,
        )
        self.writer = self.ctx.writer
        self.keys = self.ctx.keys

    @classmethod
    def from_services(cls, services: Services) -> Provisioner:
        from connector.sync.runtime import mapping_of, store_of

        settings = services.settings
        return cls(
            caspio=services.caspio,
            gateway=services.stripe,
            store=store_of(services),
            mapping=mapping_of(services),
            success_url=settings.bridge_success_url,
            cancel_url=settings.bridge_cancel_url,
            past_due_access=settings.bridge_past_due_access,
            metrics=services.metrics,
        )

    # ------------------------------------------------------------------ reading Caspio

    def registration(self, subscription_key: str) -> Registration | None:
        """The row (one Caspio read), or None. Raises ProvisioningError for a broken row."""
        row = self.writer.find_one(SUBSCRIPTIONS, "SubscriptionKey", subscription_key)
        return None if row is None else Registration.from_row(row)

    def rows_to_process(self) -> Iterator[Registration]:
        """Rows that are `pending` (or blank) or carry a RequestedAction, oldest first."""
        f = self.mapping.field
        status = f(SUBSCRIPTIONS, "Status")
        action = f(SUBSCRIPTIONS, "RequestedAction")
        where = w.or_(
            w.is_null(status),
            w.eq(status, ""),
            w.eq(status, PENDING),
            w.and_(w.is_not_null(action), w.ne(action, "")),
        )
        for row in self.caspio.select(
            self.mapping.table(SUBSCRIPTIONS), where=where, order_by="PK_ID"
        ):
            logical = self.mapping.from_caspio(SUBSCRIPTIONS, row)
            try:
                yield Registration.from_row(logical)
            except ProvisioningError as error:
                log.warning("skipping a %s row: %s", SUBSCRIPTIONS, error)

    def plan(self, plan_key: str) -> Plan:
        """The active, synced plan; ProvisioningError saying what is wrong otherwise."""
        if not plan_key:
            raise ProvisioningError("PlanKey is blank")
        row = self.caspio.get_one(
            self.mapping.table(PLANS), w.eq(self.mapping.field(PLANS, "PlanKey"), plan_key)
        )
        if row is None:
            raise ProvisioningError(f"plan {plan_key!r} does not exist")
        try:
            plan = plan_from_row(row, self.mapping)
        except PlanRowError as error:
            raise ProvisioningError(str(error)) from None
        if not plan.active:
            raise ProvisioningError(f"plan {plan_key!r} is not active")
        # A pay plan in equal installments has no Price of its own (its amounts are inline).
        if not plan.stripe_product_id or (plan.amount is not None and not plan.stripe_price_id):
            raise ProvisioningError(
                f"plan {plan_key!r} is not in Stripe yet: run caspio-stripe sync-plans"
            )
        return plan

    def schedule_plan(self, registration: Registration, plan: Plan, start: int) -> SchedulePlan:
        try:
            billing = billing_plan(
                plan,
                start=start,
                initial_amount=registration.initial_amount,
                initial_billing_end=registration.initial_billing_end,
            )
        except ScheduleError as error:
            raise ProvisioningError(str(error)) from None
        assert plan.stripe_product_id  # checked by `plan`
        return SchedulePlan(
            billing, plan.plan_key, plan.stripe_price_id, plan.stripe_product_id, plan.unit_amount
        )

    # ------------------------------------------------------------------ customers

    def find_or_create_customer(
        self, customer_key: str, email: str | None = None, name: str | None = None
    ) -> str:
        """The Stripe customer id for `customer_key`: one customer per key, ever.

        A customer row with StripeCustomerID is used as it is. Otherwise the customer is
        created with `caspio_customer_key` metadata under an idempotency key derived from the
        CustomerKey alone (two racing requests get the same customer back: Stripe replays
        the first answer for 24 hours), and the row is created with Email and Name from the
        registration when missing, or given its StripeCustomerID. Raises ProvisioningError
        for a blank key; Stripe and Caspio errors propagate."""
        if not customer_key:
            raise ProvisioningError("CustomerKey is blank")
        row = self.writer.find_one(CUSTOMERS, "CustomerKey", customer_key)
        existing = _text((row or {}).get("StripeCustomerID"))
        if existing:
            return existing
        email = _text((row or {}).get("Email")) or email
        name = _text((row or {}).get("Name")) or name
        # Only the key in the create: its parameters must be identical in every racing
        # request (Stripe refuses a reused key with other parameters); details follow.
        # Caspio treats `MaryX1`, `maryX1` and `maryx1 ` as one key, so the idempotency key
        # and the create's metadata use `caspio_key` (racers spelling it differently get the
        # same customer); the metadata then gets the text as written, for display.
        same = caspio_key(customer_key)
        customer = _as_dict(
            self.client.v1.customers.create(
                {"metadata": {CUSTOMER_KEY_META: same}},
                {"idempotency_key": self.gateway.idempotency_key("customer", same)},
            )
        )
        customer_id: str = customer["id"]
        written = _text((row or {}).get("CustomerKey")) or customer_key
        details: dict[str, Any] = {k: v for k, v in (("email", email), ("name", name)) if v}
        if (customer.get("metadata") or {}).get(CUSTOMER_KEY_META) != written:
            details["metadata"] = {CUSTOMER_KEY_META: written}
        if any(customer.get(k) != v for k, v in details.items()):
            self.client.v1.customers.update(
                customer_id, cast("stripe.params.CustomerUpdateParams", details)
            )
        remember_customer_key(self.ctx, customer_id, customer_key)
        values = {"StripeCustomerID": customer_id}
        if row is None:
            self.writer.create(
                CUSTOMERS,
                "CustomerKey",
                customer_key,
                {"Email": email, "Name": name, **values},
                when_exists=values,
            )
        else:
            self.writer.update(CUSTOMERS, "CustomerKey", customer_key, values)
        return customer_id

    def _customer_with_card(self, customer_key: str) -> tuple[str, str | None] | None:
        """(the customer's Stripe id, the card to charge or None for the customer's default)
        when it has a card, else None (nothing is created).

        A customer who signed up through Checkout has its card only as that subscription's
        `default_payment_method` (Checkout leaves `invoice_settings.default_payment_method`
        empty): the card of its newest live subscription is used then."""
        row = self.writer.find_one(CUSTOMERS, "CustomerKey", customer_key) if customer_key else None
        customer_id = _text((row or {}).get("StripeCustomerID"))
        if not customer_id:
            return None
        customer = _as_dict(self.client.v1.customers.retrieve(customer_id))
        settings = customer.get("invoice_settings") or {}
        if stripe_id(settings.get("default_payment_method")):
            return customer_id, None
        page = self.client.v1.subscriptions.list({"customer": customer_id, "limit": 100})
        subscriptions = [_as_dict(s) for s in page.data]
        live = [
            s
            for s in subscriptions
            if s.get("status") in LIVE_STATUSES and stripe_id(s.get("default_payment_method"))
        ]
        if not live:
            return None
        newest = max(live, key=lambda s: int(s.get("created") or 0))
        return customer_id, stripe_id(newest.get("default_payment_method"))

    # ------------------------------------------------------------------ sign-up

    def checkout_url(self, raw_key: str) -> str:
        """The Checkout page for the row's first payment (opened or reused).

        Raises NotFound (unknown, malformed or finished key), Unavailable (the row cannot
        start now; `LastError` on the row says why)."""
        key = canonical_key(raw_key)
        if key is None:
            raise NotFound("malformed key")
        registration = self.registration(key)
        if registration is None or registration.status not in SIGNUP_STATUSES:
            raise NotFound("unknown or finished")
        previous = self.keys.get(CHECKOUT_SESSION, key)
        if isinstance(previous, str):
            session = self.client.v1.checkout.sessions.retrieve(previous)
            if session.status == "open" and session.url:
                self._write(key, {"Status": CHECKOUT, "CheckoutURL": session.url})
                return str(session.url)
            if session.status == "complete":
                raise NotFound("paid already")
        if not self.success_url or not self.cancel_url:
            raise Unavailable("BRIDGE_SUCCESS_URL and BRIDGE_CANCEL_URL must be set for sign-up")
        try:
            plan = self.plan(registration.plan_key)
            scheduled = self.schedule_plan(registration, plan, int(self.clock()))
            trial_end = scheduled.billing.trial_end
            if trial_end is not None and trial_end < self.clock() + CHECKOUT_MIN_TRIAL:
                # Stripe refuses a Checkout trial ending sooner (stripe.md §4.5).
                raise ProvisioningError(
                    "a free initial period must end at least 48 hours after sign-up "
                    "(InitialBillingEnd)"
                )
            customer_id = self.find_or_create_customer(
                registration.customer_key, registration.email, registration.name
            )
        except ProvisioningError as error:
            self._write(key, {"LastError": str(error)})
            raise Unavailable(str(error)) from None
        except stripe.StripeError as error:
            self._refuse_or_raise(registration, error)
        metadata = _metadata(registration, plan.plan_key)
        subscription_data: dict[str, Any] = {"metadata": metadata}
        if scheduled.billing.trial_end is not None:
            subscription_data["trial_end"] = scheduled.billing.trial_end
        if scheduled.billing.trial_days:
            subscription_data["trial_period_days"] = scheduled.billing.trial_days
        params: dict[str, Any] = {
            "mode": "subscription",
            "customer": customer_id,
            "client_reference_id": key,
            "line_items": [{**scheduled.item(scheduled.billing.first_amount_minor), "quantity": 1}],
            "metadata": metadata,
            "subscription_data": subscription_data,
            "success_url": self.success_url,
            "cancel_url": self.cancel_url,
        }
        idempotency = self.gateway.idempotency_key(
            "checkout", key, previous or "", customer_id, scheduled.to_json()
        )
        claimed = self._claim_path(key, CHECKOUT)
        if claimed is None:
            raise NotFound("provisioned server-side")
        try:
            session = self.client.v1.checkout.sessions.create(
                cast("stripe.params.checkout.SessionCreateParams", params),
                {"idempotency_key": idempotency},
            )
        except stripe.StripeError as error:
            if claimed:
                self.keys.forget(SUBSCRIPTION_PATH, path_key(key))
            self._refuse_or_raise(registration, error)
        self.schedules.remember(key, scheduled)
        self.keys.put(CHECKOUT_SESSION, key, session.id)
        url = str(session.url)
        self._write(key, {"Status": CHECKOUT, "CheckoutURL": url, "LastError": None})
        return url

    def _refuse_or_raise(self, registration: Registration, error: stripe.StripeError) -> NoReturn:
        """A Stripe error during sign-up: one no retry can fix makes the row `failed` with
        LastError and raises Refused; a retryable one is raised as it is (the row is left
        for the next attempt)."""
        param = getattr(error, "param", None)
        value = {"email": registration.email, "name": registration.name}.get(param or "")
        refused = refusal(error, value)
        if refused is None:
            raise error
        last_error, public = refused
        log.warning("sign-up %s refused by Stripe: %s", registration.subscription_key, last_error)
        self._write(
            registration.subscription_key,
            {"Status": FAILED, "AccessActive": False, "LastError": last_error},
        )
        raise Refused(public) from None

    # ------------------------------------------------------------------ server side

    def run_pass(
        self,
        rows: list[Registration] | None = None,
        on_row: Callable[[Registration, str], None] | None = None,
    ) -> ProvisionReport:
        """`process` every row that needs it (or `rows`); one row's failure never stops the
        others: its Stripe or Caspio error is logged and counted as `error`."""
        report = ProvisionReport()
        for registration in self.rows_to_process() if rows is None else rows:
            try:
                outcome = self.process(registration)
            except (stripe.StripeError, CaspioError) as error:
                log.error("provisioning %s failed: %s", registration.subscription_key, error)
                outcome = ERROR
            report.counts[outcome] = report.counts.get(outcome, 0) + 1
            if on_row is not None:
                on_row(registration, outcome)
        return report

    def process(self, registration: Registration) -> str:
        """What polling, the Caspio webhook and `provision` do with one row."""
        if registration.requested_action:
            return self.perform_action(registration)
        if registration.status in ("", PENDING):
            return self.provision(registration)
        return SKIPPED

    def provision(self, registration: Registration) -> str:
        """Create the subscription for a `pending` row whose customer has a default card.

        Returns PROVISIONED (row written as Stripe has it), NEEDS_SIGNUP (no card; LastError
        says so, the row stays pending), FAILED (declined or not provisionable; `failed` with
        LastError, nothing left in Stripe) or SKIPPED (not pending)."""
        key = registration.subscription_key
        if registration.status not in ("", PENDING):
            return SKIPPED
        try:
            with_card = self._customer_with_card(registration.customer_key)
        except stripe.StripeError as error:
            field_name = f"StripeCustomerID of Billing_Customers {registration.customer_key!r}"
            return self._fail_or_raise(registration, error, field_name)
        if with_card is None:
            # Only while the row is still pending: the payer may have opened the sign-up link
            # since this row was read (the row is `checkout` then, and "no card" is untrue).
            f = self.mapping.field
            status = f(SUBSCRIPTIONS, "Status")
            still_pending = w.or_(w.is_null(status), w.eq(status, ""), w.eq(status, PENDING))
            if not self.writer.update_if(
                SUBSCRIPTIONS, "SubscriptionKey", key, {"LastError": NO_CARD}, still_pending
            ):
                return SKIPPED
            return NEEDS_SIGNUP
        customer_id, card = with_card
        try:
            plan = self.plan(registration.plan_key)
            scheduled = self.schedule_plan(registration, plan, int(self.clock()))
        except ProvisioningError as error:
            self._write(key, {"Status": FAILED, "AccessActive": False, "LastError": str(error)})
            return FAILED
        params: dict[str, Any] = {
            "customer": customer_id,
            "items": [scheduled.item(scheduled.billing.first_amount_minor)],
            "payment_behavior": "error_if_incomplete",
            "metadata": _metadata(registration, plan.plan_key),
        }
        if card is not None:
            params["default_payment_method"] = card
        if scheduled.billing.trial_end is not None:
            params["trial_end"] = scheduled.billing.trial_end
        if scheduled.billing.trial_days:
            params["trial_period_days"] = scheduled.billing.trial_days
        claimed = self._claim_path(key, PROVISION)
        if claimed is None:
            return SKIPPED  # its sign-up link was opened first: Checkout makes the subscription
        try:
            created = self.client.v1.subscriptions.create(
                cast("stripe.params.SubscriptionCreateParams", params),
                {"idempotency_key": self.gateway.idempotency_key("provision", key, customer_id)},
            )
        except stripe.StripeError as error:
            if claimed:  # nothing was created: the sign-up link may be used instead
                self.keys.forget(SUBSCRIPTION_PATH, path_key(key))
            if isinstance(error, stripe.CardError):
                self._write(
                    key, {"Status": FAILED, "AccessActive": False, "LastError": _decline(error)}
                )
                return FAILED
            return self._fail_or_raise(registration, error)
        subscription = _as_dict(created)
        self.schedules.remember(key, scheduled)
        apply_subscription(self.ctx, subscription, key_hint=key)
        if scheduled.billing.needs_schedule:
            subscription = self.schedules.attach(subscription, scheduled, key)
            apply_subscription(self.ctx, subscription, key_hint=key)
        self._write(key, {"LastError": None})
        return PROVISIONED

    def _claim_path(self, subscription_key: str, path: str) -> bool | None:
        """Take the row's SUBSCRIPTION_PATH for `path`: True when taken now, False when this
        path already holds it (a retry or a reopened link), None when the other path does."""
        lookup = path_key(subscription_key)
        if self.keys.claim(SUBSCRIPTION_PATH, lookup, path):
            return True
        return False if self.keys.get(SUBSCRIPTION_PATH, lookup) == path else None

    def _fail_or_raise(
        self, registration: Registration, error: stripe.StripeError, field_name: str | None = None
    ) -> str:
        """Server-side provisioning's Stripe error before anything was created: one no retry
        can fix makes the row `failed` (FAILED, so the next pass leaves it alone); a
        retryable one propagates (`run_pass` counts it as `error`, the row stays pending)."""
        refused = refusal(error, field_name=field_name)
        if refused is None:
            raise error
        self._write(
            registration.subscription_key,
            {"Status": FAILED, "AccessActive": False, "LastError": refused[0]},
        )
        return FAILED

    # ------------------------------------------------------------------ requested actions

    def perform_action(self, registration: Registration) -> str:
        """Do the row's RequestedAction in Stripe, write the outcome, clear the field."""
        key = registration.subscription_key
        action = registration.requested_action
        # The app wrote the field; tell the writer's memory, or clearing it again would be
        # skipped as a repeat of the bridge's last write.
        self.writer.observe(SUBSCRIPTIONS, key, {"RequestedAction": action})
        values: dict[str, Any] = {"RequestedAction": None}
        fresh: dict[str, Any] | None = None
        try:
            extra, fresh = self._act(registration, action)
            values.update(extra)
            values["LastError"] = None
            outcome = ACTION_DONE
        except (ProvisioningError, stripe.StripeError) as error:
            message = error.user_message if isinstance(error, stripe.StripeError) else None
            values["LastError"] = f"RequestedAction {action}: {message or error}"
            outcome = ACTION_FAILED
        # The field is cleared before anything else is written to the row: each write fires
        # Caspio's update webhook, which must not find the request still there and do it
        # again.
        self._write(key, values)
        if fresh is not None:
            apply_subscription(self.ctx, fresh, key_hint=key)
        return outcome

    def _act(
        self, registration: Registration, action: str
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Do `action` in Stripe; (values for the row, the subscription as it now is)."""
        subscription_id = registration.stripe_subscription_id
        if action not in ("cancel_at_period_end", "cancel_now") and not action.startswith(
            "change_plan:"
        ):
            raise ProvisioningError(f"unknown action (use one of {', '.join(ACTIONS)})")
        if not subscription_id:
            raise ProvisioningError("the row has no Stripe subscription yet")
        client = self.client
        subscription = _as_dict(client.v1.subscriptions.retrieve(subscription_id))
        if subscription.get("status") in ("canceled", "incomplete_expired"):
            if action.startswith("change_plan:"):
                raise ProvisioningError("the subscription has ended")
            return {}, subscription
        extra: dict[str, Any] = {}
        if action == "cancel_now":
            client.v1.subscriptions.cancel(subscription_id)
        else:
            self._release_schedule(subscription)
            if action == "cancel_at_period_end":
                client.v1.subscriptions.update(subscription_id, {"cancel_at_period_end": True})
            else:
                plan_key = action.split(":", 1)[1].strip()
                plan = self.plan(plan_key)
                if plan.is_payplan:
                    raise ProvisioningError(f"plan {plan_key!r} is a pay plan")
                items = ((subscription.get("items") or {}).get("data")) or []
                if not items:
                    raise ProvisioningError("the subscription has no item to change")
                # Proration as Stripe does it by default (create_prorations).
                change = {
                    "items": [{"id": items[0]["id"], "price": plan.stripe_price_id}],
                    "metadata": {PLAN_KEY_META: plan.plan_key},
                }
                client.v1.subscriptions.update(
                    subscription_id, cast("stripe.params.SubscriptionUpdateParams", change)
                )
                extra["PlanKey"] = plan.plan_key
        return extra, _as_dict(client.v1.subscriptions.retrieve(subscription_id))

    def _release_schedule(self, subscription: dict[str, Any]) -> None:
        """A subscription run by a schedule takes changes through the schedule; the app's
        request replaces the remaining phases, so the schedule lets go of it first."""
        schedule_id = stripe_id(subscription.get("schedule"))
        if schedule_id:
            self.client.v1.subscription_schedules.release(schedule_id)

    # ------------------------------------------------------------------ writing

    def _write(self, key: str, values: Mapping[str, Any]) -> None:
        try:
            self.writer.update(SUBSCRIPTIONS, "SubscriptionKey", key, values)
        except MissingCaspioRow:
            log.warning("%s row %s is gone; nothing written", SUBSCRIPTIONS, key)


def _decline(error: stripe.CardError) -> str:
    """`LastError` for a declined first payment: Stripe's message and decline code."""
    message = error.user_message or "Your card was declined."
    code = getattr(error.error, "decline_code", None) if error.error else None
    code = code or error.code
    return f"first payment declined: {message}" + (f" ({code})" if code else "")
