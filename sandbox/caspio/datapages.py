"""Imitation Caspio DataPages, served by the Caspio emulator under ``/dp/``.

A Caspio app builder pastes the bridge's snippets (``deploy/caspio/datapages/``) into
DataPages; these pages do the same with the same files, so the sandbox shows what a real
app would: a registration Submission Form, a Subscriptions report with cancel and
change-plan actions, a Customers report with the totals and a Payments panel whose failed
rows carry the Retry button. Values reach the snippets through Caspio's parameters
(``sandbox.caspio.parameters``); ``[@app:BRIDGE_PUBLIC_URL]`` is the App Parameter holding
the bridge's address.

Pages read and write the emulator's tables directly, as Caspio's own pages do, and a
submitted form fires the table's outgoing webhooks like a REST insert. A ``SandboxPanel``
(given by the sandbox launcher) adds what no Caspio app has: the Stripe clock control and
the scenario buttons.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlencode

import jinja2
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, PathConverter, Rule
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from caspio_client import where as w
from sandbox.caspio import query_params
from sandbox.caspio.errors import ApiError
from sandbox.caspio.parameters import shown, substitute

if TYPE_CHECKING:
    from sandbox.caspio.app import CaspioEmulator

_log = logging.getLogger("sandbox.caspio.datapages")
PREFIX = "/dp"
_HERE = Path(__file__).resolve().parent
DEFAULT_SNIPPETS = _HERE / "datapage_snippets"
# The shipped snippets, when the project is checked out (the sandbox runs from a checkout).
DEPLOY_SNIPPETS = _HERE.parents[1] / "deploy" / "caspio" / "datapages"
CLOCK_STEPS = {"day": 86_400, "week": 7 * 86_400, "month": 31 * 86_400}
# Stripe's test payment methods the Customers page offers (sandbox only).
TEST_CARDS = {
    "pm_card_visa": "Visa 4242: pays",
    "pm_card_chargeCustomerFail": "Visa 0341: every charge declined",
    "pm_card_chargeDeclinedExpiredCard": "expired card: declined",
    "pm_card_chargeDeclinedInsufficientFunds": "insufficient funds: declined",
}

class _KeyConverter(PathConverter):
    """A Caspio key as the rest of a path: any text, `/` included (the server has already
    decoded `%2F`, so `<key>` or `<path:key>` would 404 on `a/b`, `/a` or `a//b`)."""

    regex = ".+?"
    part_isolating = False  # spans segments (Werkzeug would infer True: no "/" above)


_URLS = Map([
    Rule(f"{PREFIX}/", endpoint="home", methods=["GET"]),
    Rule(f"{PREFIX}/register", endpoint="register", methods=["GET", "POST"]),
    Rule(f"{PREFIX}/subscriptions", endpoint="subscriptions", methods=["GET"]),
    Rule(f"{PREFIX}/subscriptions/<key:key>/action", endpoint="action", methods=["POST"]),
    Rule(f"{PREFIX}/customers", endpoint="customers", methods=["GET"]),
    Rule(f"{PREFIX}/payments", endpoint="payments", methods=["GET"]),
    Rule(f"{PREFIX}/clock", endpoint="clock", methods=["POST"]),
    Rule(f"{PREFIX}/customers/<key:key>/card", endpoint="card", methods=["POST"]),
    Rule(f"{PREFIX}/scenarios", endpoint="scenarios", methods=["GET"]),
    Rule(f"{PREFIX}/scenarios/<name>", endpoint="scenario", methods=["POST"]),
], strict_slashes=False, merge_slashes=False, converters={"key": _KeyConverter})


class SandboxPanel(Protocol):
    """What the sandbox launcher adds to the pages (the emulator alone has none of it)."""

    def now(self) -> int:
        """The Stripe emulator's clock, epoch seconds."""

    def advance(self, seconds: int) -> None:
        """Move the Stripe clock and wait until the bridge has written the outcome."""

    def settle(self) -> bool:
        """Wait (bounded) until every Stripe event has reached Caspio; False on timeout."""

    def switch_card(self, customer_key: str, payment_method: str) -> None:
        """Make a Stripe test card the customer's default (and their subscriptions')."""

    def scenarios(self) -> list[tuple[str, str]]:
        """(name, description) of each scenario ``run_scenario`` knows."""

    def run_scenario(self, name: str) -> str:
        """Make the named situation happen; a one-line summary. KeyError if unknown."""


