"""eRoamingPushEvseData (v2.3): static EVSE records from the domain and its sites, and what changed."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from csms.domain.sites import Site

OPERATION = "PushEvseData"


def data_path(operator_id: str) -> str:
    return f"/evsepush/v23/operators/{quote(operator_id, safe='*')}/data-records"


def utc_offset(time_zone: str, at: datetime) -> str:
    """OICP's Address.TimeZone, e.g. UTC+01:00."""
    offset = at.astimezone(ZoneInfo(time_zone)).strftime("%z")
    return f"UTC{offset[0]}{offset[1:3]}:{offset[3:5]}"


def _degrees(value: float) -> str:
    return f"{value:.6f}"


def evse_data_record(site: Site, evse_id: str, charge_point_id: str,
                     at: datetime) -> dict[str, Any]:
    """One EvseDataRecord. `at` only decides the site's current UTC offset."""
    details = site.details(evse_id)
    record: dict[str, Any] = {
        "EvseID": evse_id,
        "ChargingStationId": charge_point_id,
        "ChargingStationNames": [{"lang": "en", "value": site.name[:150]}],
        "Address": {
            "Country": site.country.upper(), "City": site.city, "Street": site.street,
            "PostalCode": site.postal_code, "HouseNum": site.house_number,
            "TimeZone": utc_offset(site.time_zone, at),
        },
        "GeoCoordinates": {"DecimalDegree": {"Latitude": _degrees(site.latitude),
                                             "Longitude": _degrees(site.longitude)}},
        "Plugs": list(details.plugs),
        "ChargingFacilities": [{
            "PowerType": details.power_type, "Voltage": details.voltage,
            "Amperage": details.amperage, "Power": details.power_kw,
            "ChargingModes": ["Mode_4" if details.power_type == "DC" else "Mode_3"],
        }],
        "RenewableEnergy": site.renewable_energy,
        "CalibrationLawDataAvailability": site.calibration_law,
        "AuthenticationModes": list(site.authentication_modes),
        "PaymentOptions": list(site.payment_options),
        "ValueAddedServices": list(site.value_added_services),
        "Accessibility": site.accessibility,
        "HotlinePhoneNumber": site.hotline,
        "IsOpen24Hours": site.open_24_hours,
        "IsHubjectCompatible": True,
        # We push every status change: Hubject is to show the live status ("true" as a string).
        "DynamicInfoAvailable": "true",
    }
    if site.accessibility_location:
        record["AccessibilityLocation"] = site.accessibility_location
    if site.opening_times and not site.open_24_hours:
        record["OpeningTimes"] = [
            {"on": item["on"], "Period": [{"begin": item["begin"], "end": item["end"]}]}
            for item in site.opening_times
        ]
    return record


def push_evse_data(operator_id: str, operator_name: str, action: str,
                   records: list[dict[str, Any]]) -> dict[str, Any]:
    return {"ActionType": action, "OperatorEvseData": {
        "OperatorID": operator_id, "OperatorName": operator_name or operator_id,
        "EvseDataRecord": records,
    }}


def changes(sent: dict[str, dict[str, Any]],
            wanted: dict[str, dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """What to push so Hubject holds `wanted` when it held `sent`: insert, update, delete."""
    result = {
        "insert": [wanted[k] for k in sorted(wanted.keys() - sent.keys())],
        "update": [wanted[k] for k in sorted(wanted.keys() & sent.keys()) if wanted[k] != sent[k]],
        "delete": [sent[k] for k in sorted(sent.keys() - wanted.keys())],
    }
    return {action: records for action, records in result.items() if records}
