"""/admin/…: off without BRIDGE_ADMIN_TOKEN, bearer token compared in constant time, dead
events listed with their errors and replayed."""

from __future__ import annotations

import json
import time

import pytest

from caspio_client import CaspioClient
from connector.app import create_app
from connector.services import Services
from connector.settings import Settings
from connector.stripe_gateway import StripeGateway
from connector.sync.inbox import DEAD, PENDING, EventEnvelope, Inbox
from tests.fixtures import stripe_events as se

TOKEN = "s3cret-admin-token-0123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ROUTES = [
    ("post", "/admin/sync-plans"),
    ("post", "/admin/reconcile"),
    ("get", "/admin/jobs/abc"),
    ("get", "/admin/events/dead"),
    ("post", "/admin/events/evt_1/replay"),
    ("post", "/admin/events/replay"),
]


def make_app(store, token: str | None = TOKEN):
    config = Settings.for_tests(bridge_admin_token=token)
    services = Services(
        settings=config,
        caspio=CaspioClient("http://127.0.0.1:9", "id", "secret", max_attempts=1),
        stripe=StripeGateway("sk_test_x", api_base="http://127.0.0.1:9", max_network_retries=0),
        store=store,
    )
    return create_app(config, services=services)


def dead_event(store, event_id: str, error: str) -> None:
    inbox = Inbox(store)
    event = se.event("invoice.paid", se.invoice(f"in_{event_id}", status="paid"), 5, event_id)
    inbox.record(EventEnvelope.parse(event), json.dumps(event), now=time.time(), handled=True)
    (claimed,) = inbox.claim("w", now=time.time(), lease_seconds=60, limit=1)
    inbox.kill(claimed.event_id, "w", now=time.time(), error=error, traceback_text="tb")


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_the_admin_api_is_off_without_a_token(store, method, path):
    client = make_app(store, token=None).test_client()
    response = getattr(client, method)(path, headers=AUTH)
    assert response.status_code == 404
    assert "BRIDGE_ADMIN_TOKEN" in response.get_json()["error"]


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize(
    "header",
    [None, "Bearer wrong-token-000000000", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer "],
)
def test_a_missing_or_wrong_token_is_401(store, method, path, header):
    client = make_app(store).test_client()
    headers = {"Authorization": header} if header else {}
    response = getattr(client, method)(path, headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert TOKEN not in response.get_data(as_text=True)


def test_the_token_is_compared_in_constant_time(store, monkeypatch):
    import hmac

    from connector.web import admin

    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(admin.hmac, "compare_digest", spy)
    client = make_app(store).test_client()
    assert client.get("/admin/events/dead", headers=AUTH).status_code == 200
    assert calls == [(TOKEN.encode(), TOKEN.encode())]


def test_dead_events_are_listed_with_their_errors_and_replayed(store):
    dead_event(store, "evt_a", "CaspioBadRequest: PUT Billing_Payments: HTTP 400")
    dead_event(store, "evt_b", "ValueError: subscription has no status")
    client = make_app(store).test_client()
    listed = client.get("/admin/events/dead", headers=AUTH).get_json()
    assert listed["count"] == 2
    assert {(e["event_id"], e["last_error"]) for e in listed["data"]} == {
        ("evt_a", "CaspioBadRequest: PUT Billing_Payments: HTTP 400"),
        ("evt_b", "ValueError: subscription has no status"),
    }
    assert client.get("/admin/events/dead?limit=0", headers=AUTH).status_code == 400

    one = client.post("/admin/events/evt_a/replay", headers=AUTH)
    assert (one.status_code, one.get_json()) == (200, {"requeued": 1})
    inbox = Inbox(store)
    assert inbox.get("evt_a")["status"] == PENDING and inbox.get("evt_b")["status"] == DEAD
    assert client.post("/admin/events/evt_zzz/replay", headers=AUTH).status_code == 404

    everything = client.post("/admin/events/replay", headers=AUTH)
    assert everything.get_json() == {"requeued": 1}
    assert inbox.get("evt_b")["status"] == PENDING
    assert client.get("/admin/events/dead", headers=AUTH).get_json()["count"] == 0


def test_a_bad_reconcile_request_is_400_and_an_unknown_job_404(store):
    client = make_app(store).test_client()
    bad = client.post("/admin/reconcile", headers=AUTH, json={"days": 0})
    assert bad.status_code == 400 and "days" in bad.get_json()["error"]
    not_object = client.post("/admin/reconcile", headers=AUTH, json=[1])
    assert not_object.status_code == 400
    assert client.get("/admin/jobs/nope", headers=AUTH).status_code == 404