@dataclass
class DataPages:
    """The pages of one emulated app; ``handle`` answers any request under ``PREFIX``."""

    emulator: CaspioEmulator
    app_parameters: dict[str, str] = field(default_factory=dict)
    panel: SandboxPanel | None = None
    snippet_dirs: tuple[Path, ...] = (DEPLOY_SNIPPETS, DEFAULT_SNIPPETS)
    _templates: jinja2.Environment = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(_HERE / "datapage_templates"),
            autoescape=True,
        )

    # ------------------------------------------------------------------ plumbing

    def handle(self, request: Request) -> Response:
        adapter = _URLS.bind_to_environ(request.environ)
        try:
            endpoint, args = adapter.match()
            handler = getattr(self, f"_page_{endpoint}")
            response: Response = handler(request, **args)
            return response
        except (NotFound, MethodNotAllowed) as error:
            return Response(error.description or "", status=error.code, mimetype="text/plain")
        except (ApiError, HTTPException, KeyError, ValueError) as error:
            message = getattr(error, "message", None) or str(error)
            return self._render("error.html", status=400, message=message)

    def snippet(self, name: str) -> str:
        """A snippet's text: the shipped file when there is one, else the built-in copy."""
        for folder in self.snippet_dirs:
            path = folder / name
            if path.is_file():
                return path.read_text(encoding="utf-8")
        raise FileNotFoundError(f"no DataPage snippet {name!r}")

    def _render(self, template: str, status: int = 200, **values: Any) -> Response:
        page = self._templates.get_template(template).render(
            panel=self.panel, clock=self._clock_text(), **values)
        return Response(page, status=status, mimetype="text/html")

    def _clock_text(self) -> str:
        if self.panel is None:
            return ""
        now = dt.datetime.fromtimestamp(self.panel.now(), tz=dt.timezone.utc)
        return now.strftime("%Y-%m-%d %H:%M UTC")

    def _rows(self, table: str, where: w.Where | None = None,
              order_by: str = "PK_ID DESC") -> list[dict[str, Any]]:
        params = {"q.orderby": order_by, "q.limit": "1000"}
        if where is not None:
            params["q.where"] = where.sql
        if table not in self.emulator.store.list_tables():
            return []
        query = query_params.parse_record_query(params, "v3")
        return self.emulator.store.select(table, query).rows

    def _settled(self) -> None:
        # A report opened right after Checkout or a clock step shows the written outcome,
        # not the state a moment before the webhook reached Caspio.
        if self.panel is not None:
            self.panel.settle()

    def _filter(self, request: Request) -> tuple[w.Where | None, str]:
        key = request.args.get("CustomerKey", "").strip()
        return (w.eq("CustomerKey", key) if key else None), key

    # ------------------------------------------------------------------ pages

    def _page_home(self, request: Request) -> Response:
        return self._render("home.html", message=request.args.get("message", ""))

    def _plans(self) -> list[dict[str, Any]]:
        # A pay plan has a Stripe product but no fixed price: "synced" is what counts.
        return [row for row in self._rows("Billing_Plans", w.eq("Active", True),
                                          order_by="PK_ID") if row.get("SyncStatus") == "synced"]

    def _page_register(self, request: Request) -> Response:
        """The Submission Form: insert a Billing_Subscriptions row, then the destination."""
        if request.method == "GET":
            return self._render("register.html", plans=self._plans(),
                                plan_label=plan_label, values=request.args)
        form = request.form
        values = {name: form.get(name, "").strip()
                  for name in ("CustomerKey", "Name", "Email", "PlanKey")}
        missing = [name for name, value in values.items() if not value]
        if missing:
            return self._render("register.html", status=400, plans=self._plans(),
                                plan_label=plan_label, values=values,
                                message=f"Please fill in: {', '.join(missing)}")
        row = self.emulator.store.insert("Billing_Subscriptions", values)
        name = self.emulator.store.table("Billing_Subscriptions").name
        self.emulator.webhooks.emit(name, "table.recordInsert", [row])
        destination = substitute(self.snippet("signup-destination.txt").strip(),
                                 inserted=row, app=self.app_parameters, encoding="url")
        return redirect(destination, code=303)

    def _page_subscriptions(self, request: Request) -> Response:
        self._settled()
        where, key = self._filter(request)
        rows = self._rows("Billing_Subscriptions", where)
        actions = self.snippet("subscription-actions.html")
        for row in rows:
            row["_actions"] = substitute(actions, record=row, app=self.app_parameters)
        plans = {plan["PlanKey"]: plan for plan in self._rows("Billing_Plans", order_by="PK_ID")}
        return self._render("subscriptions.html", rows=rows, plans=plans, customer_key=key,
                            money=money, when=when, plan_label=plan_label,
                            active_plans=self._plans())

    def _page_action(self, request: Request, key: str) -> Response:
        """The Details page's update: the app sets RequestedAction; the bridge does it."""
        action = request.form.get("RequestedAction", "").strip()
        if action == "change_plan":
            plan = request.form.get("PlanKey", "").strip()
            if not plan:
                raise ValueError("choose the plan to change to")
            action = f"change_plan:{plan}"
        if action not in ("cancel_at_period_end", "cancel_now") and not action.startswith(
                "change_plan:"):
            raise ValueError(f"unknown action {action!r}")
        store = self.emulator.store
        condition = query_params.require_where(
            {"q.where": w.eq("SubscriptionKey", key).sql})
        updated = store.update("Billing_Subscriptions", condition, {"RequestedAction": action})
        if not updated.count:
            raise ValueError(f"no subscription {key}")
        name = store.table("Billing_Subscriptions").name
        self.emulator.webhooks.emit_update(name, updated.rows, updated.before, updated.written)
        back = request.form.get("next") or f"{PREFIX}/subscriptions"
        return redirect(_local(back), code=303)

    def _page_customers(self, request: Request) -> Response:
        self._settled()
        where, key = self._filter(request)
        rows = self._rows("Billing_Customers", where)
        # As on Caspio, the HTML Block is in every row; the snippet hides itself (CSS).
        portal = self.snippet("customer-portal.html")
        for row in rows:
            row["_portal"] = substitute(portal, record=row, app=self.app_parameters)
        return self._render("customers.html", rows=rows, customer_key=key, money=money,
                            when=when, test_cards=TEST_CARDS)

    def _page_card(self, request: Request, key: str) -> Response:
        """Sandbox only: give the customer another Stripe test card, to make charges fail."""
        if self.panel is None:
            raise NotFound()
        payment_method = request.form.get("payment_method", "")
        if payment_method not in TEST_CARDS:
            raise ValueError(f"payment_method must be one of {', '.join(TEST_CARDS)}")
        self.panel.switch_card(key, payment_method)
        return redirect(f"{PREFIX}/customers?{urlencode({'CustomerKey': key})}", code=303)

    def _page_payments(self, request: Request) -> Response:
        self._settled()
        where, key = self._filter(request)
        rows = self._rows("Billing_Payments", where)
        retry = self.snippet("payment-retry.html")
        for row in rows:
            row["_retry"] = substitute(retry, record=row, app=self.app_parameters)
        return self._render("payments.html", rows=rows, customer_key=key, money=money,
                            when=when)

    def _page_clock(self, request: Request) -> Response:
        if self.panel is None:
            raise NotFound()
        step = request.form.get("step", "")
        if step not in CLOCK_STEPS:
            raise ValueError(f"step must be one of {', '.join(CLOCK_STEPS)}")
        self.panel.advance(CLOCK_STEPS[step])
        return redirect(_local(request.form.get("next") or f"{PREFIX}/"), code=303)

    def _page_scenarios(self, request: Request) -> Response:
        listing = self.panel.scenarios() if self.panel is not None else []
        body = json.dumps([{"name": name, "description": text} for name, text in listing])
        return Response(body, mimetype="application/json")

    def _page_scenario(self, request: Request, name: str) -> Response:
        if self.panel is None:
            raise NotFound()
        known = dict(self.panel.scenarios())
        if name not in known:
            body = json.dumps({"error": f"no scenario {name!r}; known: {', '.join(known)}"})
            return Response(body, status=404, mimetype="application/json")
        wants_json = request.accept_mimetypes.best == "application/json"
        try:
            summary = self.panel.run_scenario(name)
        except Exception as error:  # a scenario's failure is the caller's answer, not a 500
            _log.exception("scenario %s failed", name)
            message = f"{type(error).__name__}: {error}"
            if wants_json:
                return Response(json.dumps({"error": message}), status=400,
                                mimetype="application/json")
            return self._render("error.html", status=400, message=message)
        if wants_json:
            return Response(json.dumps({"scenario": name, "summary": summary}),
                            mimetype="application/json")
        return redirect(f"{PREFIX}/?{urlencode({'message': summary})}", code=303)


