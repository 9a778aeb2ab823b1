"""Plans: the ``Billing_Plans`` row schema (marshmallow) and the ``Plan`` domain object.

Rows are read with ``mapping.from_caspio`` first, so the schema speaks logical field
names; error messages are turned back into the builder's own names, one line per row:

    Billing_Plans PlanKey=gold-monthly: BillingInterval 'fortnight' is not one of day, week,
    month, year
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, post_load, validates_schema
from marshmallow import fields as mf

from connector.billing.money import MoneyError, normalize_currency, to_minor
from mappings import Mapping

TABLE = "Billing_Plans"
INTERVALS = ("day", "week", "month", "year")
PLAN_TYPES = ("subscription", "payplan")
SYNC_STATUSES = ("synced", "error")
DEFAULT_CURRENCY = "usd"

# Stripe: "the maximum span is 3 years (3 years, 36 months, or 156 weeks)". The day limit
# is not stated; 1095 days (3 x 365) is our reading of the same 3-year rule.
MAX_INTERVAL_COUNT = {"day": 1095, "week": 156, "month": 36, "year": 3}
# Stripe limits lookup_key to 200 characters; PlanKey is the lookup key.
MAX_PLAN_KEY_LENGTH = 200

WRITE_BACK_FIELDS = ("StripeProductID", "StripePriceID", "SyncStatus", "SyncError", "SyncedAt")


@dataclass(frozen=True)
class Plan:
    """One valid Billing_Plans row."""

    plan_key: str
    billing_interval: str
    interval_count: int = 1
    plan_type: str = "subscription"
    currency: str = DEFAULT_CURRENCY
    amount: Decimal | None = None
    name: str | None = None
    tier: str | None = None
    description: str | None = None
    balance: Decimal | None = None
    installments: int | None = None
    intro_amount: Decimal | None = None
    intro_intervals: int | None = None
    active: bool = False
    stripe_product_id: str | None = None
    stripe_price_id: str | None = None
    sync_status: str | None = None
    sync_error: str | None = None
    synced_at: dt.datetime | None = None

    @property
    def product_name(self) -> str:
        # Stripe requires a product name; a plan without one is named by its key.
        return self.name or self.plan_key

    @property
    def unit_amount(self) -> int | None:
        """Amount in Stripe minor units (validated at load, so this cannot fail)."""
        return None if self.amount is None else to_minor(self.amount, self.currency)

    @property
    def is_payplan(self) -> bool:
        return self.plan_type == "payplan"


class PlanRowError(ValueError):
    """A row that cannot become a Plan; ``str()`` is the one line shown to the builder."""

    def __init__(
        self, message: str, plan_key: str | None, pk_id: Any = None, label: str = ""
    ) -> None:
        super().__init__(message)
        self.plan_key = plan_key
        self.pk_id = pk_id
        # ``message`` is "<label>: <reasons>"; kept apart since a PlanKey may hold ": ".
        if not label:
            label = message.split(": ", 1)[0]
        self.label = label
        self.reasons = message[len(label) + 2 :] or message


# --------------------------------------------------------------------------- fields


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


class _Field(mf.Field[Any]):
    """Caspio returns null for empty non-text fields: allowed unless a field says not.

    (Each subclass loads its own type; `Plan` is built from the loaded dict.)"""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("allow_none", True)
        kwargs.setdefault("error_messages", {"required": "is blank", "null": "is blank"})
        super().__init__(**kwargs)


class Text(_Field):
    """Caspio text; blank ("" is how Caspio returns empty text) loads as None."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if _blank(value):
            return None
        if not isinstance(value, str):
            raise ValidationError(f"{value!r} is not text")
        return value.strip()


class Key(_Field):
    """PlanKey: required, used as is (it is a WHERE value and Stripe's lookup key)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, str) or not value.strip():
            raise ValidationError("is blank")
        if value != value.strip():
            raise ValidationError(f"{value!r} starts or ends with a space")
        if any(ord(c) < 32 or ord(c) == 127 for c in value):
            # No WHERE clause can carry a NUL, and Stripe's lookup key is plain text.
            raise ValidationError("contains a control character")
        if len(value) > MAX_PLAN_KEY_LENGTH:
            raise ValidationError(f"is longer than {MAX_PLAN_KEY_LENGTH} characters")
        return value


class Amount(_Field):
    """A CURRENCY value as an exact Decimal; never negative."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if _blank(value):
            return None
        if isinstance(value, bool):
            raise ValidationError(f"{value!r} is not a number")
        if isinstance(value, float):
            # A client that parsed JSON numbers as floats: repr() is the shortest text
            # that reads back as the same float, i.e. the digits Caspio sent.
            value = repr(value)
        try:
            number = Decimal(value.strip() if isinstance(value, str) else value)
        except (InvalidOperation, TypeError, ValueError):
            raise ValidationError(f"{value!r} is not a number") from None
        if not number.is_finite():
            raise ValidationError(f"{value!r} is not a number")
        if number < 0:
            raise ValidationError(f"{number} is negative")
        return number


