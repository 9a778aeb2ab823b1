"""Forged, expired and foreign tokens, hostile origins and return addresses, gone invoices:
each gets a clear answer and changes nothing (no invoices.pay, the link still works)."""

from __future__ import annotations

from connector.links.rate_limits import Limit
from connector.links.tokens import new_token
from connector.web.retry import LIMITS_KEY
from tests.integration.retry.conftest import CASPIO_APP, DAY, Bridge, fail_renewal, token_in


def assert_unchanged(bridge: Bridge, invoice_id: str, retry_url: str, calls: int) -> None:
    assert bridge.pay_calls() == calls
    row = bridge.payment(invoice_id)
    assert (row["Status"], row["RetryStatus"], row["RetryURL"]) == (
        "failed",
        "available",
        retry_url,
    )
    link = bridge.hook.links.find(token_in(retry_url))
    assert link is not None and link.state == "available"
    assert bridge.stripe.v1.invoices.retrieve(invoice_id).status == "open"


def test_forged_expired_and_foreign_tokens_and_hostile_returns_change_nothing(bridge: Bridge):
    invoice_id = fail_renewal(bridge)
    retry_url = bridge.payment(invoice_id)["RetryURL"]
    token = token_in(retry_url)
    path = f"{bridge.url}/payments/{invoice_id}/retry"
    calls = bridge.pay_calls()

    # forged: never issued, malformed, empty, missing
    for forged in (new_token(), "x" * 43, "' OR 1=1 --", ""):
        for method in (bridge.http.get, bridge.http.post):
            answer = method(path, params={"token": forged}, timeout=10)
            assert answer.status_code == 404, (forged, answer.status_code)
            assert "not valid" in answer.text
    assert bridge.http.post(path, timeout=10).status_code == 404

    # foreign: a real token on another invoice's address, and another invoice's token here
    other = bridge.http.post(
        f"{bridge.url}/payments/in_someone_else/retry", params={"token": token}, timeout=10
    )
    assert other.status_code == 403 and "another payment" in other.text
    foreign_token = bridge.hook.links.issue("in_someone_else", 1)
    assert foreign_token is not None
    mine = bridge.http.post(path, data={"token": foreign_token}, timeout=10)
    assert mine.status_code == 403

    # a POST from a page on a foreign site is refused before anything else
    cross_site = bridge.http.post(
        path, json={"token": token}, headers={"Origin": "https://evil.example.com"}, timeout=10
    )
    assert cross_site.status_code == 403
    assert "Access-Control-Allow-Origin" not in cross_site.headers

    # hostile return addresses are dropped; an allowed one is offered
    for hostile in (
        "https://evil.example.com/",
        "//evil.example.com/",
        "javascript:alert(1)",
        f"{CASPIO_APP}@evil.example.com/",
    ):
        shown = bridge.http.get(retry_url, params={"return": hostile}, timeout=10)
        assert shown.status_code == 200
        assert "evil.example.com" not in shown.text and "javascript:" not in shown.text
        assert 'id="return"' not in shown.text
    allowed = bridge.http.get(retry_url, params={"return": f"{CASPIO_APP}/payments"}, timeout=10)
    assert f'href="{CASPIO_APP}/payments"' in allowed.text

    # expired: the bridge's clock passes the link's 30 days
    bridge.clock.offset = 30 * DAY + 1
    for method in (bridge.http.get, bridge.http.post):
        expired = method(retry_url, timeout=10)
        assert expired.status_code == 410 and "expired" in expired.text
    assert bridge.pay_calls() == calls
    bridge.clock.offset = 0

    assert_unchanged(bridge, invoice_id, retry_url, calls)


def test_json_fetch_from_the_caspio_app_gets_cors_and_a_json_answer(bridge: Bridge):
    invoice_id = fail_renewal(bridge)
    retry_url = bridge.payment(invoice_id)["RetryURL"]
    preflight = bridge.http.options(
        retry_url,
        headers={"Origin": CASPIO_APP, "Access-Control-Request-Method": "POST"},
        timeout=10,
    )
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == CASPIO_APP
    evil = bridge.http.options(retry_url, headers={"Origin": "https://evil.example.com"})
    assert "Access-Control-Allow-Origin" not in evil.headers

    answer = bridge.http.post(
        f"{bridge.url}/payments/{invoice_id}/retry",
        json={"token": token_in(retry_url), "return": "https://evil.example.com/x"},
        headers={"Origin": CASPIO_APP},
        timeout=10,
    )
    assert answer.headers["Access-Control-Allow-Origin"] == CASPIO_APP
    body = answer.json()
    assert body["outcome"] == "declined" and body["retry_status"] == "failed"
    assert body["charged"] is False and body["reason"] == "The card has expired."
    assert "return" not in body


