"""The ``caspio_client`` suite run against the emulator instead of ``responses`` mocks:
CRUD on v2 and v3, token expiry, retries driven by the fault controls, paging over
2,500 rows, and the client's meter agreeing with the emulator's."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from caspio_client import CaspioClient
from caspio_client import where as w
from caspio_client.errors import (
    CaspioAlreadyExists,
    CaspioAuthError,
    CaspioConnectionError,
    CaspioNotFound,
    CaspioRateLimited,
    CaspioServerError,
)
from sandbox.caspio import ManualClock, run_emulator
from sandbox.caspio.server import RunningEmulator

PLAN_FIELDS: list[dict[str, Any]] = [
    {"Name": "PlanKey", "Type": "STRING", "Unique": True},
    {"Name": "Name", "Type": "STRING"},
    {"Name": "Amount", "Type": "CURRENCY"},
    {"Name": "Active", "Type": "YES/NO"},
]


class Waits:
    """Stands in for the client's sleep: records the back-off instead of waiting."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


@pytest.fixture
def waits() -> Waits:
    return Waits()


def make_client(running: RunningEmulator, waits: Waits, version: str = "v3",
                **options: object) -> CaspioClient:
    return CaspioClient(running.base_url, running.client_id, running.client_secret,
                        api_version=version, timeout=10, sleep=waits, **options)  # type: ignore[arg-type]


@pytest.fixture(params=["v3", "v2"])
def client(request: pytest.FixtureRequest, fresh_caspio_emulator: RunningEmulator,
           waits: Waits) -> Iterator[CaspioClient]:
    with make_client(fresh_caspio_emulator, waits, request.param) as caspio:
        caspio.create_table("Billing_Plans", PLAN_FIELDS)
        yield caspio


@pytest.fixture
def v3(fresh_caspio_emulator: RunningEmulator, waits: Waits) -> Iterator[CaspioClient]:
    with make_client(fresh_caspio_emulator, waits) as caspio:
        caspio.create_table("Billing_Plans", PLAN_FIELDS)
        yield caspio


def test_records_round_trip(client: CaspioClient):
    gold = client.insert("Billing_Plans", {"PlanKey": "gold", "Name": "Gold", "Amount": 19.99,
                                           "Active": True})
    # The client reads JSON numbers as Decimal: money arrives exact.
    assert gold == {"PK_ID": 1, "PlanKey": "gold", "Name": "Gold", "Amount": Decimal("19.99"),
                    "Active": True}
    client.insert("Billing_Plans", {"PlanKey": "silver", "Name": "Silver", "Amount": 9.99})
    found = client.get_one("Billing_Plans", w.eq("PlanKey", "silver"))
    assert found is not None
    assert (found["Name"], found["Active"]) == ("Silver", False)
    assert client.get_one("Billing_Plans", w.eq("PlanKey", "none")) is None
    cheap = list(client.select("Billing_Plans", where=w.lt("Amount", 10),
                               fields=["PlanKey", "Amount"]))
    assert cheap == [{"PlanKey": "silver", "Amount": Decimal("9.99")}]
    assert client.update("Billing_Plans", w.eq("PlanKey", "gold"), {"Active": False}) == 1
    assert client.update("Billing_Plans", w.eq("PlanKey", "none"), {"Active": False}) == 0
    assert client.delete("Billing_Plans", w.eq("Active", False)) == 2
    assert list(client.select("Billing_Plans")) == []


def test_tables_and_fields(client: CaspioClient):
    client.add_field("Billing_Plans", {"Name": "SyncedAt", "Type": "DATE/TIME"})
    assert client.list_tables() == ["Billing_Plans"]
    assert client.describe_table("Billing_Plans") == {"Name": "Billing_Plans", "Note": ""}
    names = [f["Name"] for f in client.list_fields("Billing_Plans")]
    assert names == ["PlanKey", "Name", "Amount", "Active", "SyncedAt"]
    with pytest.raises(CaspioAlreadyExists):
        client.add_field("Billing_Plans", {"Name": "SyncedAt", "Type": "DATE/TIME"})
    with pytest.raises(CaspioNotFound):
        client.list_fields("Nope")


