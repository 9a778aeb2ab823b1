"""``/v1/checkout/sessions`` (``mode=subscription`` and ``mode=setup``) and their completion.

A session's ``url`` is the emulator's hosted page (:mod:`sandbox.stripe.hosted_pages`);
:func:`complete` is what that page runs when a person submits a card. Completion checks the
card before it creates anything, so a declined card leaves no customer, payment method or
subscription behind. In setup mode the session carries a SetupIntent (:mod:`.setup_intents`)
that ends up holding the saved card. Sessions expire when the emulator clock passes
``expires_at``.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from .. import flow_shapes, shapes
from ..api import require_params
from ..cards import BY_NUMBER, INCORRECT, Card, Decline, card_for_number
from ..errors import invalid, missing_param
from ..forms import as_dict, as_int, as_list, merge_metadata
from . import customers, payments, subscriptions
from .common import list_of
from .payment_methods import attach, new_card_payment_method
from .prices import new_price
from .setup_intents import new_setup_intent, succeed

if TYPE_CHECKING:
    from ..api import Api
    from ..emulator import StripeEmulator

Obj = dict[str, Any]

MODES = ("subscription", "setup", "payment")
_PAYMENT_INTENT_DATA = {
    "description",
    "metadata",
    "shipping",
    "setup_future_usage",
    "capture_method",
    "receipt_email",
    "statement_descriptor",
    "statement_descriptor_suffix",
}
DEFAULT_LIFETIME = 24 * 3600
MIN_LIFETIME = 30 * 60

_CREATE = {
    "mode",
    "line_items",
    "customer",
    "customer_email",
    "client_reference_id",
    "metadata",
    "success_url",
    "cancel_url",
    "expires_at",
    "subscription_data",
    "currency",
    "locale",
    "allow_promotion_codes",
    "billing_address_collection",
    "customer_creation",
    "payment_method_collection",
    "allowed_payment_method_types",
    "setup_intent_data",
    "customer_update",
    "ui_mode",
    "consent_collection",
    "custom_text",
    "submit_type",
    "payment_intent_data",
    "payment_method_types",
}
_SUBSCRIPTION_DATA = {"metadata", "description", "trial_period_days", "trial_end"}


# -- creation ----------------------------------------------------------------------------------


def _line_prices(em: StripeEmulator, params: Obj, mode: str) -> list[tuple[Obj, int]]:
    lines = []
    for i, raw in enumerate(as_list(params.get("line_items"), "line_items")):
        param = f"line_items[{i}]"
        spec = as_dict(raw, param)
        if spec.get("price"):
            price = em.store.require("price", spec["price"], f"{param}[price]")
        elif "price_data" in spec:
            data = as_dict(spec["price_data"], f"{param}[price_data]")
            product = em.store.require(
                "product", data.get("product"), f"{param}[price_data][product]"
            )
            price = new_price(em, data, product["id"], f"{param}[price_data][")
        else:
            raise missing_param(f"{param}[price]")
        if mode == "payment" and price["type"] == "recurring":
            raise invalid(
                "You specified `payment` mode but passed a recurring price. Either switch to "
                "`subscription` mode or use only one-time prices.",
                param=f"{param}[price]",
            )
        if mode == "subscription" and price["type"] != "recurring":
            raise invalid(
                "The emulator's Checkout in subscription mode takes recurring prices only.",
                param=f"{param}[price]",
            )
        lines.append((price, as_int(spec.get("quantity", 1), f"{param}[quantity]", minimum=1)))
    return lines


def create(em: StripeEmulator, params: Obj) -> Obj:
    require_params(params, _CREATE)
    mode = params.get("mode")
    if not mode:
        raise missing_param("mode")
    if mode not in MODES:
        raise invalid(
            "The emulator's Checkout supports mode=subscription, payment and setup.",
            param="mode",
        )
    for kind in as_list(params.get("payment_method_types"), "payment_method_types"):
        if kind != "card":
            raise invalid(
                f"The emulator supports card payments only; {kind} is not a card.",
                param="payment_method_types",
            )
    if params.get("ui_mode", "hosted_page") not in ("hosted_page", "hosted"):
        raise invalid("The emulator's Checkout is a hosted page only.", param="ui_mode")
    if not params.get("success_url"):
        raise missing_param("success_url")
    if params.get("customer") and params.get("customer_email"):
        raise invalid(
            "You may only specify one of these parameters: customer, customer_email.",
            param="customer_email",
        )
    customer = None
    if params.get("customer"):
        customer = em.store.require("customer", params["customer"], "customer")
    lines = _line_prices(em, params, mode)
    if mode in ("subscription", "payment") and not lines:
        raise missing_param("line_items")
    pi_data = as_dict(params.get("payment_intent_data"), "payment_intent_data")
    for name in pi_data:
        if name not in _PAYMENT_INTENT_DATA:
            raise invalid(
                f"Received unknown parameter: payment_intent_data[{name}]",
                param=f"payment_intent_data[{name}]",
                code="parameter_unknown",
            )
    if pi_data and mode != "payment":
        raise invalid(
            "payment_intent_data can only be used in payment mode.", param="payment_intent_data"
        )
    if mode == "setup" and lines:
        raise invalid("line_items cannot be used in setup mode.", param="line_items")
    sub_data = as_dict(params.get("subscription_data"), "subscription_data")
    for name in sub_data:
        if name not in _SUBSCRIPTION_DATA:
            raise invalid(
                f"Received unknown parameter: subscription_data[{name}]",
                param=f"subscription_data[{name}]",
                code="parameter_unknown",
            )
    if mode == "setup" and sub_data:
        raise invalid("subscription_data cannot be used in setup mode.", param="subscription_data")
    now = em.clock.now()
    expires_at = now + DEFAULT_LIFETIME
    if params.get("expires_at"):
        expires_at = as_int(params["expires_at"], "expires_at")
        if not now + MIN_LIFETIME <= expires_at <= now + DEFAULT_LIFETIME:
            raise invalid(
                "The `expires_at` timestamp must be between 30 minutes and 24 hours "
                "from Checkout Session creation.",
                param="expires_at",
            )
    session_id = em.ids.new("cs_test")
    amount = sum(int(p["unit_amount"] or 0) * q for p, q in lines)
    currency = lines[0][0]["currency"] if lines else params.get("currency")
    session = shapes.new(
        "checkout.session",
        id=session_id,
        amount_subtotal=amount if lines else None,
        amount_total=amount if lines else None,
        cancel_url=params.get("cancel_url"),
        client_reference_id=params.get("client_reference_id") or None,
        created=now,
        currency=str(currency).lower() if currency else None,
        customer=customer["id"] if customer else None,
        customer_email=params.get("customer_email") or None,
        expires_at=expires_at,
        locale=params.get("locale"),
        metadata=merge_metadata({}, params.get("metadata", {})),
        mode=mode,
        payment_status="no_payment_required" if mode == "setup" else "unpaid",
        success_url=params["success_url"],
        url=f"{em.public_url}/checkout/{session_id}",
    )
    for price, _ in lines:
        if em.store.get(price["id"]) is None:
            em.store.put(price)
    if mode == "setup":
        seti = new_setup_intent(em, session["customer"], {})
        session["setup_intent"] = seti["id"]
    em.store.put(session)
    expiry_timer(em).watch(session)
    notes = em.store.notes[session_id]
    notes["lines"] = [(p["id"], q) for p, q in lines]
    notes["items"] = [_line_item(em, price, qty) for price, qty in lines]
    notes["subscription_data"] = sub_data
    notes["payment_intent_data"] = pi_data
    return session


def _line_item(em: StripeEmulator, price: Obj, quantity: int) -> Obj:
    product = em.store.get(price["product"]) or {}
    amount = int(price["unit_amount"] or 0) * quantity
    return flow_shapes.new(
        "item",
        id=em.ids.new("li"),
        amount_subtotal=amount,
        amount_total=amount,
        currency=price["currency"],
        description=product.get("name"),
        price=price,
        quantity=quantity,
    )


def line_items_of(em: StripeEmulator, session: Obj) -> Obj:
    """The includable ``line_items`` list."""
    items = em.store.notes[session["id"]].get("items", [])
    return shapes.list_object(items, f"/v1/checkout/sessions/{session['id']}/line_items")


# -- completion (the hosted page) ---------------------------------------------------------------


def redacted(card: Card) -> Card:
    """Keep brand, last4 and behaviour; a number that is not a public test card is dropped."""
    if card.number in BY_NUMBER:
        return card
    return dataclasses.replace(card, number="0" * 12 + card.last4)


def expire_if_due(em: StripeEmulator, session: Obj) -> None:
    if session["status"] == "open" and session["expires_at"] <= em.clock.now():
        expire(em, session)


def expire(em: StripeEmulator, session: Obj) -> None:
    session["status"] = "expired"
    em.bus.emit("checkout.session.expired", session)


def check_card(
    em: StripeEmulator, number: str, exp_month: int, exp_year: int, charged_now: bool
) -> tuple[Card, str | None]:
    """The card a form describes, and why it is refused (None: it goes through)."""
    card = card_for_number(number)
    if card.attach_decline is INCORRECT:
        return card, INCORRECT.message
    if not 1 <= exp_month <= 12:
        return card, "Your card's expiration month is invalid."
    today = datetime.fromtimestamp(em.clock.now(), tz=timezone.utc)
    if (exp_year, exp_month) < (today.year, today.month):
        return card, "Your card's expiration year is invalid."
    decline: Decline | None = card.attach_decline
    if decline is None and charged_now:
        decline = card.charge_decline
    return card, decline.message if decline is not None else None


def charged_now(em: StripeEmulator, session: Obj) -> bool:
    """Whether completing the session charges the card today (something due, no trial)."""
    sub_data = em.store.notes[session["id"]].get("subscription_data") or {}
    trial = sub_data.get("trial_period_days") not in (None, "", "0") or "trial_end" in sub_data
    if session["mode"] == "payment":
        return True
    return session["mode"] == "subscription" and bool(session["amount_total"]) and not trial


def complete(
    em: StripeEmulator,
    session: Obj,
    *,
    number: str,
    exp_month: int,
    exp_year: int,
    email: str | None,
) -> str | None:
    """Pay or save the card; returns the message to show instead when nothing happened."""
    expire_if_due(em, session)
    if session["status"] != "open":
        return f"This Checkout Session is {session['status']}."
    card, refusal = check_card(em, number, exp_month, exp_year, charged_now(em, session))
    if refusal is not None:
        return refusal
    email = session["customer_email"] or email
    if session["customer"] is None and not email:
        return "Please enter your email address."

    # The card will go through: from here on objects are created.
    customer = em.store.get(session["customer"] or "")
    if customer is None and session["mode"] == "payment":
        # Payment mode makes no customer unless one was given (customer_creation=if_required).
        pm = new_card_payment_method(em, redacted(card), exp_month, exp_year)
        _pay(em, session, None, pm)
        session["status"] = "complete"
        details = {**flow_shapes.CUSTOMER_DETAILS, "email": email}
        session["customer_details"] = details
        em.bus.emit("checkout.session.completed", session)
        return None
    if customer is None:
        customer = customers.create(em, {"email": email})
    pm = new_card_payment_method(em, redacted(card), exp_month, exp_year)
    attach(em, pm, customer["id"])
    if session["mode"] == "payment":
        _pay(em, session, customer, pm)
    elif session["mode"] == "subscription":
        _start_subscription(em, session, customer, pm)
    else:
        seti = em.store.require("setup_intent", session["setup_intent"])
        succeed(em, seti, customer["id"], pm["id"])
    session["status"] = "complete"
    session["customer"] = customer["id"]
    details = {**flow_shapes.CUSTOMER_DETAILS, "email": customer["email"], "name": customer["name"]}
    session["customer_details"] = details
    em.bus.emit("checkout.session.completed", session)
    return None


def _pay(em: StripeEmulator, session: Obj, customer: Obj | None, pm: Obj) -> None:
    """Payment mode: one PaymentIntent for the session's total, confirmed with the card."""
    data: Obj = em.store.notes[session["id"]].get("payment_intent_data") or {}
    params: Obj = {
        "amount": session["amount_total"],
        "currency": session["currency"],
        "payment_method": pm["id"],
        "confirm": "true",
        **{k: v for k, v in data.items() if k != "setup_future_usage"},
    }
    if customer is not None:
        params["customer"] = customer["id"]
    pi = payments.create(em, params)  # the card was checked: this does not decline
    session["payment_intent"] = pi["id"]
    session["payment_status"] = "paid" if pi["status"] == "succeeded" else "unpaid"


