"""The `caspio init` and `sync-plans` commands, run through click against both emulators."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from click.testing import CliRunner

from caspio_client import where as w
from connector.commands import caspio_init, sync_plans
from mappings import load_mapping
from tests.integration.catalog.conftest import caspio_writes, plan_row, stripe_writes


@pytest.fixture
def environment(monkeypatch, tmp_path, fresh_caspio_emulator, stripe_emulator):
    monkeypatch.chdir(tmp_path)  # no stray .env file
    values = {
        "CASPIO_ACCOUNT_URL": fresh_caspio_emulator.base_url,
        "CASPIO_CLIENT_ID": fresh_caspio_emulator.client_id,
        "CASPIO_CLIENT_SECRET": fresh_caspio_emulator.client_secret,
        "STRIPE_SECRET_KEY": stripe_emulator.api_key,
        "STRIPE_API_BASE": stripe_emulator.base_url,
        "STRIPE_WEBHOOK_SECRET": "whsec_test_secret",
        "BRIDGE_PUBLIC_URL": "http://127.0.0.1:8000",
        "BRIDGE_DATABASE_URL": "sqlite://",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("BRIDGE_MAPPING", raising=False)
    return values


def run(command, *args):
    return CliRunner().invoke(command, list(args), catch_exceptions=False)


def test_caspio_init_twice_creates_the_tables_once(environment, fresh_caspio_emulator):
    first = run(caspio_init.command)
    assert first.exit_code == 0, first.output
    assert "created table Billing_Plans (19 fields)" in first.output
    assert first.output.strip().endswith(
        "tables created 6, fields added 0, tables up to date 0, mismatches 0"
    )
    created = sum(
        n
        for (method, _, status), n in fresh_caspio_emulator.controls.calls().items()
        if method == "POST" and status == 201
    )
    assert created == 6

    fresh_caspio_emulator.controls.reset_calls()
    second = run(caspio_init.command)
    assert second.exit_code == 0, second.output
    assert second.output.strip() == (
        "tables created 0, fields added 0, tables up to date 6, mismatches 0"
    )
    assert caspio_writes(fresh_caspio_emulator) == 0


def test_caspio_init_dry_run_prints_definitions_and_calls_nothing(
    environment, fresh_caspio_emulator
):
    result = run(caspio_init.command, "--dry-run")
    assert result.exit_code == 0, result.output
    definitions = [json.loads(line) for line in result.output.splitlines()]
    assert [d["Name"] for d in definitions] == list(load_mapping().tables)
    assert fresh_caspio_emulator.controls.total_calls() == 0


def test_caspio_init_reports_a_type_mismatch(environment, fresh_caspio_emulator, caspio):
    caspio.create_table(
        "Billing_Plans",
        [
            {"Name": "PlanKey", "Type": "STRING", "Unique": True},
            {"Name": "Amount", "Type": "NUMBER"},
        ],
    )
    result = run(caspio_init.command)
    assert "mismatch: Billing_Plans.Amount is NUMBER, the bridge expects CURRENCY" in result.output
    assert "added field Billing_Plans.Name (STRING)" in result.output
    assert result.exit_code == 0
    assert run(caspio_init.command, "--strict").exit_code == 1
    (amount,) = [f for f in caspio.list_fields("Billing_Plans") if f["Name"] == "Amount"]
    assert amount["Type"] == "NUMBER"


def test_a_bad_mapping_file_stops_the_command_naming_the_key(environment, monkeypatch, tmp_path):
    path = tmp_path / "mapping.yaml"
    path.write_text("tables: {Billing_Plans: {fields: {Amont: Price}}}")
    monkeypatch.setenv("BRIDGE_MAPPING", str(path))
    result = CliRunner().invoke(sync_plans.command, [])
    assert result.exit_code == 2
    assert "tables.Billing_Plans.fields.Amont: unknown field" in result.output


def test_sync_plans_summary_and_exit_code(
    environment, fresh_caspio_emulator, stripe_emulator, caspio
):
    assert run(caspio_init.command).exit_code == 0
    for row in [plan_row("a"), plan_row("b", Amount=Decimal("1.001")), plan_row("c")]:
        caspio.insert("Billing_Plans", row)

    result = run(sync_plans.command)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines[-1] == "created 2, updated 0, archived 0, unchanged 0, errors 1"
    assert (
        "error: Billing_Plans PlanKey=b: Amount 1.001 has too many decimals for usd"
        in result.output
    )

    caspio.update("Billing_Plans", w.eq("PlanKey", "b"), {"Amount": Decimal("1.00")})
    result = run(sync_plans.command)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "created 1, updated 0, archived 0, unchanged 2, errors 0"

    writes = stripe_writes(stripe_emulator)
    fresh_caspio_emulator.controls.reset_calls()
    result = run(sync_plans.command)
    assert result.output.strip() == "created 0, updated 0, archived 0, unchanged 3, errors 0"
    assert stripe_writes(stripe_emulator) == writes
    assert caspio_writes(fresh_caspio_emulator) == 0


def test_a_refused_stripe_key_stops_sync_plans_without_touching_the_rows(
    environment, monkeypatch, fresh_caspio_emulator, caspio
):
    assert run(caspio_init.command).exit_code == 0
    caspio.insert("Billing_Plans", plan_row("a"))
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_live_notakey")
    fresh_caspio_emulator.controls.reset_calls()
    result = CliRunner().invoke(sync_plans.command, [])
    assert result.exit_code == 1
    assert result.stderr.startswith("caspio-stripe: sync-plans stopped: ")
    assert caspio_writes(fresh_caspio_emulator) == 0
    row = caspio.get_one("Billing_Plans", w.eq("PlanKey", "a"))
    assert row["SyncError"] == ""


def test_sync_plans_shows_progress_only_on_a_terminal(
    environment, monkeypatch, fresh_caspio_emulator, caspio
):
    assert run(caspio_init.command).exit_code == 0
    for key in ("p1", "p2"):
        caspio.insert("Billing_Plans", plan_row(key))
    quiet = run(sync_plans.command)
    assert "Syncing plans" not in quiet.output
    monkeypatch.setattr(sync_plans, "on_terminal", lambda: True)
    shown = run(sync_plans.command)
    assert "Syncing plans" in shown.output
    assert shown.output.strip().splitlines()[-1].startswith("created 0, updated 0")
