"""A simulated 2.0.1 station's network connection profiles (B09, B10, A05): slots and priority."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PRIORITY = "OCPPCommCtrlr.NetworkConfigurationPriority"
SLOTS = (1, 2, 3)  # the slots this firmware has (NetworkConfigurationPriority's valuesList)


@dataclass
class NetworkProfiles:
    """Slot 1 holds the profile the station was installed with; the CSMS may add others and
    reorder them. The first in the priority is used from the next boot on."""

    url: str
    security_profile: int
    profiles: dict[int, dict[str, Any]] = field(default_factory=dict)
    priority: list[int] = field(default_factory=lambda: [1])

    def __post_init__(self) -> None:
        self.profiles.setdefault(1, {"ocpp_csms_url": self.url, "ocpp_version": "OCPP20",
                                     "ocpp_transport": "JSON",
                                     "security_profile": self.security_profile})

    def set(self, slot: int, data: dict[str, Any], current: int, has_certificate: bool) -> str:
        """SetNetworkProfile, as firmware checks it: a slot it has, other than the one in use, JSON
        OCPP 2.0.1, no lower profile than now, TLS for 2 and 3 and
        its own certificate for 3."""
        profile = data.get("security_profile", -1)
        url = str(data.get("ocpp_csms_url", ""))
        if slot not in SLOTS or slot == self.priority[0] \
                or (data.get("ocpp_version"), data.get("ocpp_transport")) != ("OCPP20", "JSON") \
                or not current <= profile <= 3 or (profile >= 2) != url.startswith("wss://") \
                or (profile == 3 and not has_certificate):
            return "Rejected"
        self.profiles[slot] = dict(data)
        return "Accepted"

    def reorder(self, value: str) -> bool:
        """NetworkConfigurationPriority: only slots holding a profile, each once."""
        parts = value.split(",")
        if not all(part.strip().isdigit() for part in parts):
            return False
        slots = [int(part) for part in parts]
        if len(set(slots)) != len(slots) or any(slot not in self.profiles for slot in slots):
            return False
        self.priority = slots
        return True

    def first(self) -> dict[str, Any]:
        return self.profiles[self.priority[0]]

    def value(self) -> str:
        return ",".join(map(str, self.priority))