def money(amount: object, currency: object = None) -> str:
    """A Caspio currency value with two decimals (or none for zero-decimal currencies)."""
    if amount is None or amount == "":
        return ""
    value = Decimal(shown(amount))
    code = str(currency or "").upper()
    text = f"{value:,.0f}" if code in {"JPY", "KRW"} else f"{value:,.2f}"
    return f"{text} {code}".strip()


def when(value: object) -> str:
    """A DATE/TIME value as the reports show it (UTC, minutes)."""
    text = shown(value)
    return text.replace("T", " ")[:16] if text else ""


def plan_label(plan: Mapping[str, Any]) -> str:
    """How the form's drop-down names a plan: "Gold monthly: 40.00 USD / month"."""
    currency = plan.get("Currency") or "usd"
    if plan.get("PlanType") == "payplan":
        parts = plan.get("Installments") or "several"
        return (f"{plan.get('Name')}: {money(plan.get('Balance'), currency)} "
                f"in {parts} payments")
    every = plan.get("BillingInterval") or ""
    count = plan.get("IntervalCount") or 1
    period = every if count == 1 else f"{count} {every}s"
    label = f"{plan.get('Name')}: {money(plan.get('Amount'), currency)}"
    return f"{label} / {period}" if period else label


def _local(target: str) -> str:
    """Only same-site paths as a redirect target (no open redirect through ``next``)."""
    return target if target.startswith(PREFIX) and "//" not in target else f"{PREFIX}/"
