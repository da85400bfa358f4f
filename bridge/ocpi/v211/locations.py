"""OCPI 2.1.1 Locations, purely: a site with its EVSEs and connectors as a 2.1.1 partner sees it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bridge.ocpi.publishing.locations import EvseFacts, location_id, plug_standard
from bridge.ocpi.publishing.status import ocpi_evse_status
from bridge.ocpi.transport import timestamp
from bridge.ocpi.v211.inexpressible import Losses, note
from bridge.ocpi.v211.text import string
from csms.domain.sites import EvseDetails, Site

# Site's parking place (OICP's words) → LocationType (mod_locations 4.16); UNKNOWN is its default.
_TYPES = {"OnStreet": "ON_STREET", "ParkingLot": "PARKING_LOT", "ParkingGarage": "PARKING_GARAGE",
          "UndergroundParkingGarage": "UNDERGROUND_GARAGE"}
# ConnectorTypes 2.2.1 added that 2.1.1 lacks (mod_locations 4.4), and what 2.1.1 says instead.
_STANDARDS = {"NEMA_5_20": "DOMESTIC_B"}
_WEEKDAYS = {"Monday": [1], "Tuesday": [2], "Wednesday": [3], "Thursday": [4], "Friday": [5],
             "Saturday": [6], "Sunday": [7], "Workdays": [1, 2, 3, 4, 5], "Weekend": [6, 7],
             "Everyday": [1, 2, 3, 4, 5, 6, 7]}
CAPABILITIES = ["RFID_READER", "REMOTE_START_STOP_CAPABLE", "RESERVABLE"]


def location_type(site: Site) -> str:
    return _TYPES.get(site.accessibility_location, "UNKNOWN")


def connector_objects(details: EvseDetails, last_updated: datetime, tariff_id: str | None,
                      where: str, losses: Losses | None = None) -> list[dict[str, Any]]:
    """mod_locations 3.3: one per plug, numbered from 1 as in 2.2.1 (a session names connector 1)."""
    result = []
    for number, plug in enumerate(details.plugs, start=1):
        standard, fmt = plug_standard(plug)
        if standard in _STANDARDS:
            note(losses, where, "Connector.standard", standard)
            standard = _STANDARDS[standard]
        connector: dict[str, Any] = {
            "id": str(number), "standard": standard, "format": fmt,
            "power_type": details.power_type, "voltage": details.voltage,
            "amperage": details.amperage, "last_updated": timestamp(last_updated),
        }
        if tariff_id:
            connector["tariff_id"] = tariff_id
        result.append(connector)
    return result


def evse_object(site: Site, evse: EvseFacts, losses: Losses | None = None) -> dict[str, Any]:
    """mod_locations 3.2; its Status enum (4.20) is 2.2.1's, so the domain maps alike."""
    details = site.details(evse.evse_id or "")
    where = f"EVSE {evse.uid!r}"
    data: dict[str, Any] = {
        "uid": evse.uid,
        "status": ocpi_evse_status(evse.status, evse.retired),
        "capabilities": list(CAPABILITIES),
        "connectors": connector_objects(details, evse.last_updated,
                                        evse.tariff_id or details.tariff or None, where, losses),
        "last_updated": timestamp(evse.last_updated),
    }
    if evse.evse_id:
        data["evse_id"] = evse.evse_id
    return data


def location_object(site: Site, evses: list[EvseFacts], operator_name: str,
                    last_updated: datetime, losses: Losses | None = None) -> dict[str, Any]:
    """mod_locations 3.1: the same site and EVSE facts the 2.2.1 Location is built from."""
    where = f"Location {location_id(site.id)!r}"
    location: dict[str, Any] = {
        "id": location_id(site.id),
        "type": location_type(site),
        "name": string(site.name, 255, where, "name", losses),
        "address": string(f"{site.street} {site.house_number}".strip(), 45, where, "address",
                          losses),
        "city": string(site.city, 45, where, "city", losses),
        "postal_code": string(site.postal_code, 10, where, "postal_code", losses),
        "country": site.country.upper(),
        "coordinates": {"latitude": f"{site.latitude:.6f}", "longitude": f"{site.longitude:.6f}"},
        "evses": [evse_object(site, evse, losses) for evse in evses],
        "time_zone": site.time_zone,
        "opening_times": opening_times(site),
        "last_updated": timestamp(last_updated),
    }
    if operator_name:
        location["operator"] = {"name": string(operator_name, 100, where, "operator.name", losses)}
    return location


def opening_times(site: Site) -> dict[str, Any]:
    """mod_locations 4.13 Hours: a choice of regular_hours or twentyfourseven (2.2.1 sends both)."""
    if site.open_24_hours or not site.opening_times:
        return {"twentyfourseven": True}
    return {"regular_hours": [
        {"weekday": day, "period_begin": item["begin"], "period_end": item["end"]}
        for item in site.opening_times for day in _WEEKDAYS.get(item["on"], [])]}
