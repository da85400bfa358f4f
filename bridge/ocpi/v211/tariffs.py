"""OCPI 2.1.1 Tariffs, purely: a stored tariff (kept in 2.2.1's model) as a 2.1.1 partner reads it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bridge.ocpi.transport import timestamp
from bridge.ocpi.v211.inexpressible import Inexpressible, Losses, note
from bridge.ocpi.v211.text import display_text, string

# mod_tariffs 4.5 TariffRestrictions: what 2.1.1 restricts by.
RESTRICTIONS = ("start_time", "end_time", "start_date", "end_date", "min_kwh", "max_kwh",
                "min_power", "max_power", "min_duration", "max_duration", "day_of_week")
# Restrictions 2.1.1 lacks: an element restricted by one is left out, as without the
# restriction it would claim its price where it does not apply.
_UNSAYABLE_RESTRICTIONS = ("min_current", "max_current", "reservation")
# Tariff fields 2.1.1 lacks (mod_tariffs 3.1).
_UNSAYABLE_FIELDS = ("type", "min_price", "max_price", "start_date_time", "end_date_time")


def tariff_object(tariff: dict[str, Any], last_updated: datetime,
                  losses: Losses | None = None) -> dict[str, Any]:
    """mod_tariffs 3.1. Raises Inexpressible when no element is left to say."""
    where = f"Tariff {tariff['id']!r}"
    for key in _UNSAYABLE_FIELDS:
        if tariff.get(key) is not None:
            note(losses, where, f"Tariff.{key}")
    elements = [e for e in (element(item, where, losses) for item in tariff["elements"])
                if e is not None]
    if not elements:
        note(losses, where, "Tariff.elements")
        raise Inexpressible(f"{where}: no element OCPI 2.1.1 can say")
    data: dict[str, Any] = {"id": tariff["id"], "currency": tariff["currency"]}
    if tariff.get("tariff_alt_text"):
        data["tariff_alt_text"] = [display_text(t, where, losses) for t in tariff["tariff_alt_text"]]
    if tariff.get("tariff_alt_url"):
        data["tariff_alt_url"] = tariff["tariff_alt_url"]
    data["elements"] = elements
    if tariff.get("energy_mix"):
        data["energy_mix"] = energy_mix(tariff["energy_mix"], where, losses)
    data["last_updated"] = timestamp(last_updated)
    return data


def element(item: dict[str, Any], where: str,
            losses: Losses | None = None) -> dict[str, Any] | None:
    """mod_tariffs 4.3 TariffElement, or None when a restriction 2.1.1 lacks would be lost."""
    restrictions = item.get("restrictions") or {}
    unsayable = [key for key in _UNSAYABLE_RESTRICTIONS if restrictions.get(key) is not None]
    for key in unsayable:
        note(losses, where, f"TariffRestrictions.{key}", f"{key}={restrictions[key]!r}")
    if unsayable:
        return None
    components = []
    for component in item["price_components"]:
        if component.get("vat") is not None:
            note(losses, where, "PriceComponent.vat", f"{component['type']} vat={component['vat']}")
        components.append({"type": component["type"], "price": component["price"],
                           "step_size": component["step_size"]})
    data: dict[str, Any] = {"price_components": components}
    kept = {key: restrictions[key] for key in RESTRICTIONS if restrictions.get(key) is not None}
    if kept:
        data["restrictions"] = kept
    return data


def energy_mix(mix: dict[str, Any], where: str, losses: Losses | None = None) -> dict[str, Any]:
    """mod_locations 4.5 EnergyMix; 2.1.1's EnvironmentalImpact names its category `source`."""
    data: dict[str, Any] = {"is_green_energy": bool(mix.get("is_green_energy"))}
    if mix.get("energy_sources"):
        data["energy_sources"] = [{"source": s["source"], "percentage": s["percentage"]}
                                  for s in mix["energy_sources"]]
    if mix.get("environ_impact"):
        data["environ_impact"] = [{"source": i.get("category", i.get("source")),
                                   "amount": i["amount"]} for i in mix["environ_impact"]]
    for key in ("supplier_name", "energy_product_name"):
        if mix.get(key):
            data[key] = string(str(mix[key]), 64, where, f"energy_mix.{key}", losses)
    return data
