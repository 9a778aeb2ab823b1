import pytest

from connector.commands.timespec import parse_since

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30d", NOW - 30 * 86400),
        ("12h", NOW - 12 * 3600),
        ("1d6h", NOW - 86400 - 6 * 3600),
        ("90m", NOW - 5400),
        ("2w", NOW - 14 * 86400),
        ("1700000000", 1_700_000_000),
        ("2026-11-01", 1_793_491_200),
        ("2026-11-01T08:00:00Z", 1_793_520_000),
        ("2026-11-01T09:00:00+01:00", 1_793_520_000),
    ],
)
def test_since_values(text, expected):
    assert parse_since(text, now=NOW) == int(expected)


@pytest.mark.parametrize("text", ["", "yesterday", "30 days", "-3d", "2026-13-01"])
def test_bad_since_values_say_why(text):
    with pytest.raises(ValueError, match="neither a duration"):
        parse_since(text, now=NOW)
