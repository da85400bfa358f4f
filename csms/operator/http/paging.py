"""The admin API's one paging convention: every list answers {items, limit, offset, total}."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_OFFSET = 10**9


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int


def page_of(request: web.Request) -> Page:
    """The page a list request asks for (query limit, offset); 400 with the reason otherwise."""
    from csms.operator.http.api import query_int  # it imports this module

    limit = query_int(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    offset = query_int(request, "offset", 0, 0, MAX_OFFSET)
    assert limit is not None and offset is not None
    return Page(limit, offset)


def answer(items: list[Any], total: int, page: Page) -> dict[str, Any]:
    return {"items": items, "limit": page.limit, "offset": page.offset, "total": total}


def sliced(items: Sequence[Any], page: Page) -> dict[str, Any]:
    """A page of a list held whole (a charger's EVSEs, monitors, …)."""
    return answer(list(items[page.offset:page.offset + page.limit]), len(items), page)


def parameters() -> list[dict[str, Any]]:
    """The OpenAPI query parameters of every list route."""
    return [{"name": "limit", "in": "query", "required": False,
             "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
                        "default": DEFAULT_LIMIT}},
            {"name": "offset", "in": "query", "required": False,
             "schema": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0}}]


def schema(item: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI schema of a page of `item`s."""
    count = {"type": "integer", "minimum": 0}
    return {"type": "object", "additionalProperties": False,
            "required": ["items", "limit", "offset", "total"],
            "properties": {"items": {"type": "array", "items": item},
                           "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
                           "offset": count, "total": count}}
