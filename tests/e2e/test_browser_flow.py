"""The product in a real browser: the registration form, Stripe's Checkout page, the
Subscriptions and Customers reports, the Payments panel; one screenshot per step."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
import requests

from caspio_client import where as w

By = pytest.importorskip("selenium.webdriver.common.by").By
Select = pytest.importorskip("selenium.webdriver.support.select").Select
WebDriverWait = pytest.importorskip("selenium.webdriver.support.wait").WebDriverWait


class Steps:
    """Screenshots named by step number, so the folder reads as the story."""

    def __init__(self, driver, folder, prefix):
        self.driver, self.folder, self.prefix, self.number = driver, folder, prefix, 0

    def shot(self, name):
        self.number += 1
        path = self.folder / f"{self.prefix}-{self.number:02d}-{name}.png"
        self.driver.save_screenshot(str(path))
        return path


def cell(driver, row_css, column_css):
    return driver.find_element(By.CSS_SELECTOR, f"{row_css} {column_css}").text


def register(driver, sandbox, customer_key, plan_key):
    driver.get(sandbox.home_url + "register")
    driver.find_element(By.ID, "CustomerKey").send_keys(customer_key)
    driver.find_element(By.ID, "Name").send_keys("Ada Lovelace")
    driver.find_element(By.ID, "Email").send_keys(f"{customer_key}@example.com")
    Select(driver.find_element(By.ID, "PlanKey")).select_by_value(plan_key)


def pay_on_checkout(driver, number):
    driver.find_element(By.NAME, "number").send_keys(number)
    driver.find_element(By.NAME, "exp_month").send_keys("12")
    driver.find_element(By.NAME, "exp_year").send_keys("2034")
    driver.find_element(By.NAME, "cvc").send_keys("123")
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()


def signup_served(sandbox) -> bool:
    answer = requests.get(f"{sandbox.bridge_url}/signup/00000000-0000-0000-0000-000000000000",
                          allow_redirects=False, timeout=10)
    return answer.status_code != 404 or "signup" in answer.text.lower()


def test_register_then_pay_on_checkout_shows_active_and_totals(browser, running_sandbox,
                                                               artifacts):
    """The sign-up as the product runs it: form → the bridge's /signup → Checkout."""
    if not signup_served(running_sandbox):
        pytest.skip("waits on sign-up (#13): the bridge does not serve GET /signup/<key> yet")
    steps = Steps(browser, artifacts, "signup")
    register(browser, running_sandbox, "ada", "gold-monthly")
    steps.shot("registration-form")
    browser.find_element(By.ID, "register-submit").click()
    WebDriverWait(browser, 30).until(lambda d: "/checkout/cs_" in d.current_url)
    steps.shot("stripe-checkout")
    pay_on_checkout(browser, "4242 4242 4242 4242")
    WebDriverWait(browser, 30).until(lambda d: "/dp/subscriptions" in d.current_url)
    row = "tr.subscription"
    assert cell(browser, row, ".status") == "active"
    assert cell(browser, row, ".access") == "yes"
    steps.shot("subscription-active")
    browser.get(running_sandbox.home_url + "customers?CustomerKey=ada")
    assert cell(browser, "tr.customer", ".monthly-total") == "40.00 USD"
    assert cell(browser, "tr.customer", ".yearly-total") == "480.00 USD"
    steps.shot("customer-totals")


