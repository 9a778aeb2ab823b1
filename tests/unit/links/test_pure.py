"""Tokens, portal signatures, return addresses and decline wording: the pure parts."""

from __future__ import annotations

import pytest

from connector.links.decline_reasons import plain_reason
from connector.links.portal_links import PortalLinks, link_key
from connector.links.retry_links import retry_url
from connector.links.return_urls import allowed_return, origin_of
from connector.links.tokens import new_token, token_hash, well_formed
from connector.settings import Settings


class Clock:
    def __init__(self, now: float = 2_000_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_tokens_are_256_random_bits_and_only_their_hash_is_kept():
    tokens = {new_token() for _ in range(200)}
    assert len(tokens) == 200
    for token in tokens:
        assert len(token) == 43 and well_formed(token)  # 43 base64url chars = 256 bits
        assert token_hash(token) != token and len(token_hash(token)) == 64
    assert not well_formed(None)
    assert not well_formed("short")
    assert not well_formed("x" * 42 + "!")


def test_retry_url_escapes_the_invoice_id():
    url = retry_url("https://bridge.example.com/", "in_1/../x", "tok")
    assert url == "https://bridge.example.com/payments/in_1%2F..%2Fx/retry?token=tok"


def test_portal_link_verifies_until_it_expires():
    clock = Clock()
    links = PortalLinks(b"k" * 32, "https://bridge.example.com", days=30, clock=clock)
    url = links.url_for("CUST 1")
    assert url.startswith("https://bridge.example.com/portal/CUST%201?token=")
    token = url.split("token=", 1)[1]
    assert links.check("CUST 1", token) is None
    clock.now += 30 * 86400 - 1
    assert links.check("CUST 1", token) is None
    clock.now += 1
    assert links.check("CUST 1", token) == "expired"


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # forged signature
        lambda t: str(int(t.split(".")[0]) + 86400) + "." + t.split(".")[1],  # longer life
        lambda t: "",
        lambda t: None,
        lambda t: t + "x",
    ],
)
def test_a_tampered_portal_token_is_invalid(mangle):
    links = PortalLinks(b"k" * 32, "https://b.example.com", clock=Clock())
    token = links.token_for("CUST-1")
    assert links.check("CUST-1", mangle(token)) == "invalid"


def test_a_portal_token_is_bound_to_its_customer_and_key():
    clock = Clock()
    links = PortalLinks(b"k" * 32, "https://b.example.com", clock=clock)
    token = links.token_for("CUST-1")
    assert links.check("CUST-2", token) == "invalid"
    other_key = PortalLinks(b"j" * 32, "https://b.example.com", clock=clock)
    assert other_key.check("CUST-1", token) == "invalid"


def test_the_link_key_comes_from_the_link_secret_else_the_stripe_key_and_never_shows():
    from_stripe = Settings.for_tests(stripe_secret_key="sk_test_one")
    other_stripe = Settings.for_tests(stripe_secret_key="sk_test_two")
    with_secret = Settings.for_tests(bridge_link_secret="s" * 40)
    assert link_key(from_stripe) != link_key(other_stripe)
    assert link_key(with_secret) != link_key(from_stripe)
    assert b"sk_test_one" not in link_key(from_stripe)
    links = PortalLinks.from_settings(with_secret)
    assert "s" * 40 not in repr(links) and str(link_key(with_secret)) not in repr(links)
    assert links.days == 30


ALLOWED = ("https://c1abc123.caspio.com", "http://127.0.0.1:8101")


@pytest.mark.parametrize(
    "url",
    [
        "https://c1abc123.caspio.com/dp/abc123",
        "https://C1ABC123.caspio.com:443/dp?x=1#top",
        "http://127.0.0.1:8101/datapages/payments",
    ],
)
def test_return_addresses_on_allowed_origins_are_kept(url):
    assert allowed_return(url, ALLOWED) == url


@pytest.mark.parametrize(
    "url",
    [
        None,
        "",
        "https://evil.example.com/",
        "https://c1abc123.caspio.com.evil.example.com/",
        "https://evil.example.com@c1abc123.caspio.com/",
        "https://c1abc123.caspio.com@evil.example.com/",
        "//evil.example.com/",
        "/relative/path",
        "javascript:alert(1)",
        "http://c1abc123.caspio.com/",  # another scheme is another origin
        "https://c1abc123.caspio.com:8443/",
        "http://127.0.0.1:8102/",
        "https://c1abc123.caspio.com\\@evil.example.com/",
        "https://c1abc123.caspio.com/\r\nLocation: https://evil.example.com",
    ],
)
def test_hostile_return_addresses_are_dropped(url):
    assert allowed_return(url, ALLOWED) is None


def test_origin_of():
    assert origin_of("https://a.example.com:443/x") == "https://a.example.com"
    assert origin_of("http://[::1]:8000/") == "http://[::1]:8000"
    assert origin_of("ftp://a.example.com/") is None
    assert origin_of("http://a:99999/") is None


def test_declines_in_plain_words():
    assert plain_reason("expired_card", "Your card has expired.") == "The card has expired."
    assert plain_reason("weird_code", "Stripe says so.") == "Stripe says so."
    assert plain_reason(None, None) == "The payment was declined."
