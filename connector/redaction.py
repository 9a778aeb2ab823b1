"""No log record may carry a secret, at any level, from any library.

Installed as the process's log-record factory (`install()`), so it runs for every record any
logger creates, before any handler or formatter sees it: stripe-python's DEBUG response
bodies (a new webhook endpoint's signing secret), a traceback quoting a URL with a password,
gunicorn's own loggers. A record whose message or traceback holds a secret gets them replaced
by `****`; other records are left as they are.

Two kinds of secret are removed:
- every secret value the settings hold (`register_settings`), whatever it looks like;
- anything shaped like a Stripe secret even when no setting holds it (a webhook secret Stripe
  has just created, another account's key): `whsec_…`, `sk_live_…`/`sk_test_…`,
  `rk_live_…`/`rk_test_…`, client secrets `…_secret_…` (formats: https://docs.stripe.com/keys,
  https://docs.stripe.com/payments/payment-intents#passing-to-client), and `Bearer` tokens.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any

from connector.settings import Secret, Settings

MASK = "****"
# Shorter values are not redacted by value: "x" or "test" would blank out every log line.
MIN_SECRET_LENGTH = 8

SECRET_PATTERNS = re.compile(
    r"\b(?:whsec|sk_live|sk_test|rk_live|rk_test)_[A-Za-z0-9]+"
    r"|\b[a-z]{1,8}_[A-Za-z0-9]+_secret_[A-Za-z0-9]+"
    r"|(?<=Bearer )[A-Za-z0-9._~+/=-]+"
)

_lock = threading.Lock()
_secrets: frozenset[str] = frozenset()
_installed: list[Callable[..., logging.LogRecord]] = []


def register(values: Iterable[str]) -> None:
    """Redact these values from every later log record (long enough ones only)."""
    global _secrets
    with _lock:
        _secrets = _secrets | {v for v in values if v and len(v) >= MIN_SECRET_LENGTH}


def register_settings(settings: Settings) -> None:
    """Every secret the settings hold: the Caspio client and webhook secrets, the Stripe key
    and webhook secrets, the admin token, the link secret and the database password."""
    values: list[str] = []
    for field in dataclasses.fields(settings):
        value = getattr(settings, field.name)
        for item in value if isinstance(value, tuple) else (value,):
            if isinstance(item, Secret):
                values.append(item.reveal())
    password = _url_password(settings.bridge_database_url)
    if password:
        values.append(password)
    register(values)


def _url_password(url: str) -> str | None:
    from urllib.parse import unquote, urlsplit

    try:
        password = urlsplit(url).password
    except ValueError:
        return None
    return None if password is None else unquote(password)


def redact(text: str) -> str:
    """`text` with every registered secret and every Stripe-shaped secret replaced by ****."""
    # Longest first, so a secret that contains another is removed whole.
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return SECRET_PATTERNS.sub(MASK, text)


def scrub(record: logging.LogRecord) -> logging.LogRecord:
    """Replace the record's message (and traceback text) by redacted text if they differ."""
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: logging itself reports it later
        return record
    clean = redact(message)
    if clean != message:
        record.msg, record.args = clean, None
    if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
        text = logging.Formatter().formatException(record.exc_info)
        clean = redact(text)
        if clean != text:
            record.exc_text = clean  # formatters use exc_text when it is set
    return record


def install() -> None:
    """Make every log record of this process pass through `scrub` (idempotent)."""
    with _lock:
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            return scrub(previous(*args, **kwargs))

        _installed.append(previous)
        logging.setLogRecordFactory(factory)
    _silence_stripe_console()


def _silence_stripe_console() -> None:
    """stripe-python `print`s requests and response bodies to stderr, past logging, when the
    STRIPE_LOG variable says debug or info (stripe/_util.py reads it once, at import). The
    bridge logs through `logging` only, where the factory above redacts."""
    import stripe
    from stripe import _util

    stripe.log = None
    if getattr(_util, "STRIPE_LOG", None) is not None:
        _util.STRIPE_LOG = None
