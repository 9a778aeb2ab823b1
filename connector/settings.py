"""Settings read from the environment and a `.env` file, checked once at start-up.

Every variable in PRODUCT.md has a field here. A bad or missing value raises
`SettingsError` whose message is one line naming the variable and the problem; secrets are
wrapped in `Secret` so that they never reach a repr, a log line or an error message.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit

from dotenv.parser import parse_stream

DEFAULT_DATABASE_URL = "sqlite:///caspio-stripe.db"
LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}
# Every variable, in the order of PRODUCT.md's settings table.
VARIABLES = (
    "CASPIO_ACCOUNT_URL",
    "CASPIO_CLIENT_ID",
    "CASPIO_CLIENT_SECRET",
    "CASPIO_API_VERSION",
    "CASPIO_WEBHOOK_SECRET",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "STRIPE_API_BASE",
    "BRIDGE_PUBLIC_URL",
    "BRIDGE_DATABASE_URL",
    "BRIDGE_MAPPING",
    "BRIDGE_SUCCESS_URL",
    "BRIDGE_CANCEL_URL",
    "BRIDGE_ALLOWED_ORIGINS",
    "BRIDGE_ADMIN_TOKEN",
    "BRIDGE_PAST_DUE_ACCESS",
    "BRIDGE_LINK_SECRET",
    "BRIDGE_LINK_DAYS",
    "BRIDGE_LOG_FORMAT",
    "BRIDGE_READY_MAX_BACKLOG",
    "BRIDGE_POLL_SECONDS",
)
REQUIRED_IN_ORDER = (
    "CASPIO_ACCOUNT_URL",
    "CASPIO_CLIENT_ID",
    "CASPIO_CLIENT_SECRET",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "BRIDGE_PUBLIC_URL",
)


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable
        self.problem = problem


# Prefixes that say what kind of key it is and are no part of its secrecy (Stripe's key and
# webhook secret formats: https://docs.stripe.com/keys, https://docs.stripe.com/webhooks).
PUBLIC_PREFIXES = ("sk_test_", "sk_live_", "rk_test_", "rk_live_", "whsec_")
SHOWN_SUFFIX = 4
MIN_LENGTH_FOR_SUFFIX = 16  # a shorter secret shows nothing at all


class Secret:
    """A secret value that never shows itself in repr, str or logs."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def masked(self) -> str:
        """`****` plus, for a long secret, its last `SHOWN_SUFFIX` characters; a known public
        prefix (`sk_test_`, `whsec_`…) is kept. Enough to tell two keys apart, never to use one.
        """
        value = self._value
        prefix = next((p for p in PUBLIC_PREFIXES if value.startswith(p)), "")
        rest = value[len(prefix) :]
        suffix = rest[-SHOWN_SUFFIX:] if len(rest) >= MIN_LENGTH_FOR_SUFFIX else ""
        return f"{prefix}****{suffix}"

    def __repr__(self) -> str:
        return "Secret('****')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True, repr=False)
