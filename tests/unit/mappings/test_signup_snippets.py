"""The sign-up DataPage snippets, filled in as Caspio fills them (sandbox's substitution)."""

from __future__ import annotations

import re
from pathlib import Path

from connector.billing.provisioning import canonical_key
from sandbox.caspio.parameters import substitute

SNIPPETS = Path(__file__).resolve().parents[3] / "deploy" / "caspio" / "datapages"
KEY = "3c619929-d9a6-4b05-8eb7-2f3d81b46cbb"


def test_signup_destination_is_the_bridge_signup_url_of_the_inserted_row():
    text = (SNIPPETS / "signup-destination.txt").read_text().strip()
    url = substitute(
        text,
        inserted={"SubscriptionKey": "{" + KEY + "}"},
        app={"BRIDGE_PUBLIC_URL": "https://billing.example.com"},
        encoding="url",
    )
    prefix = "https://billing.example.com/signup/"
    assert url.startswith(prefix)
    assert canonical_key(url[len(prefix) :]) == KEY  # encoded braces and all


def test_subscription_actions_name_the_row_and_each_action():
    html = (SNIPPETS / "subscription-report-actions.html").read_text()
    filled = substitute(
        html,
        record={"SubscriptionKey": KEY, "Status": "active", "PlanKey": "<gold>"},
        app={"SUBSCRIPTION_UPDATE_PAGE": "https://c1abc123.caspio.com/dp/abc"},
    )
    assert "[@" not in filled
    assert filled.count(f'name="SubscriptionKey" value="{KEY}"') == 3
    assert 'value="cancel_at_period_end"' in filled and 'value="cancel_now"' in filled
    assert re.search(r'value="change_plan:[a-z]+"', filled)
    assert "&lt;gold&gt;" in filled  # field values are HTML-escaped, never markup
    assert 'data-status="active"' in filled
