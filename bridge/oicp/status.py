"""Pure mapping of the domain's EVSE status to OICP's EvseStatus."""

from __future__ import annotations

from csms.domain.model import EvseStatus

_OICP_STATUS = {
    EvseStatus.AVAILABLE: "Available",
    EvseStatus.RESERVED: "Reserved",
    EvseStatus.PREPARING: "Occupied",
    EvseStatus.CHARGING: "Occupied",
    EvseStatus.SUSPENDED: "Occupied",
    EvseStatus.FINISHING: "Occupied",
    EvseStatus.OCCUPIED: "Occupied",
    EvseStatus.UNAVAILABLE: "OutOfService",
    EvseStatus.FAULTED: "OutOfService",
    EvseStatus.UNKNOWN: "Unknown",
}


def oicp_evse_status(status: EvseStatus | str) -> str:
    return _OICP_STATUS.get(EvseStatus(status), "Unknown")
