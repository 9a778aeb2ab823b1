"""The one way into Stripe: a `StripeClient` with a pinned API version, retries and metering.

Everything in the bridge that talks to Stripe goes through `StripeGateway.client`, so that
every call is counted (Stripe limits requests per second) and every create can carry a
deterministic idempotency key.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import stripe

from caspio_client.metering import CallMeter

# stripe-python 16 pins this version; we send it explicitly so that a library upgrade never
# silently changes the shapes the handlers read.
STRIPE_API_VERSION = "2026-10-28.endive"
DEFAULT_NETWORK_RETRIES = 2

# Stripe ids in paths become placeholders so that the meter groups calls by endpoint. An id
# is a short prefix and a random part with digits or capitals; resource names such as
# `invoice_payments` or `payment_methods` are lower-case words and stay as they are.
_ID_SEGMENT = re.compile(r"^[a-z]{1,10}_(?=[A-Za-z0-9_]*[A-Z0-9])[A-Za-z0-9_]{6,}$")


def path_template(url: str) -> str:
    """`/v1/invoices/in_123/pay` -> `/v1/invoices/{id}/pay`."""
    segments = urlsplit(url).path.split("/")
    return "/".join("{id}" if _ID_SEGMENT.match(s) else s for s in segments)


class StripeCallMeter(CallMeter):
    """Counts Stripe HTTP calls by (method, path template, status); 0 = no answer.

    The same thread-safe counter the Caspio client uses, keyed by endpoint instead of table.
    """

    def record_url(self, method: str, url: str, status: int) -> None:
        self.record(method, path_template(url), status)


class MeteredRequestsClient(stripe.RequestsClient):
    """stripe-python's requests transport, counting every attempt (retries included)."""

    def __init__(self, meter: StripeCallMeter, timeout: float = 30.0) -> None:
        super().__init__(timeout=timeout)
        self._meter = meter

    def request(  # type: ignore[override]  # stripe's base and requests subclass disagree
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
    ) -> tuple[bytes, int, Mapping[str, str]]:
        try:
            content, status, response_headers = super().request(method, url, headers, post_data)
        except stripe.APIConnectionError:
            self._meter.record_url(method, url, 0)
            raise
        self._meter.record_url(method, url, status)
        return content, status, response_headers


class StripeGateway:
    """Owns the `StripeClient` and its meter."""

    def __init__(
        self,
        api_key: str,
        *,
        api_base: str | None = None,
        max_network_retries: int = DEFAULT_NETWORK_RETRIES,
        timeout: float = 30.0,
    ) -> None:
        self.meter = StripeCallMeter()
        self.client = stripe.StripeClient(
            api_key,
            stripe_version=STRIPE_API_VERSION,
            base_addresses=(
                {"api": api_base, "connect": api_base, "files": api_base} if api_base else None
            ),
            max_network_retries=max_network_retries,
            http_client=MeteredRequestsClient(self.meter, timeout=timeout),
        )

    @staticmethod
    def idempotency_key(*parts: object) -> str:
        """A deterministic key: the same logical request always carries the same key.

        Readable prefix for the Stripe dashboard, a hash so that the key stays within
        Stripe's 255 characters whatever the parts are.
        """
        # JSON keeps the parts apart: ("a|b", "c") and ("a", "b|c") never share a key.
        text = json.dumps([str(p) for p in parts], ensure_ascii=False)
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]
        prefix = re.sub(r"[^A-Za-z0-9_.-]", "-", str(parts[0]) if parts else "key")[:40]
        return f"caspio-stripe-{prefix}-{digest}"