def test_unique_violation_is_already_exists(client: CaspioClient):
    client.insert("Billing_Plans", {"PlanKey": "gold"})
    with pytest.raises(CaspioAlreadyExists) as caught:
        client.insert("Billing_Plans", {"PlanKey": "GOLD"})
    assert caught.value.after_retry is False
    assert caught.value.code == "SqlServerError"
    assert caught.value.request_id


def test_unique_violation_is_not_retried(v3: CaspioClient,
                                        waits: Waits):
    v3.insert("Billing_Plans", {"PlanKey": "gold"})
    with pytest.raises(CaspioAlreadyExists):
        v3.insert("Billing_Plans", {"PlanKey": "gold"})
    assert waits.seconds == []  # not retried


def test_paging_over_2500_rows(v3: CaspioClient, fresh_caspio_emulator: RunningEmulator):
    store = fresh_caspio_emulator.emulator.store
    for number in range(2500):
        store.insert("Billing_Plans", {"PlanKey": f"p{number:04d}", "Amount": number})
    fresh_caspio_emulator.controls.reset_calls()
    # Unordered results change on every call; the client always orders, so no row is lost.
    fresh_caspio_emulator.controls.set_faults(shuffle_unordered=True)
    rows = list(v3.select("Billing_Plans", fields=["PK_ID", "PlanKey"], page_size=1000))
    assert [r["PK_ID"] for r in rows] == list(range(1, 2501))
    calls = fresh_caspio_emulator.controls.calls()
    assert calls == {("GET", "Billing_Plans", 200): 3}
    small = list(v3.select("Billing_Plans", where=w.ge("Amount", 2490), page_size=5))
    assert [r["PlanKey"] for r in small] == [f"p{n}" for n in range(2490, 2500)]


def test_expired_token_is_renewed_once(v3: CaspioClient, fresh_caspio_emulator: RunningEmulator):
    controls = fresh_caspio_emulator.controls
    controls.reset_calls()
    controls.expire_tokens()
    assert v3.list_tables() == ["Billing_Plans"]
    assert controls.calls() == {("GET", "", 401): 1, ("POST", "oauth", 200): 1,
                                ("GET", "", 200): 1}


def test_stale_token_answered_with_the_400_form_is_renewed(v3: CaspioClient,
                                                           fresh_caspio_emulator: RunningEmulator):
    controls = fresh_caspio_emulator.controls
    controls.set_faults(expired_token_status=400)
    controls.expire_tokens()
    assert v3.list_tables() == ["Billing_Plans"]


def test_token_lifetime_runs_out_on_the_emulator_clock(waits: Waits):
    clock = ManualClock()
    with run_emulator(clock=clock, token_ttl_seconds=3600) as running, \
            make_client(running, waits) as caspio:
        caspio.create_table("T", [{"Name": "N", "Type": "INTEGER"}])
        clock.advance(3600)
        assert caspio.list_tables() == ["T"]
        assert running.controls.calls()[("POST", "oauth", 200)] == 2


def test_bad_credentials_are_an_auth_error(fresh_caspio_emulator: RunningEmulator,
                                           waits: Waits):
    running = fresh_caspio_emulator
    with CaspioClient(running.base_url, running.client_id, "wrong", sleep=waits) as caspio, \
            pytest.raises(CaspioAuthError):
        caspio.list_tables()


def test_server_errors_are_retried(v3: CaspioClient, fresh_caspio_emulator: RunningEmulator,
                                   waits: Waits):
    controls = fresh_caspio_emulator.controls
    controls.reset_calls()
    controls.set_faults(fail_next=2)
    assert v3.list_tables() == ["Billing_Plans"]
    assert controls.calls() == {("GET", "", 500): 2, ("GET", "", 200): 1}
    assert len(waits.seconds) == 2


def test_server_errors_give_up_after_max_attempts(v3: CaspioClient,
                                                  fresh_caspio_emulator: RunningEmulator):
    fresh_caspio_emulator.controls.set_faults(fail_next=10, error_status=503)
    with pytest.raises(CaspioServerError) as caught:
        v3.list_tables()
    assert caught.value.status == 503
    assert fresh_caspio_emulator.controls.faults.settings.fail_next == 5  # five attempts


