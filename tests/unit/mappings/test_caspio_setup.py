import json
from pathlib import Path

import pytest

from caspio_client.errors import CaspioAlreadyExists
from connector.caspio_setup import deploy_files, init_caspio, table_definitions
from mappings import load_mapping

DEPLOY = Path(__file__).resolve().parents[3] / "deploy" / "caspio"


class SchemaApi:
    """Records schema calls; tables hold Caspio field dicts."""

    def __init__(self, tables=None):
        self.tables = {name: list(fields) for name, fields in (tables or {}).items()}
        self.calls = []

    def list_tables(self):
        self.calls.append(("list_tables",))
        return list(self.tables)

    def _table(self, name):
        return next(t for t in self.tables if t.lower() == name.lower())

    def list_fields(self, table):
        self.calls.append(("list_fields", table))
        return [dict(f) for f in self.tables[self._table(table)]]

    def create_table(self, name, fields):
        self.calls.append(("create_table", name))
        if name.lower() in {t.lower() for t in self.tables}:
            raise CaspioAlreadyExists("exists", status=400, method="POST", table=name)
        self.tables[name] = [dict(f) for f in fields]

    def add_field(self, table, field):
        self.calls.append(("add_field", table, field["Name"]))
        self.tables[self._table(table)].append(dict(field))

    def writes(self):
        return [c for c in self.calls if c[0] in ("create_table", "add_field")]


def test_init_creates_every_table_once():
    api = SchemaApi()
    mapping = load_mapping()
    report = init_caspio(api, mapping)
    assert report.created_tables == list(mapping.tables)
    assert api.tables["Billing_Plans"][0] == {
        "Name": "PlanKey",
        "Type": "STRING",
        "Unique": True,
        "Description": "Your key for the plan (the Stripe price lookup_key)",
    }
    api.calls.clear()
    again = init_caspio(api, mapping)
    assert again.created_tables == [] and again.added_fields == []
    assert again.up_to_date == list(mapping.tables)
    assert api.writes() == []
    assert again.summary() == (
        "tables created 0, fields added 0, tables up to date 6, mismatches 0"
    )


def test_init_adds_missing_fields_and_reports_mismatches_without_changing_them():
    existing = {
        "billing_plans": [  # Caspio names are case-insensitive
            {"Name": "PlanKey", "Type": "STRING", "Unique": False},
            {"Name": "amount", "Type": "NUMBER", "Unique": False},
            {"Name": "BuilderOwn", "Type": "TEXT", "Unique": False},
        ]
    }
    api = SchemaApi(existing)
    lines = []
    report = init_caspio(api, load_mapping(), on_line=lines.append)
    assert "Billing_Plans" not in report.created_tables
    added = [c[2] for c in api.writes() if c[0] == "add_field"]
    assert "PlanKey" not in added and "Amount" not in added and "Name" in added
    assert report.mismatches == [
        "Billing_Plans.PlanKey is not unique; the bridge looks rows up by it",
        "Billing_Plans.Amount is NUMBER, the bridge expects CURRENCY",
    ]
    assert "mismatch: Billing_Plans.Amount is NUMBER, the bridge expects CURRENCY" in lines
    # the existing fields are untouched
    assert api.tables["billing_plans"][1] == {"Name": "amount", "Type": "NUMBER", "Unique": False}


def test_init_uses_the_builders_names(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text("tables: {Billing_Plans: {name: Plans, fields: {PlanKey: Code}}}")
    api = SchemaApi()
    init_caspio(api, load_mapping(path))
    assert "Plans" in api.tables and "Billing_Plans" not in api.tables
    assert api.tables["Plans"][0]["Name"] == "Code"


def test_a_table_created_meanwhile_is_checked_not_recreated():
    api = SchemaApi()

    class Racing(SchemaApi):
        def list_tables(self):
            return []  # stale answer: the table appears before create_table

    racing = Racing({"Billing_Plans": []})
    report = init_caspio(racing, load_mapping())
    assert "Billing_Plans" not in report.created_tables
    assert len([c for c in racing.calls if c[0] == "add_field"]) == 19
    assert api.calls == []


@pytest.mark.parametrize("table", list(load_mapping().tables))
def test_deploy_files_match_the_default_mapping(table):
    files = deploy_files(load_mapping())
    on_disk = (DEPLOY / f"{table}.md").read_text(encoding="utf-8")
    assert on_disk == files[f"{table}.md"], "run: python deploy/caspio/generate.py"


def test_deploy_files_carry_the_dry_run_definitions():
    for definition in table_definitions(load_mapping()):
        text = (DEPLOY / f"{definition['Name']}.md").read_text(encoding="utf-8")
        block = text.split("```json\n", 1)[1].split("```", 1)[0]
        assert json.loads(block) == definition


def test_no_stray_files_in_deploy_caspio():
    expected = set(deploy_files(load_mapping())) | {"README.md", "generate.py"}
    assert {p.name for p in DEPLOY.iterdir() if p.is_file()} == expected


def test_a_create_or_add_whose_lost_answer_was_retried_is_reported_as_done():
    class LostAnswers(SchemaApi):
        """The first attempt is applied, its answer lost; the resend hits "exists"."""

        def create_table(self, name, fields):
            super().create_table(name, fields)
            error = CaspioAlreadyExists("exists", status=400, method="POST", table=name)
            error.after_retry = True
            raise error

        def add_field(self, table, field):
            super().add_field(table, field)
            error = CaspioAlreadyExists("exists", status=400, method="POST", table=table)
            error.after_retry = True
            raise error

    mapping = load_mapping()
    api = LostAnswers({"Billing_Customers": []})
    report = init_caspio(api, mapping)
    assert report.created_tables == [t for t in mapping.tables if t != "Billing_Customers"]
    assert len(report.added_fields) == len(mapping.table_def("Billing_Customers").fields)
    assert report.up_to_date == []
