"""OCPP 2.0.1 network connection profiles (A05, B09, B10): the slot to write and the new priority."""

from __future__ import annotations

from typing import Any

PRIORITY = "OCPPCommCtrlr.NetworkConfigurationPriority"


def slots(priority: str | None) -> list[int]:
    """The configuration slots a NetworkConfigurationPriority value names, in order."""
    return [int(part) for part in (priority or "").split(",") if part.strip().isdigit()]


def next_slot(priority: str | None) -> int:
    """Where a new profile goes: never the slot in use (the first), so the charger keeps it to fall
    back to (B10); a fallback slot already listed is reused (the charger has it), else the next one."""
    listed = slots(priority)
    if not listed:
        return 1
    active = listed[0]
    spare = [slot for slot in listed[1:] if slot != active]
    return spare[-1] if spare else active + 1


def prioritized(slot: int, priority: str | None) -> str:
    """The new slot first, the others after it as they were: "N,<old>"."""
    return ",".join(str(s) for s in dict.fromkeys([slot, *slots(priority)]))


def connection_data(url: str, profile: int, interface: str, message_timeout: int) -> dict[str, Any]:
    """NetworkConnectionProfileType (snake_case, for the ocpp library) for our JSON OCPP 2.0.1 server."""
    return {"ocpp_version": "OCPP20", "ocpp_transport": "JSON", "ocpp_csms_url": url,
            "message_timeout": message_timeout, "security_profile": profile,
            "ocpp_interface": interface}