def _start_subscription(em: StripeEmulator, session: Obj, customer: Obj, pm: Obj) -> None:
    notes = em.store.notes[session["id"]]
    sub_data: Obj = notes["subscription_data"]
    params: Obj = {
        "customer": customer["id"],
        "items": [{"price": price_id, "quantity": qty} for price_id, qty in notes["lines"]],
        "default_payment_method": pm["id"],
        "payment_behavior": "error_if_incomplete",
        "metadata": sub_data.get("metadata", {}),
    }
    for name in ("description", "trial_period_days", "trial_end"):
        if name in sub_data:
            params[name] = sub_data[name]
    sub = subscriptions.create(em, params)  # the card was checked: this does not decline
    invoice = em.store.get(sub["latest_invoice"] or "")
    session["subscription"] = sub["id"]
    session["invoice"] = sub["latest_invoice"]
    paid = invoice is not None and invoice["amount_paid"] > 0
    session["payment_status"] = "paid" if paid else "no_payment_required"


def success_redirect(session: Obj) -> str:
    return str(session["success_url"]).replace("{CHECKOUT_SESSION_ID}", session["id"])


# -- routes --------------------------------------------------------------------------------------


def retrieve(em: StripeEmulator, params: Obj, id: str) -> Obj:
    return em.store.require("checkout.session", id, "session")