class Count(_Field):
    """A whole number of at least 1; blank loads as the field's ``load_default``."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if _blank(value):
            return None
        if isinstance(value, bool):
            raise ValidationError(f"{value!r} is not a whole number")
        try:
            number = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
        except InvalidOperation:
            raise ValidationError(f"{value!r} is not a whole number") from None
        if not number.is_finite() or number != number.to_integral_value():
            raise ValidationError(f"{value!r} is not a whole number")
        if number < 1:
            raise ValidationError(f"{int(number)} is less than 1")
        return int(number)


class Choice(_Field):
    """One of a few lower-case words; matched case-insensitively."""

    def __init__(self, choices: tuple[str, ...], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.choices = choices

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if _blank(value):
            if not self.allow_none:
                raise ValidationError("is blank")
            return None
        word = value.strip().lower() if isinstance(value, str) else value
        if word not in self.choices:
            raise ValidationError(f"{value!r} is not one of {', '.join(self.choices)}")
        return word


class YesNo(_Field):
    """Caspio YES/NO: JSON true/false (1/0 and yes/no text accepted); blank is no."""

    _WORDS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if _blank(value):
            return False
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in self._WORDS:
            return self._WORDS[value.strip().lower()]
        raise ValidationError(f"{value!r} is not yes or no")


class CaspioDateTime(_Field):
    """Caspio DATE/TIME: ``YYYY-MM-DDTHH:MM:SS[.fff]`` with no zone, which we keep in UTC."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if _blank(value):
            return None
        try:
            parsed = dt.datetime.fromisoformat(str(value).strip())
        except ValueError:
            raise ValidationError(f"{value!r} is not a date and time") from None
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=dt.timezone.utc)
        return parsed.astimezone(dt.timezone.utc)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return format_caspio_datetime(value) if value is not None else None