def test_checkout_page_in_a_browser_ends_active_with_totals(browser, running_sandbox,
                                                            artifacts):
    """Checkout opened for a registered row, as the bridge's sign-up opens it, paid in the
    browser: the webhooks reach Caspio and the reports show the outcome."""
    sandbox = running_sandbox
    steps = Steps(browser, artifacts, "checkout")
    register(browser, sandbox, "grace", "platinum-weekly")
    steps.shot("registration-form")
    browser.find_element(By.ID, "register-submit").click()
    key = re.search(r"/signup/([0-9a-f-]{36})", browser.current_url).group(1)
    caspio, stripe = sandbox.services.caspio, sandbox.services.stripe.client
    caspio.insert("Billing_Customers", {"CustomerKey": "grace", "Name": "Grace Hopper",
                                        "Email": "grace@example.com"})
    plan = caspio.get_one("Billing_Plans", w.eq("PlanKey", "platinum-weekly"))
    customer = stripe.v1.customers.create({"email": "grace@example.com",
                                           "metadata": {"caspio_customer_key": "grace"}})
    metadata = {"caspio_subscription_key": key, "caspio_customer_key": "grace",
                "caspio_plan_key": "platinum-weekly"}
    session = stripe.v1.checkout.sessions.create({
        "mode": "subscription", "customer": customer.id,
        "line_items": [{"price": plan["StripePriceID"], "quantity": 1}],
        "metadata": metadata, "subscription_data": {"metadata": metadata},
        "client_reference_id": key,
        "success_url": sandbox.services.settings.bridge_success_url,
        "cancel_url": sandbox.services.settings.bridge_cancel_url})
    browser.get(session.url)
    assert "30.00 USD" in browser.find_element(By.ID, "total").text
    steps.shot("stripe-checkout")
    pay_on_checkout(browser, "4242 4242 4242 4242")
    WebDriverWait(browser, 30).until(lambda d: "/dp/subscriptions" in d.current_url)
    row = f'tr.subscription[data-key="{key}"]'
    assert cell(browser, row, ".status") == "active"
    assert cell(browser, row, ".access") == "yes"
    assert cell(browser, row, ".monthly") == "130.00"
    steps.shot("subscription-active")
    browser.get(sandbox.home_url + "customers?CustomerKey=grace")
    assert cell(browser, "tr.customer", ".monthly-total") == "130.00 USD"
    assert cell(browser, "tr.customer", ".yearly-total") == "1,560.00 USD"
    steps.shot("customer-totals")
    browser.get(sandbox.home_url + "payments?CustomerKey=grace")
    assert cell(browser, "tr.payment", ".status") == "succeeded"
    assert cell(browser, "tr.payment", ".amount") == "30.00 USD"
    steps.shot("payment-succeeded")
    assert Decimal(str(caspio.get_one("Billing_Customers", w.eq("CustomerKey", "grace"))[
        "AvgYearlyTotal"])) == Decimal("1560")


def subscribe_through_checkout(browser, sandbox, steps, customer_key, plan_key):
    """Register on the form and pay on Checkout. The Checkout session comes from the
    bridge's /signup when it serves one, else it is opened through the API with the same
    metadata (sign-up, #13, not landed yet)."""
    register(browser, sandbox, customer_key, plan_key)
    browser.find_element(By.ID, "register-submit").click()
    key = re.search(r"/signup/([0-9a-f-]{36})", browser.current_url)
    if "/checkout/cs_" not in browser.current_url:
        key = key.group(1)
        caspio, stripe = sandbox.services.caspio, sandbox.services.stripe.client
        caspio.insert("Billing_Customers", {"CustomerKey": customer_key,
                                            "Email": f"{customer_key}@example.com"})
        plan = caspio.get_one("Billing_Plans", w.eq("PlanKey", plan_key))
        customer = stripe.v1.customers.create({
            "email": f"{customer_key}@example.com",
            "metadata": {"caspio_customer_key": customer_key}})
        caspio.update("Billing_Customers", w.eq("CustomerKey", customer_key),
                      {"StripeCustomerID": customer.id})
        metadata = {"caspio_subscription_key": key, "caspio_customer_key": customer_key,
                    "caspio_plan_key": plan_key}
        session = stripe.v1.checkout.sessions.create({
            "mode": "subscription", "customer": customer.id,
            "line_items": [{"price": plan["StripePriceID"], "quantity": 1}],
            "metadata": metadata, "subscription_data": {"metadata": metadata},
            "success_url": sandbox.services.settings.bridge_success_url})
        browser.get(session.url)
    pay_on_checkout(browser, "4242 4242 4242 4242")
    WebDriverWait(browser, 30).until(lambda d: "/dp/subscriptions" in d.current_url)


