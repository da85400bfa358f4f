"""Compiled OCPP schemas give the library's own verdicts, so its CALLERROR codes stay as they are."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import ocpp.messages
import pytest
from ocpp.messages import MessageType

from csms.ocpp.library import validation

validation.install()

METER = {"connectorId": 1, "meterValue": [{"timestamp": "2026-11-23T10:00:00Z", "sampledValue": [
    {"value": "1000", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]}]}

CASES: list[tuple[str, str, dict[str, Any], str | None]] = [
    ("1.6", "MeterValues", METER, None),
    ("1.6", "MeterValues", {**METER, "connectorId": "1"}, "type"),
    ("1.6", "MeterValues", {"connectorId": 1}, "required"),
    ("1.6", "MeterValues", {**METER, "extra": 1}, "additionalProperties"),
    ("1.6", "BootNotification", {"chargePointVendor": "V" * 21, "chargePointModel": "M"},
     "maxLength"),
    ("1.6", "StatusNotification", {"connectorId": 1, "errorCode": "NoError",
                                   "status": "Sleeping"}, "enum"),
    ("1.6", "Heartbeat", {}, None),
    # Formats are not checked, as the library does not check them.
    ("1.6", "StartTransaction", {"connectorId": 1, "idTag": "T", "meterStart": 0,
                                 "timestamp": "yesterday"}, None),
    ("2.0.1", "BootNotificationRequest", {"reason": "PowerUp", "chargingStation": {
        "model": "M", "vendorName": "V"}}, None),
    ("2.0.1", "BootNotificationRequest", {"reason": "Sneezed", "chargingStation": {
        "model": "M", "vendorName": "V"}}, "enum"),
    ("2.0.1", "TransactionEventRequest", {"eventType": "Started"}, "required"),
    ("2.0.1", "HeartbeatResponse", {"currentTime": 5}, "type"),
]


def _library_verdict(version: str, name: str, payload: dict[str, Any]) -> str | None:
    folder = "v16" if version == "1.6" else "v201"
    path = Path(ocpp.messages.__file__).parent / folder / "schemas" / f"{name}.json"
    schema = json.loads(path.read_text(encoding="utf-8-sig"))
    try:
        jsonschema.Draft4Validator(schema).validate(payload)
    except jsonschema.ValidationError as error:
        return str(error.validator)
    return None


@pytest.mark.parametrize(("version", "name", "payload", "rule"), CASES)
def test_same_verdict_as_the_library(version: str, name: str, payload: dict[str, Any],
                                     rule: str | None) -> None:
    response = name.endswith("Response")
    action = name.removesuffix("Response").removesuffix("Request")
    kind = MessageType.CallResult if response else MessageType.Call
    validator = ocpp.messages.get_validator(kind, action, version)
    assert isinstance(validator, validation.CompiledValidator)
    try:
        validator.validate(payload)
        verdict = None
    except jsonschema.ValidationError as error:
        verdict = error.validator
    # The failing keyword names the CALLERROR code: the library's own validator must agree.
    assert verdict == rule == _library_verdict(version, name, payload)


def test_decimal_schemas_stay_with_the_library() -> None:
    validator = ocpp.messages.get_validator(MessageType.Call, "RemoteStartTransaction", "1.6")
    assert not isinstance(validator, validation.CompiledValidator)
