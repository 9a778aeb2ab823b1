"""Keep an emulator's state in a file, so a stopped sandbox resumes where it was.

``save(em, path)`` writes every object, the private notes, the clock, what each timer still
watches and the idempotency keys; ``load(em, path)`` puts them into a fresh emulator before
it serves. Webhook deliveries not yet done (queued, awaiting a retry or in flight) are saved
too; after ``load``, ``redeliver`` sends them again, to each endpoint's current URL, as Stripe
keeps retrying an undelivered event. A delivery that was in flight may so arrive twice, which
Stripe allows and receivers must handle (they dedupe by event id).

The file is a pickle, not JSON, because objects share nested dicts (a subscription's items
are also stored as subscription_item objects) and one pickle keeps those links. It is the
emulator's own file in the sandbox's data folder; never load one from elsewhere.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .emulator import StripeEmulator

FORMAT = 1


def _state(em: StripeEmulator) -> dict[str, Any]:
    store = em.store
    return {
        "format": FORMAT,
        "now": em.clock.now(),
        "objects": store._objects,
        "by_type": dict(store._by_type),
        "notes": dict(store.notes),
        # Timers keep ids of objects that may still fall due (renewals, retries, phases,
        # Checkout expiry); their order is fixed by registration at start-up.
        "watched": [dict(getattr(timer, "_watched", {})) for timer in em.billing.timers],
        "idempotency": em.idempotency._responses,
        "deliveries": em.dispatcher.queued(),
    }


def save(em: StripeEmulator, path: str | Path) -> None:
    """Write the state to ``path`` atomically (a crash leaves the previous file whole)."""
    target = Path(path)
    temporary = target.with_name(target.name + ".tmp")
    with em.store.lock:
        data = pickle.dumps(_state(em), protocol=pickle.HIGHEST_PROTOCOL)
    temporary.write_bytes(data)
    os.replace(temporary, target)


def load(em: StripeEmulator, path: str | Path) -> bool:
    """Restore a saved state into ``em``; False when there is no file (a fresh start).

    Raises ValueError for a file of another format.
    """
    source = Path(path)
    if not source.is_file():
        return False
    try:
        state = pickle.loads(source.read_bytes())  # noqa: S301 - our own file, see above
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError) as error:
        raise ValueError(f"{source}: not a Stripe emulator state ({error})") from error
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"{source}: not a Stripe emulator state of format {FORMAT}")
    with em.store.lock:
        em.store.clear()
        em.store._objects.update(state["objects"])
        for kind, objects in state["by_type"].items():
            em.store._by_type[kind].update(objects)
        for object_id, notes in state["notes"].items():
            em.store.notes[object_id].update(notes)
        with em.clock._lock:  # the saved time wins, even over a later start time
            em.clock._now = int(state["now"])
        for timer, watched in zip(em.billing.timers, state["watched"], strict=False):
            if hasattr(timer, "_watched"):
                timer._watched.update(watched)
        em.billing._due_cache = None
        em.idempotency._responses.update(state["idempotency"])
        # Optional: files saved before deliveries were kept have none.
        em.resumed_deliveries = list(state.get("deliveries", []))
    return True


def redeliver(em: StripeEmulator) -> int:
    """Queue the deliveries the loaded state still owed; returns how many.

    Call it once the endpoints point where they should: each goes to its endpoint's URL and
    secrets as they are now, and one whose endpoint was deleted is dropped.
    """
    owed, em.resumed_deliveries = em.resumed_deliveries, []
    deliveries = []
    with em.store.lock:
        for delivery in owed:
            endpoint = em.store.get(delivery["endpoint_id"])
            if endpoint is None:
                continue
            notes = em.store.notes[endpoint["id"]]
            deliveries.append({**delivery, "url": endpoint["url"],
                               "secret": [notes["secret"], *notes.get("old_secrets", [])]})
    em.dispatcher.submit(deliveries)
    return len(deliveries)
