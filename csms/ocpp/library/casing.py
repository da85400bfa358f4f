"""The ocpp library's camelCase ↔ snake_case key translation, remembered per key name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ocpp.charge_point

# Key names come from a charger too (2.0.1 customData may hold any): remember a bounded number.
MAX_NAMES = 10_000


def _remembering(translate: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """The library's translation, asked once per key name instead of two regexes per key."""
    names: dict[str, str] = {}

    def name_of(key: str) -> str:
        name = names.get(key)
        if name is None:
            name = next(iter(translate({key: None})))
            if len(names) < MAX_NAMES:
                names[key] = name
        return name

    def translated(data: Any) -> Any:
        if isinstance(data, dict):
            # names.get first: a call of name_of per key cost more than the lookup itself
            return {names.get(key) or name_of(key):
                    translated(value) if isinstance(value, (dict, list)) else value
                    for key, value in data.items()}
        if isinstance(data, list):
            return [translated(value) for value in data]
        return data

    translated.__doc__ = translate.__doc__
    return translated


library_to_snake = ocpp.charge_point.camel_to_snake_case
library_to_camel = ocpp.charge_point.snake_to_camel_case


def install() -> None:
    """Every message's keys are translated on the way in and out: the library's regexes were
    a tenth of a busy server's time. The library calls these by their module names."""
    if ocpp.charge_point.camel_to_snake_case is library_to_snake:
        ocpp.charge_point.camel_to_snake_case = _remembering(library_to_snake)
        ocpp.charge_point.snake_to_camel_case = _remembering(library_to_camel)