class Settings:
    caspio_account_url: str
    caspio_client_id: str
    caspio_client_secret: Secret
    stripe_secret_key: Secret
    stripe_webhook_secrets: tuple[Secret, ...]
    bridge_public_url: str
    caspio_api_version: str = "v3"
    caspio_webhook_secret: Secret | None = None
    stripe_api_base: str | None = None
    bridge_database_url: str = DEFAULT_DATABASE_URL
    bridge_mapping: str | None = None
    bridge_success_url: str | None = None
    bridge_cancel_url: str | None = None
    bridge_allowed_origins: tuple[str, ...] = field(default_factory=tuple)
    bridge_admin_token: Secret | None = None
    bridge_past_due_access: bool = True
    # Key material for signed portal links; None: derived from STRIPE_SECRET_KEY.
    bridge_link_secret: Secret | None = None
    bridge_link_days: int = 30  # lifetime of retry and portal links
    bridge_log_format: str = "text"  # text | json (one JSON object per line)
    bridge_ready_max_backlog: int = 1000  # /readyz answers 503 above this many waiting events
    # `serve` reads Billing_Subscriptions this often for new rows and RequestedAction (for
    # accounts without outgoing webhooks); None: no polling.
    bridge_poll_seconds: int | None = None

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, env_file: str | Path | None = ".env"
    ) -> Settings:
        """Read settings; the process environment wins over the `.env` file."""
        values: dict[str, str] = {}
        if env_file is not None and Path(env_file).is_file():
            values.update(read_env_file(Path(env_file)))
        values.update(os.environ if environ is None else environ)
        return _parse(values)

    @classmethod
    def for_tests(cls, **overrides: Any) -> Settings:
        """Valid settings pointing at loopback addresses, for tests; no environment read."""
        base = cls(
            caspio_account_url="http://127.0.0.1:9",
            caspio_client_id="test-client",
            caspio_client_secret=Secret("test-client-secret"),
            stripe_secret_key=Secret("sk_test_emulator"),
            stripe_webhook_secrets=(Secret("whsec_test_secret"),),
            bridge_public_url="http://127.0.0.1:8000",
            stripe_api_base="http://127.0.0.1:9",
            bridge_database_url="sqlite://",
            bridge_success_url="http://127.0.0.1:8000/done",
            bridge_cancel_url="http://127.0.0.1:8000/cancelled",
        )
        for name, value in overrides.items():
            if name.endswith(("_secret", "_key", "_token")) and isinstance(value, str):
                overrides[name] = Secret(value)
        if isinstance(overrides.get("stripe_webhook_secrets"), (list, tuple)):
            overrides["stripe_webhook_secrets"] = tuple(
                s if isinstance(s, Secret) else Secret(s)
                for s in overrides["stripe_webhook_secrets"]
            )
        return dataclasses.replace(base, **overrides)

    def __repr__(self) -> str:
        # The database URL may carry a password, so repr goes through the masked view.
        shown = ", ".join(f"{name.lower()}={value!r}" for name, value in self.describe())
        return f"Settings({shown})"

    def describe(self) -> list[tuple[str, str]]:
        """(variable, shown value) pairs in PRODUCT.md's order, secrets masked."""
        rows = []
        for variable in VARIABLES:
            value = getattr(self, _field_name(variable))
            if isinstance(value, Secret):
                shown = value.masked()
            elif isinstance(value, tuple):
                shown = ", ".join(v.masked() if isinstance(v, Secret) else str(v) for v in value)
            elif isinstance(value, (bool, int)):
                shown = str(value).lower()
            elif variable == "BRIDGE_DATABASE_URL":
                shown = mask_url_password(str(value))
            else:
                shown = "" if value is None else str(value)
            rows.append((variable, shown or "(not set)"))
        return rows


def _field_name(variable: str) -> str:
    # STRIPE_WEBHOOK_SECRET holds a list (rolling secrets), hence the plural field.
    return "stripe_webhook_secrets" if variable == "STRIPE_WEBHOOK_SECRET" else variable.lower()


def read_env_file(path: Path) -> dict[str, str]:
    """Parse a `.env` file with python-dotenv: KEY=VALUE lines, `#` comments, `export `
    prefixes, single/double quotes. No `${VAR}` expansion (a secret may contain `$`).

    Raises `SettingsError` naming the first line that is not NAME=value.
    """
    values: dict[str, str] = {}
    try:
        with path.open(encoding="utf-8") as stream:
            for binding in parse_stream(stream):
                if binding.error or (binding.key is not None and binding.value is None):
                    where = f"{path.name} line {binding.original.line}"
                    raise SettingsError(where, "expected NAME=value")
                if binding.key is not None and binding.value is not None:
                    values[binding.key] = binding.value
    except UnicodeDecodeError:
        raise SettingsError(path.name, "is not UTF-8 text") from None
    except OSError as error:
        raise SettingsError(path.name, f"cannot be read ({error.strerror})") from None
    return values


