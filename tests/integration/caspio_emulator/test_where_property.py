"""Property: any text inserted through the client and selected back with
``where field = value`` returns exactly that row, nothing else, even next to rows that
differ from it only by a quote, a wildcard or a prefix.

Values are compared the way SQL Server compares them (case-insensitive, trailing spaces
ignored), so near-misses that SQL Server would call equal are left out of the table.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from caspio_client import CaspioClient
from caspio_client import where as w
from sandbox.caspio import run_emulator
from sandbox.caspio.collation import caspio_ci

TABLE = "Texts"

# Any unicode except surrogates (not encodable) and NUL (the client refuses it), with the
# characters that break hand-made SQL mixed in on purpose.
_CHARS = st.characters(exclude_categories=["Cs"], exclude_characters="\x00")
_NASTY = st.sampled_from(["'", "''", "--", ";", "/*", "*/", "%", "_", "[", "]", "N'", "\\",
                          "' OR '1'='1", "'; DELETE FROM Texts; --", " ", "\t", "\n", "é",
                          "Ω", "\u200b", "😀"])
TEXTS = st.lists(st.one_of(st.text(_CHARS, max_size=8), _NASTY), max_size=8).map("".join) \
    .filter(lambda text: len(text) <= 200)


@pytest.fixture(scope="module")
def texts_client() -> Iterator[CaspioClient]:
    with run_emulator() as running, CaspioClient(
        running.base_url, running.client_id, running.client_secret, timeout=10,
        sleep=lambda seconds: None,
    ) as client:
        client.create_table(TABLE, [{"Name": "Value", "Type": "STRING"},
                                    {"Name": "Role", "Type": "STRING"}])
        yield client


def near_misses(value: str) -> list[str]:
    candidates = [value + "'", "'" + value, value + "%", "%" + value, "x" + value,
                  value + "_", value.replace("'", "''"), value[:-1], value + "\\"]
    # Keep only texts that SQL Server would not call equal to the value.
    return [c for c in dict.fromkeys(candidates) if caspio_ci(c, value) != 0 and len(c) <= 255]


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(value=TEXTS)
def test_equality_selects_exactly_the_inserted_row(texts_client: CaspioClient, value: str):
    texts_client.delete(TABLE, w.gt("PK_ID", 0))
    for other in near_misses(value):
        texts_client.insert(TABLE, {"Value": other, "Role": "decoy"})
    inserted = texts_client.insert(TABLE, {"Value": value, "Role": "target"})
    assert inserted["Value"] == value
    found = list(texts_client.select(TABLE, where=w.eq("Value", value)))
    assert found == [inserted]
