"""Money must cross the wire exactly: Decimals out, Decimals back in."""

import datetime as dt
import json
from decimal import Decimal

import pytest
import responses

from caspio_client import CaspioClient
from caspio_client.transport import encode_json

BASE = "https://c1abc123.caspio.com"


def test_decimals_and_dates_encode_exactly():
    body = encode_json(
        {
            "Amount": Decimal("33.33"),
            "Big": Decimal("999999999.99"),
            "PaidAt": dt.datetime(2026, 11, 21, 20, 0, tzinfo=dt.timezone.utc),
            "Day": dt.date(2026, 1, 2),
        }
    )
    assert json.loads(body, parse_float=Decimal) == {
        "Amount": Decimal("33.33"),
        "Big": Decimal("999999999.99"),
        "PaidAt": "2026-11-21T20:00:00",
        "Day": "2026-01-02",
    }


def test_a_decimal_a_double_cannot_carry_is_refused():
    with pytest.raises(ValueError, match="exact number"):
        encode_json({"Amount": Decimal("12345678901234567.89")})


@responses.activate
def test_currency_values_come_back_as_decimal():
    responses.post(
        f"{BASE}/oauth/token",
        json={"access_token": "t", "token_type": "bearer", "expires_in": 86399},
    )
    responses.get(
        f"{BASE}/integrations/rest/v3/tables/Billing_Payments/records",
        body='{"Result":[{"PK_ID":1,"Amount":33.33}]}',
        content_type="application/json",
    )
    client = CaspioClient(BASE, "id", "secret")
    rows = list(client.select("Billing_Payments"))
    assert rows == [{"PK_ID": 1, "Amount": Decimal("33.33")}]
    assert isinstance(rows[0]["Amount"], Decimal)
