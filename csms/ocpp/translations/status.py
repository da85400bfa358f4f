"""Pure translations between OCPP 1.6 / 2.0.1 vocabularies and the domain's statuses and reasons."""

from __future__ import annotations

from csms.domain.model import AuthorizationStatus, EvseStatus, StopReason, TokenType

_EVSE_STATUS_16 = {
    "Available": EvseStatus.AVAILABLE,
    "Preparing": EvseStatus.PREPARING,
    "Charging": EvseStatus.CHARGING,
    "SuspendedEV": EvseStatus.SUSPENDED,
    "SuspendedEVSE": EvseStatus.SUSPENDED,
    "Finishing": EvseStatus.FINISHING,
    "Reserved": EvseStatus.RESERVED,
    "Unavailable": EvseStatus.UNAVAILABLE,
    "Faulted": EvseStatus.FAULTED,
}

_EVSE_STATUS_201 = {
    "Available": EvseStatus.AVAILABLE,
    "Occupied": EvseStatus.OCCUPIED,
    "Reserved": EvseStatus.RESERVED,
    "Unavailable": EvseStatus.UNAVAILABLE,
    "Faulted": EvseStatus.FAULTED,
}


def evse_status_16(status: str) -> EvseStatus:
    return _EVSE_STATUS_16.get(status, EvseStatus.UNKNOWN)


def evse_status_201(status: str) -> EvseStatus:
    return _EVSE_STATUS_201.get(status, EvseStatus.UNKNOWN)


def authorization_16(status: AuthorizationStatus) -> str:
    """Domain authorization → OCPP 1.6 AuthorizationStatus (which has no 'Unknown')."""
    return {
        AuthorizationStatus.ACCEPTED: "Accepted",
        AuthorizationStatus.BLOCKED: "Blocked",
        AuthorizationStatus.EXPIRED: "Expired",
        AuthorizationStatus.CONCURRENT_TX: "ConcurrentTx",
    }.get(status, "Invalid")


def authorization_201(status: AuthorizationStatus) -> str:
    return {
        AuthorizationStatus.ACCEPTED: "Accepted",
        AuthorizationStatus.BLOCKED: "Blocked",
        AuthorizationStatus.EXPIRED: "Expired",
        AuthorizationStatus.CONCURRENT_TX: "ConcurrentTx",
        AuthorizationStatus.UNKNOWN: "Unknown",
    }.get(status, "Invalid")


_STOP_REASON_16 = {
    "Local": StopReason.LOCAL,
    "Remote": StopReason.REMOTE,
    "EVDisconnected": StopReason.EV_DISCONNECTED,
    "EmergencyStop": StopReason.EMERGENCY_STOP,
    "PowerLoss": StopReason.POWER_LOSS,
    "Reboot": StopReason.REBOOT,
    "HardReset": StopReason.REBOOT,
    "SoftReset": StopReason.REBOOT,
    "DeAuthorized": StopReason.DEAUTHORIZED,
    "UnlockCommand": StopReason.UNLOCK_COMMAND,
    "Other": StopReason.OTHER,
}

_STOP_REASON_201 = {
    "Local": StopReason.LOCAL,
    "Remote": StopReason.REMOTE,
    "EVDisconnected": StopReason.EV_DISCONNECTED,
    "StoppedByEV": StopReason.EV_DISCONNECTED,
    "EmergencyStop": StopReason.EMERGENCY_STOP,
    "PowerLoss": StopReason.POWER_LOSS,
    "Reboot": StopReason.REBOOT,
    "ImmediateReset": StopReason.REBOOT,
    "DeAuthorized": StopReason.DEAUTHORIZED,
    "EnergyLimitReached": StopReason.ENERGY_LIMIT,
    "SOCLimitReached": StopReason.ENERGY_LIMIT,
    "TimeLimitReached": StopReason.TIME_LIMIT,
    "LocalOutOfCredit": StopReason.DEAUTHORIZED,
    "Other": StopReason.OTHER,
}


def stop_reason_16(reason: str | None) -> StopReason:
    # 1.6: an absent reason means "Local".
    return _STOP_REASON_16.get(reason or "Local", StopReason.OTHER)


def stop_reason_201(reason: str | None) -> StopReason:
    # 2.0.1: an absent stoppedReason means "Local".
    return _STOP_REASON_201.get(reason or "Local", StopReason.OTHER)


_ID_TOKEN_TYPE_201 = {
    TokenType.RFID: "ISO14443",
    TokenType.RFID_15693: "ISO15693",
    TokenType.EMAID: "eMAID",
    TokenType.KEY_CODE: "KeyCode",
    TokenType.MAC_ADDRESS: "MacAddress",
    TokenType.LOCAL: "Local",
    TokenType.CENTRAL: "Central",
}


def id_token_type_201(token_type: TokenType) -> str:
    """Domain token type → 2.0.1 IdTokenEnumType (1.6 idTags carry no type)."""
    return _ID_TOKEN_TYPE_201[token_type]