def mask_url_password(url: str) -> str:
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "(malformed address)"
    if password:
        return url.replace(f":{password}@", ":****@", 1)
    return url


def _split_url(name: str, value: str) -> SplitResult:
    """`urlsplit`, with its ValueErrors (an unclosed `[`, a port that is not a number in
    0-65535) turned into one line naming the variable; the value is not echoed, since a
    database address may carry a password."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError as error:
        reason = (
            "has a malformed [ ] host"
            if "IPv6" in str(error)
            else "has a port that is not a number from 0 to 65535"
        )
        raise SettingsError(name, f"is not a valid address: it {reason}") from None
    return parts


def _check_database_url(url: str) -> None:
    """The parts SQLAlchemy will read (host, port, database) must parse, so that a typo stops
    start-up with one line instead of a traceback from the store."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    name = "BRIDGE_DATABASE_URL"
    _split_url(name, url)
    try:
        make_url(url)
    except (ArgumentError, ValueError):
        raise SettingsError(name, "is not a valid database address") from None


def _check_mapping(path: str) -> None:
    """Load the mapping file as `serve` will, so `check-config` judges it the same way."""
    from mappings import MappingError, load_mapping

    if not Path(path).is_file():
        raise SettingsError("BRIDGE_MAPPING", f"file {path!r} does not exist")
    try:
        load_mapping(path)
    except MappingError as error:
        raise SettingsError("BRIDGE_MAPPING", str(error)) from None


