"""``StripeEmulator``: the state, the clock, events and webhooks, and the Flask app."""

from __future__ import annotations

import copy
import json
import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass, fields
from typing import Any

from flask import Flask

from . import shapes
from .api import Api, error_response
from .billing import BillingConfig, BillingEngine
from .clock import Clock
from .controls import register as register_controls
from .errors import StripeApiError
from .events import EVENT_RETENTION, EventBus
from .idempotency import IdempotencyCache
from .ids import IdFactory, type_of
from .listing import Expander, Includable
from .ratelimit import TokenBucket
from .resources import register_all
from .store import Store
from .webhooks import DeliveryFaults, DeliveryRecord, WebhookDispatcher

Obj = dict[str, Any]

REQUEST_LOG_SIZE = 1000  # the last requests kept for request_log_url


@dataclass
class EmulatorOptions:
    start_time: int | None = None  # emulator epoch; default: real time at start
    seed: int | None = None  # reproducible ids
    public_url: str = "http://127.0.0.1"  # base of hosted_invoice_url and receipts
    event_retention: int | None = EVENT_RETENTION  # seconds of emulator time; None: keep all
    # Billing (see BillingConfig)
    retry_schedule: tuple[int, ...] = BillingConfig.retry_schedule
    after_retries: str = BillingConfig.after_retries
    incomplete_expiry: int = BillingConfig.incomplete_expiry
    # Webhook delivery, in real seconds
    webhook_retry_base: float = 60.0
    webhook_retry_factor: float = 2.0
    webhook_max_attempts: int = 3
    webhook_timeout: float = 10.0
    webhook_workers: int = 1  # parallel deliveries; 1 keeps publication order
    rate_limit: float | None = None  # API requests per second before 429 (test mode: 25)
    # The account's default API version: what a request without Stripe-Version gets.
    account_api_version: str = shapes.API_VERSION


@dataclass
class ApiFault:
    status: int
    remaining: int
    method: str | None
    path: str | None  # a path template such as "/v1/customers/{id}"

    def error(self) -> StripeApiError:
        if self.status == 429:
            return StripeApiError(
                429, "Request rate limit exceeded. (emulator fault)", code="rate_limit"
            )
        if self.status == 409:
            return StripeApiError(
                409,
                "This object cannot be accessed right now because another API request or "
                "Stripe process is currently accessing it. (emulator fault)",
                code="lock_timeout",
            )
        return StripeApiError(
            self.status, "An unknown error occurred. (emulator fault)", type="api_error"
        )


