"""The protocol-neutral domain: statuses, tokens, meter samples and session facts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class EvseStatus(StrEnum):
    AVAILABLE = "available"
    PREPARING = "preparing"
    CHARGING = "charging"
    SUSPENDED = "suspended"
    FINISHING = "finishing"
    OCCUPIED = "occupied"
    RESERVED = "reserved"
    UNAVAILABLE = "unavailable"
    FAULTED = "faulted"
    UNKNOWN = "unknown"


class AuthorizationStatus(StrEnum):
    ACCEPTED = "accepted"
    BLOCKED = "blocked"
    EXPIRED = "expired"
    INVALID = "invalid"
    CONCURRENT_TX = "concurrent_tx"
    UNKNOWN = "unknown"


class StopReason(StrEnum):
    LOCAL = "local"
    REMOTE = "remote"
    EV_DISCONNECTED = "ev_disconnected"
    EMERGENCY_STOP = "emergency_stop"
    POWER_LOSS = "power_loss"
    REBOOT = "reboot"
    DEAUTHORIZED = "deauthorized"
    UNLOCK_COMMAND = "unlock_command"
    ENERGY_LIMIT = "energy_limit"
    TIME_LIMIT = "time_limit"
    OTHER = "other"
    SUPERSEDED = "superseded"  # the charger reported a new transaction on the same EVSE
    CLOSED_BY_OPERATOR = "closed_by_operator"  # one the charger will never end (replaced, wiped)


class SessionStatus(StrEnum):
    PENDING = "pending"  # remote start sent, charger has not reported the transaction yet
    ACTIVE = "active"
    COMPLETED = "completed"
    FAILED = "failed"  # remote start refused or charger offline
    REJECTED = "rejected"  # charger reported a transaction we refused (invalid token, ConcurrentTx)
    EXPIRED = "expired"  # remote start the charger did not take up within ocpp.remote_start_window


class TokenType(StrEnum):
    """What kind of identifier a token is, whichever protocol carries it."""

    RFID = "rfid"  # a card's UID (ISO 14443)
    RFID_15693 = "rfid_15693"  # a vicinity card's UID (ISO 15693)
    EMAID = "emaid"  # an e-mobility account id (EvcoID, ISO 15118)
    KEY_CODE = "key_code"
    MAC_ADDRESS = "mac_address"
    LOCAL = "local"  # an id only our chargers know
    CENTRAL = "central"  # an id we made up ourselves (e.g. for a remote start without a token)


# A stored token's type, in any vocabulary it came in: ours, OCPP 2.0.1's, OCPI's.
_TOKEN_TYPES = {
    **{t.value: t for t in TokenType},
    "iso14443": TokenType.RFID, "iso15693": TokenType.RFID_15693, "keycode": TokenType.KEY_CODE,
    "macaddress": TokenType.MAC_ADDRESS, "evcoid": TokenType.EMAID,
    # OCPI: an app's or an ad-hoc user's id is one the eMSP generated centrally.
    "app_user": TokenType.CENTRAL, "ad_hoc_user": TokenType.CENTRAL, "other": TokenType.CENTRAL,
}


def parse_token_type(stored: str | None) -> TokenType | None:
    """The token type a tokens row (or a partner) names; None for one we cannot tell."""
    return _TOKEN_TYPES.get((stored or "").lower())


ENERGY_REGISTER = "Energy.Active.Import.Register"


@dataclass(frozen=True)
class MeterSample:
    """One sampled value, already in canonical units (Wh, W, A, %, V)."""

    sampled_at: datetime
    measurand: str
    value: float
    unit: str | None = None
    context: str | None = None
    phase: str | None = None
    location: str | None = None


@dataclass(frozen=True)
class Authorization:
    """The answer to 'may this token charge here?', with what the authorizer wants kept on the session."""

    status: AuthorizationStatus
    attributes: dict[str, Any] = field(default_factory=dict)
    # The token's group (2.0.1 groupIdToken, 1.6 parentIdTag): tokens of one group may stop
    # each other's sessions, and a charger compares the groups to let them.
    group: str | None = None


def register_readings(samples: Sequence[MeterSample]) -> list[MeterSample]:
    """The whole-meter (not per-phase) energy register readings among samples."""
    return [s for s in samples if s.measurand == ENERGY_REGISTER and s.phase is None
            and s.location in (None, "Outlet")]


def energy_register_wh(samples: list[MeterSample]) -> float | None:
    """The last whole-meter (not per-phase) energy register reading among samples, in Wh."""
    readings = register_readings(samples)
    if not readings:
        return None
    return max(readings, key=lambda s: s.sampled_at).value
