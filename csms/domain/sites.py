"""Sites: where charge points stand and what their EVSEs offer, as roaming partners show it."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

from csms.domain.energy.site_limits import LimitError, SiteLimits, limits_from_dict

_DETAIL_KEYS = ("plugs", "power_type", "voltage", "amperage", "power_kw", "tariff")


@dataclass(frozen=True)
class EvseDetails:
    plugs: tuple[str, ...] = ("Type 2 Outlet",)
    power_type: str = "AC_3_PHASE"  # AC_1_PHASE, AC_3_PHASE or DC
    voltage: int = 230
    amperage: int = 32
    power_kw: int = 22
    tariff: str = ""  # the id of the tariff its sessions are priced by (`csms tariffs load`)


@dataclass(frozen=True)
class Site:
    id: str
    name: str
    country: str  # ISO 3166-1 alpha-3, e.g. DEU
    city: str
    street: str
    postal_code: str
    house_number: str
    latitude: float
    longitude: float
    hotline: str  # +4930123456
    time_zone: str = "UTC"  # IANA name
    charge_points: tuple[str, ...] = ()
    accessibility: str = "Free publicly accessible"
    accessibility_location: str = ""  # OnStreet, ParkingLot, ParkingGarage, UndergroundParkingGarage
    open_24_hours: bool = True
    opening_times: tuple[dict[str, Any], ...] = ()  # {on = "Workdays", begin = "08:00", end = "20:00"}
    authentication_modes: tuple[str, ...] = ("NFC RFID Classic", "REMOTE")
    payment_options: tuple[str, ...] = ("Contract",)
    value_added_services: tuple[str, ...] = ("None",)
    renewable_energy: bool = False
    calibration_law: str = "Not Available"  # Local, External or Not Available
    evse: EvseDetails = field(default_factory=EvseDetails)  # every EVSE, unless in `evses`
    evses: dict[str, EvseDetails] = field(default_factory=dict)  # by roaming EvseID
    # The grid connection's limit ([site.limit], as the admin API's PUT /sites/{id}/limit takes
    # it); None: the file says nothing of it. Stored apart (site_limit_store), not in the site.
    limit: SiteLimits | None = None

    def details(self, evse_id: str) -> EvseDetails:
        return self.evses.get(evse_id, self.evse)

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(dataclasses.replace(self, limit=None))
        del data["limit"]
        return data


class SiteError(ValueError):
    """A site definition that cannot be used; the message names the site and the key."""


def _details(data: dict[str, Any], base: EvseDetails, where: str) -> EvseDetails:
    values = {k: data[k] for k in _DETAIL_KEYS if k in data}
    if "plugs" in values:
        values["plugs"] = tuple(values["plugs"])
    try:
        return dataclasses.replace(base, **values)
    except TypeError as exc:
        raise SiteError(f"{where}: {exc}") from None


def parse_site(data: dict[str, Any]) -> Site:
    """One [[site]] table of a sites file (or a stored site) → Site, checked."""
    where = f"site {data.get('id', '?')!r}"
    known = {f.name for f in dataclasses.fields(Site)} | set(_DETAIL_KEYS)
    unknown = set(data) - known
    if unknown:
        raise SiteError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
    values = {k: v for k, v in data.items()
              if k not in _DETAIL_KEYS and k not in ("evse", "evses", "limit")}
    for key in ("charge_points", "opening_times", "authentication_modes", "payment_options",
                "value_added_services"):
        if key in values:
            values[key] = tuple(values[key])
    base = _details(data.get("evse") or data, EvseDetails(), where)
    evses = {evse_id: _details(item, base, f"{where} EVSE {evse_id}")
             for evse_id, item in (data.get("evses") or {}).items()}
    try:
        site = Site(**values, evse=base, evses=evses)
    except TypeError as exc:
        missing = re.findall(r"'(\w+)'", str(exc))
        raise SiteError(f"{where}: missing {', '.join(missing) or exc}") from None
    if len(site.country) != 3 or not site.country.isalpha():
        raise SiteError(f"{where}: country must be an ISO 3166-1 alpha-3 code such as DEU")
    if not re.fullmatch(r"\+[0-9]{5,15}", site.hotline):
        raise SiteError(f"{where}: hotline must look like +4930123456")
    if not (-90 <= site.latitude <= 90 and -180 <= site.longitude <= 180):
        raise SiteError(f"{where}: latitude/longitude out of range")
    if data.get("limit") is not None:
        if not isinstance(data["limit"], dict):
            raise SiteError(f"{where}: limit is a table ([site.limit])")
        try:
            limits = limits_from_dict(site.id, data["limit"], site.time_zone)
        except LimitError as exc:
            raise SiteError(f"{where} limit: {exc}") from None
        site = dataclasses.replace(site, limit=limits)
    return site


def parse_sites(document: dict[str, Any]) -> list[Site]:
    """A sites file: [[site]] tables."""
    unknown = set(document) - {"site"}
    if unknown:
        raise SiteError(f"unknown top-level keys {', '.join(sorted(unknown))} (expected [[site]])")
    sites = [parse_site(item) for item in document.get("site", [])]
    ids = [site.id for site in sites]
    if len(ids) != len(set(ids)):
        raise SiteError("a site id is used twice")
    return sites