class StripeEmulator:
    def __init__(self, **options: Any) -> None:
        names = {f.name for f in fields(EmulatorOptions)}
        unknown = set(options) - names
        if unknown:
            raise TypeError(f"unknown emulator options: {sorted(unknown)}")
        self.options = EmulatorOptions(**options)
        self.public_url = self.options.public_url.rstrip("/")
        self.store = Store()
        self.ids = IdFactory(self.options.seed)
        self.clock = Clock(self.options.start_time)
        self.idempotency = IdempotencyCache()
        self.dispatcher = WebhookDispatcher(
            retry_base=self.options.webhook_retry_base,
            retry_factor=self.options.webhook_retry_factor,
            max_attempts=self.options.webhook_max_attempts,
            timeout=self.options.webhook_timeout,
            workers=self.options.webhook_workers,
        )
        self.bus = EventBus(
            self.store,
            self.ids,
            self.clock,
            self._publish,
            self._count_endpoints,
            retention=self.options.event_retention,
        )
        self.billing = BillingEngine(self, self._billing_config())
        self.includables: dict[tuple[str, str], Includable] = {}
        self.expander = Expander(self._lookup, self.includables)
        self._counts: Counter[tuple[str, str]] = Counter()
        self._counts_lock = threading.Lock()
        self._faults: list[ApiFault] = []
        self._request_log: OrderedDict[str, Obj] = OrderedDict()
        self._bucket = TokenBucket(self.options.rate_limit) if self.options.rate_limit else None
        # The API version of the request being handled (header, else the account default).
        self.request_version: str = self.options.account_api_version
        # Webhook deliveries a loaded state still owed (``persistence.redeliver`` sends them).
        self.resumed_deliveries: list[dict[str, Any]] = []
        self.app = self._build_app()

    # -- app -------------------------------------------------------------------------------

    def _build_app(self) -> Flask:
        app = Flask("sandbox.stripe")
        api = Api(self, app)
        register_all(api)
        register_controls(self, app)

        @app.errorhandler(404)
        @app.errorhandler(405)
        def unknown_route(_exc: Exception) -> Any:
            from flask import request

            return error_response(
                StripeApiError(
                    404,
                    f"Unrecognized request URL ({request.method}: {request.path}). Please see "
                    "https://stripe.com/docs or we can help at https://support.stripe.com/.",
                )
            )

        return app

    def _billing_config(self) -> BillingConfig:
        return BillingConfig(
            retry_schedule=tuple(self.options.retry_schedule),
            after_retries=self.options.after_retries,
            incomplete_expiry=self.options.incomplete_expiry,
        )

    def configure_billing(self, **settings: Any) -> BillingConfig:
        """Change retry schedule / after_retries / incomplete_expiry until the next reset."""
        with self.store.lock:
            config = self.billing.config
            for name, value in settings.items():
                if not hasattr(config, name):
                    raise TypeError(f"unknown billing setting {name!r}")
                if name == "after_retries" and value not in ("canceled", "unpaid", "past_due"):
                    raise ValueError("after_retries must be canceled, unpaid or past_due")
                setattr(config, name, tuple(value) if name == "retry_schedule" else value)
            return config

    def start(self) -> None:
        self.dispatcher.start()

    def close(self) -> None:
        self.dispatcher.stop()

    # -- used by the HTTP layer and resources ---------------------------------------------

    def _lookup(self, object_id: str) -> Obj | None:
        if type_of(object_id) is None:
            return None
        return self.store.get(object_id)

    def log_request(self, request_id: str, method: str, path: str, status: int) -> None:
        with self._counts_lock:
            self._request_log[request_id] = {
                "id": request_id,
                "method": method,
                "path": path,
                "status": status,
            }
            while len(self._request_log) > REQUEST_LOG_SIZE:
                self._request_log.popitem(last=False)

    def logged_request(self, request_id: str) -> Obj | None:
        with self._counts_lock:
            return self._request_log.get(request_id)

    def frozen_time_for(self, params: Obj, path: dict[str, str]) -> int | None:
        """The frozen time of the test clock a request is about (None: emulator time)."""
        clock_id = params.get("test_clock") if isinstance(params.get("test_clock"), str) else None
        if clock_id is None:
            refs = [params.get("customer"), *path.values()]
            for ref in refs:
                obj = self.store.get(ref) if isinstance(ref, str) else None
                if obj is not None and not obj.get("deleted"):
                    clock_id = self.billing.clock_of(obj)
                    if clock_id is not None:
                        break
        clock = self.store.get(clock_id) if clock_id else None
        if clock is None or clock.get("deleted"):
            return None
        return int(clock["frozen_time"])

    def request_log_url(self, request_id: str) -> str:
        """Where error bodies point for the request's log (Stripe: its Dashboard)."""
        return f"{self.public_url}/_emulator/requests?id={request_id}"

    def render(self, obj: Obj, params: Obj) -> Obj:
        return self.expander.render(obj, params)

    def count_request(self, method: str, template: str) -> None:
        with self._counts_lock:
            self._counts[(method, template)] += 1

    def take_api_fault(self, method: str, template: str) -> StripeApiError | None:
        """An injected fault for this call, or a 429 when over the rate limit."""
        if self._bucket is not None and not self._bucket.take():
            return ApiFault(429, 1, None, None).error()
        with self._counts_lock:
            for fault in self._faults:
                if fault.method not in (None, method) or fault.path not in (None, template):
                    continue
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                return fault.error()
        return None

    def _endpoints_for(self, event_type: str) -> list[Obj]:
        return [
            we
            for we in self.store.all("webhook_endpoint")
            if not we.get("deleted")
            and we["status"] == "enabled"
            and ("*" in we["enabled_events"] or event_type in we["enabled_events"])
        ]

    def _count_endpoints(self, event_type: str) -> int:
        return len(self._endpoints_for(event_type))

    def _publish(self, events: list[Obj]) -> None:
        deliveries = []
        for event in events:
            for we in self._endpoints_for(event["type"]):
                body = copy.copy(event)
                body["api_version"] = we["api_version"] or shapes.API_VERSION
                deliveries.append(
                    {
                        "event_id": event["id"],
                        "event_type": event["type"],
                        "endpoint_id": we["id"],
                        "url": we["url"],
                        "secret": [
                            self.store.notes[we["id"]]["secret"],
                            *self.store.notes[we["id"]].get("old_secrets", []),
                        ],
                        "body": json.dumps(body, indent=2).encode(),
                    }
                )
        self.dispatcher.submit(deliveries)

    # -- Python-side controls -------------------------------------------------------------

    def now(self) -> int:
        return self.clock.now()

    def advance(self, seconds: int) -> int:
        """Move emulator time forward, running renewals, retries and expiries on the way."""
        return self.billing.advance(int(seconds))

    def add_webhook_endpoint(
        self,
        url: str,
        secret: str | None = None,
        events: list[str] | tuple[str, ...] = ("*",),
        api_version: str | None = None,
    ) -> Obj:
        """Register an endpoint directly; returns it with its ``secret``."""
        from .resources.webhook_endpoints import create_endpoint

        with self.store.lock:
            endpoint = create_endpoint(self, url, list(events), api_version, secret=secret)
            self.bus.flush()
            return endpoint

    def roll_webhook_secret(self, endpoint_id: str, keep_old: bool = True) -> str:
        """A new endpoint secret; while ``keep_old``, deliveries carry a v1 for each."""
        with self.store.lock:
            self.store.require("webhook_endpoint", endpoint_id)
            notes = self.store.notes[endpoint_id]
            old = [notes["secret"], *notes.get("old_secrets", [])] if keep_old else []
            notes["secret"], notes["old_secrets"] = self.ids.secret("whsec", 32), old
            return str(notes["secret"])

    @property
    def deliveries(self) -> list[DeliveryRecord]:
        return self.dispatcher.records

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until every queued webhook delivery (and its retries) is done."""
        return self.dispatcher.wait_idle(timeout)

    @property
    def requests(self) -> dict[tuple[str, str], int]:
        """API calls so far by (method, path template)."""
        with self._counts_lock:
            return dict(self._counts)

    def set_delivery_faults(self, **faults: Any) -> None:
        self.dispatcher.set_faults(DeliveryFaults(**faults))

    def inject_api_fault(
        self, status: int, count: int = 1, method: str | None = None, path: str | None = None
    ) -> None:
        """Answer the next ``count`` matching API calls with ``status`` (409, 429, 5xx)."""
        with self._counts_lock:
            self._faults.append(ApiFault(status, count, method, path))

    # Part-2 controls (disputes, payouts); the work is in ``flow_controls``.
    def open_dispute(self, charge: str, reason: str = "general", amount: int | None = None) -> Obj:
        from .flow_controls import open_dispute

        return open_dispute(self, charge, reason, amount)

    def close_dispute(self, dispute: str, status: str) -> Obj:
        from .flow_controls import close_dispute

        return close_dispute(self, dispute, status)

    def create_payout(
        self,
        amount: int,
        currency: str = "usd",
        status: str = "paid",
        failure_code: str | None = None,
    ) -> Obj:
        from .flow_controls import create_payout

        return create_payout(self, amount, currency, status, failure_code)

    def reset(self) -> None:
        """Forget every object, event, key, count, fault and queued delivery; the clock starts
        again (a fixture's next test must not inherit years of advanced time)."""
        with self.store.lock:
            self.store.clear()
            self.clock.restart(self.options.start_time)
            self.billing.reset()
            self.billing.config = self._billing_config()
            self.idempotency.clear()
            self.bus.discard()
            self.dispatcher.clear()
            self.dispatcher.set_faults(DeliveryFaults())
            with self._counts_lock:
                self._counts.clear()
                self._faults.clear()
