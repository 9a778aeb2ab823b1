"""The shipped DataPage snippets, filled in as Caspio fills them (sandbox.caspio.parameters)."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from sandbox.caspio.parameters import substitute

SNIPPETS = Path(__file__).resolve().parents[3] / "deploy" / "caspio" / "datapages"
RETRY_URL = "https://bridge.example.com/payments/in_1/retry?token=abc_DEF-123"
SHOWN_STATE = re.compile(r'\[data-state="([^"]*)"\]\{display:inline\}')


class Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))


def elements(text: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Elements()
    parser.feed(text)
    return parser.found


def with_class(text: str, name: str) -> dict[str, str | None]:
    for _tag, attrs in elements(text):
        if name in (attrs.get("class") or "").split():
            return attrs
    raise AssertionError(f"no element with class {name}")


@pytest.mark.parametrize("name", ["payment-retry.html", "payment-retry-inline.html"])
@pytest.mark.parametrize(
    ("status", "retry_status", "shown"),
    [
        ("failed", "available", True),
        ("failed", "used", False),
        ("failed", "failed", False),
        ("succeeded", "succeeded", False),
        ("void", "available", False),
        ("failed", None, False),
    ],
)
def test_retry_snippets_show_only_for_a_failed_payment_with_an_unused_link(
    name, status, retry_status, shown
):
    template = (SNIPPETS / name).read_text(encoding="utf-8")
    for parameter in ("[@field:Status]", "[@field:RetryStatus]", "[@field:RetryURL]"):
        assert parameter in template
    row = {"Status": status, "RetryStatus": retry_status, "RetryURL": RETRY_URL}
    page = substitute(template, record=row)
    wrapper = with_class(page, "caspio-stripe-retry")
    visible_states = SHOWN_STATE.findall(page)
    assert visible_states == ["failed available"]
    assert (wrapper["data-state"] in visible_states) is shown
    target = with_class(page, "retry-button" if name == "payment-retry.html" else "retry-inline")
    assert (target.get("href") or target.get("data-retry-url")) == RETRY_URL


def test_the_inline_snippet_posts_json_and_confirms_first():
    text = (SNIPPETS / "payment-retry-inline.html").read_text(encoding="utf-8")
    assert "window.confirm(" in text and "method: 'POST'" in text
    assert "'Accept': 'application/json'" in text


def test_the_portal_snippet_links_the_portal_url_and_hides_without_one():
    template = (SNIPPETS / "customer-portal.html").read_text(encoding="utf-8")
    url = "https://bridge.example.com/portal/CUST-1?token=1900000000.sig"
    page = substitute(template, record={"PortalURL": url})
    assert with_class(page, "portal-link")["href"] == url
    empty = substitute(template, record={"PortalURL": None})
    assert with_class(empty, "caspio-stripe-portal")["data-url"] == ""
    assert '.caspio-stripe-portal[data-url=""]{display:none}' in template


def test_the_readme_names_each_snippet_and_its_parameters():
    readme = (SNIPPETS / "README.md").read_text(encoding="utf-8")
    mine = ("payment-retry.html", "payment-retry-inline.html", "customer-portal.html")
    for snippet in (SNIPPETS / name for name in mine):
        assert f"`{snippet.name}`" in readme
        for parameter in set(re.findall(r"\[@field:[A-Za-z]+\]", snippet.read_text())):
            assert parameter in readme, (snippet.name, parameter)
