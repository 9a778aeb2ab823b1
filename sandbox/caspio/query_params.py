"""The ``q.*`` query parameters of the records endpoints, with Caspio's defaults and bounds.

- names are case-insensitive (``q.orderby`` works) and every one may come without its
  ``q.`` prefix (``where``, ``select``, ``pageSize``, …, as Caspio's own n8n node sends
  them); when both forms are present the ``q.`` one wins;
- ``q.limit``: default 100, at most 1000 (a larger value is clamped to 1000, the reading of
  the spec's "max = 1000"; zero or negative is a 400);
- ``q.pageNumber``/``q.pageSize``: when either is present ``q.limit`` is ignored, the page
  number defaults to 1 and the size to 25; a size outside 5 to 1000 is 400
  ``IncorrectQueryParameter`` (observed for sizes under 5);
- ``q.getPaginationInfo`` (v3 only) adds ``Pagination``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sandbox.caspio import tsql
from sandbox.caspio.errors import bad_query

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
DEFAULT_PAGE_SIZE = 25
MIN_PAGE_SIZE = 5
MAX_PAGE_SIZE = 1000


@dataclass(frozen=True)
class RecordQuery:
    select: tsql.SelectList | None
    where: tsql.Condition | None
    group_by: list[tsql.Column] | None
    order_by: list[tsql.OrderItem] | None
    limit: int
    offset: int
    page_number: int
    pagination_info: bool


QUERY_PARAMETERS = (
    "q.select",
    "q.where",
    "q.groupby",
    "q.orderby",
    "q.limit",
    "q.pagenumber",
    "q.pagesize",
    "q.getpaginationinfo",
)


def lower_keys(args: Mapping[str, str]) -> dict[str, str]:
    """Caspio's parameter names are case-insensitive; the first value of a name wins; an
    unprefixed name (``where``, ``pageSize``) stands for its ``q.`` form."""
    lowered: dict[str, str] = {}
    for key, value in args.items():
        lowered.setdefault(key.lower(), value)
    for name in QUERY_PARAMETERS:
        bare = name[len("q."):]
        if name not in lowered and bare in lowered:
            lowered[name] = lowered[bare]
    return lowered


def where_text(params: Mapping[str, str]) -> str | None:
    """``q.where`` (or ``where``, folded in by :func:`lower_keys`); blank is missing."""
    text = params.get("q.where")
    if text is None:
        text = params.get("where")
    if text is None or not text.strip():
        return None
    return text


def parse_where(params: Mapping[str, str]) -> tsql.Condition | None:
    text = where_text(params)
    return None if text is None else tsql.parse_where(text)


def require_where(params: Mapping[str, str]) -> tsql.Condition:
    condition = parse_where(params)
    if condition is None:
        raise bad_query("The q.where parameter is required")
    return condition


def _integer(params: Mapping[str, str], name: str) -> int | None:
    text = params.get(name)
    if text is None or text.strip() == "":
        return None
    try:
        return int(text.strip())
    except ValueError:
        raise bad_query(f"The {name} parameter must be an integer") from None


def _boolean(params: Mapping[str, str], name: str) -> bool:
    text = params.get(name)
    if text is None or text.strip() == "":
        return False
    lowered = text.strip().lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise bad_query(f"The {name} parameter must be true or false")


def parse_record_query(params: Mapping[str, str], api_version: str) -> RecordQuery:
    """Validate the GET parameters (keys already lower-cased)."""
    page_number = _integer(params, "q.pagenumber")
    page_size = _integer(params, "q.pagesize")
    limit = _integer(params, "q.limit")
    if page_number is not None or page_size is not None:
        page_number = page_number if page_number is not None else 1
        page_size = page_size if page_size is not None else DEFAULT_PAGE_SIZE
        if not MIN_PAGE_SIZE <= page_size <= MAX_PAGE_SIZE:
            raise bad_query(f"The q.pageSize parameter must be from {MIN_PAGE_SIZE} to "
                            f"{MAX_PAGE_SIZE}")
        if page_number < 1:
            raise bad_query("The q.pageNumber parameter must be 1 or more")
        rows, offset = page_size, (page_number - 1) * page_size
    else:
        if limit is not None and limit < 1:
            raise bad_query("The q.limit parameter must be 1 or more")
        rows, offset, page_number = min(limit or DEFAULT_LIMIT, MAX_LIMIT), 0, 1
    select_text = params.get("q.select", "").strip()
    group_text = params.get("q.groupby", "").strip()
    order_text = params.get("q.orderby", "").strip()
    return RecordQuery(
        select=tsql.parse_select(select_text) if select_text else None,
        where=parse_where(params),
        group_by=tsql.parse_group_by(group_text) if group_text else None,
        order_by=tsql.parse_order_by(order_text) if order_text else None,
        limit=rows,
        offset=offset,
        page_number=page_number,
        pagination_info=api_version == "v3" and _boolean(params, "q.getpaginationinfo"),
    )
