"""The product in a real browser, as a person clicks it in the sandbox: the registration
form, Stripe's Checkout page, the Subscriptions and Customers reports, the portal link, the
Stripe clock, the Payments panel and its Retry button. One screenshot per step."""

from __future__ import annotations

import pytest

By = pytest.importorskip("selenium.webdriver.common.by").By
Select = pytest.importorskip("selenium.webdriver.support.select").Select
WebDriverWait = pytest.importorskip("selenium.webdriver.support.wait").WebDriverWait
staleness_of = pytest.importorskip("selenium.webdriver.support.expected_conditions").staleness_of

WAIT = 60  # seconds; each wait ends as soon as its condition holds


class Steps:
    """Screenshots named by step number, so the folder reads as the story."""

    def __init__(self, driver, folder, prefix):
        self.driver, self.folder, self.prefix, self.number = driver, folder, prefix, 0

    def shot(self, name):
        self.number += 1
        path = self.folder / f"{self.prefix}-{self.number:02d}-{name}.png"
        self.driver.save_screenshot(str(path))
        return path


def submit_and_wait(driver, button):
    """Click a button that posts a form and wait for the answer page to replace this one
    (its address may be the same, so the URL cannot tell)."""
    page = driver.find_element(By.TAG_NAME, "html")
    button.click()
    WebDriverWait(driver, WAIT).until(staleness_of(page))


def shown(driver, css):
    """Elements the page shows (the snippets hide themselves with CSS on other rows)."""
    return [e for e in driver.find_elements(By.CSS_SELECTOR, css) if e.is_displayed()]


def cell(driver, row_css, column_css):
    return driver.find_element(By.CSS_SELECTOR, f"{row_css} {column_css}").text


def statuses(driver):
    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, "tr.payment .status")]


def register(driver, sandbox, customer_key, plan_key):
    driver.get(sandbox.home_url + "register")
    driver.find_element(By.ID, "CustomerKey").send_keys(customer_key)
    driver.find_element(By.ID, "Name").send_keys("Ada Lovelace")
    driver.find_element(By.ID, "Email").send_keys(f"{customer_key}@example.com")
    Select(driver.find_element(By.ID, "PlanKey")).select_by_value(plan_key)


def fill_card(driver, number):
    driver.find_element(By.NAME, "number").send_keys(number)
    for name, value in (("exp_month", "12"), ("exp_year", "2034"), ("cvc", "123")):
        for field in driver.find_elements(By.NAME, name):
            field.send_keys(value)
    submit_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "form button[type=submit]"))


def sign_up(driver, sandbox, steps, customer_key, plan_key):
    """Form -> the bridge's /signup -> Checkout -> back on the Subscriptions page."""
    register(driver, sandbox, customer_key, plan_key)
    steps.shot("registration-form")
    driver.find_element(By.ID, "register-submit").click()
    WebDriverWait(driver, WAIT).until(lambda d: "/checkout/cs_" in d.current_url)
    steps.shot("stripe-checkout")
    fill_card(driver, "4242 4242 4242 4242")
    WebDriverWait(driver, WAIT).until(lambda d: "/dp/subscriptions" in d.current_url)


def open_portal(driver, sandbox, customer_key):
    """The customer's card-update link (PortalURL) on the Customers page."""
    driver.get(sandbox.home_url + f"customers?CustomerKey={customer_key}")
    shown(driver, "tr.customer a.portal-link")[0].click()
    WebDriverWait(driver, WAIT).until(lambda d: "/portal/bps_" in d.current_url)


def test_register_pay_on_checkout_then_see_active_and_the_totals(browser, running_sandbox,
                                                                 artifacts):
    sandbox = running_sandbox
    steps = Steps(browser, artifacts, "signup")
    sign_up(browser, sandbox, steps, "ada", "gold-monthly")
    browser.get(sandbox.home_url + "subscriptions?CustomerKey=ada")
    row = "tr.subscription"
    assert cell(browser, row, ".status") == "active"
    assert cell(browser, row, ".access") == "yes"
    assert cell(browser, row, ".monthly") == "40.00"
    assert cell(browser, row, ".yearly") == "480.00"
    steps.shot("subscription-active")
    browser.get(sandbox.home_url + "customers?CustomerKey=ada")
    assert cell(browser, "tr.customer", ".active-count") == "1"
    assert cell(browser, "tr.customer", ".monthly-total") == "40.00 USD"
    assert cell(browser, "tr.customer", ".yearly-total") == "480.00 USD"
    steps.shot("customer-totals")
    browser.get(sandbox.home_url + "payments?CustomerKey=ada")
    assert statuses(browser) == ["succeeded"]
    assert cell(browser, "tr.payment", ".amount") == "40.00 USD"


def test_a_declined_renewal_is_retried_after_a_card_update(browser, running_sandbox,
                                                           artifacts):
    sandbox = running_sandbox
    steps = Steps(browser, artifacts, "retry")
    sign_up(browser, sandbox, steps, "lin", "silver-monthly")
    browser.get(sandbox.home_url + "subscriptions?CustomerKey=lin")
    assert cell(browser, "tr.subscription", ".status") == "active"

    # The sandbox's own control: a card that attaches but is declined at every charge.
    browser.get(sandbox.home_url + "customers?CustomerKey=lin")
    Select(browser.find_element(By.CSS_SELECTOR, "form.switch-card select")).select_by_value(
        "pm_card_chargeCustomerFail")
    steps.shot("switch-to-failing-card")
    submit_and_wait(browser, browser.find_element(By.CSS_SELECTOR, "form.switch-card button"))

    browser.get(sandbox.home_url + "payments?CustomerKey=lin")
    submit_and_wait(browser, browser.find_element(By.ID, "advance-month"))
    browser.get(sandbox.home_url + "payments?CustomerKey=lin")
    assert statuses(browser) == ["failed", "succeeded"]  # newest first
    assert len(shown(browser, "tr.payment a.retry-button")) == 1
    steps.shot("payment-failed-retry-button")
    browser.get(sandbox.home_url + "subscriptions?CustomerKey=lin")
    assert cell(browser, "tr.subscription", ".status") == "past_due"

    open_portal(browser, sandbox, "lin")
    steps.shot("portal-new-card")
    fill_card(browser, "4242 4242 4242 4242")
    WebDriverWait(browser, WAIT).until(lambda d: "/portal/bps_" not in d.current_url)
    browser.get(sandbox.home_url + "payments?CustomerKey=lin")
    shown(browser, "tr.payment a.retry-button")[0].click()
    WebDriverWait(browser, WAIT).until(lambda d: "/retry" in d.current_url)
    steps.shot("retry-confirm")
    submit_and_wait(browser, browser.find_element(By.CSS_SELECTOR, "form button[type=submit]"))
    steps.shot("retry-result")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Payment succeeded"
    browser.get(sandbox.home_url + "payments?CustomerKey=lin")
    assert statuses(browser) == ["succeeded", "succeeded"]
    assert not shown(browser, "tr.payment a.retry-button")
    assert cell(browser, "tr.payment", ".retry-status") == "succeeded"
    steps.shot("payment-succeeded")
    browser.get(sandbox.home_url + "subscriptions?CustomerKey=lin")
    assert cell(browser, "tr.subscription", ".status") == "active"
