"""Registration rows and sign-up keys as Caspio hands them over (pure)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from connector.billing.provisioning import ProvisioningError, Registration, canonical_key

KEY = "3c619929-d9a6-4b05-8eb7-2f3d81b46cbb"


@pytest.mark.parametrize(
    "raw",
    [
        KEY,
        KEY.upper(),
        "{" + KEY + "}",
        "%7B" + KEY + "%7D",
        "%257B" + KEY + "%257D",  # encoded twice
        f" {KEY} ",
        KEY.replace("-", ""),
    ],
)
def test_every_spelling_of_a_guid_is_the_same_key(raw):
    assert canonical_key(raw) == KEY


@pytest.mark.parametrize(
    "raw", ["", "nope", KEY[:-1], KEY + "0", "x' OR '1'='1", "%ZZ", "a" * 500, "%00" + KEY]
)
def test_anything_else_is_no_key(raw):
    assert canonical_key(raw) is None


def test_a_row_as_caspio_returns_it():
    row = {
        "SubscriptionKey": KEY,
        "CustomerKey": " CUST-1 ",
        "PlanKey": "gold",
        "Status": "Pending",
        "Email": "",
        "InitialAmount": 9.99,
        "InitialBillingEnd": "2027-04-15T00:00:00",
        "RequestedAction": None,
    }
    reg = Registration.from_row(row)
    assert (reg.customer_key, reg.status, reg.email) == ("CUST-1", "pending", None)
    assert reg.initial_amount == Decimal("9.99")
    assert reg.initial_billing_end == dt.datetime(2027, 4, 15, tzinfo=dt.timezone.utc)
    assert reg.requested_action == ""


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("InitialAmount", "lots", "InitialAmount"),
        ("InitialBillingEnd", "next tuesday", "InitialBillingEnd"),
        ("SubscriptionKey", "", "SubscriptionKey"),
    ],
)
def test_a_broken_row_names_its_field(field, value, message):
    row = {"SubscriptionKey": KEY, "CustomerKey": "C", "PlanKey": "p", field: value}
    with pytest.raises(ProvisioningError, match=message):
        Registration.from_row(row)
