"""OCPI Locations, purely: a site with its EVSEs and connectors as the Location object partners see."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bridge.ocpi.publishing.status import ocpi_evse_status
from bridge.ocpi.transport import timestamp
from csms.domain.sites import EvseDetails, Site

# Plugs as the sites name them (OICP's words) → OCPI connector standard and format.
_PLUGS = {
    "Type 2 Outlet": ("IEC_62196_T2", "SOCKET"),
    "Type 2 Connector (Cable Attached)": ("IEC_62196_T2", "CABLE"),
    "CCS Combo 2 Plug (Cable Attached)": ("IEC_62196_T2_COMBO", "CABLE"),
    "CCS Combo 1 Plug (Cable Attached)": ("IEC_62196_T1_COMBO", "CABLE"),
    "Type 1 Connector (Cable Attached)": ("IEC_62196_T1", "CABLE"),
    "CHAdeMO": ("CHADEMO", "CABLE"),
    "Tesla Connector": ("TESLA_S", "CABLE"),
    "Type F Schuko": ("DOMESTIC_F", "SOCKET"),
    "Type E French Standard": ("DOMESTIC_E", "SOCKET"),
    "Type G British Standard": ("DOMESTIC_G", "SOCKET"),
    "Type J Swiss Standard": ("DOMESTIC_J", "SOCKET"),
    "Type 3 Outlet": ("IEC_62196_T3C", "SOCKET"),
    "IEC 60309 Single Phase": ("IEC_60309_2_single_16", "SOCKET"),
    "IEC 60309 Three Phase": ("IEC_60309_2_three_16", "SOCKET"),
    "NEMA 5-20": ("NEMA_5_20", "SOCKET"),
}
_PARKING = {"OnStreet": "ON_STREET", "ParkingLot": "PARKING_LOT", "ParkingGarage": "PARKING_GARAGE",
            "UndergroundParkingGarage": "UNDERGROUND_GARAGE"}
_WEEKDAYS = {"Monday": [1], "Tuesday": [2], "Wednesday": [3], "Thursday": [4], "Friday": [5],
             "Saturday": [6], "Sunday": [7], "Workdays": [1, 2, 3, 4, 5], "Weekend": [6, 7],
             "Everyday": [1, 2, 3, 4, 5, 6, 7]}


@dataclass(frozen=True)
class EvseFacts:
    """What the domain knows of one EVSE, for its OCPI object."""

    uid: str  # stable: the charge point id and EVSE number
    evse_id: str | None  # the roaming EvseID
    status: str
    retired: bool
    last_updated: datetime
    tariff_id: str | None = None  # what it charges every EMP by (assignments); None: as its site says


def evse_uid(charge_point_id: str, evse_number: int) -> str:
    return f"{charge_point_id}-{evse_number}"


def location_id(site_id: str) -> str:
    return site_id[:36]


def location_references(site_id: str, evse_uids: list[str]) -> dict[str, Any]:
    """OCPI LocationReferences: where a token is presented, as our Locations name it."""
    references: dict[str, Any] = {"location_id": location_id(site_id)}
    if evse_uids:
        references["evse_uids"] = evse_uids
    return references


def plug_standard(plug: str) -> tuple[str, str]:
    """A site's plug name → OCPI ConnectorType and ConnectorFormat (Type 2 socket if unknown)."""
    return _PLUGS.get(plug, ("IEC_62196_T2", "SOCKET"))


def connectors(details: EvseDetails, last_updated: datetime,
               tariff_ids: list[str] | None = None) -> list[dict[str, Any]]:
    result = []
    for number, plug in enumerate(details.plugs, start=1):
        standard, fmt = plug_standard(plug)
        connector: dict[str, Any] = {
            "id": str(number), "standard": standard, "format": fmt,
            "power_type": details.power_type, "max_voltage": details.voltage,
            "max_amperage": details.amperage, "max_electric_power": details.power_kw * 1000,
            "last_updated": timestamp(last_updated),
        }
        if tariff_ids:
            connector["tariff_ids"] = tariff_ids
        result.append(connector)
    return result


def evse_object(site: Site, evse: EvseFacts) -> dict[str, Any]:
    details = site.details(evse.evse_id or "")
    tariff = evse.tariff_id or details.tariff
    data: dict[str, Any] = {
        "uid": evse.uid,
        "status": ocpi_evse_status(evse.status, evse.retired),
        "capabilities": ["RFID_READER", "REMOTE_START_STOP_CAPABLE", "RESERVABLE"],
        "connectors": connectors(details, evse.last_updated, [tariff] if tariff else None),
        "last_updated": timestamp(evse.last_updated),
    }
    if evse.evse_id:
        data["evse_id"] = evse.evse_id
    return data


def location_object(site: Site, evses: list[EvseFacts], country_code: str, party_id: str,
                    operator_name: str, last_updated: datetime) -> dict[str, Any]:
    location: dict[str, Any] = {
        "country_code": country_code, "party_id": party_id, "id": location_id(site.id), "publish": True,
        # Cut to the Location's string lengths (mod_locations Location object): a longer one
        # fails the whole object at a strict eMSP.
        "name": site.name[:255],
        "address": f"{site.street} {site.house_number}".strip()[:45].rstrip(),
        "city": site.city[:45], "postal_code": site.postal_code[:10],
        "country": site.country.upper(),
        "coordinates": {"latitude": f"{site.latitude:.6f}", "longitude": f"{site.longitude:.6f}"},
        "evses": [evse_object(site, evse) for evse in evses],
        "time_zone": site.time_zone,
        "opening_times": _opening_times(site),
        "last_updated": timestamp(last_updated),
    }
    if operator_name:
        location["operator"] = {"name": operator_name}
    if site.accessibility_location in _PARKING:
        location["parking_type"] = _PARKING[site.accessibility_location]
    return location


def _opening_times(site: Site) -> dict[str, Any]:
    if site.open_24_hours or not site.opening_times:
        return {"twentyfourseven": True}
    hours = [{"weekday": day, "period_begin": item["begin"], "period_end": item["end"]}
             for item in site.opening_times for day in _WEEKDAYS.get(item["on"], [])]
    return {"twentyfourseven": False, "regular_hours": hours}