@pytest.mark.parametrize("style", ["429", "400"])
def test_rate_limits_in_both_forms_are_retried(v3: CaspioClient,
                                               fresh_caspio_emulator: RunningEmulator,
                                               waits: Waits, style: str):
    controls = fresh_caspio_emulator.controls
    controls.set_faults(rate_limit_next=2, rate_limit_style=style)
    assert v3.list_tables() == ["Billing_Plans"]
    assert len(waits.seconds) == 2
    controls.set_faults(rate_limit_next=10)
    with pytest.raises(CaspioRateLimited):
        v3.list_tables()


def test_outage_is_a_server_error_after_retries(v3: CaspioClient,
                                                fresh_caspio_emulator: RunningEmulator):
    fresh_caspio_emulator.controls.set_faults(down=True)
    with pytest.raises(CaspioServerError) as caught:
        v3.get_one("Billing_Plans", w.eq("PlanKey", "gold"))
    assert caught.value.status == 503


def test_insert_whose_answer_was_lost_reports_already_exists_after_retry(
        v3: CaspioClient, fresh_caspio_emulator: RunningEmulator):
    fresh_caspio_emulator.controls.set_faults(fail_next=1, fail_after_commit=True)
    with pytest.raises(CaspioAlreadyExists) as caught:
        v3.insert("Billing_Plans", {"PlanKey": "gold"})
    assert caught.value.after_retry is True
    assert v3.get_one("Billing_Plans", w.eq("PlanKey", "gold")) is not None


def test_client_meter_matches_the_emulator_meter(v3: CaspioClient,
                                                 fresh_caspio_emulator: RunningEmulator):
    controls = fresh_caspio_emulator.controls
    controls.reset_calls()
    v3.meter.reset()
    controls.set_faults(fail_next=1)
    v3.insert("Billing_Plans", {"PlanKey": "gold"})
    controls.expire_tokens()
    list(v3.select("Billing_Plans"))
    v3.delete("Billing_Plans", w.eq("PlanKey", "gold"))
    with pytest.raises(CaspioNotFound):
        v3.list_fields("Nope")
    assert v3.meter.snapshot() == controls.calls()
    assert v3.meter.total() == controls.total_calls() == 7


def test_retry_after_on_rate_limits_is_honoured(v3: CaspioClient,
                                                fresh_caspio_emulator: RunningEmulator,
                                                waits: Waits):
    fresh_caspio_emulator.controls.set_faults(rate_limit_next=1, rate_limit_retry_after=7)
    assert v3.list_tables() == ["Billing_Plans"]
    assert waits.seconds == [7]


def test_dropped_connections_are_retried(v3: CaspioClient,
                                         fresh_caspio_emulator: RunningEmulator):
    controls = fresh_caspio_emulator.controls
    controls.reset_calls()
    controls.set_faults(drop_next=2)
    assert v3.list_tables() == ["Billing_Plans"]
    assert controls.calls() == {("GET", "", 0): 2, ("GET", "", 200): 1}
    assert v3.meter.snapshot()[("GET", "", 0)] == 2


def test_insert_whose_connection_dropped_after_commit(v3: CaspioClient,
                                                      fresh_caspio_emulator: RunningEmulator):
    fresh_caspio_emulator.controls.set_faults(drop_next=1, fail_after_commit=True)
    with pytest.raises(CaspioAlreadyExists) as caught:
        v3.insert("Billing_Plans", {"PlanKey": "gold"})
    assert caught.value.after_retry is True


def test_dropped_connection_without_retries_is_a_connection_error(
        fresh_caspio_emulator: RunningEmulator, waits: Waits):
    with make_client(fresh_caspio_emulator, waits, max_attempts=1) as caspio:
        caspio.list_tables()
        fresh_caspio_emulator.controls.set_faults(drop_next=1)
        with pytest.raises(CaspioConnectionError) as caught:
            caspio.list_tables()
    assert caught.value.status == 0
