import itertools

import pytest

from connector.sync.status import access_active, payment_status_may_change, refund_status

ORDER = ["open", "failed", "succeeded", "partially_refunded", "refunded"]


@pytest.mark.parametrize(("low", "high"), list(itertools.combinations(ORDER, 2)))
def test_payment_status_only_moves_forward(low, high):
    assert payment_status_may_change(low, high, newer=False)
    assert not payment_status_may_change(high, low, newer=True)


def test_a_late_failure_never_overwrites_success():
    assert not payment_status_may_change("succeeded", "failed", newer=True)


def test_a_newer_failure_refreshes_an_older_one_but_not_the_reverse():
    assert payment_status_may_change("failed", "failed", newer=True)
    assert not payment_status_may_change("failed", "failed", newer=False)


def test_void_only_from_open_or_failed_and_then_final():
    assert payment_status_may_change("open", "void", newer=True)
    assert payment_status_may_change("failed", "void", newer=False)
    assert not payment_status_may_change("succeeded", "void", newer=True)
    for status in ORDER + ["disputed"]:
        assert not payment_status_may_change("void", status, newer=True)


def test_disputed_beats_success_and_partial_refunds():
    assert payment_status_may_change("succeeded", "disputed", newer=False)
    assert payment_status_may_change("partially_refunded", "disputed", newer=False)
    assert not payment_status_may_change("disputed", "succeeded", newer=True)


def test_anything_may_start_a_row():
    for status in ORDER + ["void", "disputed"]:
        assert payment_status_may_change(None, status, newer=False)


def test_unknown_statuses_are_an_error():
    with pytest.raises(ValueError, match="unknown payment status"):
        payment_status_may_change("open", "paid", newer=True)


def test_refund_status():
    assert refund_status(2000, 0) is None
    assert refund_status(2000, 500) == "partially_refunded"
    assert refund_status(2000, 2000) == "refunded"


@pytest.mark.parametrize(
    ("status", "past_due_access", "expected"),
    [
        ("active", False, True),
        ("trialing", False, True),
        ("past_due", True, True),
        ("past_due", False, False),
        ("unpaid", True, False),
        ("canceled", True, False),
        ("incomplete", True, False),
        ("completed", True, False),
    ],
)
def test_access(status, past_due_access, expected):
    assert access_active(status, past_due_access=past_due_access) is expected
