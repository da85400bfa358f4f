"""Request bodies as JSON: parsed in one place, refused in one line when malformed or nested too deep."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

# Deeper bodies are refused: no request of ours nests more than a few levels, and the parser (or
# a later json.dumps of the value) would otherwise end in a RecursionError.
MAX_DEPTH = 32


class BadJson(ValueError):
    """The body is not JSON we read: the message says why, for a 400."""


def nesting(value: Any) -> int:
    """How deeply objects and arrays nest in a parsed JSON value (a scalar: 0)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            if depth <= MAX_DEPTH:
                stack.extend((child, depth + 1) for child in
                             (item.values() if isinstance(item, dict) else item))
    return deepest


def _no_constant(name: str) -> Any:
    raise json.JSONDecodeError(f"{name} is not a JSON value", name, 0)


def loads(text: str | bytes) -> Any:
    """JSON as RFC 8259 has it: Python's NaN and Infinity are refused (PostgreSQL's jsonb
    refuses them too, which would fail the change's audit row or its store)."""
    return json.loads(text, parse_constant=_no_constant)


async def json_body(request: web.Request) -> Any:
    """The request's JSON value, or BadJson."""
    try:
        data = await request.json(loads=loads)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadJson(f"body is not valid JSON: {exc}") from None
    except RecursionError:
        raise BadJson(f"body nests deeper than {MAX_DEPTH} levels") from None
    if nesting(data) > MAX_DEPTH:
        raise BadJson(f"body nests deeper than {MAX_DEPTH} levels")
    return data
