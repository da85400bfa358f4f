"""A handler's signature, remembered per function, is the one inspect gives for every connection."""

from __future__ import annotations

import functools
import inspect
from typing import Any

import ocpp.charge_point
import pytest

from csms.ocpp.library import signatures

signatures.install()


class Handlers:
    def on_boot(self, charge_point_vendor: str, **kwargs: Any) -> None: ...

    def on_stop(self, transaction_id: int, call_unique_id: str) -> None: ...

    async def on_async(self, *, reason: str = "") -> None: ...

    @classmethod
    def on_class(cls, x: int) -> None: ...

    @staticmethod
    def on_static(y: int, call_unique_id: str) -> None: ...


def plain(call_unique_id: str, a: int = 1) -> None: ...


def _handlers() -> list[Any]:
    one, two = Handlers(), Handlers()
    return [one.on_boot, two.on_boot, one.on_stop, two.on_stop, one.on_async, one.on_class,
            one.on_static, plain, Handlers.on_boot, Handlers.on_stop,
            functools.partial(plain, a=2), lambda call_unique_id=None: None]


@pytest.mark.parametrize("round_", [1, 2])  # the second round answers from what was remembered
def test_same_signature_as_inspect(round_: int) -> None:
    for handler in _handlers():
        assert signatures.signature(handler) == inspect.signature(handler), handler
        assert ocpp.charge_point.inspect.signature(handler) == inspect.signature(handler)


def test_a_function_bound_and_unbound_are_told_apart() -> None:
    bound = Handlers().on_stop
    assert "self" not in signatures.signature(bound).parameters
    assert "self" in signatures.signature(Handlers.on_stop).parameters
    assert "self" not in signatures.signature(Handlers().on_stop).parameters


def test_installed_where_the_library_looks() -> None:
    assert ocpp.charge_point.inspect.signature is signatures.signature
    assert ocpp.charge_point.inspect.isawaitable is inspect.isawaitable
