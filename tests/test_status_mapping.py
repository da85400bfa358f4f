"""Table-driven tests of the pure OCPP ↔ domain translations."""

import pytest

from csms.domain import AuthorizationStatus as A
from csms.domain import EvseStatus as E
from csms.domain import StopReason as R
from csms.status import (
    authorization_16,
    authorization_201,
    evse_status_16,
    evse_status_201,
    stop_reason_16,
    stop_reason_201,
)


@pytest.mark.parametrize(("ocpp", "domain"), [
    ("Available", E.AVAILABLE), ("Preparing", E.PREPARING), ("Charging", E.CHARGING),
    ("SuspendedEV", E.SUSPENDED), ("SuspendedEVSE", E.SUSPENDED), ("Finishing", E.FINISHING),
    ("Reserved", E.RESERVED), ("Unavailable", E.UNAVAILABLE), ("Faulted", E.FAULTED),
    ("Bogus", E.UNKNOWN),
])
def test_evse_status_16(ocpp: str, domain: E) -> None:
    assert evse_status_16(ocpp) is domain


@pytest.mark.parametrize(("ocpp", "domain"), [
    ("Available", E.AVAILABLE), ("Occupied", E.OCCUPIED), ("Reserved", E.RESERVED),
    ("Unavailable", E.UNAVAILABLE), ("Faulted", E.FAULTED), ("Charging", E.UNKNOWN),
])
def test_evse_status_201(ocpp: str, domain: E) -> None:
    assert evse_status_201(ocpp) is domain


@pytest.mark.parametrize(("domain", "v16", "v201"), [
    (A.ACCEPTED, "Accepted", "Accepted"),
    (A.BLOCKED, "Blocked", "Blocked"),
    (A.EXPIRED, "Expired", "Expired"),
    (A.INVALID, "Invalid", "Invalid"),
    (A.CONCURRENT_TX, "ConcurrentTx", "ConcurrentTx"),
    (A.UNKNOWN, "Invalid", "Unknown"),  # 1.6 has no "Unknown"
])
def test_authorization(domain: A, v16: str, v201: str) -> None:
    assert authorization_16(domain) == v16
    assert authorization_201(domain) == v201


@pytest.mark.parametrize(("reason", "v16", "v201"), [
    (None, R.LOCAL, R.LOCAL),
    ("Local", R.LOCAL, R.LOCAL),
    ("Remote", R.REMOTE, R.REMOTE),
    ("EVDisconnected", R.EV_DISCONNECTED, R.EV_DISCONNECTED),
    ("EmergencyStop", R.EMERGENCY_STOP, R.EMERGENCY_STOP),
    ("PowerLoss", R.POWER_LOSS, R.POWER_LOSS),
    ("Reboot", R.REBOOT, R.REBOOT),
    ("HardReset", R.REBOOT, R.OTHER),
    ("ImmediateReset", R.OTHER, R.REBOOT),
    ("DeAuthorized", R.DEAUTHORIZED, R.DEAUTHORIZED),
    ("UnlockCommand", R.UNLOCK_COMMAND, R.OTHER),
    ("EnergyLimitReached", R.OTHER, R.ENERGY_LIMIT),
    ("TimeLimitReached", R.OTHER, R.TIME_LIMIT),
    ("Nonsense", R.OTHER, R.OTHER),
])
def test_stop_reasons(reason: str | None, v16: R, v201: R) -> None:
    assert stop_reason_16(reason) is v16
    assert stop_reason_201(reason) is v201
