"""The route map laid out once per class gives what the library's own map gives, per connection."""

from __future__ import annotations

import pytest

from csms.ocpp.library import routing
from csms.ocpp.ocpp16 import Ocpp16Adapter
from csms.ocpp.ocpp201 import Ocpp201Adapter


@pytest.mark.parametrize("adapter", [Ocpp16Adapter, Ocpp201Adapter])
def test_same_map_as_the_library(adapter: type) -> None:
    first, second = object.__new__(adapter), object.__new__(adapter)
    routing.RouteMap(first)  # lays out the class
    built = routing.RouteMap(second)
    assert dict(built) == routing.library_route_map(second)
    assert built["Heartbeat"]["_on_action"].__self__ is second  # bound to its own connection
    with pytest.raises(KeyError):
        built["NoSuchAction"]


def test_a_change_stays_with_its_connection() -> None:
    first, second = object.__new__(Ocpp16Adapter), object.__new__(Ocpp16Adapter)
    lenient, strict = routing.RouteMap(first), routing.RouteMap(second)
    lenient["MeterValues"] = {**lenient["MeterValues"], "_skip_schema_validation": True}
    assert lenient["MeterValues"]["_skip_schema_validation"] is True
    assert strict["MeterValues"]["_skip_schema_validation"] is False


@pytest.mark.parametrize("adapter", [Ocpp16Adapter, Ocpp201Adapter])
def test_the_dispatchers_handlers_are_the_librarys_entry(adapter: type) -> None:
    charger = object.__new__(adapter)
    routes, library = routing.RouteMap(charger), routing.library_route_map(charger)
    routes["MeterValues"] = {**routes["MeterValues"], "_skip_schema_validation": True}
    library["MeterValues"]["_skip_schema_validation"] = True
    for action, entry in library.items():
        assert routes.handlers(action) == (entry.get("_on_action"), entry.get("_after_action"),
                                           entry["_skip_schema_validation"])
    assert any(after is not None for _, after, _ in map(routes.handlers, library))
    with pytest.raises(KeyError):
        routes.handlers("NoSuchAction")
