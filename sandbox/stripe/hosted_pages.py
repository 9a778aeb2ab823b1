"""The hosted Checkout and customer-portal pages: plain HTML forms, no JavaScript.

``GET /checkout/<cs_…>`` shows the session and a card form; posting it completes the
session and answers 303 to the success URL, or 402 with the decline and nothing created.
``GET /portal/<bps_…>`` shows the default card; posting a new one replaces it and answers
303 to the return URL. These pages need no API key, like Stripe's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Flask, Response, redirect, render_template, request
from werkzeug.wrappers import Response as BaseResponse

from .resources import checkout, portal

if TYPE_CHECKING:
    from .emulator import StripeEmulator

Obj = dict[str, Any]


def money(amount: int | None, currency: str | None) -> str:
    if amount is None:
        return ""
    return f"{amount / 100:.2f} {str(currency or '').upper()}"


def _card_form() -> tuple[str, int, int]:
    """Card number and expiry from the posted form (``exp`` as MM/YY also accepted)."""
    form = request.form
    number = form.get("number", form.get("card_number", "")).replace(" ", "")
    month, year = form.get("exp_month", ""), form.get("exp_year", "")
    if form.get("exp") and not (month and year):
        month, _, year = form["exp"].replace(" ", "").partition("/")
    try:
        exp_month, exp_year = int(month or 12), int(year or 34)
    except ValueError:
        exp_month, exp_year = 0, 0
    if exp_year < 100:
        exp_year += 2000
    return number, exp_month, exp_year


def _begin(em: StripeEmulator) -> None:
    em.bus.request = {"id": None, "idempotency_key": None}


def _checkout_lines(em: StripeEmulator, session: Obj) -> list[Obj]:
    lines = []
    for price_id, quantity in em.store.notes[session["id"]].get("lines", []):
        price = em.store.get(price_id) or {}
        product = em.store.get(price.get("product") or "") or {}
        recurring = price.get("recurring") or {}
        every = recurring.get("interval", "")
        if recurring.get("interval_count", 1) != 1:
            every = f"{recurring['interval_count']} {every}s"
        lines.append(
            {
                "name": product.get("name") or price_id,
                "quantity": quantity,
                "amount": money(
                    int(price.get("unit_amount") or 0) * quantity, price.get("currency")
                ),
                "every": every,
            }
        )
    return lines


def _checkout_page(em: StripeEmulator, session: Obj, message: str, status: int) -> Response:
    customer = em.store.get(session["customer"] or "")
    page = render_template(
        "checkout.html",
        session=session,
        lines=_checkout_lines(em, session),
        total=money(
            session["amount_total"] if checkout.charged_now(em, session) else 0,
            session["currency"],
        ),
        email=session["customer_email"] or (customer or {}).get("email"),
        needs_email=session["customer"] is None and not session["customer_email"],
        message=message,
    )
    return Response(page, status=status, mimetype="text/html")


def register_checkout_page(em: StripeEmulator, app: Flask) -> None:
    @app.route("/checkout/<session_id>", methods=["GET", "POST"])
    def checkout_page(session_id: str) -> BaseResponse:
        with em.store.lock:
            session = em.store.get(session_id)
            if session is None or session.get("object") != "checkout.session":
                return Response("No such Checkout Session", status=404, mimetype="text/plain")
            if request.method == "GET":
                message = (
                    ""
                    if session["status"] == "open"
                    else (f"This Checkout Session is {session['status']}.")
                )
                return _checkout_page(em, session, message, 200)
            _begin(em)
            number, exp_month, exp_year = _card_form()
            try:
                refusal = checkout.complete(
                    em,
                    session,
                    number=number,
                    exp_month=exp_month,
                    exp_year=exp_year,
                    email=request.form.get("email") or None,
                )
            finally:
                em.bus.flush()
            if refusal is not None:
                status = 402 if session["status"] == "open" else 410
                return _checkout_page(em, session, refusal, status)
            return redirect(checkout.success_redirect(session), code=303)


def _portal_page(em: StripeEmulator, session: Obj, message: str, status: int) -> Response:
    customer = em.store.require("customer", session["customer"])
    card = portal.default_card(em, customer)
    invoices = [
        {
            "number": inv["number"],
            "amount": money(inv["amount_due"], inv["currency"]),
            "status": inv["status"],
        }
        for inv in reversed(em.store.all("invoice"))
        if inv["customer"] == customer["id"] and inv["status"] != "draft"
    ]
    page = render_template(
        "portal.html",
        session=session,
        customer=customer,
        card=card["card"] if card else None,
        invoices=invoices,
        message=message,
    )
    return Response(page, status=status, mimetype="text/html")


def register_portal_page(em: StripeEmulator, app: Flask) -> None:
    @app.route("/portal/<session_id>", methods=["GET", "POST"])
    def portal_page(session_id: str) -> BaseResponse:
        with em.store.lock:
            session = portal.retrieve_for_page(em, session_id)
            customer = em.store.get(session["customer"]) if session else None
            if session is None or customer is None or customer.get("deleted"):
                return Response("No such portal session", status=404, mimetype="text/plain")
            if request.method == "GET":
                return _portal_page(em, session, "", 200)
            _begin(em)
            number, exp_month, exp_year = _card_form()
            try:
                refusal = portal.replace_card(
                    em, session, number=number, exp_month=exp_month, exp_year=exp_year
                )
            finally:
                em.bus.flush()
            if refusal is not None:
                return _portal_page(em, session, refusal, 402)
            if session["return_url"]:
                return redirect(session["return_url"], code=303)
            return _portal_page(em, session, "Your card was updated.", 200)
