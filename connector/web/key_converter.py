"""A URL converter for a Caspio key in a path segment: any non-empty text, slashes included.

A link quotes the key (`quote(key, safe='')`), but WSGI servers decode `%2F` into `/` in
PATH_INFO before routing, so a key such as `a/b` (Caspio accepts it in a Text key) arrives
as two segments. Werkzeug's `path` converter accepts inner slashes but not a leading one,
and the map's default slash merging would redirect `a//b`; this converter with
`merge_slashes=False` on its rule takes the whole rest of the path as the key, exactly.
"""

from __future__ import annotations

from typing import Any

from werkzeug.routing import PathConverter

NAME = "caspio_key"


class CaspioKeyConverter(PathConverter):
    """Matches one or more characters of any kind (PATH_INFO is already decoded)."""

    regex = ".+?"
    part_isolating = False  # spans segments (Werkzeug would infer True: no "/" above)


def register(app: Any) -> None:
    """Make `<caspio_key:…>` known to `app.url_map` (idempotent)."""
    app.url_map.converters.setdefault(NAME, CaspioKeyConverter)
