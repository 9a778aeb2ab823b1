"""Structured logs: text by default, one JSON object per line with BRIDGE_LOG_FORMAT=json.

Every record carries the context bound with `log_context(...)` (the Stripe event id and
type, the invoice id) and, when the record's exception is a Caspio error, Caspio's request
id. Only these named fields are added: nothing from a request body, header or setting, so a
secret or card number can reach a log line only if the message itself contains it.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TextIO

# Context fields, in output order. Values are ids Stripe or Caspio made, never payloads.
CONTEXT_FIELDS = ("event_id", "event_type", "invoice_id", "caspio_request_id")

_context: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "caspio_stripe_log_context", default=None
)


@contextmanager
def log_context(**fields: str | None) -> Iterator[None]:
    """Bind ids to every log record made inside the block (this thread or task only)."""
    current = dict(_context.get() or {})
    current.update({k: v for k, v in fields.items() if v and k in CONTEXT_FIELDS})
    token = _context.set(current)
    try:
        yield
    finally:
        _context.reset(token)


def event_log_fields(event: dict[str, Any]) -> dict[str, str | None]:
    """`event_id`, `event_type` and `invoice_id` of a Stripe event (shape: Stripe's event
    object; the invoice is the object itself or its `invoice` field)."""
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    obj = obj if isinstance(obj, dict) else {}
    invoice = obj.get("id") if obj.get("object") == "invoice" else obj.get("invoice")
    if isinstance(invoice, dict):
        invoice = invoice.get("id")
    return {
        "event_id": _text(event.get("id")),
        "event_type": _text(event.get("type")),
        "invoice_id": _text(invoice),
    }


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


class ContextFilter(logging.Filter):
    """Copies the bound context (and a Caspio error's request id) onto each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in (_context.get() or {}).items():
            if not hasattr(record, name):
                setattr(record, name, value)
        error = record.exc_info[1] if record.exc_info else None
        request_id = getattr(error, "request_id", None)
        if isinstance(request_id, str) and request_id and not hasattr(record, "caspio_request_id"):
            record.caspio_request_id = request_id
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value:
                entry[name] = value
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        ids = " ".join(
            f"{name}={getattr(record, name)}"
            for name in CONTEXT_FIELDS
            if getattr(record, name, None)
        )
        return f"{text} [{ids}]" if ids else text


if TYPE_CHECKING:
    _StreamHandler = logging.StreamHandler[TextIO]
else:  # not subscriptable at run time on Python 3.10
    _StreamHandler = logging.StreamHandler


class _BridgeHandler(_StreamHandler):
    """The stderr handler `configure_logging` installs (and may replace)."""


def configure_logging(level: str = "info", log_format: str = "text") -> None:
    """Log to stderr at `level` as `text` or `json` (replacing an earlier call's handler).

    Like `logging.basicConfig`, a no-op when the host (pytest, gunicorn) has configured
    logging already."""
    root = logging.getLogger()
    ours = [h for h in root.handlers if isinstance(h, _BridgeHandler)]
    if len(ours) != len(root.handlers):
        return
    root.setLevel(level.upper())
    for handler in ours:
        root.removeHandler(handler)
    handler = _BridgeHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(ContextFilter())
    root.addHandler(handler)


def log_format_from_env() -> str:
    """BRIDGE_LOG_FORMAT from the environment or `.env`, read before the other settings so
    that a settings error is itself logged in the chosen format; anything unknown is text
    (`Settings.from_env` reports it)."""
    import os
    from pathlib import Path

    value = os.environ.get("BRIDGE_LOG_FORMAT")
    if value is None and Path(".env").is_file():
        from connector.settings import SettingsError, read_env_file

        try:
            value = read_env_file(Path(".env")).get("BRIDGE_LOG_FORMAT")
        except (OSError, UnicodeDecodeError, SettingsError):
            value = None
    return "json" if (value or "").strip().lower() == "json" else "text"
