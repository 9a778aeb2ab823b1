"""Events rendered in another Stripe API version are re-read before any handler sees them.

See `connector.stripe_versions` for why. The dispatcher calls `pinned_event` on every
handled event: an event in the pinned version passes untouched (no call); any other gets its
`data.object` replaced by the object read from Stripe now, at the pinned version (one
counted call), and is marked `REREAD` so that a handler that re-reads anyway need not read
it twice. What cannot be re-read raises `ApiVersionMismatch`: the worker parks the event
dead at once, with the reason, for `replay` once the endpoint is fixed.
"""

from __future__ import annotations

import copy
from typing import Any

import stripe

from connector.stripe_versions import is_pinned, mismatch
from connector.sync.context import SyncContext

#: Set on an event whose `data.object` was read from Stripe at the pinned version.
REREAD = "bridge_reread_at_pinned_version"

#: The object types the handled events carry, all readable by `StripeReader.retrieve`.
READABLE = frozenset({"invoice", "subscription", "charge", "dispute", "payout", "checkout.session"})


def pinned_event(ctx: SyncContext, event: dict[str, Any]) -> dict[str, Any]:
    """`event` itself when rendered in the pinned version, else a copy whose object was
    re-read at the pinned version. Raises `ApiVersionMismatch` when that is impossible."""
    if is_pinned(event):
        return event
    obj = (event.get("data") or {}).get("object")
    if not isinstance(obj, dict):
        raise mismatch(event, "is not an object")
    object_type, object_id = obj.get("object"), obj.get("id")
    if object_type not in READABLE or not isinstance(object_id, str) or not object_id:
        raise mismatch(event, "cannot be re-read")
    if ctx.stripe is None:
        raise mismatch(event, "cannot be re-read without a Stripe client")
    try:
        fresh = ctx.stripe.retrieve(str(object_type), object_id)
    except stripe.InvalidRequestError as exc:
        if exc.http_status == 404:
            raise mismatch(event, "is gone from Stripe (404), so it cannot be re-read") from exc
        raise
    reread = copy.copy(event)
    reread["data"] = {**(event.get("data") or {}), "object": fresh}
    reread[REREAD] = True
    return reread
