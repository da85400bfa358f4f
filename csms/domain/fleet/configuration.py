"""A charger's configuration, protocol-neutral: key or 'Component.Variable' -> last known value."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from csms.security.masking import MASK, secret_name

# The charger took a change (RebootRequired: in force after its next reboot).
TAKEN = frozenset({"Accepted", "RebootRequired"})
# Answers to a change that mean the charger has no such key (1.6) or component/variable (2.0.1).
UNKNOWN = frozenset({"NotSupported", "UnknownComponent", "UnknownVariable"})
# The settings of either version that are the Basic auth password and the security profile.
PASSWORD_KEYS = frozenset({"AuthorizationKey", "SecurityCtrlr.BasicAuthPassword"})
PROFILE_KEYS = frozenset({"SecurityProfile", "SecurityCtrlr.SecurityProfile"})


@dataclass(frozen=True)
class ConfigurationEntry:
    key: str
    value: str | None  # None: not known (yet); a secret's value is never kept, only MASK
    readonly: bool | None = None  # None: the charger did not say (2.0.1 GetVariables)
    known: bool = True  # False: the charger does not know this key
    status: str = "Accepted"  # as the charger answered (UnknownKey, Rejected, NotSupported, ...)

    def plain(self) -> dict[str, Any]:
        return asdict(self)


def entry(key: str, value: Any, readonly: bool | None = None, known: bool = True,
          status: str = "Accepted") -> ConfigurationEntry:
    """One result as kept and shown: a secret (a password) masked."""
    shown = None if value is None else (MASK if secret_name(key) else str(value))
    return ConfigurationEntry(key, shown, readonly, known, status)


def changed(key: str, value: str, status: str) -> ConfigurationEntry:
    """The result of a change we asked for: the value when taken, else the charger's status."""
    return entry(key, value if status in TAKEN else None, known=status not in UNKNOWN,
                 status=status)


def from_plain(data: dict[str, Any]) -> ConfigurationEntry:
    """As it travels between nodes."""
    return ConfigurationEntry(str(data["key"]), data.get("value"), data.get("readonly"),
                              bool(data.get("known", True)), str(data.get("status", "Accepted")))


def view(entries: list[ConfigurationEntry]) -> dict[str, Any]:
    """The API's answer: known keys with values, and those the charger does not know."""
    return {"configuration": [e.plain() for e in entries if e.known],
            "unknown": [e.key for e in entries if not e.known]}
