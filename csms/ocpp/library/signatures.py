"""The ocpp library's look at a handler's signature on every call, made once per handler function."""

from __future__ import annotations

import inspect
import types
from typing import Any

import ocpp.charge_point

# Handlers are the adapters' methods: a few dozen functions. Bounded all the same.
MAX_HANDLERS = 1_000

_signatures: dict[tuple[Any, bool], inspect.Signature] = {}


def signature(handler: Any) -> inspect.Signature:
    """inspect.signature(handler), remembered per function: a method bound to any connection has
    the signature of any other's (its first parameter left out), so the key is the function and
    whether it is bound, not the bound method made afresh for each call."""
    function = getattr(handler, "__func__", None)
    key = (handler, False) if function is None else (function, True)
    try:
        known = _signatures.get(key)
    except TypeError:  # an unhashable callable: asked each time
        return inspect.signature(handler)
    if known is None:
        known = inspect.signature(handler)
        if len(_signatures) < MAX_HANDLERS:
            _signatures[key] = known
    return known


library_inspect = ocpp.charge_point.inspect


def install() -> None:
    """_handle_call computes inspect.signature(handler) for the call and again for its after-
    action, to see whether the handler takes call_unique_id: 4.8% of a saturated server (py-spy)
    for an answer that never changes. The library calls it by its module's name `inspect`."""
    if ocpp.charge_point.inspect is library_inspect:
        ocpp.charge_point.inspect = types.SimpleNamespace(  # type: ignore[assignment]
            signature=signature, isawaitable=inspect.isawaitable)