def _parse(env: Mapping[str, str]) -> Settings:
    def get(name: str) -> str | None:
        value = env.get(name)
        return value.strip() if value is not None and value.strip() else None

    def required(name: str) -> str:
        value = get(name)
        if value is None:
            raise SettingsError(name, "is required but not set")
        return value

    # Missing variables are reported in the order of the settings table, first one first.
    for name in REQUIRED_IN_ORDER:
        required(name)

    api_version = (get("CASPIO_API_VERSION") or "v3").lower()
    if api_version not in ("v2", "v3"):
        raise SettingsError("CASPIO_API_VERSION", f"must be v2 or v3, not {api_version!r}")

    stripe_key = required("STRIPE_SECRET_KEY")
    if not re.fullmatch(r"(sk|rk)_(test|live)_[A-Za-z0-9_]+", stripe_key):
        raise SettingsError("STRIPE_SECRET_KEY", "must look like sk_test_…, sk_live_… or rk_…")

    webhook_secrets = tuple(
        s.strip() for s in required("STRIPE_WEBHOOK_SECRET").split(",") if s.strip()
    )
    for secret in webhook_secrets:
        if not secret.startswith("whsec_") or len(secret) <= len("whsec_"):
            raise SettingsError("STRIPE_WEBHOOK_SECRET", "each secret must start with whsec_")
    if not webhook_secrets:
        raise SettingsError("STRIPE_WEBHOOK_SECRET", "is required but not set")

    database_url = get("BRIDGE_DATABASE_URL") or DEFAULT_DATABASE_URL
    if not re.match(r"(sqlite|postgresql|postgres)(\+\w+)?://", database_url):
        raise SettingsError("BRIDGE_DATABASE_URL", "must start with sqlite:// or postgresql://")
    _check_database_url(database_url)

    mapping = get("BRIDGE_MAPPING")
    if mapping is not None:
        _check_mapping(mapping)

    origins = tuple(
        _check_url("BRIDGE_ALLOWED_ORIGINS", o.strip().rstrip("/"))
        for o in (get("BRIDGE_ALLOWED_ORIGINS") or "").split(",")
        if o.strip()
    )
    optional_secret = {
        name: Secret(value) if (value := get(name)) else None
        for name in ("CASPIO_WEBHOOK_SECRET", "BRIDGE_ADMIN_TOKEN", "BRIDGE_LINK_SECRET")
    }
    admin_token = optional_secret["BRIDGE_ADMIN_TOKEN"]
    if admin_token is not None and len(admin_token.reveal()) < 16:
        raise SettingsError("BRIDGE_ADMIN_TOKEN", "must be at least 16 characters")
    link_secret = optional_secret["BRIDGE_LINK_SECRET"]
    if link_secret is not None and len(link_secret.reveal()) < 32:
        raise SettingsError("BRIDGE_LINK_SECRET", "must be at least 32 characters")
    link_days = _parse_positive_int("BRIDGE_LINK_DAYS", get("BRIDGE_LINK_DAYS") or "30", 365)

    log_format = (get("BRIDGE_LOG_FORMAT") or "text").lower()
    if log_format not in ("text", "json"):
        raise SettingsError("BRIDGE_LOG_FORMAT", f"must be text or json, not {log_format!r}")
    max_backlog_text = get("BRIDGE_READY_MAX_BACKLOG") or "1000"
    if not max_backlog_text.isdigit() or int(max_backlog_text) < 1:
        raise SettingsError("BRIDGE_READY_MAX_BACKLOG", "must be a positive whole number")

    poll_text = get("BRIDGE_POLL_SECONDS")
    poll_seconds = (
        None if not poll_text else _parse_positive_int("BRIDGE_POLL_SECONDS", poll_text, 86400)
    )

    def optional_url(name: str) -> str | None:
        value = get(name)
        return None if value is None else _check_url(name, value)

    return Settings(
        caspio_account_url=_check_url("CASPIO_ACCOUNT_URL", required("CASPIO_ACCOUNT_URL")),
        caspio_client_id=required("CASPIO_CLIENT_ID"),
        caspio_client_secret=Secret(required("CASPIO_CLIENT_SECRET")),
        caspio_api_version=api_version,
        caspio_webhook_secret=optional_secret["CASPIO_WEBHOOK_SECRET"],
        stripe_secret_key=Secret(stripe_key),
        stripe_webhook_secrets=tuple(Secret(s) for s in webhook_secrets),
        stripe_api_base=optional_url("STRIPE_API_BASE"),
        bridge_public_url=_check_url("BRIDGE_PUBLIC_URL", required("BRIDGE_PUBLIC_URL")),
        bridge_database_url=database_url,
        bridge_mapping=mapping,
        bridge_success_url=optional_url("BRIDGE_SUCCESS_URL"),
        bridge_cancel_url=optional_url("BRIDGE_CANCEL_URL"),
        bridge_allowed_origins=origins,
        bridge_admin_token=admin_token,
        bridge_past_due_access=_parse_bool(
            "BRIDGE_PAST_DUE_ACCESS", get("BRIDGE_PAST_DUE_ACCESS") or "true"
        ),
        bridge_link_secret=link_secret,
        bridge_link_days=link_days,
        bridge_log_format=log_format,
        bridge_ready_max_backlog=int(max_backlog_text),
        bridge_poll_seconds=poll_seconds,
    )


def _parse_bool(name: str, value: str) -> bool:
    lowered = value.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise SettingsError(name, f"must be true or false, not {value!r}")


def _parse_positive_int(name: str, value: str, maximum: int) -> int:
    if not re.fullmatch(r"[0-9]+", value) or not 1 <= int(value) <= maximum:
        raise SettingsError(name, f"must be a whole number from 1 to {maximum}, not {value!r}")
    return int(value)


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_url(name: str, value: str) -> str:
    """https everywhere, plain http only on loopback (the sandbox and tests)."""
    parts = _split_url(name, value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError(name, f"must be an https:// address, not {value!r}")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise SettingsError(name, "must use https (plain http is allowed only on loopback)")
    if parts.username or parts.password:
        raise SettingsError(name, "must not carry credentials in the address")
    return value.rstrip("/")
