"""Pure mapping of the domain's EVSE status to OCPI's EVSE status."""

from __future__ import annotations

from csms.domain.model import EvseStatus

_OCPI_STATUS = {
    EvseStatus.AVAILABLE: "AVAILABLE",
    EvseStatus.PREPARING: "CHARGING",  # in use: a driver is plugged in and authorized
    EvseStatus.CHARGING: "CHARGING",
    EvseStatus.SUSPENDED: "CHARGING",
    EvseStatus.FINISHING: "BLOCKED",  # the cable still occupies it, no session any more
    EvseStatus.OCCUPIED: "CHARGING",
    EvseStatus.RESERVED: "RESERVED",
    EvseStatus.UNAVAILABLE: "INOPERATIVE",
    EvseStatus.FAULTED: "OUTOFORDER",
    EvseStatus.UNKNOWN: "UNKNOWN",
}


def ocpi_evse_status(status: EvseStatus | str, retired: bool = False) -> str:
    if retired:
        return "REMOVED"
    try:
        return _OCPI_STATUS[EvseStatus(status)]
    except ValueError:
        return "UNKNOWN"
