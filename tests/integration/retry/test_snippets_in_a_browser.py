"""The DataPage snippets in headless Chromium (Debian's), on a page of an allowed origin:
the in-place Retry button's confirm dialog, its CORS `fetch` POST and the answer it prints."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.caspio.parameters import substitute
from tests.e2e.conftest import browser  # noqa: F401  (the Chromium fixture)
from tests.integration.retry.conftest import Bridge, fail_renewal

By = pytest.importorskip("selenium.webdriver.common.by").By
WebDriverWait = pytest.importorskip("selenium.webdriver.support.wait").WebDriverWait
SNIPPETS = Path(__file__).resolve().parents[3] / "deploy" / "caspio" / "datapages"


def payments_page(bridge: Bridge, invoice_id: str, snippet: str) -> str:
    """What Caspio would serve: the snippet filled in with the payment row."""
    row = bridge.payment(invoice_id)
    block = substitute((SNIPPETS / snippet).read_text(encoding="utf-8"), record=row)
    return f"<!doctype html><html><body><table><tr><td>{block}</td></tr></table></body></html>"


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_retry_in_place_asks_then_posts_once_from_the_caspio_origin(
    bridge: Bridge, browser  # noqa: F811
):
    invoice_id = fail_renewal(bridge)
    bridge.update_card_through_portal()
    bridge.page_html[0] = payments_page(bridge, invoice_id, "payment-retry-inline.html")
    calls = bridge.pay_calls()

    browser.get(f"{bridge.page_origin}/payments")
    button = browser.find_element(By.CSS_SELECTOR, "button.retry-inline")
    assert button.is_displayed()
    button.click()
    browser.switch_to.alert.dismiss()  # "Charge the card on file…?" -> Cancel: nothing sent
    assert bridge.pay_calls() == calls
    button.click()
    browser.switch_to.alert.accept()
    result = browser.find_element(By.CSS_SELECTOR, ".retry-result")
    WebDriverWait(browser, 30).until(lambda d: "Payment succeeded" in result.text)
    assert bridge.pay_calls() == calls + 1
    row = bridge.payment(invoice_id)
    assert (row["Status"], row["RetryStatus"]) == ("succeeded", "succeeded")

    # The refreshed report hides the button: the row is no longer a failed, unused link.
    bridge.page_html[0] = payments_page(bridge, invoice_id, "payment-retry-inline.html")
    browser.get(f"{bridge.page_origin}/payments")
    assert not browser.find_element(By.CSS_SELECTOR, "button.retry-inline").is_displayed()


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_the_retry_link_shows_only_on_a_failed_row_and_opens_the_confirmation(
    bridge: Bridge, browser  # noqa: F811
):
    invoice_id = fail_renewal(bridge)
    bridge.page_html[0] = payments_page(bridge, invoice_id, "payment-retry.html")
    browser.get(f"{bridge.page_origin}/payments")
    link = browser.find_element(By.CSS_SELECTOR, "a.retry-button")
    assert link.is_displayed()
    link.click()
    WebDriverWait(browser, 30).until(lambda d: "/retry?token=" in d.current_url)
    assert "Retry this payment?" in browser.page_source
    calls = bridge.pay_calls()
    browser.find_element(By.ID, "confirm").click()
    # (not just "declined": the page's own CSS names the kind-declined class)
    WebDriverWait(browser, 30).until(lambda d: "The payment was declined" in d.page_source)
    assert "The card has expired." in browser.page_source
    assert bridge.pay_calls() == calls + 1
    bridge.page_html[0] = payments_page(bridge, invoice_id, "payment-retry.html")
    browser.get(f"{bridge.page_origin}/payments")
    assert not browser.find_element(By.CSS_SELECTOR, "a.retry-button").is_displayed()