def open_portal(browser, sandbox, customer_key):
    """The customer's portal link on the Customers page (retry, #14, writes PortalURL);
    until it does, a portal session opened through the API, returning to the same page."""
    customers = sandbox.home_url + f"customers?CustomerKey={customer_key}"
    browser.get(customers)
    links = browser.find_elements(By.CSS_SELECTOR, "tr.customer a.portal-link")
    if links:
        links[0].click()
    else:
        row = sandbox.services.caspio.get_one("Billing_Customers",
                                              w.eq("CustomerKey", customer_key))
        session = sandbox.services.stripe.client.v1.billing_portal.sessions.create(
            {"customer": row["StripeCustomerID"], "return_url": customers})
        browser.get(session.url)
    WebDriverWait(browser, 30).until(lambda d: "/portal/bps_" in d.current_url)


def change_card_in_portal(browser, number):
    browser.find_element(By.NAME, "number").send_keys(number)
    for name, value in (("exp_month", "12"), ("exp_year", "2034"), ("cvc", "123")):
        fields = browser.find_elements(By.NAME, name)
        if fields:
            fields[0].send_keys(value)
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()


def test_a_declined_renewal_shows_retry_and_a_new_card_pays_it(browser, running_sandbox,
                                                               artifacts):
    sandbox = running_sandbox
    steps = Steps(browser, artifacts, "retry")
    subscribe_through_checkout(browser, sandbox, steps, "lin", "silver-monthly")
    row = "tr.subscription"
    browser.get(sandbox.home_url + "subscriptions?CustomerKey=lin")
    assert cell(browser, row, ".status") == "active"

    # A card that attaches but declines every charge (Stripe's 4000 0000 0000 0341).
    open_portal(browser, sandbox, "lin")
    steps.shot("portal-failing-card")
    change_card_in_portal(browser, "4000 0000 0000 0341")
    WebDriverWait(browser, 30).until(lambda d: "/dp/customers" in d.current_url)

    browser.get(sandbox.home_url + "payments?CustomerKey=lin")
    browser.find_element(By.ID, "advance-month").click()
    WebDriverWait(browser, 30).until(lambda d: "/dp/payments" in d.current_url)
    browser.get(sandbox.home_url + "payments?CustomerKey=lin")
    statuses = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "tr.payment .status")]
    assert statuses == ["failed", "succeeded"]  # newest first
    steps.shot("payment-failed")
    browser.get(sandbox.home_url + "subscriptions?CustomerKey=lin")
    assert cell(browser, row, ".status") == "past_due"

    browser.get(sandbox.home_url + "payments?CustomerKey=lin")
    buttons = browser.find_elements(By.CSS_SELECTOR, "tr.payment a.retry-button")
    if not buttons:
        pytest.skip("waits on retry (#14): the bridge writes no RetryURL yet")
    steps.shot("retry-button")
    open_portal(browser, sandbox, "lin")
    change_card_in_portal(browser, "4242 4242 4242 4242")
    WebDriverWait(browser, 30).until(lambda d: "/portal/bps_" not in d.current_url)
    browser.get(sandbox.home_url + "payments?CustomerKey=lin")
    browser.find_element(By.CSS_SELECTOR, "tr.payment a.retry-button").click()
    steps.shot("retry-confirm")
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    steps.shot("retry-result")
    browser.get(sandbox.home_url + "payments?CustomerKey=lin")
    statuses = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "tr.payment .status")]
    assert statuses == ["succeeded", "succeeded"]
    steps.shot("payment-succeeded")
    browser.get(sandbox.home_url + "subscriptions?CustomerKey=lin")
    assert cell(browser, row, ".status") == "active"
