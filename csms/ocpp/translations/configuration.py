"""Each version's configuration answers (GetConfiguration, Get/SetVariables) as neutral entries; batching."""

from __future__ import annotations

from typing import Any

from csms.domain.fleet.configuration import TAKEN, ConfigurationEntry, entry


def batches(items: list[Any], size: int | None) -> list[list[Any]]:
    """At most `size` a message (ItemsPerMessage, GetConfigurationMaxKeys); None or < 1: one."""
    if not size or size < 1 or len(items) <= size:
        return [items]
    return [items[i:i + size] for i in range(0, len(items), size)]


def entries_16(configuration_key: list[dict[str, Any]] | None,
               unknown_key: list[str] | None) -> list[ConfigurationEntry]:
    """1.6 GetConfiguration.conf (snake_case, as the library gives it)."""
    found = [entry(item["key"], item.get("value"), bool(item.get("readonly")))
             for item in configuration_key or []]
    return found + [entry(key, None, known=False, status="UnknownKey") for key in unknown_key or []]


def key_201(component: dict[str, Any], variable: dict[str, Any]) -> str:
    return f"{component.get('name')}.{variable.get('name')}"


# 2.0.1 GetVariableStatus / SetVariableStatus that mean "no such component or variable".
_UNKNOWN = {"UnknownComponent", "UnknownVariable"}


def entries_201(results: list[dict[str, Any]],
                values: dict[str, str] | None = None) -> list[ConfigurationEntry]:
    """2.0.1 GetVariableResult or (with the values we set) SetVariableResult, snake_case."""
    found = []
    for result in results:
        key = key_201(result["component"], result["variable"])
        status = str(result["attribute_status"])
        value = result.get("attribute_value") if values is None else values.get(key)
        found.append(entry(key, value if status in TAKEN else None,
                           known=status not in _UNKNOWN, status=status))
    return found