def line_items(em: StripeEmulator, params: Obj, id: str) -> Obj:
    require_params(params, {"limit", "starting_after", "ending_before"})
    session = em.store.require("checkout.session", id, "session")
    items = list(reversed(em.store.notes[session["id"]].get("items", [])))
    return list_of(items, params, f"/v1/checkout/sessions/{id}/line_items")


def expire_route(em: StripeEmulator, params: Obj, id: str) -> Obj:
    session = em.store.require("checkout.session", id, "session")
    if session["status"] != "open":
        raise invalid(
            f"Only Checkout Sessions with a status of open can be expired; this one "
            f"is {session['status']}.",
            param="session",
        )
    expire(em, session)
    return session


def list_sessions(em: StripeEmulator, params: Obj) -> Obj:
    require_params(
        params,
        {
            "customer",
            "subscription",
            "payment_intent",
            "status",
            "limit",
            "starting_after",
            "ending_before",
            "created",
            "customer_details",
        },
    )

    def keep(s: Obj) -> bool:
        return all(
            not params.get(name) or s[name] == params[name]
            for name in ("customer", "subscription", "payment_intent", "status")
        )

    return list_of(em.store.all("checkout.session"), params, "/v1/checkout/sessions", keep)


class CheckoutExpiry:
    """A billing-engine timer: ``checkout.session.expired`` when the clock passes it."""

    def __init__(self, em: StripeEmulator) -> None:
        self.em = em
        self._watched: dict[str, None] = {}  # sessions that may still be open

    def watch(self, session: Obj) -> None:
        self._watched[session["id"]] = None

    def _open(self) -> list[Obj]:
        live = []
        for session_id in list(self._watched):
            session = self.em.store.get(session_id)
            if session is None or session.get("status") != "open":
                del self._watched[session_id]
            elif self.em.billing.in_scope(session):
                live.append(session)
        return live

    def next_due(self) -> int | None:
        times = [int(s["expires_at"]) for s in self._open()]
        return min(times) if times else None

    def run_due(self, now: int) -> None:
        for session in self._open():
            if session["expires_at"] <= now:
                expire(self.em, session)


def expiry_timer(em: StripeEmulator) -> CheckoutExpiry:
    """The emulator's one expiry timer, added to the clock on first use."""
    for timer in em.billing.timers:
        if isinstance(timer, CheckoutExpiry):
            return timer
    timer = CheckoutExpiry(em)
    em.billing.timers.append(timer)
    return timer


def register(api: Api) -> None:
    from ..hosted_pages import register_checkout_page

    em = api.em
    expiry_timer(em)
    api.route("POST", "/v1/checkout/sessions", create)
    api.route("GET", "/v1/checkout/sessions", list_sessions)
    api.route("GET", "/v1/checkout/sessions/<id>", retrieve)
    api.route("POST", "/v1/checkout/sessions/<id>/expire", expire_route)
    api.route("GET", "/v1/checkout/sessions/<id>/line_items", line_items)
    em.includables[("checkout.session", "line_items")] = lambda s: line_items_of(em, s)
    register_checkout_page(em, api.app)
