"""`--since` values: a duration back from now (`30d`, `12h`, `1d6h`, `90m`) or a moment
(`2026-11-01`, `2026-11-01T08:00:00Z`, unix seconds)."""

from __future__ import annotations

import datetime as dt
import re

import click

_UNITS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION = re.compile(r"^(?:\d+[wdhms])+$")


def parse_since(text: str, *, now: float) -> int:
    """Unix seconds for `text`; raises ValueError with a one-line reason."""
    value = text.strip().lower()
    if _DURATION.match(value):
        seconds = sum(int(n) * _UNITS[u] for n, u in re.findall(r"(\d+)([wdhms])", value))
        return int(now) - seconds
    if value.isdigit():
        return int(value)
    try:
        moment = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{text!r} is neither a duration (30d, 12h, 1d6h) nor a date or time "
            "(2026-11-01, 2026-11-01T08:00:00Z)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)  # the bridge's times are UTC
    return int(moment.timestamp())


class SinceType(click.ParamType[int, object]):
    """A click parameter giving unix seconds (durations are taken back from now)."""

    name = "TIME|DURATION"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> int:
        if isinstance(value, int):
            return value
        import time

        try:
            return parse_since(str(value), now=time.time())
        except ValueError as error:
            self.fail(str(error), param, ctx)
