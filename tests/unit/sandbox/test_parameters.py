"""Caspio's parameter substitution as the imitation DataPages apply it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sandbox.caspio.parameters import shown, substitute


def test_field_parameters_take_the_record_value_html_escaped():
    text = substitute('<a href="[@field:RetryURL]">[@field:Name]</a>',
                      record={"RetryURL": "http://b/x?token=a&b=1", "Name": "<Ada>"})
    assert text == '<a href="http://b/x?token=a&amp;b=1">&lt;Ada&gt;</a>'


def test_inserted_record_parameters_are_url_encoded_in_a_destination():
    url = substitute("[@app:BRIDGE_PUBLIC_URL]/signup/[@InsertRecordSubscriptionKey]",
                     inserted={"SubscriptionKey": "a b/c"},
                     app={"BRIDGE_PUBLIC_URL": "http://127.0.0.1:8001"}, encoding="url")
    assert url == "http://127.0.0.1:8001/signup/a%20b%2Fc"


def test_names_are_case_insensitive_and_unknown_parameters_are_blank():
    assert substitute("[@field:customerkey]|[@field:Nope]|[@Page]|[@app:X]",
                      record={"CustomerKey": "c1"}, external={"page": "2"}) == "c1||2|"


def test_values_print_as_a_datapage_shows_them():
    assert [shown(v) for v in (None, True, False, 12.5, Decimal("3.10"),
                               dt.datetime(2026, 1, 2, 3, 4))] == [
        "", "Yes", "No", "12.5", "3.10", "2026-01-02T03:04:00"]
