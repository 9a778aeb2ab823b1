"""Named situations for a running sandbox, like ``stripe trigger``: the project's own
scenario files in ``sandbox/scenarios/<name>.yaml``.

A file has a ``description`` and ``steps``; each step is a one-key mapping:

- ``subscribe: {plan, card}``: a new demo customer (a Stripe customer with the card as its
  default, named on its Billing_Customers row) and a new Billing_Subscriptions row for the
  plan, which the bridge provisions as it would any row the app inserts;
- ``card: <payment method>``: the subscriber's new default card (``pm_card_…`` test ids);
- ``advance: renewal`` (just past the current period's end) or ``advance: {days: N}``;
- ``refund: {amount?}`` of the subscriber's latest charge (all of what is left by default);
- ``dispute: {reason}`` on the subscriber's latest charge;
- ``payout: {amount, currency, status, failure_code?}``;
- ``change_plan: {plan}``: RequestedAction ``change_plan:<PlanKey>`` on the row, as the
  app's Subscriptions page sets it; the bridge does the change.

Amounts are decimal strings in the currency's major unit ("5.00").
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from caspio_client import where as w
from connector.billing.money import to_minor

if TYPE_CHECKING:
    from sandbox.launcher.stack import Sandbox

SCENARIO_DIR = Path(__file__).resolve().parents[1] / "scenarios"
RENEWAL_MARGIN = 60  # seconds past the period end, so the renewal has surely run


class ScenarioError(ValueError):
    """A scenario file is malformed or a step cannot run; the message says which."""


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    steps: tuple[tuple[str, Any], ...]


@dataclass
class Run:
    """What the steps of one run share: the subscriber they made and what happened."""

    sandbox: Sandbox
    customer_key: str = ""
    subscription_key: str = ""
    customer_id: str = ""
    subscription_id: str = ""
    done: list[str] = field(default_factory=list)

    @property
    def stripe(self) -> Any:
        return self.sandbox.services.stripe.client

    @property
    def caspio(self) -> Any:
        return self.sandbox.services.caspio

    def table(self, logical: str) -> str:
        return str(self.sandbox.services.mapping.table(logical))

    def need_subscriber(self, step: str) -> None:
        if not self.subscription_id:
            raise ScenarioError(f"step {step!r} needs a subscriber: put 'subscribe' first")

    def latest_charge(self) -> str:
        """The subscriber's newest succeeded charge (Stripe lists newest first)."""
        self.need_subscriber("charge")
        for charge in self.stripe.v1.charges.list({"customer": self.customer_id,
                                                   "limit": 10}).data:
            if charge.status == "succeeded":
                return str(charge.id)
        raise ScenarioError("the subscriber has no paid charge yet")


def _subscribe(run: Run, args: Mapping[str, Any]) -> None:
    """The product's own server-side path: a Stripe customer with a default card named on
    its Billing_Customers row, then a new Billing_Subscriptions row, which Caspio's outgoing
    webhook sends to the bridge, which provisions it (`POST /caspio/webhook`)."""
    plan_key = str(args["plan"])
    mapping = run.sandbox.services.mapping
    suffix = secrets.token_hex(3)
    run.customer_key = f"demo-{suffix}"
    email, name = f"{run.customer_key}@example.com", f"Demo {suffix}"
    customer = run.stripe.v1.customers.create({
        "email": email, "name": name, "metadata": {"caspio_customer_key": run.customer_key}})
    run.customer_id = customer.id
    _set_card(run, str(args.get("card", "pm_card_visa")))
    run.caspio.insert(run.table("Billing_Customers"), mapping.to_caspio(
        "Billing_Customers", {"CustomerKey": run.customer_key, "Email": email, "Name": name,
                              "StripeCustomerID": customer.id}))
    row = run.caspio.insert(run.table("Billing_Subscriptions"), mapping.to_caspio(
        "Billing_Subscriptions",
        {"CustomerKey": run.customer_key, "PlanKey": plan_key, "Email": email, "Name": name}))
    key_field = mapping.field("Billing_Subscriptions", "SubscriptionKey")
    run.subscription_key = str(row[key_field])
    run.sandbox.settle()
    row = run.caspio.get_one(run.table("Billing_Subscriptions"),
                             w.eq(key_field, run.subscription_key))
    fields = mapping.from_caspio("Billing_Subscriptions", row or {})
    if not fields.get("StripeSubscriptionID"):
        raise ScenarioError(
            f"the bridge did not provision {run.subscription_key} ({plan_key}): status "
            f"{fields.get('Status')!r}, {fields.get('LastError') or 'no error written'}")
    run.subscription_id = str(fields["StripeSubscriptionID"])
    run.done.append(f"{run.customer_key} subscribed to {plan_key} ({fields.get('Status')})")


def _set_card(run: Run, payment_method: str) -> None:
    card = run.stripe.v1.payment_methods.attach(payment_method, {"customer": run.customer_id})
    run.stripe.v1.customers.update(
        run.customer_id, {"invoice_settings": {"default_payment_method": card.id}})
    if run.subscription_id:
        run.stripe.v1.subscriptions.update(run.subscription_id,
                                           {"default_payment_method": card.id})


