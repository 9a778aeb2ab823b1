"""The one JSON decoder of every request body the app parses (`request.get_json`).

A body nested deeper than `inbox.MAX_DEPTH` (the Stripe webhook's own limit) is a 400 from
here, before any view sees it: the standard decoder raises `RecursionError` near 1,000
levels, which `get_json(silent=True)` does not catch, so an endpoint answered 500.
"""

from __future__ import annotations

from typing import Any

from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import BadRequest

from connector.sync.inbox import MAX_DEPTH, _deeper_than


class NestedTooDeeply(BadRequest):
    description = f"The JSON body nests more than {MAX_DEPTH} levels."


class DepthLimitedJSONProvider(DefaultJSONProvider):
    """Flask's provider whose `loads` refuses nesting past MAX_DEPTH with `NestedTooDeeply`
    (a 400 that `get_json(silent=True)` lets through: it only swallows ValueError)."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            value = super().loads(s, **kwargs)
        except RecursionError:
            raise NestedTooDeeply() from None
        if _deeper_than(value, MAX_DEPTH):
            raise NestedTooDeeply()
        return value
