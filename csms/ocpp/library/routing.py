"""The ocpp library's route map (@on handlers per action), laid out once per class, bound on use."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any

import ocpp.charge_point
import ocpp.routing

library_route_map = ocpp.routing.create_route_map


@dataclass(frozen=True)
class Layout:
    """Per action: the names of its routed methods and its switches (skip validation)."""

    methods: dict[str, list[tuple[str, str]]]
    switches: dict[str, dict[str, Any]]


_layouts: dict[type, Layout] = {}


def _layout(obj: Any) -> Layout:
    layout = _layouts.get(type(obj))
    if layout is None:
        routes = library_route_map(obj)
        methods = {action: [(option, entry[option].__name__) for option in
                            ("_on_action", "_after_action") if option in entry]
                   for action, entry in routes.items()}
        switches = {action: {k: v for k, v in entry.items()
                             if k not in ("_on_action", "_after_action")}
                    for action, entry in routes.items()}
        _layouts[type(obj)] = layout = Layout(methods, switches)
    return layout


class RouteMap(MutableMapping[str, dict[str, Any]]):
    """What the library's map holds, built when a call comes in: a connection keeps only its
    object and the entries changed for it (a charger's leniency), not a dict per action."""

    __slots__ = ("_obj", "_layout", "_changed")

    def __init__(self, obj: Any) -> None:
        self._obj = obj
        self._layout = _layout(obj)
        self._changed: dict[str, dict[str, Any]] | None = None  # made by a first change: rare

    def __getitem__(self, action: str) -> dict[str, Any]:
        if self._changed is not None and action in self._changed:
            return self._changed[action]
        entry = dict(self._layout.switches[action])  # KeyError: the library's "not implemented"
        for option, name in self._layout.methods[action]:
            entry[option] = getattr(self._obj, name)
        return entry

    def handlers(self, action: str) -> tuple[Any, Any, bool]:
        """The call's @on and @after handlers (None where there is none) and whether its schema
        validation is skipped, without building the library's entry; KeyError: not routed."""
        entry = self._changed.get(action) if self._changed is not None else None
        if entry is not None:
            return (entry.get("_on_action"), entry.get("_after_action"),
                    bool(entry.get("_skip_schema_validation", False)))
        switches = self._layout.switches[action]
        on = after = None
        for option, name in self._layout.methods[action]:
            if option == "_on_action":
                on = getattr(self._obj, name)
            else:
                after = getattr(self._obj, name)
        return on, after, bool(switches.get("_skip_schema_validation", False))

    def __contains__(self, action: object) -> bool:
        return action in self._layout.switches  # without building the entry

    def __setitem__(self, action: str, entry: dict[str, Any]) -> None:
        if self._changed is None:
            self._changed = {}
        self._changed[action] = entry

    def __delitem__(self, action: str) -> None:
        raise TypeError("routes are fixed by the class")

    def __iter__(self) -> Iterator[str]:
        return iter(self._layout.switches)

    def __len__(self) -> int:
        return len(self._layout.switches)


def install() -> None:
    """ChargePoint.__init__ calls the map's builder by its module name; the library tried every
    decorated name of the process on every new connection (a boot storm's tenth)."""
    ocpp.charge_point.create_route_map = RouteMap
