"""The ocpp library's route map (@on handlers per action), worked out once per class, not per connection."""

from __future__ import annotations

from typing import Any

import ocpp.charge_point
import ocpp.routing

library_route_map = ocpp.routing.create_route_map
# Per class: (action, option, attribute name) of every routed method, and each action's switches.
_layouts: dict[type, tuple[list[tuple[str, str, str]], dict[str, dict[str, Any]]]] = {}


def route_map(obj: Any) -> dict[str, dict[str, Any]]:
    """The library's own map for this object, built from its class's layout: the library
    tries every decorated name of the process on every new connection (a boot storm's tenth)."""
    layout = _layouts.get(type(obj))
    if layout is None:
        routes = library_route_map(obj)
        methods = [(action, option, entry[option].__name__) for action, entry in routes.items()
                   for option in ("_on_action", "_after_action") if option in entry]
        switches = {action: {k: v for k, v in entry.items() if not k.startswith("_on")
                             and not k.startswith("_after")} for action, entry in routes.items()}
        _layouts[type(obj)] = layout = (methods, switches)
        return routes
    methods, switches = layout
    built: dict[str, dict[str, Any]] = {action: dict(values) for action, values in switches.items()}
    for action, option, name in methods:
        built[action][option] = getattr(obj, name)
    return built


def install() -> None:
    """ChargePoint.__init__ calls the map's builder by its module name."""
    ocpp.charge_point.create_route_map = route_map
