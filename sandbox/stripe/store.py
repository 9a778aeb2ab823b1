"""The state: every object by id, in creation order, plus private per-object notes.

One re-entrant lock guards all of it; the app holds it for a whole request and the clock
holds it for a whole advance, so handlers never see half-made changes.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import Any

from .errors import no_such

Obj = dict[str, Any]


class Store:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._objects: dict[str, Obj] = {}
        self._by_type: dict[str, dict[str, Obj]] = defaultdict(dict)
        # Engine-private facts that are not part of any Stripe shape (card profile of a
        # payment method, the payment intent of an invoice, endpoint secrets, …).
        self.notes: dict[str, dict[str, Any]] = defaultdict(dict)

    def put(self, obj: Obj, object_type: str | None = None) -> Obj:
        kind = object_type or obj["object"]
        self._objects[obj["id"]] = obj
        self._by_type[kind][obj["id"]] = obj
        return obj

    def get(self, object_id: str) -> Obj | None:
        return self._objects.get(object_id)

    def require(self, object_type: str, object_id: Any, param: str = "id") -> Obj:
        """The live object of ``object_type``, or Stripe's 404."""
        obj = self._objects.get(object_id) if isinstance(object_id, str) else None
        if obj is None or obj.get("deleted") or object_id not in self._by_type[object_type]:
            raise no_such(object_type, str(object_id), param)
        return obj

    def all(self, object_type: str) -> list[Obj]:
        """Objects of one type, oldest first."""
        return list(self._by_type[object_type].values())

    def replace(self, object_type: str, obj: Obj) -> None:
        """Swap an object for its deleted stub, keeping its place."""
        self._objects[obj["id"]] = obj
        self._by_type[object_type][obj["id"]] = obj

    def drop_oldest(self, object_type: str, older_than: int) -> int:
        """Forget objects of a type created before ``older_than`` (they are in time order)."""
        objects = self._by_type[object_type]
        dropped = 0
        for object_id in list(objects)[:10_000]:
            if objects[object_id].get("created", 0) >= older_than:
                break
            del objects[object_id]
            self._objects.pop(object_id, None)
            self.notes.pop(object_id, None)
            dropped += 1
        return dropped

    def clear(self) -> None:
        self._objects.clear()
        self._by_type.clear()
        self.notes.clear()

    def count(self) -> int:
        return len(self._objects)
