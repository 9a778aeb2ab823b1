"""``python -m sandbox.stripe``, the hosted invoice page, and concurrent clients."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import requests
import stripe

from .conftest import customer_with_card, monthly_price, subscribe


def test_module_runs_standalone() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sandbox.stripe",
            "--port",
            "0",
            "--account-api-version",
            "2025-08-27.basil",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # blocks until the server is listening
        base_url = line.strip().rsplit(" ", 1)[-1]
        assert base_url.startswith("http://127.0.0.1:")
        client = stripe.StripeClient("sk_test_cli", base_addresses={"api": base_url})
        customer = client.v1.customers.create({"email": "cli@example.com"})
        assert client.v1.customers.retrieve(customer.id).email == "cli@example.com"
        # Without Stripe-Version a request gets the account's default version.
        bare = requests.get(base_url + "/v1/customers", auth=("sk_test_cli", ""), timeout=10)
        assert bare.headers["Stripe-Version"] == "2025-08-27.basil"
    finally:
        process.terminate()
        process.communicate(timeout=10)


def test_module_refuses_an_unknown_account_version() -> None:
    finished = subprocess.run(
        [sys.executable, "-m", "sandbox.stripe", "--account-api-version", "1999-01-01"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.returncode == 2 and "1999-01-01" in finished.stderr


def test_hosted_invoice_page_takes_a_test_card(stripe_client) -> None:
    price = monthly_price(stripe_client)
    customer = customer_with_card(stripe_client, "pm_card_chargeDeclined")
    sub = subscribe(stripe_client, customer, price, expand=["latest_invoice"])
    url = sub.latest_invoice.hosted_invoice_url

    page = requests.get(url, timeout=5)
    assert page.status_code == 200 and "open" in page.text
    declined = requests.post(url, data={"number": "4000000000000002"}, timeout=5)
    assert "Your card was declined." in declined.text
    paid = requests.post(url, data={"number": "4242 4242 4242 4242"}, timeout=5)
    assert "Paid" in paid.text
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "active"


def test_concurrent_clients_see_consistent_state(stripe_client) -> None:
    price = monthly_price(stripe_client)

    def signup(i: int) -> str:
        customer = customer_with_card(stripe_client, email=f"c{i}@example.com")
        return str(subscribe(stripe_client, customer, price).status)

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(signup, range(24)))
    assert statuses == ["active"] * 24
    invoices = list(stripe_client.v1.invoices.list({"limit": 100}).auto_paging_iter())
    assert len(invoices) == 24 and all(i.status == "paid" for i in invoices)
    numbers = {i.number for i in invoices}
    assert len(numbers) == 24
