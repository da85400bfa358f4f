"""The route map worked out once per class equals the library's own, connection by connection."""

from __future__ import annotations

import pytest

from csms import routing
from csms.ocpp16 import Ocpp16Adapter
from csms.ocpp201 import Ocpp201Adapter


@pytest.mark.parametrize("adapter", [Ocpp16Adapter, Ocpp201Adapter])
def test_same_map_as_the_library(adapter: type) -> None:
    first, second = object.__new__(adapter), object.__new__(adapter)
    routing.route_map(first)  # works out the class's layout
    built = routing.route_map(second)
    assert built == routing.library_route_map(second)
    assert built["Heartbeat"]["_on_action"].__self__ is second  # bound to its own connection
    assert routing.route_map(first)["Heartbeat"] is not built["Heartbeat"]  # not shared
