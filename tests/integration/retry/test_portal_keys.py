"""Card-update links for any CustomerKey Caspio accepts (issue 14, outside tester).

The link quotes the key, but the HTTP server decodes `%2F` before routing; a key holding
`/` (or starting with it, or doubling it) must still open the portal, and the signature
must still cover the exact key."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.integration.retry.conftest import Bridge

KEYS = [
    "x2'\"<script>alert(2)</script>",  # the tester's key: holds `/`
    "/leading",
    "a//b/",
    "100% sure?#frag &amp; more",
    "clé 日本 ünïcode",
    "returned/returned",
    "k" * 250,  # a long Text(255) key
]


@pytest.fixture
def stripe_customer(bridge: Bridge) -> str:
    return str(bridge.stripe.v1.customers.create({"name": "Keys"}).id)


def test_a_portal_link_opens_the_portal_for_any_customer_key(
    bridge: Bridge, stripe_customer: str
) -> None:
    portal = bridge.hook.portal
    assert portal is not None
    for key in KEYS:
        bridge.caspio.insert(
            "Billing_Customers", {"CustomerKey": key, "StripeCustomerID": stripe_customer}
        )
        url = portal.url_for(key)
        opened = bridge.http.get(url, allow_redirects=False, timeout=10)
        assert opened.status_code == 303, (key, opened.status_code, opened.text[:200])
        assert "/portal/bps_" in opened.headers["Location"]
        # Stripe sends the payer back to the bridge's own page for that key.
        back = bridge.http.get(
            f"{bridge.url}/portal/{quote(key, safe='')}/returned", allow_redirects=False,
            timeout=10,
        )
        assert back.status_code == 200 and "Card details saved" in back.text, key


def test_the_signature_still_covers_the_exact_key(bridge: Bridge, stripe_customer: str) -> None:
    portal = bridge.hook.portal
    assert portal is not None
    for key in ("a/b", "a//b"):
        bridge.caspio.insert(
            "Billing_Customers", {"CustomerKey": key, "StripeCustomerID": stripe_customer}
        )
    token = portal.token_for("a/b")
    sessions = bridge.emulator.requests.get(("POST", "/v1/billing_portal/sessions"), 0)
    for other in ("a//b", "a", "b", "a/b/"):
        answer = bridge.http.get(
            f"{bridge.url}/portal/{quote(other, safe='')}?token={token}",
            allow_redirects=False,
            timeout=10,
        )
        assert answer.status_code == 404 and "not valid" in answer.text, other
    assert bridge.emulator.requests.get(("POST", "/v1/billing_portal/sessions"), 0) == sessions
    good = bridge.http.get(
        f"{bridge.url}/portal/a%2Fb?token={token}", allow_redirects=False, timeout=10
    )
    assert good.status_code == 303
