"""Caspio's parameter substitution in DataPage HTML and destination URLs.

Caspio replaces bracketed parameters before a page reaches the browser: ``[@field:X]`` is
field X of the record being shown (results pages, details pages, HTML blocks),
``[@InsertRecordX]`` is field X of the record a Submission Form has just inserted (only in
the destination after submit), ``[@app:X]`` an App Parameter, and ``[@X]`` an external
parameter passed in the page's query string. An unknown parameter becomes blank, as on
Caspio. Caspio's own help pages describe the syntax ("Parameters", "Inserted record
parameters", "App parameters").

In HTML the values are HTML-escaped; in a URL they are percent-encoded (a destination URL's
parameters are "encoded for URL" in the wizard), except App Parameters, which the builder
sets and which may hold a whole base address.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Literal
from urllib.parse import quote

Encoding = Literal["html", "url", "none"]

_PARAMETER = re.compile(r"\[@(?:(field|app):([A-Za-z0-9_]+)|InsertRecord([A-Za-z0-9_]+)"
                        r"|([A-Za-z0-9_]+))\]")


def shown(value: object) -> str:
    """A field value as a DataPage prints it: blank for null, Yes/No, no float noise."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, float):
        return str(Decimal(repr(value)))
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


def _raw(source: Mapping[str, object] | None, name: str) -> str:
    for key, value in (source or {}).items():
        if key.lower() == name.lower():
            return shown(value)
    return ""


def substitute(
    text: str,
    *,
    record: Mapping[str, object] | None = None,
    inserted: Mapping[str, object] | None = None,
    app: Mapping[str, object] | None = None,
    external: Mapping[str, object] | None = None,
    encoding: Encoding = "html",
) -> str:
    """``text`` with every ``[@…]`` parameter replaced by its value, encoded."""
    encode: Callable[[str], str] = {
        "html": lambda s: html.escape(s, quote=True),
        "url": lambda s: quote(s, safe=""),
        "none": lambda s: s,
    }[encoding]

    def lookup(source: Mapping[str, object] | None, name: str) -> str:
        if source is None:
            return ""
        # Caspio's names are case-insensitive.
        for key, value in source.items():
            if key.lower() == name.lower():
                return encode(shown(value))
        return ""

    def replace(match: re.Match[str]) -> str:
        kind, name, inserted_name, external_name = match.groups()
        if kind == "field":
            return lookup(record, name)
        if kind == "app":
            # App Parameters are the builder's own settings (the bridge's address is one):
            # a URL built from one keeps its slashes.
            value = lookup(app, name) if encoding != "url" else _raw(app, name)
            return value
        if inserted_name is not None:
            return lookup(inserted, inserted_name)
        return lookup(external, external_name)

    return _PARAMETER.sub(replace, text)
