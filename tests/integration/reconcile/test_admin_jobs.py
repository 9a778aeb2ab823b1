"""The admin API's background jobs over both emulators: reconcile and sync plans, each
with a status URL."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from caspio_client import where as w
from connector.app import create_app
from connector.settings import Settings
from connector.web.admin import jobs_of
from tests.integration.reconcile.bridge import Bridge, running_bridge, subscribe_customers

TOKEN = "admin-token-for-jobs-0001"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def bridge(store_url, fresh_caspio_emulator, stripe_emulator) -> Iterator[Bridge]:
    yield from running_bridge(store_url, fresh_caspio_emulator, stripe_emulator)


def admin_app(bridge: Bridge):
    token = Settings.for_tests(bridge_admin_token=TOKEN).bridge_admin_token
    settings = dataclasses.replace(bridge.settings, bridge_admin_token=token)
    bridge.services.settings = settings
    return create_app(settings, services=bridge.services)


def finished(app, response) -> dict:
    assert response.status_code == 202, response.get_json()
    job = response.get_json()
    assert response.headers["Location"] == job["status_url"] == f"/admin/jobs/{job['id']}"
    assert jobs_of(app).wait(job["id"], timeout=60)
    status = app.test_client().get(job["status_url"], headers=AUTH)
    assert status.status_code == 200
    return status.get_json()


def test_reconcile_runs_as_a_job_with_a_status_url(bridge: Bridge):
    bridge.dropper.active = True
    (sub,) = subscribe_customers(bridge, 1)
    assert bridge.emulator.wait_idle(30)
    bridge.dropper.active = False
    app = admin_app(bridge)
    client = app.test_client()

    preview = finished(
        app, client.post("/admin/reconcile", headers=AUTH, json={"dry_run": True, "days": 400})
    )
    assert preview["status"] == "succeeded" and preview["result"]["dry_run"] is True
    rows = {(d["table"], d["key"]) for d in preview["result"]["differences"]}
    assert ("Billing_Subscriptions", sub[1]) in rows
    assert any(t == "Billing_Payments" for t, _ in rows)

    done = finished(app, client.post("/admin/reconcile", headers=AUTH, json={"days": 400}))
    assert done["status"] == "succeeded", done
    assert done["result"]["failures"] == [] and done["result"]["rows_written"] == len(rows)
    row = bridge.caspio.get_one("Billing_Subscriptions", w.eq("SubscriptionKey", sub[1]))
    assert row["Status"] == "active" and row["StripeSubscriptionID"] == sub[2]

    again = finished(app, client.post("/admin/reconcile", headers=AUTH, json={"days": 400}))
    assert again["result"]["differences"] == []


def test_sync_plans_runs_as_a_job(bridge: Bridge):
    bridge.caspio.insert(
        "Billing_Plans",
        {
            "PlanKey": "silver",
            "Name": "Silver",
            "PlanType": "subscription",
            "Amount": 9,
            "Currency": "usd",
            "BillingInterval": "month",
            "IntervalCount": 1,
            "Active": True,
        },
    )
    app = admin_app(bridge)
    job = finished(app, app.test_client().post("/admin/sync-plans", headers=AUTH))
    assert job["kind"] == "sync-plans"
    assert job["status"] == "succeeded", job
    assert "created 1" in job["result"]["summary"]
    plan = bridge.caspio.get_one("Billing_Plans", w.eq("PlanKey", "silver"))
    assert plan["StripePriceID"].startswith("price_")
