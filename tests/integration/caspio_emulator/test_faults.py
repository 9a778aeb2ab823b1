"""Fault and metering controls, from Python and over /_emulator/ HTTP."""

from __future__ import annotations

import pytest
import requests

from sandbox.caspio import ManualClock, run_emulator
from sandbox.caspio.faults import FaultSettings

from .conftest import RawApi, assert_caspio_error


def test_fail_next_answers_5xx_then_recovers(api: RawApi):
    api.token  # noqa: B018 - fetch the token before the faults start
    api.running.controls.set_faults(fail_next=2, error_status=503)
    assert_caspio_error(api.get("/tables"), 503, "InternalError")
    assert_caspio_error(api.get("/tables"), 503, "InternalError")
    assert api.get("/tables").status_code == 200


def test_fail_after_commit_applies_the_write(api: RawApi):
    api.create_table("T", [{"Name": "Code", "Type": "STRING", "Unique": True}])
    api.running.controls.set_faults(fail_next=1, fail_after_commit=True)
    assert api.post("/tables/T/records", json={"Code": "k"}).status_code == 500
    # The row is there, so a resend hits the unique key.
    assert api.rows("T")[0]["Code"] == "k"
    assert_caspio_error(api.post("/tables/T/records", json={"Code": "k"}), 400, "SqlServerError")


def test_error_rate_is_seeded_and_reproducible(api: RawApi):
    api.token  # noqa: B018
    def statuses() -> list[int]:
        api.running.controls.set_faults(error_rate=0.5, seed=7)
        return [api.get("/tables").status_code for _ in range(20)]
    first = statuses()
    assert set(first) == {200, 500}
    assert statuses() == first


def test_rate_limit_rate_is_random_seeded_and_reproducible(api: RawApi):
    api.token  # noqa: B018
    def statuses() -> list[int]:
        api.running.controls.set_faults(rate_limit_rate=0.5, seed=3)
        return [api.get("/tables").status_code for _ in range(20)]
    first = statuses()
    assert set(first) == {200, 429}
    assert statuses() == first


def test_error_after_commit_rate_carries_the_write_out_first(api: RawApi):
    api.create_table("T", [{"Name": "Code", "Type": "STRING", "Unique": True}])
    api.running.controls.set_faults(error_rate=1.0, error_after_commit_rate=1.0, seed=1)
    assert api.post("/tables/T/records", json={"Code": "k"}).status_code == 500
    api.running.controls.reset_faults()
    assert [row["Code"] for row in api.rows("T")] == ["k"]


def test_rate_limit_429_and_the_400_array_form(api: RawApi):
    api.token  # noqa: B018
    controls = api.running.controls
    controls.set_faults(rate_limit_next=1)
    body = assert_caspio_error(api.get("/tables"), 429, "TooManyRequests")
    assert body["Message"] == "You have exceeded your API call rate limits."
    controls.set_faults(rate_limit_next=1, rate_limit_style="400")
    answer = api.get("/tables")
    assert answer.status_code == 400
    assert answer.json() == [{"message": "You have exceeded your API call rate limits.",
                              "name": "api-calls-rate"}]
    assert answer.headers["X-Caspio-Request-ID"]
    assert api.get("/tables").status_code == 200


def test_rate_limit_window_on_the_clock():
    clock = ManualClock()
    with run_emulator(clock=clock, rate_limit_calls=3, rate_limit_window=1.0) as running:
        api = RawApi(running)
        api.token  # noqa: B018 - one call of the three
        assert [api.get("/tables").status_code for _ in range(3)] == [200, 200, 429]
        clock.advance(1.0)
        assert api.get("/tables").status_code == 200
        api.close()


def test_outage_windows_and_down(api: RawApi):
    clock = ManualClock()
    with run_emulator(clock=clock) as running:
        now = clock()
        running.controls.set_faults(outages=[(now + 10, now + 20)])
        raw = RawApi(running)
        assert raw.get("/tables").status_code == 200
        clock.advance(10)
        answer = raw.get("/tables")
        assert (answer.status_code, answer.headers["X-Caspio-Request-ID"] != "") == (503, True)
        clock.advance(10)
        assert raw.get("/tables").status_code == 200
        raw.close()
    api.running.controls.set_faults(down=True)
    assert requests.post(api.running.base_url + "/oauth/token", timeout=10).status_code == 503
    api.running.controls.set_faults(down=False)
    assert api.get("/tables").status_code == 200


def test_latency_goes_through_the_injected_sleep():
    slept: list[float] = []
    with run_emulator(sleep=slept.append, latency_seconds=0.25) as running:
        RawApi(running).get("/tables")
    assert slept == [0.25, 0.25]  # the token call and the API call


def test_shuffle_unordered_changes_order_only_without_order_by(api: RawApi):
    api.create_table("T", [{"Name": "N", "Type": "INTEGER"}])
    for number in range(50):
        api.running.emulator.store.insert("T", {"N": number})
    api.running.controls.set_faults(shuffle_unordered=True)
    orders = {tuple(r["N"] for r in api.rows("T")) for _ in range(3)}
    assert len(orders) > 1
    ordered = api.rows("T", **{"q.orderBy": "N"})
    assert [r["N"] for r in ordered] == list(range(50))


def test_call_counter_by_method_table_and_status(api: RawApi):
    api.create_table("T", [{"Name": "N", "Type": "INTEGER"}])
    api.post("/tables/T/records", json={"N": 1})
    api.get("/tables/T/records")
    api.get("/tables/Nope/records")
    calls = api.running.controls.calls()
    assert calls == {("POST", "oauth", 200): 1, ("POST", "T", 201): 2,
                     ("GET", "T", 200): 1, ("GET", "Nope", 404): 1}
    over_http = requests.get(api.running.base_url + "/_emulator/calls", timeout=10).json()
    assert over_http["total"] == 5
    assert {"method": "GET", "table": "Nope", "status": 404, "count": 1} in over_http["calls"]
    assert requests.post(api.running.base_url + "/_emulator/calls/reset",
                         timeout=10).status_code == 204
    assert api.running.controls.calls() == {}


def test_faults_over_http(api: RawApi):
    base = api.running.base_url
    api.token  # noqa: B018
    answer = requests.post(base + "/_emulator/faults", json={"fail_next": 1}, timeout=10)
    assert answer.json()["fail_next"] == 1
    assert api.get("/tables").status_code == 500
    assert requests.get(base + "/_emulator/faults", timeout=10).json()["fail_next"] == 0
    bad = requests.post(base + "/_emulator/faults", json={"nope": 1}, timeout=10)
    assert bad.status_code == 400
    requests.post(base + "/_emulator/faults", json={"down": True}, timeout=10)
    assert requests.post(base + "/_emulator/faults/reset", timeout=10).status_code == 204
    assert api.get("/tables").status_code == 200


def test_reset_over_http_empties_the_account(api: RawApi):
    api.create_table("T", [{"Name": "N", "Type": "INTEGER"}])
    assert requests.post(api.running.base_url + "/_emulator/reset", timeout=10).status_code == 204
    assert api.get("/tables").status_code == 401  # tokens are gone too
    assert api.running.controls.store.list_tables() == []


@pytest.mark.parametrize("changes", [
    {"rate_limit_style": "418"}, {"expired_token_status": 403}, {"error_rate": 2},
    {"error_status": 404}, {"rate_limit_rate": -0.1}, {"error_after_commit_rate": 1.5},
])
def test_fault_settings_are_validated(changes: dict[str, object]):
    with pytest.raises(ValueError):
        FaultSettings().updated(changes)
