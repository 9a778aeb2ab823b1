"""What an unauthenticated request can cost (issue #11, fault 6): the HMAC was computed once per
`v1` entry, so 900 bogus entries and a 1 MiB body cost 75 times one check. The cost is measured
by counting HMAC computations, never by timing."""

from __future__ import annotations

import hmac
import time

import pytest

from connector.sync import signature
from connector.sync.signature import (
    MAX_HEADER_ENTRIES,
    MAX_V1_SIGNATURES,
    SignatureError,
    signature_header,
    verify,
)

BODY = b"{" + b" " * (1024 * 1024 - 2) + b"}"
SECRETS = ["whsec_old", "whsec_new"]


@pytest.fixture
def hmacs(monkeypatch) -> list[int]:
    """Counts every HMAC the signature module computes."""
    calls: list[int] = []
    real = hmac.new

    def counting(key, msg=None, digestmod=""):
        calls.append(len(msg or b""))
        return real(key, msg, digestmod)

    monkeypatch.setattr(signature.hmac, "new", counting)
    return calls


def bogus(count: int) -> str:
    return ",".join(f"v1={i:064x}" for i in range(count))


def test_900_bogus_v1_entries_cost_no_hmac_at_all(hmacs):
    header = f"t={int(time.time())}," + bogus(900)
    with pytest.raises(SignatureError, match="too long|too many"):
        verify(BODY, header, SECRETS, now=time.time())
    assert hmacs == []


def test_the_cost_is_one_hmac_per_secret_whatever_the_entries(hmacs):
    header = f"t={int(time.time())}," + bogus(MAX_V1_SIGNATURES)
    with pytest.raises(SignatureError, match="does not match"):
        verify(BODY, header, SECRETS, now=time.time())
    assert len(hmacs) == len(SECRETS)


def test_more_v1_entries_than_the_cap_are_refused_before_any_hmac(hmacs):
    header = f"t={int(time.time())}," + ",".join(["v1=00"] * (MAX_V1_SIGNATURES + 1))
    with pytest.raises(SignatureError, match="too many v1"):
        verify(b"{}", header, SECRETS, now=time.time())
    assert hmacs == []


def test_too_many_entries_of_any_kind_are_refused(hmacs):
    header = f"t={int(time.time())},v1=00," + ",".join(["v0=00"] * MAX_HEADER_ENTRIES)
    with pytest.raises(SignatureError, match="too many entries"):
        verify(b"{}", header, SECRETS, now=time.time())
    assert hmacs == []


def test_a_genuine_signature_among_the_allowed_entries_passes(hmacs):
    now = int(time.time())
    genuine = signature_header("whsec_new", now, b"{}").split(",")[1]
    header = f"t={now}," + bogus(MAX_V1_SIGNATURES - 1) + "," + genuine + ",v0=abc"
    hmacs.clear()  # making the genuine signature above counted one
    assert verify(b"{}", header, SECRETS, now=now) == now
    assert len(hmacs) == len(SECRETS)


def test_a_non_ascii_v1_entry_is_a_mismatch_not_a_crash():
    header = f"t={int(time.time())},v1=\u00e9\u00e9"
    with pytest.raises(SignatureError, match="does not match"):
        verify(b"{}", header, SECRETS, now=time.time())
