"""SQL Server's default string semantics, registered on the SQLite connection.

Caspio runs on SQL Server with a case-insensitive, accent-sensitive collation: ``'abc' =
'ABC'`` is true, trailing spaces are ignored by ``=`` (``'a' = 'a '``), and ``LIKE`` is
case-insensitive with ``%``, ``_``, ``[abc]``, ``[a-z]`` and ``[^abc]``.
"""

from __future__ import annotations

import re
import sqlite3
from functools import lru_cache


def _key(text: str) -> str:
    return text.rstrip(" ").lower()


def caspio_ci(left: str, right: str) -> int:
    """Collation callback: compare like SQL_Latin1_General_CP1_CI_AS (close enough)."""
    a, b = _key(left), _key(right)
    return (a > b) - (a < b)


@lru_cache(maxsize=512)
def like_regex(pattern: str, escape: str | None) -> re.Pattern[str]:
    """Translate a T-SQL LIKE pattern into an anchored, case-insensitive regex."""
    out: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if escape is not None and char == escape and index + 1 < len(pattern):
            out.append(re.escape(pattern[index + 1]))
            index += 2
            continue
        if char == "%":
            out.append(".*")
        elif char == "_":
            out.append(".")
        elif char == "[":
            end = pattern.find("]", index + 2)
            if end == -1:
                out.append(re.escape(char))
            else:
                out.append(_char_class(pattern[index + 1:end]))
                index = end
        else:
            out.append(re.escape(char))
        index += 1
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


def _char_class(body: str) -> str:
    negate = body.startswith("^")
    if negate:
        body = body[1:]
    parts = []
    index = 0
    while index < len(body):
        if index + 2 < len(body) and body[index + 1] == "-":
            parts.append(f"{re.escape(body[index])}-{re.escape(body[index + 2])}")
            index += 3
        else:
            parts.append(re.escape(body[index]))
            index += 1
    return "[" + ("^" if negate else "") + "".join(parts) + "]"


def caspio_like(value: object, pattern: object, escape: str | None) -> int | None:
    if value is None or pattern is None:
        return None
    return 1 if like_regex(str(pattern), escape).fullmatch(str(value)) else 0


def register(connection: sqlite3.Connection) -> None:
    connection.create_collation("CASPIO_CI", caspio_ci)
    connection.create_function("caspio_like", 3, caspio_like, deterministic=True)
