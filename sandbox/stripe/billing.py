"""The billing engine: subscription invoices, payment attempts, renewals and dunning.

Everything time-driven happens here when the clock advances. ``timers`` holds every source
of scheduled work (this engine is the first; subscription schedules can add their own), and
:meth:`BillingEngine.advance` runs them in time order up to the target time.

Simplifications (see README): a renewal invoice is finalized and charged at once, not about
an hour after ``invoice.created``; retries follow a fixed schedule, not Smart Retries.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from . import charging, shapes
from .cards import Decline
from .errors import StripeApiError, card_declined, invalid
from .periods import DAY, boundary

if TYPE_CHECKING:
    from .emulator import StripeEmulator

Obj = dict[str, Any]

NO_PAYMENT_METHOD = Decline(
    "invoice_payment_intent_requires_action",
    "no_payment_method",
    "The invoice's customer has no default payment method.",
)

ACTION_REQUIRED = Decline(
    "invoice_payment_intent_requires_action",
    "authentication_required",
    "This payment requires additional user action before it can be completed successfully. "
    "Payment can be completed using the PaymentIntent associated with the invoice.",
)

LIVE_STATUSES = ("trialing", "active", "past_due", "unpaid")

TRIAL_WARNING = 3 * DAY


@dataclass
class BillingConfig:
    # Delays of the automatic retries, each counted from the previous failed attempt.
    retry_schedule: tuple[int, ...] = (1 * DAY, 3 * DAY, 5 * DAY)
    # What a subscription becomes when the last retry of a renewal fails.
    after_retries: str = "canceled"  # "unpaid" | "canceled" | "past_due"
    incomplete_expiry: int = 23 * 3600


class Timer(Protocol):
    def next_due(self) -> int | None: ...

    def run_due(self, now: int) -> None: ...


class BillingEngine:
    def __init__(self, em: StripeEmulator, config: BillingConfig) -> None:
        self.em = em
        self.config = config
        self.timers: list[Timer] = [self]
        # Called with (subscription, period_end) before a renewal; may change the items.
        self.before_renewal: list[Callable[[Obj, int], None]] = []
        # Ids of subscriptions and invoices that may still fall due, so a clock step scans
        # only live objects, not the whole history.
        self._watched: dict[str, None] = {}
        self._due_cache: list[tuple[int, int, str, Obj]] | None = None
        self._advance_lock = threading.Lock()
        # The test clock whose time is moving (None: the emulator's own clock). Timers act
        # only on objects of that clock, so advancing one clock moves only its customers.
        self.scope: str | None = None

    def reset(self) -> None:
        self._watched.clear()
        self._due_cache = None

    def watch(self, object_id: str) -> None:
        self._watched[object_id] = None

    # -- test clocks -----------------------------------------------------------------------

    def clock_of(self, obj: Obj) -> str | None:
        """The test clock an object lives on: its customer's (None: the emulator's clock)."""
        kind = obj.get("object")
        if kind == "test_helpers.test_clock":
            return str(obj["id"])
        if kind == "customer":
            return obj.get("test_clock")
        customer_id = obj.get("customer")
        if isinstance(customer_id, str):
            customer = self.em.store.get(customer_id)
            return customer.get("test_clock") if customer is not None else None
        return None

    def in_scope(self, obj: Obj) -> bool:
        return self.clock_of(obj) == self.scope

    def advance_test_clock(self, clock: Obj, target: int) -> None:
        """Move one test clock to ``target``, running what falls due for its objects only.

        Runs inside the API request (under the state lock), at the clock's own time.
        """
        em = self.em
        previous = self.scope
        self.scope = clock["id"]
        try:
            while True:
                dues = [(timer.next_due(), timer) for timer in self.timers]
                times = [t for t, _ in dues if t is not None]
                if not times or min(times) > target:
                    clock["frozen_time"] = target
                    return
                step = max(min(times), clock["frozen_time"])
                clock["frozen_time"] = step
                with em.clock.frozen(step):
                    for when, timer in dues:
                        if when is not None and when <= step:
                            timer.run_due(step)
        finally:
            self.scope = previous

    # -- small lookups -------------------------------------------------------------------

    def _notes(self, obj: Obj) -> dict[str, Any]:
        return self.em.store.notes[obj["id"]]

    def subscription_of(self, invoice: Obj) -> Obj | None:
        parent = invoice.get("parent") or {}
        details = parent.get("subscription_details") or {}
        sub_id = details.get("subscription")
        return self.em.store.get(sub_id) if sub_id else None

    def current_period(self, sub: Obj) -> tuple[int, int]:
        notes = self._notes(sub)
        return notes["period_start"], notes["period_end"]

    def payment_method_for(self, invoice: Obj) -> Obj | None:
        """Stripe's order: invoice, subscription, then customer default."""
        store = self.em.store
        sub = self.subscription_of(invoice)
        customer = store.get(invoice["customer"]) or {}
        candidates = [
            invoice.get("default_payment_method"),
            sub.get("default_payment_method") if sub else None,
            (customer.get("invoice_settings") or {}).get("default_payment_method"),
            customer.get("default_source"),
        ]
        for pm_id in candidates:
            pm = store.get(pm_id) if pm_id else None
            if pm is not None and pm.get("customer") == invoice["customer"]:
                return pm
        return None

    # -- periods -------------------------------------------------------------------------

    def _set_period(self, sub: Obj, start: int, end: int) -> None:
        notes = self._notes(sub)
        notes["period_start"], notes["period_end"] = start, end
        for item in sub["items"]["data"]:
            item["current_period_start"] = start
            item["current_period_end"] = end

    def _next_period(self, sub: Obj) -> tuple[int, int]:
        notes = self._notes(sub)
        if notes.get("in_trial"):
            notes["in_trial"] = False
            notes["anchor"], notes["k"] = notes["period_end"], 0
        else:
            notes["k"] += 1
        anchor, k = notes["anchor"], notes["k"]
        recurring = sub["items"]["data"][0]["price"]["recurring"]
        interval, count = recurring["interval"], recurring["interval_count"]
        return boundary(anchor, interval, count, k), boundary(anchor, interval, count, k + 1)

    # -- invoices ------------------------------------------------------------------------

    def new_invoice(
        self, sub: Obj, reason: str, period: tuple[int, int], trial: bool = False
    ) -> Obj:
        em = self.em
        customer = em.store.require("customer", sub["customer"])
        invoice_id = em.ids.new("in")
        lines = []
        for item in sub["items"]["data"]:
            price = item["price"]
            unit = 0 if trial else int(price["unit_amount"] or 0)
            amount = unit * int(item["quantity"])
            product = em.store.get(price["product"]) or {}
            name = product.get("name") or price["product"]
            description = f"Trial period for {name}" if trial else f"{item['quantity']} × {name}"
            lines.append(
                shapes.new(
                    "line_item",
                    id=em.ids.new("il"),
                    amount=amount,
                    currency=price["currency"],
                    description=description,
                    invoice=invoice_id,
                    period={"end": period[1], "start": period[0]},
                    quantity=item["quantity"],
                    subscription=sub["id"],
                    parent={
                        "invoice_item_details": None,
                        "subscription_item_details": {
                            "invoice_item": None,
                            "proration": False,
                            "proration_details": {"credited_items": None},
                            "subscription": sub["id"],
                            "subscription_item": item["id"],
                        },
                        "type": "subscription_item_details",
                    },
                    pricing={
                        "price_details": {"price": price["id"], "product": price["product"]},
                        "type": "price_details",
                        "unit_amount_decimal": str(unit),
                    },
                    subtotal=amount,
                )
            )
        from .resources.invoiceitems import line_of, pending_for

        # Pending invoice items of the customer ride on the next subscription invoice.
        for pending in pending_for(em, customer["id"], sub["id"]):
            if pending["currency"] == sub["currency"]:
                pending["invoice"] = invoice_id
                lines.append(line_of(em, pending, invoice_id))
        total = sum(line["amount"] for line in lines)
        now = em.clock.now()
        invoice_window = (now, now) if reason == "subscription_create" else period
        invoice = shapes.new(
            "invoice",
            id=invoice_id,
            amount_due=total,
            amount_remaining=total,
            billing_reason=reason,
            created=now,
            currency=sub["currency"],
            customer=customer["id"],
            customer_address=customer["address"],
            customer_email=customer["email"],
            customer_name=customer["name"],
            customer_phone=customer["phone"],
            customer_shipping=customer["shipping"],
            lines=shapes.list_object(lines, f"/v1/invoices/{invoice_id}/lines"),
            parent={
                "quote_details": None,
                "subscription_details": {
                    "metadata": dict(sub["metadata"]),
                    "subscription": sub["id"],
                },
                "type": "subscription_details",
            },
            period_start=invoice_window[0],
            period_end=invoice_window[1],
            subtotal=total,
            subtotal_excluding_tax=total,
            total=total,
            total_excluding_tax=total,
            test_clock=customer["test_clock"],
        )
        apply_customer_balance(customer, invoice)
        em.store.put(invoice)
        em.bus.emit("invoice.created", invoice)
        return invoice

    def finalize(self, invoice: Obj) -> None:
        em = self.em
        now = em.clock.now()
        customer = em.store.require("customer", invoice["customer"])
        sequence = customer["next_invoice_sequence"]
        customer["next_invoice_sequence"] = sequence + 1
        invoice["number"] = f"{customer['invoice_prefix']}-{sequence:04d}"
        invoice["status"] = "open"
        invoice["status_transitions"]["finalized_at"] = now
        invoice["effective_at"] = now
        invoice["webhooks_delivered_at"] = now
        invoice["hosted_invoice_url"] = f"{em.public_url}/_emulator/invoices/{invoice['id']}"
        invoice["invoice_pdf"] = f"{em.public_url}/_emulator/invoices/{invoice['id']}/pdf"
        if invoice["amount_due"] > 0:
            description = {
                "subscription_create": "Subscription creation",
                "manual": None,
            }.get(invoice["billing_reason"], "Subscription update")
            pi = charging.new_payment_intent(
                em,
                amount=invoice["amount_due"],
                currency=invoice["currency"],
                customer=invoice["customer"],
                description=description,
            )
            payment = shapes.new(
                "invoice_payment",
                id=em.ids.new("inpay"),
                amount_requested=invoice["amount_due"],
                created=now,
                currency=invoice["currency"],
                invoice=invoice["id"],
                payment={"payment_intent": pi["id"], "type": "payment_intent"},
            )
            em.store.put(payment)
            notes = self._notes(invoice)
            notes["payment_intent"], notes["invoice_payment"] = pi["id"], payment["id"]
            em.store.notes[pi["id"]]["invoice"] = invoice["id"]
        self.watch(invoice["id"])
        em.bus.emit("invoice.finalized", invoice)

    def payment_intent_of(self, invoice: Obj) -> Obj | None:
        pi_id = self._notes(invoice).get("payment_intent")
        return self.em.store.get(pi_id) if pi_id else None

    def mark_paid_out_of_band(self, invoice: Obj) -> None:
        """``paid_out_of_band=true``: paid outside Stripe, no charge, no payment_succeeded."""
        pi = self.payment_intent_of(invoice)
        if pi is not None:
            charging.cancel(self.em, pi, "void_invoice")
        self._mark_paid(invoice, out_of_band=True)

    def _mark_paid(self, invoice: Obj, out_of_band: bool = False) -> None:
        em = self.em
        now = em.clock.now()
        invoice["status"] = "paid"
        invoice["amount_paid"] = invoice["amount_due"]
        invoice["amount_remaining"] = 0
        invoice["attempted"] = True
        invoice["next_payment_attempt"] = None
        invoice["status_transitions"]["paid_at"] = now
        em.bus.emit("invoice.paid", invoice)
        if out_of_band:
            self._after_paid(invoice)
            return
        em.bus.emit("invoice.payment_succeeded", invoice)
        payment_id = self._notes(invoice).get("invoice_payment")
        payment = em.store.get(payment_id) if payment_id else None
        if payment is not None:
            payment["status"] = "paid"
            payment["amount_paid"] = invoice["amount_due"]
            payment["status_transitions"]["paid_at"] = now
            em.bus.emit("invoice_payment.paid", payment)
        self._after_paid(invoice)

    def _after_paid(self, invoice: Obj) -> None:
        sub = self.subscription_of(invoice)
        if (
            sub is not None
            and sub["latest_invoice"] == invoice["id"]
            and sub["status"] in ("incomplete", "past_due", "unpaid", "trialing")
            and not self._notes(sub).get("in_trial")
        ):
            self._set_status(sub, "active")

    def attempt(
        self,
        invoice: Obj,
        *,
        automatic: bool,
        payment_method: Obj | None = None,
        authenticated: bool = False,
    ) -> Decline | None:
        """One payment attempt; returns the decline, or None when the invoice is paid."""
        em = self.em
        if invoice["amount_due"] == 0:
            self._mark_paid(invoice)
            return None
        first = invoice["attempt_count"] == 0
        invoice["attempted"] = True
        if automatic or first:
            invoice["attempt_count"] += 1
        pm = payment_method or self.payment_method_for(invoice)
        pi = self.payment_intent_of(invoice)
        decline: Decline | None
        if pm is None or pi is None:
            decline = NO_PAYMENT_METHOD
        else:
            _, decline = charging.confirm(em, pi, pm, authenticated=authenticated)
            if decline is None and pi["status"] == "requires_action":
                # 3-D Secure: the customer must authenticate (hosted invoice page or the
                # emulator's control); Stripe tells the merchant with this event.
                decline = ACTION_REQUIRED
                em.bus.emit("invoice.payment_action_required", invoice)
        if decline is None:
            self._mark_paid(invoice)
            return None
        sub = self.subscription_of(invoice)
        retryable = invoice["billing_reason"] != "subscription_create"
        exhausted = False
        if not retryable:
            invoice["next_payment_attempt"] = None
        elif automatic or first:
            index = invoice["attempt_count"] - 1
            schedule = self.config.retry_schedule
            if index < len(schedule):
                invoice["next_payment_attempt"] = em.clock.now() + schedule[index]
            else:
                invoice["next_payment_attempt"] = None
                exhausted = True
        em.bus.emit("invoice.payment_failed", invoice)
        if sub is not None and sub["latest_invoice"] == invoice["id"] and retryable:
            if sub["status"] in ("active", "trialing"):
                self._set_status(sub, "past_due")
            if exhausted:
                self._after_retries(sub)
        return decline

    def pay_now(self, invoice: Obj, payment_method: Obj | None) -> None:
        """``POST /v1/invoices/{id}/pay``: charge at once; a decline is a 402."""
        if invoice["status"] == "draft":
            self.finalize(invoice)
        if invoice["status"] == "paid":
            raise invalid("Invoice is already paid", code="invoice_already_paid")
        if invoice["status"] != "open":
            raise invalid(
                f"You cannot pay an invoice with status {invoice['status']}.",
                code="invoice_not_editable",
            )
        decline = self.attempt(invoice, automatic=False, payment_method=payment_method)
        if decline is None:
            return
        if decline is NO_PAYMENT_METHOD:
            raise invalid(
                "There is no `payment_method` attached to this customer or invoice.",
                code="invoice_no_payment_method_types",
            )
        pi = self.payment_intent_of(invoice)
        raise card_error(self.em, decline, pi)

    def void(self, invoice: Obj) -> None:
        em = self.em
        if invoice["status"] not in ("open", "uncollectible"):
            raise invalid(f"You can only void open invoices, not {invoice['status']} ones.")
        invoice["status"] = "void"
        invoice["next_payment_attempt"] = None
        invoice["status_transitions"]["voided_at"] = em.clock.now()
        payment_id = self._notes(invoice).get("invoice_payment")
        payment = em.store.get(payment_id) if payment_id else None
        if payment is not None and payment["status"] == "open":
            payment["status"] = "canceled"
            payment["status_transitions"]["canceled_at"] = em.clock.now()
        pi = self.payment_intent_of(invoice)
        if pi is not None:
            charging.cancel(em, pi, "void_invoice")
        em.bus.emit("invoice.voided", invoice)

    # -- subscriptions -------------------------------------------------------------------

    def _set_status(self, sub: Obj, status: str) -> None:
        with self.em.bus.updating(sub, "customer.subscription.updated"):
            sub["status"] = status

    def start(self, sub: Obj, behavior: str, trial_end: int | None) -> None:
        """Bill a new subscription: its first invoice, paid now or left incomplete.

        ``behavior`` is the ``payment_behavior``, or ``"schedule"`` for a subscription a
        schedule starts (active, or past_due when the first payment fails).
        """
        em = self.em
        now = em.clock.now()
        notes = self._notes(sub)
        recurring = sub["items"]["data"][0]["price"]["recurring"]
        notes["anchor"], notes["k"] = now, 0
        self.watch(sub["id"])
        if trial_end is not None:
            notes["in_trial"] = True
            self._set_period(sub, now, trial_end)
            sub["status"] = "trialing"
        else:
            end = boundary(now, recurring["interval"], recurring["interval_count"], 1)
            self._set_period(sub, now, end)
        created_at = em.bus.mark()
        invoice = self.new_invoice(
            sub, "subscription_create", self.current_period(sub), trial=trial_end is not None
        )
        self.finalize(invoice)
        sub["latest_invoice"] = invoice["id"]
        if invoice["amount_due"] == 0:
            self._mark_paid(invoice)
            if trial_end is None:
                sub["status"] = "active"
        elif behavior == "schedule":
            # A schedule's subscription never waits in incomplete: a failed first payment
            # leaves it past_due with the invoice open.
            sub["status"] = "active"
            if self.attempt(invoice, automatic=False) is not None:
                sub["status"] = "past_due"
        elif behavior != "default_incomplete" and self.attempt(invoice, automatic=False) is None:
            sub["status"] = "active"
        em.bus.emit("customer.subscription.created", sub, position=created_at)
        if trial_end is not None and trial_end - TRIAL_WARNING <= now:
            # A trial shorter than Stripe's three-day notice is warned about at once.
            notes["trial_warned"] = True
            em.bus.emit("customer.subscription.trial_will_end", sub)

    def cancel(self, sub: Obj, reason: str) -> None:
        em = self.em
        now = em.clock.now()
        sub["status"] = "canceled"
        sub["canceled_at"] = sub["canceled_at"] or now
        sub["ended_at"] = now
        sub["cancellation_details"]["reason"] = reason
        for object_id in list(self._watched):
            invoice = em.store.get(object_id)
            if (
                invoice is not None
                and invoice["object"] == "invoice"
                and invoice["status"] == "open"
                and self.subscription_of(invoice) is sub
            ):
                invoice["next_payment_attempt"] = None
        em.bus.emit("customer.subscription.deleted", sub)

    def _after_retries(self, sub: Obj) -> None:
        outcome = self.config.after_retries
        if outcome == "canceled":
            self.cancel(sub, "payment_failed")
        elif outcome == "unpaid":
            self._set_status(sub, "unpaid")

    def _renew(self, sub: Obj, now: int) -> None:
        for hook in self.before_renewal:
            hook(sub, now)
        if sub["status"] not in LIVE_STATUSES:
            return  # a hook ended it
        if sub["cancel_at_period_end"] or (
            sub["cancel_at"] is not None and sub["cancel_at"] <= now
        ):
            self.cancel(sub, "cancellation_requested")
            return
        if self._notes(sub).get("in_trial") and self._trial_end_without_method(sub):
            return
        previous = self.current_period(sub)
        pause = self._collection_pause(sub, now)
        with self.em.bus.updating(sub, "customer.subscription.updated"):
            start, end = self._next_period(sub)
            self._set_period(sub, start, end)
            invoice = self.new_invoice(sub, "subscription_cycle", (start, end))
            invoice["period_start"], invoice["period_end"] = previous
            sub["latest_invoice"] = invoice["id"]
            if pause != "keep_as_draft":
                self.finalize(invoice)
        if pause == "keep_as_draft":
            return  # pause_collection: the invoice stays a draft, nothing is charged
        if pause == "void":
            self.void(invoice)
            return
        if pause == "mark_uncollectible":
            invoice["status"] = "uncollectible"
            invoice["status_transitions"]["marked_uncollectible_at"] = now
            self.em.bus.emit("invoice.marked_uncollectible", invoice)
            return
        if sub["status"] == "unpaid":
            return  # Stripe stops attempting payments of an unpaid subscription
        self.attempt(invoice, automatic=True)

    def _collection_pause(self, sub: Obj, now: int) -> str | None:
        """The ``pause_collection`` behaviour in force now (cleared once ``resumes_at`` passed)."""
        pause = sub["pause_collection"]
        if not pause:
            return None
        if pause.get("resumes_at") is not None and pause["resumes_at"] <= now:
            with self.em.bus.updating(sub, "customer.subscription.updated"):
                sub["pause_collection"] = None
            return None
        return str(pause["behavior"])

    def has_payment_method(self, sub: Obj) -> bool:
        store = self.em.store
        customer = store.get(sub["customer"]) or {}
        for pm_id in (
            sub.get("default_payment_method"),
            (customer.get("invoice_settings") or {}).get("default_payment_method"),
            customer.get("default_source"),
        ):
            pm = store.get(pm_id) if pm_id else None
            if pm is not None and pm.get("customer") == sub["customer"]:
                return True
        return False

    def _trial_end_without_method(self, sub: Obj) -> bool:
        """``trial_settings.end_behavior.missing_payment_method``: pause or cancel a trial
        that ends with no way to pay; True when it did."""
        behavior = sub["trial_settings"]["end_behavior"]["missing_payment_method"]
        if behavior == "create_invoice" or self.has_payment_method(sub):
            return False
        self._notes(sub)["in_trial"] = False
        if behavior == "cancel":
            self.cancel(sub, "cancellation_requested")
            return True
        with self.em.bus.updating(sub, "customer.subscription.updated"):
            sub["status"] = "paused"
        self.em.bus.emit("customer.subscription.paused", sub)
        return True

    def end_trial_now(self, sub: Obj) -> None:
        """``trial_end=now``: the trial ends at once, as if its end had come."""
        now = self.em.clock.now()
        notes = self._notes(sub)
        if not notes.get("in_trial"):
            return
        sub["trial_end"] = now
        notes["period_end"] = now
        self._renew(sub, now)

    def resume(self, sub: Obj) -> None:
        """``POST /v1/subscriptions/{id}/resume``: a new period from now, invoiced at once."""
        em = self.em
        now = em.clock.now()
        notes = self._notes(sub)
        recurring = sub["items"]["data"][0]["price"]["recurring"]
        notes["anchor"], notes["k"] = now, 0
        with em.bus.updating(sub, "customer.subscription.updated"):
            sub["status"] = "active"
            sub["billing_cycle_anchor"] = now
            end = boundary(now, recurring["interval"], recurring["interval_count"], 1)
            self._set_period(sub, now, end)
            invoice = self.new_invoice(sub, "subscription_cycle", (now, end))
            self.finalize(invoice)
            sub["latest_invoice"] = invoice["id"]
        em.bus.emit("customer.subscription.resumed", sub)
        self.watch(sub["id"])
        self.attempt(invoice, automatic=True)

    def _expire(self, sub: Obj) -> None:
        invoice = self.em.store.get(sub["latest_invoice"] or "")
        if invoice is not None and invoice["status"] == "open":
            self.void(invoice)
        with self.em.bus.updating(sub, "customer.subscription.updated"):
            sub["status"] = "incomplete_expired"
            sub["ended_at"] = sub["canceled_at"] = self.em.clock.now()

    # -- time ----------------------------------------------------------------------------

    def _due_items(self) -> list[tuple[int, int, str, Obj]]:
        items: list[tuple[int, int, str, Obj]] = []
        for order, object_id in enumerate(list(self._watched)):
            obj = self.em.store.get(object_id)
            if obj is not None and not self.in_scope(obj):
                continue  # lives on another clock
            due = self._due_of(obj) if obj is not None else None
            if obj is None or due is None:
                del self._watched[object_id]  # finished for good
            elif due[0] is not None:
                items.append((due[0], order, due[1], obj))
        return items

    def _due_of(self, obj: Obj) -> tuple[int | None, str] | None:
        """(when, what) for a watched object; None once it can never fall due again."""
        if obj["object"] == "invoice":
            if obj["status"] != "open":
                return None
            return obj["next_payment_attempt"], "retry"
        status = obj["status"]
        if status == "trialing" and not self._notes(obj).get("trial_warned"):
            # Stripe warns three days before a trial ends (at once for shorter trials).
            return max(obj["trial_end"] - TRIAL_WARNING, obj["created"]), "trial_will_end"
        if status in LIVE_STATUSES:
            _, end = self.current_period(obj)
            cancel_at = obj["cancel_at"]
            if cancel_at is not None and cancel_at < end:
                return cancel_at, "cancel_at"
            return end, "renew"
        if status == "incomplete":
            return obj["created"] + self.config.incomplete_expiry, "expire"
        return None

    def next_due(self) -> int | None:
        # Kept for the run_due that usually follows at once, to scan only once per step.
        self._due_cache = self._due_items()
        return min(item[0] for item in self._due_cache) if self._due_cache else None

    def run_due(self, now: int) -> None:
        items, self._due_cache = self._due_cache or self._due_items(), None
        for when, _, kind, obj in sorted(items, key=lambda i: (i[0], i[1])):
            if when > now:
                break
            due = self._due_of(obj)  # another timer may have changed it meanwhile
            if due is None or due[0] is None or due[0] > now or due[1] != kind:
                continue
            if kind == "renew":
                self._renew(obj, now)
            elif kind == "cancel_at":
                self.cancel(obj, "cancellation_requested")
            elif kind == "expire":
                self._expire(obj)
            elif kind == "trial_will_end":
                self._notes(obj)["trial_warned"] = True
                self.em.bus.emit("customer.subscription.trial_will_end", obj)
            elif kind == "retry":
                self.attempt(obj, automatic=True)

    def advance(self, seconds: int) -> int:
        """Move the clock forward, running every timer that falls due on the way.

        The state lock is taken per step, not for the whole advance, so API calls (say, a
        webhook handler reading back a subscription) are answered between steps.
        """
        em = self.em
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._advance_lock:
            with em.store.lock:
                target = em.clock.now() + int(seconds)
            while True:
                with em.store.lock:
                    em.bus.request = {"id": None, "idempotency_key": None}
                    dues = [(timer.next_due(), timer) for timer in self.timers]
                    times = [t for t, _ in dues if t is not None]
                    if not times or min(times) > target:
                        em.clock.set(target)
                        return target
                    em.clock.set(max(min(times), em.clock.now()))
                    now = em.clock.now()
                    try:
                        for when, timer in dues:
                            if when is not None and when <= now:
                                timer.run_due(now)
                    finally:
                        em.bus.flush()


