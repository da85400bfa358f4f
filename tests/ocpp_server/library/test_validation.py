"""Compiled OCPP schemas give the library's own verdicts, so its CALLERROR codes stay as they are."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import ocpp.messages
import pytest
from jsonschema import Draft4Validator
from ocpp.exceptions import OCPPError
from ocpp.messages import MessageType

from csms.ocpp.library import validation
from csms.ocpp.library.validation import CompiledValidator

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


# --- the verdict and CALLERROR code, payload by payload, on every schema ----------------------

SCHEMAS = Path(ocpp.messages.__file__).parent
VALUES: list[Any] = [None, True, False, 0, 1, -1, 1.0, 1.5, 2**70, "", "x", "Accepted",
                     "2026-01-01T00:00:00Z", "x" * 600, [], [1], [{}], {}, {"a": 1}]


def _message(version: str, stem: str, payload: Any) -> Any:
    """The Call or CallResult the library validates against the schema in file `stem`."""
    if stem.endswith("Response"):
        return ocpp.messages.CallResult("1", payload, action=stem.removesuffix("Response"))
    return ocpp.messages.Call("1", stem.removesuffix("Request") if version != "1.6" else stem,
                              payload)


def _code(version: str, stem: str, payload: Any, validator: Any) -> str:
    """The library's verdict with `validator` in its cache: "accepted" or the CALLERROR code."""
    key = f"{stem}_{version}"
    kept = ocpp.messages._validators.get(key)
    ocpp.messages._validators[key] = validator
    try:
        ocpp.messages._validate_payload(_message(version, stem, payload), version)
    except OCPPError as error:
        return str(error.code)
    finally:
        if kept is None:
            ocpp.messages._validators.pop(key, None)
        else:
            ocpp.messages._validators[key] = kept
    return "accepted"


def _payloads(schema: dict[str, Any]) -> Iterator[Any]:
    """Bad (and a few good) payloads: each property given each kind of value, required ones
    missing, unknown keys beside them, and not objects at all."""
    properties = schema.get("properties", {})
    required = schema.get("required", [])
    base = {}
    for key in required:
        prop = properties.get(key, {})
        base[key] = prop["enum"][0] if "enum" in prop else {
            "string": "x", "integer": 1, "number": 1, "boolean": True, "array": [],
            "object": {}}.get(prop.get("type"), "x")
    yield from ({}, base, {**base, "unknownKey": 1}, [], "x", None)
    for key, prop in properties.items():
        for value in VALUES:
            yield {**base, key: value}
        if "maxLength" in prop:  # characters, not bytes or UTF-16 units
            size = prop["maxLength"]
            for text in ("é" * size, "é" * (size + 1), "😀" * size, "😀" * (size + 1)):
                yield {**base, key: text}
        if prop.get("type") == "array":
            yield {**base, key: [base] * 3}
            yield {**base, key: [1, "x", None]}
    for key in required:
        missing = {k: v for k, v in base.items() if k != key}
        yield missing
        yield {**missing, "unknownKey": "x"}


def _schemas() -> Iterator[tuple[str, Path]]:
    for version in ("1.6", "2.0.1"):
        for path in sorted((SCHEMAS / f"v{version.replace('.', '')}" / "schemas").glob("*.json")):
            yield version, path


# Named rows: where the compiled check alone decided otherwise than the library.
TABLE = [
    # a missing required key beside an unknown one: the library names additionalProperties first
    ("1.6", "BootNotification", {"chargePointModel": "M", "unknownKey": "x"}),
    ("1.6", "Authorize", {"unknownKey": "x"}),
    ("2.0.1", "BootNotificationRequest", {"reason": "PowerUp", "unknownKey": 1}),
    # 2.0.1's schemas say draft 6 (1.0 is an integer there); the library validates as draft 4
    ("2.0.1", "CancelReservationRequest", {"reservationId": 1.0}),
    ("2.0.1", "GetCompositeScheduleRequest", {"duration": 1, "evseId": 1.0}),
    ("1.6", "StatusNotification", {"connectorId": 1.0, "errorCode": "NoError",
                                   "status": "Available"}),
]


def _ev_needs(**dc: Any) -> dict[str, Any]:
    return {"evseId": 1, "chargingNeeds": {"requestedEnergyTransfer": "DC", "dcChargingParameters": {
        "evMaxCurrent": 100, "evMaxVoltage": 400, **dc}}}


# Nested numbers at and beyond their schema's bounds: accepted or refused as the library does.
BOUNDS = [("2.0.1", "NotifyEVChargingNeedsRequest", _ev_needs(stateOfCharge=soc))
          for soc in (0, 100, -1, 101, 0.0, 100.0, -0.0, 99.5, 100.5, -1e-9, True, 50.0)] + [
    ("2.0.1", "NotifyEVChargingNeedsRequest", _ev_needs(fullSoC=101, bulkSoC=-1)),
    ("2.0.1", "NotifyEVChargingNeedsRequest", _ev_needs(evMaxCurrent=1.5)),
    ("2.0.1", "NotifyEVChargingNeedsRequest", _ev_needs(evMaxCurrent=2**70)),
]


@pytest.mark.parametrize(("version", "stem", "payload"), BOUNDS)
def test_nested_bounds_as_the_library(version: str, stem: str, payload: Any) -> None:
    path = SCHEMAS / f"v{version.replace('.', '')}" / "schemas" / f"{stem}.json"
    library = Draft4Validator(json.loads(path.read_text(encoding="utf-8-sig")))
    assert _code(version, stem, payload, CompiledValidator(path)) == _code(
        version, stem, payload, library)


@pytest.mark.parametrize(("version", "stem", "payload"), TABLE)
def test_named_payloads_get_the_librarys_code(version: str, stem: str, payload: Any) -> None:
    path = SCHEMAS / f"v{version.replace('.', '')}" / "schemas" / f"{stem}.json"
    library = Draft4Validator(json.loads(path.read_text(encoding="utf-8-sig")))
    expected = _code(version, stem, payload, library)
    assert expected != "accepted"
    assert _code(version, stem, payload, CompiledValidator(path)) == expected


def test_every_schema_every_payload_the_librarys_verdict_and_code() -> None:
    compared = refused = 0
    differences = []
    for version, path in _schemas():
        schema = json.loads(path.read_text(encoding="utf-8-sig"))
        library, compiled = Draft4Validator(schema), CompiledValidator(path)
        for payload in _payloads(schema):
            expected = _code(version, path.stem, payload, library)
            ours = _code(version, path.stem, payload, compiled)
            compared += 1
            refused += expected != "accepted"
            if ours != expected:
                differences.append((version, path.stem, payload, expected, ours))
    assert compared > 10_000 and refused > 9_000
    assert differences == []
