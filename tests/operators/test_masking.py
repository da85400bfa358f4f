"""Secrets in OCPP frames: masked in the messages API, the console and the logs; sent as they are."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
import structlog.testing

from csms.app import App
from csms.domain.charge_points import register
from csms.ocpp.messages import FRAME_CHARS, MessageLog
from csms.security.masking import MASK, UNREADABLE, mask_frame, mask_payload
from tests.conftest import SimFactory
from tests.support import Api

VPN = {"server": "vpn.example", "user": "u", "group": "g", "password": "vpn-pass",
       "key": "vpn-shared-key", "type": "IPSec"}
APN = {"apn": "internet", "apnUserName": "u", "apnPassword": "apn-pass", "simPin": 1234,
       "apnAuthentication": "AUTO"}
APN_MASKED = {**APN, "apnPassword": MASK}  # a PIN given as a number is no string: kept below


@pytest.mark.parametrize(("frame", "expected"), [
    # 1.6 security whitepaper: the Basic auth password is the AuthorizationKey configuration key.
    ([2, "1", "ChangeConfiguration", {"key": "AuthorizationKey", "value": "s3cret-pass"}],
     [2, "1", "ChangeConfiguration", {"key": "AuthorizationKey", "value": MASK}]),
    ([2, "1", "ChangeConfiguration", {"key": "authorizationkey", "value": "s3cret-pass"}],
     [2, "1", "ChangeConfiguration", {"key": "authorizationkey", "value": MASK}]),
    # A charger that reports it (it should not: write-only) has it masked too; others stay.
    ([3, "2", {"configurationKey": [
        {"key": "AuthorizationKey", "readonly": False, "value": "s3cret-pass"},
        {"key": "HeartbeatInterval", "readonly": False, "value": "300"}]}],
     [3, "2", {"configurationKey": [
         {"key": "AuthorizationKey", "readonly": False, "value": MASK},
         {"key": "HeartbeatInterval", "readonly": False, "value": "300"}]}]),
    # 2.0.1 SetVariables SecurityCtrlr.BasicAuthPassword; other variables stay readable.
    ([2, "3", "SetVariables", {"setVariableData": [
        {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "BasicAuthPassword"},
         "attributeValue": "s3cret-pass"},
        {"component": {"name": "SampledDataCtrlr"}, "variable": {"name": "TxUpdatedInterval"},
         "attributeValue": "900"}]}],
     [2, "3", "SetVariables", {"setVariableData": [
         {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "BasicAuthPassword"},
          "attributeValue": MASK},
         {"component": {"name": "SampledDataCtrlr"}, "variable": {"name": "TxUpdatedInterval"},
          "attributeValue": "900"}]}]),
    ([3, "4", {"getVariableResult": [
        {"attributeStatus": "Accepted", "component": {"name": "SecurityCtrlr"},
         "variable": {"name": "BasicAuthPassword"}, "attributeValue": "s3cret-pass"}]}],
     [3, "4", {"getVariableResult": [
         {"attributeStatus": "Accepted", "component": {"name": "SecurityCtrlr"},
          "variable": {"name": "BasicAuthPassword"}, "attributeValue": MASK}]}]),
    ([2, "5", "NotifyReport", {"requestId": 1, "seqNo": 0, "generatedAt": "2026-12-03T10:00:00Z",
                               "reportData": [{"component": {"name": "SecurityCtrlr"},
                                               "variable": {"name": "BasicAuthPassword"},
                                               "variableAttribute": [{"value": "s3cret-pass"}]}]}],
     [2, "5", "NotifyReport", {"requestId": 1, "seqNo": 0, "generatedAt": "2026-12-03T10:00:00Z",
                               "reportData": [{"component": {"name": "SecurityCtrlr"},
                                               "variable": {"name": "BasicAuthPassword"},
                                               "variableAttribute": [{"value": MASK}]}]}]),
    # 2.0.1 SetNetworkProfile: the VPN's password and shared key, the APN's password.
    ([2, "6", "SetNetworkProfile", {"configurationSlot": 1, "connectionData": {
        "ocppVersion": "OCPP20", "ocppTransport": "JSON", "ocppCsmsUrl": "wss://csms/ocpp",
        "messageTimeout": 30, "securityProfile": 2, "ocppInterface": "Wireless0",
        "vpn": VPN, "apn": APN}}],
     [2, "6", "SetNetworkProfile", {"configurationSlot": 1, "connectionData": {
         "ocppVersion": "OCPP20", "ocppTransport": "JSON", "ocppCsmsUrl": "wss://csms/ocpp",
         "messageTimeout": 30, "securityProfile": 2, "ocppInterface": "Wireless0",
         "vpn": {**VPN, "password": MASK, "key": MASK}, "apn": APN_MASKED}}]),
    # ISO 15118 contract certificate installation: the EXI answer holds the EV's private key.
    ([3, "7", {"status": "Accepted", "exiResponse": "base64-exi-with-private-key"}],
     [3, "7", {"status": "Accepted", "exiResponse": MASK}]),
    # Nothing secret: the very same text (not re-serialized).
    ([2, "8", "ChangeConfiguration", {"key": "HeartbeatInterval", "value": "300"}], None),
    ([2, "9", "DataTransfer", {"vendorId": "V", "data": "my password is in the data"}], None),
])
def test_masks_every_secret_and_nothing_else(frame: list, expected: list | None) -> None:
    text = json.dumps(frame)
    if expected is None:
        assert mask_frame(text) == text
    else:
        assert json.loads(mask_frame(text)) == expected
        assert frame[-1] != expected[-1]  # the frame itself (what is sent) is not touched


def test_payloads_in_the_librarys_snake_case_are_masked_too() -> None:
    answer = {"get_variable_result": [
        {"attribute_status": "Accepted", "component": {"name": "SecurityCtrlr"},
         "variable": {"name": "BasicAuthPassword"}, "attribute_value": "s3cret-pass"}],
        "connection_data": {"apn": {"apn_password": "apn-pass", "sim_pin": "1234"}}}
    assert mask_payload(answer) == {"get_variable_result": [
        {"attribute_status": "Accepted", "component": {"name": "SecurityCtrlr"},
         "variable": {"name": "BasicAuthPassword"}, "attribute_value": MASK}],
        "connection_data": {"apn": {"apn_password": MASK, "sim_pin": MASK}}}


def test_a_frame_that_is_not_json_but_may_hold_a_secret_is_not_shown() -> None:
    assert mask_frame('[2,"1","ChangeConfiguration",{"key":"AuthorizationKey","value":"s3c') \
        == UNREADABLE
    assert mask_frame("[2, not json") == "[2, not json"


def test_message_log_records_masked_frames() -> None:
    log = MessageLog()
    log.record("CP1", "out", json.dumps(
        [2, "1", "ChangeConfiguration", {"key": "AuthorizationKey", "value": "s3cret-pass"}]))
    assert "s3cret-pass" not in log.recent("CP1")[0].text


def test_a_long_frame_is_masked_before_it_is_cut_and_shown_cut() -> None:
    """Frames are masked when shown; one too long to keep whole is masked first, then cut, and
    shown as it was kept (masked again, the cut text would be unreadable JSON)."""
    log, seen = MessageLog(), []
    log.watch("CP1", seen.append)
    log.record("CP1", "out", json.dumps([2, "1", "SetVariables", {"setVariableData": [
        {"attributeValue": "s3cret-pass", "component": {"name": "SecurityCtrlr"},
         "variable": {"name": "BasicAuthPassword"}},
        {"attributeValue": "x" * FRAME_CHARS, "component": {"name": "Other"},
         "variable": {"name": "Blob"}}]}]))
    for frame in (log.recent("CP1")[0], seen[0]):
        assert "s3cret-pass" not in frame.text and frame.text != UNREADABLE
        assert '"attributeValue":"***"' in frame.text and frame.text.endswith("…")
        assert len(frame.text) == FRAME_CHARS + 1


async def test_new_password_reaches_the_charger_and_shows_nowhere(
        app: App, api: Api, sims: SimFactory, caplog: pytest.LogCaptureFixture) -> None:
    await register(app.pool, "CP1", "first-password-123", {1: None})
    sim = sims(app, password="first-password-123")
    await sim.start()
    logging.getLogger("ocpp").setLevel(logging.INFO)  # the library logs every frame at INFO
    try:
        with caplog.at_level(logging.INFO, logger="ocpp"):
            status, answer = await api.post("/charge-points/CP1/password",
                                            {"password": "second-password-456"})
    finally:
        logging.getLogger("ocpp").setLevel(logging.WARNING)
    assert (status, answer["outcome"]) == (200, "accepted"), answer
    assert sim.config.password == "second-password-456"  # the charger got it as it is
    # The simulated charger reports it back (a real one should not: write-only): not echoed.
    key = "AuthorizationKey" if sims.protocol == "1.6" else "SecurityCtrlr.BasicAuthPassword"  # type: ignore[attr-defined]
    with structlog.testing.capture_logs() as logs:
        status, answer = await api.request("GET", f"/charge-points/CP1/configuration?key={key}")
    assert status == 200 and MASK in json.dumps(answer), answer
    assert "second-password-456" not in json.dumps(answer) + json.dumps(logs, default=str)
    frames: list[dict[str, Any]] = await api.items("/charge-points/CP1/messages")
    assert any(MASK in f["frame"] for f in frames if f["direction"] == "out")
    assert any(MASK in f["frame"] for f in frames if f["direction"] == "in")
    assert not any("second-password-456" in f["frame"] for f in frames)
    assert any("send" in r.getMessage() and MASK in r.getMessage() for r in caplog.records)
    assert "second-password-456" not in caplog.text


def test_request_parameters_are_masked_by_name_and_by_configuration_key() -> None:
    from csms.security.masking import mask_parameters

    given = {"body": {"id": "CP1", "password": "pw", "new_password": "pw2", "token_a": "t",
                      "client_secret": "s", "password_stdin": True, "token": "MYCARD",
                      "values": [{"key": "AuthorizationKey", "value": "k"},
                                 {"key": "HeartbeatInterval", "value": "60"}]}}
    masked = mask_parameters(given)
    assert masked == {"body": {"id": "CP1", "password": "***", "new_password": "***",
                               "token_a": "***", "client_secret": "***", "password_stdin": True,
                               "token": "MYCARD",  # a charging token's id is no secret
                               "values": [{"key": "AuthorizationKey", "value": "***"},
                                          {"key": "HeartbeatInterval", "value": "60"}]}}
    assert given["body"]["password"] == "pw"  # a copy: the request itself is not changed