def apply_customer_balance(customer: Obj, invoice: Obj) -> None:
    """The customer's balance on a new invoice: a credit (negative) pays as much of the total
    as it covers, a debit (positive) is added; `starting_balance`/`ending_balance` record it
    and `amount_due` is what the card is charged (Stripe applies it at finalization; here at
    creation, which is the same moment for automatically charged invoices)."""
    starting = int(customer.get("balance") or 0)
    total = int(invoice["total"])
    applied = max(starting, -total)  # never more credit than the total
    if total <= 0 or applied == 0:
        return
    invoice["starting_balance"] = starting
    invoice["ending_balance"] = starting - applied
    invoice["amount_due"] = total + applied
    invoice["amount_remaining"] = total + applied
    customer["balance"] = starting - applied


def card_error(em: StripeEmulator, decline: Decline, pi: Obj | None) -> StripeApiError:
    extra: Obj = {}
    if pi is not None:
        extra["payment_intent"] = em.render(pi, {})
        if pi.get("latest_charge"):
            extra["charge"] = pi["latest_charge"]
        if pi.get("payment_method"):
            pm = em.store.get(pi["payment_method"])
            if pm is not None:
                extra["payment_method"] = em.render(pm, {})
    return card_declined(decline.message, decline.code, decline.decline_code, extra)
