"""Stripe's form encoding: ``items[0][price]=…``, ``metadata[k]=…``, ``expand[]=…``.

Decodes flat (key, value) pairs into nested dicts and lists, and coerces leaf strings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from .errors import invalid

_SEGMENT = re.compile(r"\[([^\[\]]*)\]")
_APPEND = object()  # marks ``key[]``


def _split(key: str) -> list[str]:
    head, bracket, rest = key.partition("[")
    if not bracket:
        return [key]
    tail = "[" + rest
    segments = _SEGMENT.findall(tail)
    if "".join(f"[{s}]" for s in segments) != tail:
        raise invalid(f"Invalid parameter name: {key}", param=key)
    return [head, *segments]


def _listify(node: Any) -> Any:
    """Turn dicts keyed 0..n (or built by ``[]``) into lists, depth first."""
    if isinstance(node, dict):
        converted = {k: _listify(v) for k, v in node.items()}
        if converted and all(isinstance(k, int) for k in converted):
            return [converted[k] for k in sorted(converted)]
        return converted
    return node


def decode(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    root: dict[Any, Any] = {}
    for key, value in pairs:
        path = _split(key)
        node = root
        for i, segment in enumerate(path):
            last = i == len(path) - 1
            slot: Any
            if segment == "":
                # ``a[]`` appends: the next free integer index keeps the order.
                slot = len(node)
            elif segment.isdigit():
                slot = int(segment)
            else:
                slot = segment
            if last:
                node[slot] = value
            else:
                child = node.get(slot)
                if not isinstance(child, dict):
                    child = {}
                    node[slot] = child
                node = child
    decoded: dict[str, Any] = _listify(root)
    return decoded


def as_int(value: Any, param: str, minimum: int | None = None) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise invalid(f"Invalid integer: {value}", param=param) from None
    if minimum is not None and number < minimum:
        raise invalid(f"This value must be greater than or equal to {minimum}.", param=param)
    return number


def as_bool(value: Any, param: str) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("true", "True", "1"):
        return True
    if value in ("false", "False", "0"):
        return False
    raise invalid(f"Invalid boolean: {value}", param=param)


def as_list(value: Any, param: str) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, str):
        return [value]
    raise invalid(f"Invalid array: {param}", param=param)


def as_dict(value: Any, param: str) -> dict[str, Any]:
    if value is None or value == "":
        return {}
    if not isinstance(value, dict):
        raise invalid(f"Invalid object: {param}", param=param)
    return value


METADATA_KEYS = 50
METADATA_KEY_LENGTH = 40
METADATA_VALUE_LENGTH = 500


def merge_metadata(current: dict[str, str], update: Any) -> dict[str, str]:
    """Stripe's metadata update: keys merge, an empty value deletes, ``metadata=""`` clears.

    Stripe's limits: at most 50 keys, keys of at most 40 characters, values of at most 500.
    """
    if update == "":
        return {}
    merged = dict(current)
    for key, value in as_dict(update, "metadata").items():
        key, value = str(key), str(value)
        if len(key) > METADATA_KEY_LENGTH:
            raise invalid(
                f"Metadata keys can have up to {METADATA_KEY_LENGTH} characters (key: {key!r}).",
                param=f"metadata[{key}]",
            )
        if len(value) > METADATA_VALUE_LENGTH:
            raise invalid(
                f"Metadata values can have up to {METADATA_VALUE_LENGTH} characters, but you "
                f"passed in a value that is {len(value)} characters.",
                param=f"metadata[{key}]",
            )
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    if len(merged) > METADATA_KEYS:
        raise invalid(
            f"Invalid metadata: metadata can have up to {METADATA_KEYS} keys, but you passed "
            f"in {len(merged)} keys.",
            param="metadata",
        )
    return merged