def test_void_invoice_and_ended_subscription_are_refused_without_a_charge(bridge: Bridge):
    invoice_id = fail_renewal(bridge)
    retry_url = bridge.payment(invoice_id)["RetryURL"]
    bridge.update_card_through_portal()
    bridge.stripe.v1.subscriptions.cancel(bridge.subscription_id)
    bridge.settle()
    calls = bridge.pay_calls()
    shown = bridge.http.get(retry_url, timeout=10)
    assert shown.status_code == 410 and 'id="confirm"' not in shown.text
    refused = bridge.http.post(retry_url, timeout=10)
    assert refused.status_code == 410
    assert "can no longer be paid" in refused.text or "has ended" in refused.text
    assert bridge.pay_calls() == calls
    assert bridge.stripe.v1.invoices.retrieve(invoice_id).status != "paid"
    again = bridge.http.post(retry_url, timeout=10)
    assert again.status_code == 410 and bridge.pay_calls() == calls


def test_a_voided_invoice_is_refused_without_a_charge(bridge: Bridge):
    invoice_id = fail_renewal(bridge)
    retry_url = bridge.payment(invoice_id)["RetryURL"]
    bridge.stripe.v1.invoices.void_invoice(invoice_id)
    calls = bridge.pay_calls()
    before_webhooks = bridge.http.post(retry_url, timeout=10)  # the live invoice says void
    assert before_webhooks.status_code == 410 and "can no longer be paid" in before_webhooks.text
    bridge.settle()
    assert bridge.payment(invoice_id)["Status"] == "void"
    shown = bridge.http.get(retry_url, timeout=10)
    assert shown.status_code == 410 and 'id="confirm"' not in shown.text
    assert bridge.pay_calls() == calls


def test_attempts_are_rate_limited_per_invoice_and_per_address(bridge: Bridge):
    invoice_id = fail_renewal(bridge)
    retry_url = bridge.payment(invoice_id)["RetryURL"]
    path = f"{bridge.url}/payments/{invoice_id}/retry"
    bridge.app.config[LIMITS_KEY] = {"address": Limit(100, 600), "invoice": Limit(3, 600)}
    calls = bridge.pay_calls()
    statuses = [
        bridge.http.post(path, data={"token": new_token()}, timeout=10).status_code
        for _ in range(4)
    ]
    assert statuses == [404, 404, 404, 429]
    limited = bridge.http.post(retry_url, timeout=10)  # even the real token, for now
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "600"
    bridge.app.config[LIMITS_KEY] = {"address": Limit(2, 600), "invoice": Limit(100, 600)}
    gets = [bridge.http.get(retry_url, timeout=10).status_code for _ in range(3)]
    assert gets[-1] == 429
    assert bridge.pay_calls() == calls


def test_portal_links_forged_or_expired_open_nothing(bridge: Bridge):
    fail_renewal(bridge)
    portal_url = bridge.row("Billing_Customers", "CustomerKey", "CUST-1")["PortalURL"]
    sessions = bridge.emulator.requests.get(("POST", "/v1/billing_portal/sessions"), 0)
    forged = portal_url[:-2] + ("AA" if not portal_url.endswith("AA") else "BB")
    assert bridge.http.get(forged, allow_redirects=False, timeout=10).status_code == 404
    other = portal_url.replace("/portal/CUST-1?", "/portal/CUST-2?")
    assert bridge.http.get(other, allow_redirects=False, timeout=10).status_code == 404
    bridge.clock.offset = 30 * DAY + 1
    expired = bridge.http.get(portal_url, allow_redirects=False, timeout=10)
    assert expired.status_code == 410
    bridge.clock.offset = 0
    hostile = bridge.http.get(
        portal_url + "&return=https://evil.example.com/", allow_redirects=False, timeout=10
    )
    assert hostile.status_code == 303
    assert bridge.emulator.requests.get(("POST", "/v1/billing_portal/sessions"), 0) == sessions + 1
    session_page = bridge.http.get(hostile.headers["Location"], timeout=10)
    assert "evil.example.com" not in session_page.text
