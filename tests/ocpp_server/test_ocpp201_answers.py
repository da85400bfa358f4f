"""Every charger-initiated OCPP 2.0.1 message gets a schema-valid answer (never NotImplemented)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import ocpp.v201
import pytest
from jsonschema import Draft4Validator
from websockets.asyncio.client import connect

from csms.app import App
from csms.domain.charge_points import register
from tests.support import ws_url

SCHEMAS = Path(ocpp.v201.__file__).parent / "schemas"
NOW = "2026-01-01T12:00:00.000Z"
TOKEN = {"idToken": "TAG1", "type": "ISO14443"}
SCHEDULE = {"id": 1, "chargingRateUnit": "W",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 11000}]}

# OCPP 2.0.1 Part 2, the messages a Charging Station sends (DataTransfer goes both ways), each
# with a small valid request. BootNotification is sent first by the test itself.
CHARGER_TO_CSMS: dict[str, dict[str, Any]] = {
    "BootNotification": {"chargingStation": {"model": "M", "vendorName": "V"},
                         "reason": "PowerUp"},
    "Authorize": {"idToken": TOKEN},
    "ClearedChargingLimit": {"chargingLimitSource": "EMS", "evseId": 1},
    "DataTransfer": {"vendorId": "com.example", "messageId": "m"},
    "FirmwareStatusNotification": {"status": "Downloading", "requestId": 1},
    "Get15118EVCertificate": {"iso15118SchemaVersion": "urn:iso:15118:2:2013:MsgDef",
                              "action": "Install", "exiRequest": "AAAA"},
    "GetCertificateStatus": {"ocspRequestData": {
        "hashAlgorithm": "SHA256", "issuerNameHash": "aa", "issuerKeyHash": "bb",
        "serialNumber": "01", "responderURL": "http://ocsp.example.com"}},
    "Heartbeat": {},
    "LogStatusNotification": {"status": "Uploading", "requestId": 1},
    "MeterValues": {"evseId": 1, "meterValue": [{"timestamp": NOW,
                                                 "sampledValue": [{"value": 1000}]}]},
    "NotifyChargingLimit": {"chargingLimit": {"chargingLimitSource": "EMS"}, "evseId": 1},
    "NotifyCustomerInformation": {"data": "none", "seqNo": 0, "generatedAt": NOW,
                                  "requestId": 1},
    "NotifyDisplayMessages": {"requestId": 1},
    "NotifyEVChargingNeeds": {"evseId": 1, "chargingNeeds": {
        "requestedEnergyTransfer": "AC_single_phase"}},
    "NotifyEVChargingSchedule": {"timeBase": NOW, "evseId": 1, "chargingSchedule": SCHEDULE},
    "NotifyEvent": {"generatedAt": NOW, "seqNo": 0, "eventData": [{
        "eventId": 1, "timestamp": NOW, "trigger": "Delta", "actualValue": "Available",
        "eventNotificationType": "HardWiredNotification", "component": {"name": "Connector"},
        "variable": {"name": "AvailabilityState"}}]},
    "NotifyMonitoringReport": {"requestId": 1, "seqNo": 0, "generatedAt": NOW},
    "NotifyReport": {"requestId": 1, "generatedAt": NOW, "seqNo": 0},
    "PublishFirmwareStatusNotification": {"status": "Published"},
    "ReportChargingProfiles": {"requestId": 1, "chargingLimitSource": "CSO", "evseId": 1,
                               "chargingProfile": [{
                                   "id": 1, "stackLevel": 0,
                                   "chargingProfilePurpose": "TxDefaultProfile",
                                   "chargingProfileKind": "Absolute",
                                   "chargingSchedule": [SCHEDULE]}]},
    "ReservationStatusUpdate": {"reservationId": 99, "reservationUpdateStatus": "Expired"},
    "SecurityEventNotification": {"type": "StartupOfTheDevice", "timestamp": NOW},
    "SignCertificate": {"csr": "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n"
                               "-----END CERTIFICATE REQUEST-----"},
    "StatusNotification": {"timestamp": NOW, "connectorStatus": "Available", "evseId": 1,
                           "connectorId": 1},
    "TransactionEvent": {"eventType": "Started", "timestamp": NOW,
                         "triggerReason": "Authorized", "seqNo": 0,
                         "transactionInfo": {"transactionId": "tx-answers"},
                         "evse": {"id": 1, "connectorId": 1}, "idToken": TOKEN},
}


def _schema(name: str) -> Draft4Validator:
    return Draft4Validator(json.loads((SCHEMAS / f"{name}.json").read_text(encoding="utf-8")))


def test_the_requests_are_valid() -> None:
    """The table itself: every request as the schema has it, so a refusal would be ours."""
    for action, payload in CHARGER_TO_CSMS.items():
        _schema(f"{action}Request").validate(payload)


@pytest.fixture
async def booted(app: App) -> Any:
    await register(app.pool, "CPA", None, {1: None}, security_profile=0)
    async with connect(f"{ws_url(app)}/CPA", subprotocols=["ocpp2.0.1"]) as ws:  # type: ignore[list-item]
        yield ws


async def _call(ws: Any, action: str, payload: dict[str, Any]) -> list[Any]:
    message_id = str(uuid.uuid4())
    await ws.send(json.dumps([2, message_id, action, payload]))
    while True:
        frame = json.loads(await ws.recv())
        if frame[0] == 2:  # a call of ours to the charger (e.g. the meter interval): answer it
            await ws.send(json.dumps([3, frame[1], {"setVariableResult": []}]))
            continue
        assert frame[1] == message_id
        return frame  # type: ignore[no-any-return]


async def test_each_gets_a_valid_answer(booted: Any) -> None:
    boot = await _call(booted, "BootNotification", CHARGER_TO_CSMS["BootNotification"])
    assert boot[0] == 3 and boot[2]["status"] == "Accepted"
    wrong = {}
    for action, payload in sorted(CHARGER_TO_CSMS.items()):
        answer = await _call(booted, action, payload)
        if answer[0] != 3:  # a CALLERROR: NotImplemented, or any other
            wrong[action] = answer[2:]
            continue
        errors = [error.message for error in _schema(f"{action}Response").iter_errors(answer[2])]
        if errors:
            wrong[action] = errors
    assert not wrong
