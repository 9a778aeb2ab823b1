"""``/_emulator/…``: test controls (clock, faults, counters, reset) and the hosted invoice page.

These routes need no API key; they exist only in the emulator.
"""

from __future__ import annotations

import html
from dataclasses import asdict, fields
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, request

from .api import json_response
from .cards import card_for_number
from .errors import StripeApiError
from .resources.test_clocks import MAX_ADVANCE
from .webhooks import DeliveryFaults

if TYPE_CHECKING:
    from .emulator import StripeEmulator

Obj = dict[str, Any]


def _body() -> Obj:
    if request.is_json:
        data = request.get_json(silent=True)
        return data if isinstance(data, dict) else {}
    return dict(request.form.items())


def register(em: StripeEmulator, app: Flask) -> None:
    @app.get("/_emulator/clock")
    def clock() -> Response:
        return json_response(200, {"now": em.now()})

    @app.post("/_emulator/advance")
    def advance() -> Response:
        try:
            seconds = int(_body().get("seconds", 0))
            if seconds > MAX_ADVANCE:  # each renewal on the way runs inside this request
                raise ValueError(f"seconds must be at most {MAX_ADVANCE}")
            now = em.advance(seconds)
        except (TypeError, ValueError) as exc:
            return json_response(400, {"error": {"message": str(exc)}})
        return json_response(200, {"now": now})

    @app.post("/_emulator/reset")
    def reset() -> Response:
        em.reset()
        return json_response(200, {"reset": True})

    @app.route("/_emulator/delivery_faults", methods=["GET", "POST"])
    def delivery_faults() -> Response:
        if request.method == "POST":
            names = {f.name for f in fields(DeliveryFaults)}
            body = {k: v for k, v in _body().items() if k in names}
            try:
                faults = DeliveryFaults(
                    duplicate_every=int(body.get("duplicate_every", 0)),
                    reorder=str(body.get("reorder", "false")).lower() in ("true", "1"),
                    drop_first_attempts=int(body.get("drop_first_attempts", 0)),
                    seed=int(body["seed"]) if body.get("seed") is not None else None,
                )
            except ValueError as exc:
                return json_response(400, {"error": {"message": str(exc)}})
            em.dispatcher.set_faults(faults)
        return json_response(200, asdict(em.dispatcher.faults))

    @app.route("/_emulator/billing", methods=["GET", "POST"])
    def billing() -> Response:
        if request.method == "POST":
            try:
                em.configure_billing(**_body())
            except (TypeError, ValueError) as exc:
                return json_response(400, {"error": {"message": str(exc)}})
        return json_response(200, asdict(em.billing.config))

    @app.post("/_emulator/api_faults")
    def api_faults() -> Response:
        body = _body()
        em.inject_api_fault(
            int(body.get("status", 429)),
            int(body.get("count", 1)),
            body.get("method"),
            body.get("path"),
        )
        return json_response(200, {"ok": True})

    @app.get("/_emulator/requests")
    def requests_counter() -> Response:
        request_id = request.args.get("id")
        if request_id:
            # The target of error bodies' request_log_url: that request's line.
            entry = em.logged_request(request_id)
            if entry is None:
                return json_response(404, {"error": f"no request {request_id} in the log"})
            return json_response(200, entry)
        counts = [
            {"method": method, "path": path, "count": n}
            for (method, path), n in sorted(em.requests.items())
        ]
        return json_response(200, {"total": sum(c["count"] for c in counts), "counts": counts})

    @app.get("/_emulator/deliveries")
    def deliveries() -> Response:
        records = [
            {
                "event_id": r.event_id,
                "event_type": r.event_type,
                "endpoint_id": r.endpoint_id,
                "url": r.url,
                "attempt": r.attempt,
                "status": r.status,
                "error": r.error,
                "at": r.at,
            }
            for r in em.deliveries
        ]
        return json_response(200, {"pending": em.dispatcher.pending(), "data": records})

    @app.post("/_emulator/wait_idle")
    def wait_idle() -> Response:
        timeout = float(_body().get("timeout", 10))
        return json_response(200, {"idle": em.wait_idle(timeout)})

    @app.route("/_emulator/invoices/<invoice_id>", methods=["GET", "POST"])
    def hosted_invoice(invoice_id: str) -> Response:
        """A bare hosted invoice page where a person can pay with a test card number."""
        message = ""
        with em.store.lock:
            invoice = em.store.get(invoice_id)
            if invoice is None or invoice.get("object") != "invoice":
                return Response("No such invoice", status=404, mimetype="text/plain")
            if request.method == "POST":
                message = _pay_from_page(em, invoice, request.form.get("number", ""))
                em.bus.flush()
            page = _invoice_page(invoice, message)
        return Response(page, mimetype="text/html")

    @app.get("/_emulator/invoices/<invoice_id>/pdf")
    def invoice_pdf(invoice_id: str) -> Response:
        invoice = em.store.get(invoice_id)
        if invoice is None:
            return Response("No such invoice", status=404, mimetype="text/plain")
        text = (
            f"Invoice {invoice['number']}\n"
            f"Amount due: {invoice['amount_due']} {invoice['currency']}\n"
        )
        return Response(text, mimetype="text/plain")

    @app.get("/_emulator/receipts/<charge_id>")
    def receipt(charge_id: str) -> Response:
        charge = em.store.get(charge_id)
        if charge is None:
            return Response("No such charge", status=404, mimetype="text/plain")
        return Response(f"Receipt {charge_id}: {charge['status']}\n", mimetype="text/plain")


def _pay_from_page(em: StripeEmulator, invoice: Obj, number: str) -> str:
    from .resources.payment_methods import attach, new_card_payment_method

    if invoice["status"] != "open":
        return f"This invoice is {invoice['status']}."
    card = card_for_number(number)
    pm = new_card_payment_method(em, card)
    try:
        attach(em, pm, invoice["customer"])
        em.billing.pay_now(invoice, pm)
    except StripeApiError as exc:
        return exc.message
    return "Paid. Thank you."


def _invoice_page(invoice: Obj, message: str) -> str:
    amount = f"{invoice['amount_remaining'] / 100:.2f} {str(invoice['currency']).upper()}"
    form = (
        '<form method="post"><label>Card number <input name="number" autocomplete="off">'
        "</label> <button>Pay</button></form>"
        if invoice["status"] == "open"
        else ""
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Invoice "
        f"{html.escape(str(invoice['number']))}</title></head><body>"
        f"<h1>Invoice {html.escape(str(invoice['number']))}</h1>"
        f"<p>Status: <b id='status'>{html.escape(invoice['status'])}</b></p>"
        f"<p>Amount due: {html.escape(amount)}</p>"
        f"<p id='message'>{html.escape(message)}</p>{form}</body></html>"
    )