def format_caspio_datetime(value: dt.datetime) -> str:
    """UTC, no zone, whole seconds: the form Caspio stores and returns."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value.replace(microsecond=0).isoformat()


# --------------------------------------------------------------------------- schema


class PlanRowSchema(Schema):
    """A Billing_Plans row under logical field names <-> ``Plan``."""

    class Meta:
        unknown = EXCLUDE
        ordered = True

    plan_key = Key(data_key="PlanKey", required=True, allow_none=False)
    name = Text(data_key="Name")
    tier = Text(data_key="Tier")
    description = Text(data_key="Description")
    amount = Amount(data_key="Amount")
    currency = Text(data_key="Currency")
    billing_interval = Choice(
        INTERVALS,
        data_key="BillingInterval",
        required=True,
        allow_none=False,
    )
    interval_count = Count(data_key="IntervalCount")
    plan_type = Choice(PLAN_TYPES, data_key="PlanType")
    balance = Amount(data_key="Balance")
    installments = Count(data_key="Installments")
    intro_amount = Amount(data_key="IntroAmount")
    intro_intervals = Count(data_key="IntroIntervals")
    active = YesNo(data_key="Active")
    stripe_product_id = Text(data_key="StripeProductID")
    stripe_price_id = Text(data_key="StripePriceID")
    sync_status = Text(data_key="SyncStatus")
    sync_error = Text(data_key="SyncError")
    synced_at = CaspioDateTime(data_key="SyncedAt")

    @validates_schema(skip_on_field_errors=False, pass_original=True)
    def check_plan(self, data: dict[str, Any], original: Any, **kwargs: Any) -> None:
        errors: dict[str, list[str]] = {}

        def given(field: str) -> bool:
            # Present in the row, even if its value failed its own check.
            return isinstance(original, MappingABC) and not _blank(original.get(field))

        def problem(field: str, message: str) -> None:
            errors.setdefault(field, []).append(message)

        currency = DEFAULT_CURRENCY
        if data.get("currency") is not None:
            try:
                currency = normalize_currency(data["currency"])
            except MoneyError:
                problem("Currency", f"{data['currency']!r} is not a three-letter ISO code")
                currency = ""
        interval, count = data.get("billing_interval"), data.get("interval_count") or 1
        if interval in MAX_INTERVAL_COUNT and count > MAX_INTERVAL_COUNT[interval]:
            limit = MAX_INTERVAL_COUNT[interval]
            problem(
                "IntervalCount",
                f"{count} is more than Stripe allows for {interval} "
                f"(at most {limit} {interval}s: 3 years)",
            )
        for field, key in (
            ("Amount", "amount"),
            ("Balance", "balance"),
            ("IntroAmount", "intro_amount"),
        ):
            value = data.get(key)
            if value is not None and currency:
                try:
                    to_minor(value, currency)
                except MoneyError as error:
                    problem(field, str(error).removeprefix("amount "))

        payplan = data.get("plan_type") == "payplan"
        if payplan:
            balance = data.get("balance")
            if balance is None and not given("Balance"):
                problem("Balance", "is required for a pay plan")
            elif balance == 0:
                problem("Balance", "must be more than 0 for a pay plan")
            if not given("Amount") and not given("Installments"):
                problem("Amount", "or Installments is required for a pay plan")
            elif data.get("amount") == 0:
                problem("Amount", "must be more than 0 for a pay plan")
            elif (
                not given("Amount")
                and data.get("installments") is not None
                and balance
                and currency
                and "Balance" not in errors
            ):
                # A bad Amount or Installments already has its own message; comparing with
                # the missing value would raise out of the schema and stop the whole sync.
                installments = data["installments"]
                if to_minor(balance, currency) < installments:
                    problem(
                        "Installments",
                        f"{installments} is more than Balance {balance} can be split into",
                    )
        else:
            if not given("Amount"):
                problem("Amount", "is required for a subscription plan")
            for field in ("Balance", "Installments"):
                if given(field):
                    problem(field, "is only used by pay plans (PlanType payplan)")

        has_intro_amount = given("IntroAmount")
        if has_intro_amount != given("IntroIntervals"):
            missing = "IntroIntervals" if has_intro_amount else "IntroAmount"
            present = "IntroAmount" if has_intro_amount else "IntroIntervals"
            problem(missing, f"is required when {present} is set")

        if errors:
            raise ValidationError(errors)

    @post_load
    def make_plan(self, data: dict[str, Any], **kwargs: Any) -> Plan:
        data["currency"] = normalize_currency(data.get("currency") or DEFAULT_CURRENCY)
        data["interval_count"] = data.get("interval_count") or 1
        data["plan_type"] = data.get("plan_type") or "subscription"
        data["active"] = bool(data.get("active"))
        if data.get("sync_status") not in SYNC_STATUSES:
            # Written by the bridge; an odd value is simply overwritten at the next sync.
            data["sync_status"] = None
        return Plan(**data)


# Logical field names in schema order, for messages.
_FIELD_ORDER = [f.data_key or name for name, f in PlanRowSchema().fields.items()]


def row_label(row: MappingABC[str, Any], mapping: Mapping, pk_id: Any = None) -> str:
    """``Billing_Plans PlanKey=gold`` in the builder's names (PK_ID when the key is blank)."""
    key = row.get("PlanKey")
    if isinstance(key, str) and key.strip():
        return f"{mapping.table(TABLE)} {mapping.field(TABLE, 'PlanKey')}={key}"
    if pk_id is not None:
        return f"{mapping.table(TABLE)} PK_ID={pk_id}"
    return f"{mapping.table(TABLE)} (row without {mapping.field(TABLE, 'PlanKey')})"


def plan_from_row(caspio_row: MappingABC[str, Any], mapping: Mapping) -> Plan:
    """A Caspio Billing_Plans row (builder's names) -> Plan, or PlanRowError saying why."""
    row = mapping.from_caspio(TABLE, caspio_row)
    try:
        plan: Plan = PlanRowSchema().load(row)
    except ValidationError as error:
        pk_id = caspio_row.get("PK_ID")
        messages = error.messages if isinstance(error.messages, dict) else {}
        parts = []
        for logical in sorted(messages, key=_position):
            for message in _as_list(messages[logical]):
                parts.append(f"{_builder_name(mapping, logical)} {message}".rstrip("."))
        key = row.get("PlanKey") if isinstance(row.get("PlanKey"), str) else None
        label = row_label(row, mapping, pk_id)
        raise PlanRowError(f"{label}: {'; '.join(parts)}", key, pk_id, label) from None
    return plan


def plan_to_row(
    plan: Plan, mapping: Mapping, only: tuple[str, ...] | None = None
) -> dict[str, Any]:
    """Plan -> Caspio row (builder's names); ``only`` limits it to some logical fields."""
    dumped: dict[str, Any] = PlanRowSchema().dump(plan)
    if only is not None:
        dumped = {name: dumped[name] for name in only}
    return mapping.to_caspio(TABLE, dumped)


def _position(logical: str) -> int:
    return _FIELD_ORDER.index(logical) if logical in _FIELD_ORDER else len(_FIELD_ORDER)


def _builder_name(mapping: Mapping, logical: str) -> str:
    try:
        return mapping.field(TABLE, logical)
    except KeyError:
        return logical


def _as_list(messages: Any) -> list[str]:
    if isinstance(messages, list):
        return [str(m) for m in messages]
    if isinstance(messages, dict):
        return [str(m) for value in messages.values() for m in _as_list(value)]
    return [str(messages)]
