"""List objects (``limit``, ``starting_after``, ``ending_before``) and ``expand[]``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .errors import invalid
from .forms import as_int, as_list
from .shapes import clone

Obj = dict[str, Any]

# (object type, field) -> function building a field that appears only when expanded.
Includable = Callable[[Obj], Any]


def paginate(newest_first: Sequence[Obj], params: dict[str, Any], url: str) -> Obj:
    limit = as_int(params.get("limit", 10), "limit")
    if not 1 <= limit <= 100:
        raise invalid("Invalid limit: must be between 1 and 100.", param="limit")
    items = list(newest_first)
    after, before = params.get("starting_after"), params.get("ending_before")
    if after and before:
        raise invalid(
            "You may only specify one of these parameters: ending_before, starting_after."
        )
    ids = [o["id"] for o in items]
    if after:
        if after not in ids:
            raise invalid(f"No such object: '{after}'", param="starting_after")
        items = items[ids.index(after) + 1 :]
        page, has_more = items[:limit], len(items) > limit
    elif before:
        if before not in ids:
            raise invalid(f"No such object: '{before}'", param="ending_before")
        items = items[: ids.index(before)]
        page, has_more = items[-limit:], len(items) > limit
    else:
        page, has_more = items[:limit], len(items) > limit
    return {"object": "list", "data": page, "has_more": has_more, "url": url}


class Expander:
    """Replaces ids by objects along dotted paths (``latest_invoice.payments``)."""

    def __init__(
        self,
        lookup: Callable[[str], Obj | None],
        includables: dict[tuple[str, str], Includable],
    ) -> None:
        self._lookup = lookup
        self._includables = includables

    def render(self, obj: Obj, params: dict[str, Any]) -> Obj:
        out: Obj = clone(obj)
        for path in as_list(params.get("expand"), "expand"):
            if not isinstance(path, str) or not path:
                raise invalid("Invalid expand", param="expand")
            if len([s for s in path.split(".") if s != "data"]) > 4:
                raise invalid(
                    f"You cannot expand more than 4 levels of a property. Property: {path}",
                    param="expand",
                )
            out = self._expand(out, path.split("."), path)
        return out

    def _expand(self, value: Any, segments: list[str], path: str) -> Any:
        if isinstance(value, list):
            return [self._expand(v, segments, path) for v in value]
        if isinstance(value, str):
            found = self._lookup(value)
            value = clone(found) if found is not None else value
        if not segments or not isinstance(value, dict):
            return value
        head, rest = segments[0], segments[1:]
        if head not in value:
            build = self._includables.get((str(value.get("object")), head))
            if build is None:
                raise invalid(f"This property cannot be expanded ({path}).", param="expand")
            value[head] = build(value)
        child = value[head]
        if child is None:
            return value
        if rest or isinstance(child, str):
            value[head] = self._expand(child, rest, path)
        return value
