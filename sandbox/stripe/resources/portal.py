"""``/v1/billing_portal/sessions`` and the card change the hosted portal page makes.

Replacing the card attaches the new one, makes it the customer's default
(``invoice_settings.default_payment_method``) and the default of every live subscription
that named its own, so the next renewal charges it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import flow_shapes
from ..api import require_params
from ..billing import LIVE_STATUSES
from ..errors import missing_param
from .checkout import check_card, redacted
from .payment_methods import attach, new_card_payment_method

if TYPE_CHECKING:
    from ..api import Api
    from ..emulator import StripeEmulator

Obj = dict[str, Any]

# The emulator has one portal configuration, Stripe's default one.
DEFAULT_CONFIGURATION = "bpc_emulator_default"
_CREATE = {"customer", "return_url", "configuration", "locale", "flow_data", "on_behalf_of"}


def create(em: StripeEmulator, params: Obj) -> Obj:
    require_params(params, _CREATE)
    if not params.get("customer"):
        raise missing_param("customer")
    customer = em.store.require("customer", params["customer"], "customer")
    session_id = em.ids.new("bps")
    session = flow_shapes.new(
        "billing_portal.session",
        id=session_id,
        configuration=params.get("configuration") or DEFAULT_CONFIGURATION,
        created=em.clock.now(),
        customer=customer["id"],
        locale=params.get("locale"),
        return_url=params.get("return_url"),
        url=f"{em.public_url}/portal/{session_id}",
    )
    em.store.put(session)
    em.bus.emit("billing_portal.session.created", session)
    return session


def default_card(em: StripeEmulator, customer: Obj) -> Obj | None:
    pm_id = customer["invoice_settings"]["default_payment_method"]
    return em.store.get(pm_id) if pm_id else None


def replace_card(
    em: StripeEmulator, session: Obj, *, number: str, exp_month: int, exp_year: int
) -> str | None:
    """Make a new card the default; returns the message to show when it was refused."""
    customer = em.store.require("customer", session["customer"])
    card, refusal = check_card(em, number, exp_month, exp_year, charged_now=False)
    if refusal is not None:
        return refusal
    pm = new_card_payment_method(em, redacted(card), exp_month, exp_year)
    attach(em, pm, customer["id"])
    with em.bus.updating(customer, "customer.updated"):
        customer["invoice_settings"]["default_payment_method"] = pm["id"]
    for sub in em.store.all("subscription"):
        if (
            sub["customer"] == customer["id"]
            and sub["status"] in (*LIVE_STATUSES, "incomplete")
            and sub["default_payment_method"]
        ):
            with em.bus.updating(sub, "customer.subscription.updated"):
                sub["default_payment_method"] = pm["id"]
    return None


def retrieve_for_page(em: StripeEmulator, session_id: str) -> Obj | None:
    session = em.store.get(session_id)
    if session is None or session.get("object") != "billing_portal.session":
        return None
    return session


def register(api: Api) -> None:
    from ..hosted_pages import register_portal_page

    api.route("POST", "/v1/billing_portal/sessions", create)
    register_portal_page(api.em, api.app)
