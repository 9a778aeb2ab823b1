"""Subscription schedules over time: start, phase transitions, release, completion, and
``subscription_schedule.expiring`` seven days before the last phase ends.

The engine is one of the billing engine's timers (see ``BillingEngine.timers``) and also
runs just before a renewal (``BillingEngine.before_renewal``), so a phase that ends on a
renewal date switches the subscription's items before the renewal invoice is drafted:
the invoice of the new period bills the new phase's prices, as Stripe's does.

Simplification: a phase that ends between two renewals switches the items at its end
without proration; the next renewal invoice bills the new prices.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .billing import LIVE_STATUSES
from .errors import invalid
from .periods import DAY

if TYPE_CHECKING:
    from .emulator import StripeEmulator

Obj = dict[str, Any]

ENDED_SUBSCRIPTION = ("canceled", "incomplete_expired")
# Stripe warns 7 days before a schedule's last phase ends.
EXPIRING_NOTICE = 7 * DAY


class ScheduleEngine:
    def __init__(self, em: StripeEmulator) -> None:
        self.em = em
        # Schedules that may still fall due, so a clock step skips finished ones.
        self._watched: dict[str, None] = {}

    def watch(self, sched: Obj) -> None:
        self._watched[sched["id"]] = None

    # -- lookups ---------------------------------------------------------------------------

    def schedules(self) -> list[Obj]:
        """Watched schedules still ``not_started`` or ``active``; forgets the others."""
        live = []
        for sched_id in list(self._watched):
            sched = self.em.store.get(sched_id)
            if sched is None or sched.get("status") not in ("not_started", "active"):
                del self._watched[sched_id]
            elif self.em.billing.in_scope(sched):
                live.append(sched)
        return live

    def current_index(self, sched: Obj) -> int | None:
        """Index of the phase whose window holds the current phase, if any."""
        current = sched["current_phase"]
        if current is None:
            return None
        for i, phase in enumerate(sched["phases"]):
            if phase["start_date"] == current["start_date"]:
                return i
        return None

    def subscription_of(self, sched: Obj) -> Obj | None:
        sub_id = sched["subscription"]
        return self.em.store.get(sub_id) if sub_id else None

    # -- timer protocol --------------------------------------------------------------------

    def next_due(self) -> int | None:
        times = [t for t in (self._due_time(s) for s in self.schedules()) if t is not None]
        return min(times) if times else None

    def _due_time(self, sched: Obj) -> int | None:
        if sched["status"] == "not_started":
            return int(sched["phases"][0]["start_date"])
        if sched["status"] != "active":
            return None
        sub = self.subscription_of(sched)
        if sub is not None and sub["status"] in ENDED_SUBSCRIPTION:
            return self.em.clock.now()  # the subscription ended: cancel the schedule now
        end = int(sched["current_phase"]["end_date"])
        notice = self._expiring_at(sched)
        return end if notice is None else min(end, notice)

    def _expiring_at(self, sched: Obj) -> int | None:
        """When ``subscription_schedule.expiring`` is due, unless it was sent already."""
        if self.em.store.notes[sched["id"]].get("expiring_sent"):
            return None
        when = int(sched["phases"][-1]["end_date"]) - EXPIRING_NOTICE
        return when if when >= int(sched["phases"][0]["start_date"]) else None

    def run_due(self, now: int) -> None:
        for sched in self.schedules():
            due = self._due_time(sched)
            if due is not None and due <= now:
                self.step(sched, now)

    def before_renewal(self, sub: Obj, now: int) -> None:
        sched = self.em.store.get(sub["schedule"]) if sub.get("schedule") else None
        if sched is not None and sched["status"] == "active":
            due = self._due_time(sched)
            if due is not None and due <= now:
                self.step(sched, now)

    # -- transitions -----------------------------------------------------------------------

    def step(self, sched: Obj, now: int) -> None:
        """Bring one schedule up to ``now``: start it, move phases, end it."""
        if sched["status"] == "not_started":
            self.start(sched)
        while sched["status"] == "active":
            sub = self.subscription_of(sched)
            if sub is not None and sub["status"] in ENDED_SUBSCRIPTION:
                self._mark_canceled(sched)
                return
            notice = self._expiring_at(sched)
            if notice is not None and notice <= now:
                self.em.store.notes[sched["id"]]["expiring_sent"] = True
                self.em.bus.emit("subscription_schedule.expiring", sched)
            if sched["current_phase"]["end_date"] > now:
                return
            index = self.current_index(sched)
            assert index is not None, sched["id"]
            if index + 1 < len(sched["phases"]):
                self._enter_phase(sched, index + 1)
            else:
                self._finish(sched)

    def start(self, sched: Obj, announce: bool = True) -> Obj:
        """Create the subscription of a schedule whose start date has come."""
        from .resources.schedules import start_subscription

        phase = sched["phases"][0]
        previous = {k: sched[k] for k in ("status", "current_phase", "subscription")}
        sched["status"] = "active"
        sched["current_phase"] = {"end_date": phase["end_date"], "start_date": phase["start_date"]}
        sub = start_subscription(self.em, sched, phase)
        sched["subscription"] = sub["id"]
        if announce:
            self.em.bus.emit("subscription_schedule.updated", sched, previous)
        return sub

    def _enter_phase(self, sched: Obj, index: int) -> None:
        phase = sched["phases"][index]
        sub = self.subscription_of(sched)
        with self.em.bus.updating(sched, "subscription_schedule.updated"):
            sched["current_phase"] = {
                "end_date": phase["end_date"],
                "start_date": phase["start_date"],
            }
        if sub is not None:
            self.apply_phase(sub, phase)

    def apply_phase(self, sub: Obj, phase: Obj) -> None:
        """Give the subscription the phase's items (and settings) from now on."""
        from .resources.subscriptions import _new_item

        em = self.em
        with em.bus.updating(sub, "customer.subscription.updated"):
            old_items = sub["items"]["data"]
            old_recurring = old_items[0]["price"]["recurring"] if old_items else None
            by_price = {item["price"]["id"]: item for item in old_items}
            new_items = []
            for i, spec in enumerate(phase["items"]):
                price = em.store.require("price", spec["price"])
                item = by_price.get(price["id"])
                if item is None:
                    item = _new_item(em, sub["id"], price, {"metadata": spec["metadata"]}, i)
                item["quantity"] = spec["quantity"]
                new_items.append(item)
            start, end = em.billing.current_period(sub)
            for item in new_items:
                item["current_period_start"], item["current_period_end"] = start, end
            sub["items"]["data"] = new_items
            if phase["metadata"]:
                sub["metadata"] = dict(phase["metadata"])
            if phase["default_payment_method"]:
                sub["default_payment_method"] = phase["default_payment_method"]
            new_recurring = new_items[0]["price"]["recurring"]
            if old_recurring is None or (
                (old_recurring["interval"], old_recurring["interval_count"])
                != (new_recurring["interval"], new_recurring["interval_count"])
            ):
                # A new interval counts from the end of the current period.
                notes = em.store.notes[sub["id"]]
                notes["anchor"], notes["k"] = end, -1

    def _finish(self, sched: Obj) -> None:
        em = self.em
        now = em.clock.now()
        sub = self.subscription_of(sched)
        if sched["end_behavior"] == "cancel":
            sched["status"] = "completed"
            sched["completed_at"] = now
            sched["current_phase"] = None
            em.bus.emit("subscription_schedule.completed", sched)
            if sub is not None and sub["status"] in LIVE_STATUSES:
                sub["canceled_at"] = now
                em.billing.cancel(sub, "cancellation_requested")
        else:
            self.release(sched)

    def release(self, sched: Obj) -> None:
        """Stop managing the subscription, which keeps running on its last settings."""
        em = self.em
        if sched["status"] not in ("not_started", "active"):
            raise invalid(
                f"You cannot release a subscription schedule that is currently {sched['status']}."
            )
        sub = self.subscription_of(sched)
        sched["status"] = "released"
        sched["released_at"] = em.clock.now()
        sched["released_subscription"] = sched["subscription"]
        sched["subscription"] = None
        sched["current_phase"] = None
        if sub is not None:
            with em.bus.updating(sub, "customer.subscription.updated"):
                sub["schedule"] = None
        em.bus.emit("subscription_schedule.released", sched)

    def cancel(self, sched: Obj) -> None:
        """``POST …/cancel``: end the schedule and cancel its subscription now."""
        em = self.em
        if sched["status"] not in ("not_started", "active"):
            raise invalid(
                f"You cannot cancel a subscription schedule that is currently {sched['status']}."
            )
        sub = self.subscription_of(sched)
        if sub is not None and sub["status"] not in ENDED_SUBSCRIPTION:
            sub["canceled_at"] = em.clock.now()
            em.billing.cancel(sub, "cancellation_requested")
        self._mark_canceled(sched)

    def _mark_canceled(self, sched: Obj) -> None:
        sched["status"] = "canceled"
        sched["canceled_at"] = self.em.clock.now()
        sched["current_phase"] = None
        self.em.bus.emit("subscription_schedule.canceled", sched)


def install(em: StripeEmulator) -> ScheduleEngine:
    """Hook the engine into the clock (once per emulator)."""
    for timer in em.billing.timers:
        if isinstance(timer, ScheduleEngine):
            return timer
    engine = ScheduleEngine(em)
    em.billing.timers.append(engine)
    em.billing.before_renewal.append(engine.before_renewal)
    return engine
