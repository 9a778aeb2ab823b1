"""Helpers shared by the resource modules: listing, filters, search queries."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ..errors import invalid
from ..forms import as_int, merge_metadata
from ..listing import paginate

if TYPE_CHECKING:
    from ..emulator import StripeEmulator

Obj = dict[str, Any]


def list_of(
    objects: Iterable[Obj], params: Obj, url: str, keep: Callable[[Obj], bool] | None = None
) -> Obj:
    """A Stripe list object, newest first, after ``keep`` and the ``created`` filter."""
    chosen = [o for o in objects if not o.get("deleted") and (keep is None or keep(o))]
    chosen = [o for o in chosen if created_matches(o, params.get("created"))]
    return paginate(list(reversed(chosen)), params, url)


def created_matches(obj: Obj, created: Any) -> bool:
    if created is None:
        return True
    when = obj.get("created", 0)
    if isinstance(created, str):
        return bool(when == as_int(created, "created"))
    bounds = {"gt": when.__gt__, "gte": when.__ge__, "lt": when.__lt__, "lte": when.__le__}
    for op, value in created.items():
        if op not in bounds:
            raise invalid(f"Invalid created filter: {op}", param=f"created[{op}]")
        if not bounds[op](as_int(value, f"created[{op}]")):
            return False
    return True


_CLAUSE = re.compile(
    r"""^\s*(?P<field>metadata\[(?P<q>['"])(?P<key>[^'"]+)(?P=q)\]|[a-z_]+)\s*:\s*"""
    r"""(?P<vq>['"])(?P<value>.*?)(?P=vq)\s*$"""
)


def parse_search(query: Any, fields: set[str]) -> list[tuple[str | None, str, str]]:
    """Stripe search: ``metadata['k']:'v' AND email:'a@b.c'`` → (metadata key, field, value)."""
    if not isinstance(query, str) or not query.strip():
        raise invalid("Missing required param: query.", param="query", code="parameter_missing")
    if re.search(r"\sOR\s", query, re.IGNORECASE):
        raise invalid("The emulator's search supports AND only.", param="query")
    clauses = []
    for part in re.split(r"\s+AND\s+", query.strip(), flags=re.IGNORECASE):
        match = _CLAUSE.match(part)
        if match is None:
            raise invalid(f"Invalid search query: {part}", param="query")
        key, field = match.group("key"), match.group("field")
        if key is None and field not in fields:
            raise invalid(f"Field '{field}' is an unsupported search field.", param="query")
        clauses.append((key, "metadata" if key is not None else field, match.group("value")))
    return clauses


def search_matches(obj: Obj, clauses: list[tuple[str | None, str, str]]) -> bool:
    for key, field, value in clauses:
        actual = (obj.get("metadata") or {}).get(key) if key is not None else obj.get(field)
        if actual is None or str(actual) != value:
            return False
    return True


def search_result(objects: list[Obj], params: Obj, url: str) -> Obj:
    limit = as_int(params.get("limit", 10), "limit")
    if not 1 <= limit <= 100:
        raise invalid("Invalid limit: must be between 1 and 100.", param="limit")
    start = as_int(params.get("page") or 0, "page")
    page = objects[start : start + limit]
    has_more = start + limit < len(objects)
    return {
        "object": "search_result",
        "data": page,
        "has_more": has_more,
        "next_page": str(start + limit) if has_more else None,
        "url": url,
    }


def list_by_charge(em: StripeEmulator, kind: str, params: Obj, url: str) -> Obj:
    """List refunds or disputes, optionally filtered by ``charge`` and ``payment_intent``."""
    from ..api import require_params  # the api module imports the resources at start-up

    require_params(
        params, {"charge", "payment_intent", "limit", "starting_after", "ending_before", "created"}
    )
    charge, pi = params.get("charge"), params.get("payment_intent")
    return list_of(
        em.store.all(kind),
        params,
        url,
        lambda o: (not charge or o["charge"] == charge) and (not pi or o["payment_intent"] == pi),
    )


def update_metadata(em: StripeEmulator, kind: str, id: str, params: Obj) -> Obj:
    """``POST /v1/<kind>s/<id>`` for objects whose only writable field is ``metadata``."""
    from ..api import require_params

    require_params(params, {"metadata"})
    obj = em.store.require(kind, id)
    with em.bus.updating(obj, f"{kind}.updated"):
        if "metadata" in params:
            obj["metadata"] = merge_metadata(obj["metadata"], params["metadata"])
    return obj
