"""Remembered key translation gives the library's own names, in both directions, at any depth."""

from __future__ import annotations

from typing import Any

import ocpp.charge_point
import pytest

from csms.ocpp.library import casing

casing.install()

PAYLOADS: list[Any] = [
    {"chargePointVendor": "V", "chargePointModel": "M"},
    {"connectorId": 1, "meterValue": [{"timestamp": "t", "sampledValue": [
        {"value": "1", "measurand": "SoC", "unitOfMeasure": {"unit": "Wh"}}]}]},
    {"ocppCSMSURL": "wss://x", "evseSleep": True, "V2XChargingCtrlr": 1, "ISO15118V2G": 2},
    {"customData": {"vendorId": "ACME", "someVendorKey": [{"deepKeyName": None}]}},
    [], "text", 5, None,
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_same_names_as_the_library(payload: Any) -> None:
    snake = ocpp.charge_point.camel_to_snake_case(payload)
    assert snake == casing.library_to_snake(payload)
    assert ocpp.charge_point.snake_to_camel_case(snake) == casing.library_to_camel(snake)
    assert ocpp.charge_point.camel_to_snake_case is not casing.library_to_snake  # installed


def test_right_beyond_the_names_it_remembers() -> None:
    keys = {f"vendorKey{n}": n for n in range(casing.MAX_NAMES + 50)}
    assert ocpp.charge_point.camel_to_snake_case(keys) == casing.library_to_snake(keys)