def _card(run: Run, args: Any) -> None:
    run.need_subscriber("card")
    _set_card(run, str(args))
    run.done.append(f"card changed to {args}")


def _advance(run: Run, args: Any) -> None:
    sandbox = run.sandbox
    assert sandbox.stripe is not None
    if args == "renewal":
        run.need_subscriber("advance: renewal")
        subscription = run.stripe.v1.subscriptions.retrieve(run.subscription_id)
        period_end = subscription["items"].data[0].current_period_end
        seconds = max(int(period_end) - sandbox.now() + RENEWAL_MARGIN, 0)
    elif isinstance(args, Mapping) and set(args) <= {"days", "hours"}:
        seconds = int(args.get("days", 0)) * 86_400 + int(args.get("hours", 0)) * 3_600
    else:
        raise ScenarioError("advance takes 'renewal' or {days: N, hours: N}")
    sandbox.advance(seconds)
    run.done.append(f"clock moved {seconds // 86_400} days {seconds % 86_400 // 3600} hours")


def _refund(run: Run, args: Mapping[str, Any]) -> None:
    charge = run.latest_charge()
    params: dict[str, Any] = {"charge": charge}
    if args.get("amount") is not None:
        params["amount"] = to_minor(str(args["amount"]), "usd")
    refund = run.stripe.v1.refunds.create(params)
    run.done.append(f"refunded {refund.amount / 100:.2f} of {charge}")


def _dispute(run: Run, args: Mapping[str, Any]) -> None:
    assert run.sandbox.stripe is not None
    charge = run.latest_charge()
    dispute = run.sandbox.stripe.open_dispute(charge, str(args.get("reason", "general")))
    run.done.append(f"dispute {dispute['id']} opened on {charge}")


def _payout(run: Run, args: Mapping[str, Any]) -> None:
    assert run.sandbox.stripe is not None
    currency = str(args.get("currency", "usd"))
    payout = run.sandbox.stripe.create_payout(
        to_minor(str(args["amount"]), currency), currency, str(args.get("status", "paid")),
        args.get("failure_code"))
    run.done.append(f"payout {payout['id']} {payout['status']}")


def _change_plan(run: Run, args: Mapping[str, Any]) -> None:
    """The app's way: RequestedAction ``change_plan:<PlanKey>`` on the row; Caspio's webhook
    tells the bridge, which changes the subscription and clears the field."""
    run.need_subscriber("change_plan")
    plan_key = str(args["plan"])
    mapping = run.sandbox.services.mapping
    key_field = mapping.field("Billing_Subscriptions", "SubscriptionKey")
    action_field = mapping.field("Billing_Subscriptions", "RequestedAction")
    where = w.eq(key_field, run.subscription_key)
    run.caspio.update(run.table("Billing_Subscriptions"), where,
                      {action_field: f"change_plan:{plan_key}"})
    run.sandbox.settle()
    row = run.caspio.get_one(run.table("Billing_Subscriptions"), where) or {}
    if row.get(action_field):
        fields = mapping.from_caspio("Billing_Subscriptions", row)
        raise ScenarioError(f"the bridge did not change the plan: {fields.get('LastError')}")
    run.done.append(f"plan changed to {plan_key}")


STEPS: dict[str, Callable[[Run, Any], None]] = {
    "subscribe": _subscribe, "card": _card, "advance": _advance, "refund": _refund,
    "dispute": _dispute, "payout": _payout, "change_plan": _change_plan,
}


def parse(name: str, text: str) -> Scenario:
    """A scenario from its YAML text; ScenarioError names what is wrong."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ScenarioError(f"{name}: not YAML: {error}") from error
    if not isinstance(data, dict) or not isinstance(data.get("steps"), list):
        raise ScenarioError(f"{name}: needs 'description' and a list of 'steps'")
    steps = []
    for number, step in enumerate(data["steps"], 1):
        if not isinstance(step, dict) or len(step) != 1:
            raise ScenarioError(f"{name}: step {number} must be a mapping with one key")
        (kind, args), = step.items()
        if kind not in STEPS:
            raise ScenarioError(f"{name}: step {number}: unknown step {kind!r} "
                                f"(known: {', '.join(STEPS)})")
        steps.append((kind, {} if args is None else args))
    return Scenario(name, str(data.get("description", "")), tuple(steps))


@dataclass
class ScenarioBook:
    scenarios: dict[str, Scenario]

    @classmethod
    def load(cls, folder: Path = SCENARIO_DIR) -> ScenarioBook:
        found = {}
        for path in sorted(folder.glob("*.yaml")):
            found[path.stem] = parse(path.stem, path.read_text(encoding="utf-8"))
        return cls(found)

    def all(self) -> list[Scenario]:
        return list(self.scenarios.values())

    def run(self, name: str, sandbox: Sandbox) -> str:
        """Run every step; a one-line summary. KeyError for an unknown name."""
        scenario = self.scenarios[name]
        run = Run(sandbox)
        for kind, args in scenario.steps:
            STEPS[kind](run, args)
        return f"{name}: " + "; ".join(run.done)
