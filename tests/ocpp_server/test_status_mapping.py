"""Table-driven tests of the pure OCPP ↔ domain translations."""

import pytest

from csms.domain.model import AuthorizationStatus as A
from csms.domain.model import EvseStatus as E
from csms.domain.model import StopReason as R
from csms.domain.model import TokenType as T
from csms.domain.model import parse_token_type
from csms.ocpp.translations.status import (
    authorization_16,
    authorization_201,
    evse_status_16,
    evse_status_201,
    id_token_type_201,
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


@pytest.mark.parametrize(("stored", "domain", "v201"), [
    ("RFID", T.RFID, "ISO14443"),  # our tokens table's default, and OCPI's card
    ("ISO14443", T.RFID, "ISO14443"),
    ("iso15693", T.RFID_15693, "ISO15693"),
    ("eMAID", T.EMAID, "eMAID"),
    ("EvcoID", T.EMAID, "eMAID"),
    ("KeyCode", T.KEY_CODE, "KeyCode"),
    ("MacAddress", T.MAC_ADDRESS, "MacAddress"),
    ("Local", T.LOCAL, "Local"),
    ("Central", T.CENTRAL, "Central"),
    ("APP_USER", T.CENTRAL, "Central"),  # OCPI: ids the eMSP generated
    ("AD_HOC_USER", T.CENTRAL, "Central"),
    ("OTHER", T.CENTRAL, "Central"),
])
def test_token_types(stored: str, domain: T, v201: str) -> None:
    assert parse_token_type(stored) is domain
    assert id_token_type_201(domain) == v201


@pytest.mark.parametrize("stored", ["", None, "Bogus"])
def test_unknown_token_types(stored: str | None) -> None:
    assert parse_token_type(stored) is None


def test_every_token_type_has_a_201_name() -> None:
    assert {id_token_type_201(t) for t in T} == {
        "ISO14443", "ISO15693", "eMAID", "KeyCode", "MacAddress", "Local", "Central"}
