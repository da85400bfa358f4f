"""Generic (raw OCPP) commands, the core commands beside them, and configuration kept, both versions."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201
from websockets.asyncio.client import connect

from csms.app import App
from csms.domain.charge_points import register
from csms.domain.fleet.configuration import ConfigurationEntry
from csms.ocpp.translations import configuration, generic
from csms.operator.command_line.cli import main
from csms.security.credentials import verify_password
from csms.security.masking import MASK
from csms.storage import store
from tests.conftest import AppFactory, SimFactory
from tests.support import Api, eventually, ws_url

PASSWORD = "first-password-123"


def _v16(sims: SimFactory) -> bool:
    return sims.protocol == "1.6"  # type: ignore[attr-defined, no-any-return]


def _set(v16: bool, key: str, value: str) -> tuple[str, dict[str, Any]]:
    """The raw call that changes one setting: 1.6 ChangeConfiguration, 2.0.1 SetVariables."""
    if v16:
        return "ChangeConfiguration", {"key": key, "value": value}
    component, _, variable = key.rpartition(".")
    return "SetVariables", {"setVariableData": [{
        "component": {"name": component}, "variable": {"name": variable},
        "attributeValue": value}]}


async def test_generic_commands_end_to_end(app: App, api: Api, sims: SimFactory) -> None:
    await register(app.pool, "CP1", PASSWORD, {1: None})
    # A TLS URL it knows: a 1.6 charger then takes profile 2 (it is never reset here to use it).
    # Without smart charging: its requests get a CALLERROR, as from firmware without the feature.
    sim = sims(app, password=PASSWORD, tls_url="wss://127.0.0.1:1/ocpp", smart_charging=False)
    await sim.start()
    v16 = _v16(sims)
    await sim.wait_for_call("ChangeConfiguration" if v16 else "SetVariables")  # boot's meter interval

    # Answered: its status (if the response has one) and the response as it came.
    status, answer = await api.post("/charge-points/CP1/commands/Reset",
                                    {"type": "Soft" if v16 else "OnIdle"})
    assert (status, answer) == (200, {"outcome": "accepted", "status": "Accepted",
                                      "response": {"status": "Accepted"}}), answer
    assert (await sim.wait_for_call("Reset"))["type"] == ("Soft" if v16 else "OnIdle")
    status, answer = await api.post("/charge-points/CP1/commands/TriggerMessage",
                                    {"requestedMessage": "DiagnosticsStatusNotification" if v16
                                     else "LogStatusNotification"})
    assert (status, answer["status"]) == (200, "NotImplemented"), answer

    # A CALLERROR: its code and description (this simulator has no smart charging).
    status, answer = await api.post("/charge-points/CP1/commands/ClearChargingProfile", {})
    assert status == 502 and answer["callError"]["code"] == "NotImplemented", answer

    # Decimals as the 1.6 schemas want them (the library validates those with Decimal floats).
    if v16:
        status, answer = await api.post("/charge-points/CP1/commands/SetChargingProfile", {
            "connectorId": 1, "csChargingProfiles": {
                "chargingProfileId": 1, "stackLevel": 0,
                "chargingProfilePurpose": "TxDefaultProfile", "chargingProfileKind": "Absolute",
                "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [
                    {"startPeriod": 0, "limit": 21.4}]}}})
        assert status == 502 and answer["callError"]["code"] == "NotImplemented", answer

    # Nothing sent that its version has not, or that does not fit the action's schema.
    sent = len(sim.calls)
    for action, payload in [("Nope", {}), ("BootNotification", {}), ("Heartbeat", {}),
                            ("RequestStartTransaction" if v16 else "RemoteStartTransaction",
                             {"idTag": "A"}),
                            ("Reset", {"type": "Sideways"}), ("Reset", {}),
                            ("Reset", {"type": "Hard", "extra": 1})]:
        status, answer = await api.post(f"/charge-points/CP1/commands/{action}", payload)
        assert status == 400 and answer["outcome"] == "invalid" and answer["reason"], (action,
                                                                                     answer)
    assert len(sim.calls) == sent
    status, answer = await api.post("/charge-points/CP1/commands/Reset", [1])  # type: ignore[arg-type]
    assert status == 400
    status, answer = await api.post("/charge-points/CP9/commands/Reset", {"type": "Soft"})
    assert (status, answer["outcome"]) == (404, "not_found")

    # A new password the charger takes is stored, and the charger gets back in with it.
    password_key = "AuthorizationKey" if v16 else "SecurityCtrlr.BasicAuthPassword"
    action, payload = _set(v16, password_key, "second-password-456")
    status, answer = await api.post(f"/charge-points/CP1/commands/{action}", payload)
    assert status == 200 and "second-password-456" not in json.dumps(answer), answer
    stored = await store.get_charge_point(app.pool, "CP1")
    assert stored is not None and verify_password("second-password-456", stored["password_hash"])
    assert sim.config.password == "second-password-456"

    # What the charger answers is masked like frames are (it reports its password back).
    if v16:
        action, payload = "GetConfiguration", {"key": [password_key]}
    else:
        action, payload = "GetVariables", {"getVariableData": [{
            "component": {"name": "SecurityCtrlr"}, "variable": {"name": "BasicAuthPassword"}}]}
    status, answer = await api.post(f"/charge-points/CP1/commands/{action}", payload)
    assert status == 200 and MASK in json.dumps(answer), answer
    assert "second-password-456" not in json.dumps(answer)

    # Configuration results a raw call brings are kept as the typed path keeps them.
    heartbeat = "HeartbeatInterval" if v16 else "OCPPCommCtrlr.HeartbeatInterval"
    action, payload = _set(v16, heartbeat, "240")
    status, answer = await api.post(f"/charge-points/CP1/commands/{action}", payload)
    assert status == 200, answer
    kept = {e["key"]: e["value"]
            for e in (await api.get("/charge-points/CP1/configuration/known"))["configuration"]}
    assert kept[heartbeat] == "240" and kept[password_key] == MASK, kept

    before = stored["connected_at"]
    await sim.drop_connection()

    async def reconnected() -> bool:
        charger = await store.get_charge_point(app.pool, "CP1")
        return charger is not None and charger["connected"] and charger["connected_at"] > before
    await eventually(reconnected)

    # An accepted security profile change raises the profile we require (never lowers it). In
    # 2.0.1 SecurityCtrlr.SecurityProfile is read-only: refused, nothing raised (its upgrade is
    # A05's SetNetworkProfile, tests/fleet/test_certificates.py).
    action, payload = _set(v16, "SecurityProfile" if v16 else "SecurityCtrlr.SecurityProfile", "2")
    status, answer = await api.post(f"/charge-points/CP1/commands/{action}", payload)
    assert status == 200, answer
    raised = 2 if v16 else 1
    if not v16:
        assert answer["response"]["setVariableResult"][0]["attributeStatus"] == "Rejected", answer
    assert (await store.get_charge_point(app.pool, "CP1"))["security_profile"] == raised  # type: ignore[index]
    action, payload = _set(v16, "SecurityProfile" if v16 else "SecurityCtrlr.SecurityProfile", "1")
    await api.post(f"/charge-points/CP1/commands/{action}", payload)
    assert (await store.get_charge_point(app.pool, "CP1"))["security_profile"] == raised  # type: ignore[index]


async def test_generic_commands_reach_a_charger_on_another_node(make_app: AppFactory,
                                                               sims: SimFactory) -> None:
    a = await make_app(node_id="a")
    b = await make_app(node_id="b")
    api = Api(f"http://127.0.0.1:{a.api.port}/api/v1")
    try:
        await register(a.pool, "CP1", PASSWORD, {1: None})
        sim = sims(b, password=PASSWORD, smart_charging=False)
        await sim.start()
        await eventually(lambda: a.pool.fetchval(
            "SELECT node_id = 'b' AND connected FROM charge_points WHERE id = 'CP1'"))
        v16 = _v16(sims)
        status, answer = await api.post("/charge-points/CP1/commands/Reset",
                                        {"type": "Hard" if v16 else "Immediate"})
        assert (status, answer["status"]) == (200, "Accepted"), answer
        status, answer = await api.post("/charge-points/CP1/commands/ClearChargingProfile", {})
        assert status == 502 and answer["callError"]["code"] == "NotImplemented", answer
        status, answer = await api.post("/charge-points/CP1/commands/Reset", {"type": "Sideways"})
        assert (status, answer["outcome"]) == (400, "invalid"), answer
        # Its side effects count on the node that asked, as on the one holding it.
        action, payload = _set(v16, "AuthorizationKey" if v16
                               else "SecurityCtrlr.BasicAuthPassword", "second-password-456")
        status, answer = await api.post(f"/charge-points/CP1/commands/{action}", payload)
        assert status == 200, answer
        stored = await store.get_charge_point(a.pool, "CP1")
        assert stored is not None and verify_password("second-password-456",
                                                      stored["password_hash"])
    finally:
        await api.http.close()


@pytest.mark.parametrize("where", ["here", "other node"])
async def test_a_charger_gone_mid_command_is_offline_at_once(make_app: AppFactory,
                                                            where: str) -> None:
    # A call timeout far beyond the test's patience: "offline" must come from the disconnect.
    a = await make_app(node_id="a", call_timeout=120, meter_value_interval=0)
    holder = a if where == "here" else await make_app(node_id="b", call_timeout=120,
                                                      meter_value_interval=0)
    api = Api(f"http://127.0.0.1:{a.api.port}/api/v1")
    try:
        await register(a.pool, "CP1", None, {1: None}, security_profile=0)
        for path, body in [("/charge-points/CP1/reset", {"hard": True}),
                           ("/charge-points/CP1/commands/Reset", {"type": "Hard"})]:
            async with connect(f"{ws_url(holder)}/CP1", subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
                await ws.send(json.dumps([2, "b", "BootNotification",
                                          {"chargePointVendor": "V", "chargePointModel": "M"}]))
                await ws.recv()
                await eventually(lambda: a.pool.fetchval(
                    "SELECT connected FROM charge_points WHERE id = 'CP1'"))
                started = time.monotonic()
                command = asyncio.create_task(api.post(path, body))
                assert json.loads(await ws.recv())[2] == "Reset"
            status, answer = await asyncio.wait_for(command, 60)  # the connection is closed
            assert (status, answer["outcome"]) == (503, "offline"), answer
            assert time.monotonic() - started < 60
            await eventually(lambda: a.pool.fetchval(
                "SELECT NOT connected FROM charge_points WHERE id = 'CP1'"))
    finally:
        await api.http.close()


async def test_data_transfer_from_a_vendor_we_do_not_know(make_app: AppFactory,
                                                          sims: SimFactory) -> None:
    app = await make_app(known_vendors="com.known, org.other")
    await register(app.pool, "CP1", None, {1: None}, security_profile=0)
    sim = sims(app)
    await sim.start()
    transfer = call16.DataTransfer if _v16(sims) else call201.DataTransfer
    answer = await sim.call(transfer(vendor_id="com.unknown", data="x"))
    assert answer.status == "UnknownVendorId"
    answer = await sim.call(transfer(vendor_id="com.known", message_id="m", data="x"))
    assert answer.status == "Accepted"
    # Only what a known vendor sent is kept.
    reports = await store.list_reports(app.pool, "CP1", "DataTransfer", 10)
    assert [r["payload"]["vendorId"] for r in reports] == ["com.known"]


async def test_known_no_vendor_by_default(app: App, sims: SimFactory) -> None:
    await register(app.pool, "CP1", None, {1: None}, security_profile=0)
    sim = sims(app)
    await sim.start()
    transfer = call16.DataTransfer if _v16(sims) else call201.DataTransfer
    assert (await sim.call(transfer(vendor_id="SimVendor"))).status == "UnknownVendorId"


async def test_clear_cache_and_data_transfer_to_the_charger(app: App, api: Api,
                                                            sims: SimFactory) -> None:
    await register(app.pool, "CP1", None, {1: None}, security_profile=0)
    sim = sims(app)
    await sim.start()
    status, answer = await api.post("/charge-points/CP1/clear-cache")
    assert (status, answer["outcome"]) == (200, "accepted"), answer
    assert sim.cache_cleared == 1
    status, answer = await api.post("/charge-points/CP1/data-transfer",
                                    {"vendor_id": "SimVendor", "message_id": "m", "data": "hi"})
    assert (status, answer["outcome"], answer["detail"]) == (
        200, "accepted", {"status": "Accepted", "data": "hi"}), answer
    status, answer = await api.post("/charge-points/CP1/data-transfer", {"vendor_id": "Other"})
    assert (status, answer["outcome"], answer["detail"]["status"]) == (
        409, "rejected", "UnknownVendorId"), answer
    status, answer = await api.post("/charge-points/CP1/data-transfer", {})
    assert status == 400
    status, answer = await api.post("/charge-points/CP9/clear-cache")
    assert (status, answer["outcome"]) == (404, "not_found")


async def test_configuration_kept_and_asked_in_batches(app: App, api: Api,
                                                       sims: SimFactory) -> None:
    await register(app.pool, "CP1", PASSWORD, {1: None})
    sim = sims(app, password=PASSWORD, max_keys=2)  # refuses more than 2 keys a message
    await sim.start()
    v16 = _v16(sims)
    keys = (["HeartbeatInterval", "MeterValueSampleInterval", "NumberOfConnectors", "Nope1",
             "Nope2"] if v16 else
            ["OCPPCommCtrlr.HeartbeatInterval", "SampledDataCtrlr.TxUpdatedInterval",
             "AuthCtrlr.Enabled", "Nope.One", "Nope.Two"])
    if not v16:
        sim.settings.update({keys[0]: "300", keys[2]: "true"})
    status, answer = await api.post("/charge-points/CP1/configuration",
                                    {"key": keys[0], "value": "120"})
    assert answer["outcome"] == "accepted", answer

    answer = await api.get("/charge-points/CP1/configuration?"
                           + "&".join(f"key={key}" for key in keys))
    assert answer["outcome"] == "accepted", answer
    assert answer["detail"]["unknown"] == keys[3:]
    values = {e["key"]: e["value"] for e in answer["detail"]["configuration"]}
    assert values[keys[0]] == "120" and set(values) == set(keys[:3])
    asked = [(payload.get("key") or payload.get("getVariableData")) for action, payload
             in sim.calls if action in ("GetConfiguration", "GetVariables")]
    assert all(len(batch) <= 2 for batch in asked) and sum(map(len, asked)) >= len(keys)

    # Every result kept: values, read-only flags, keys the charger does not know.
    status, answer = await api.post("/charge-points/CP1/configuration",
                                    {"key": keys[2], "value": "false" if not v16 else "3"})
    known = await api.get("/charge-points/CP1/configuration/known")
    kept = {e["key"]: e for e in known["configuration"]}
    assert kept[keys[0]]["value"] == "120" and known["unknown"] == keys[3:]
    if v16:
        assert kept[keys[0]]["readonly"] is False
    status, missing = await api.request("GET", "/charge-points/CP9/configuration/known")
    assert status == 404

    # Several at once: 2.0.1 SetVariables in batches of ItemsPerMessage (SetVariables).
    values = ({"HeartbeatInterval": "200", "ConnectionTimeOut": "60", "LocalPreAuthorize": "true"}
              if v16 else {"OCPPCommCtrlr.HeartbeatInterval": "200", "TxCtrlr.EVConnectionTimeOut":
                           "60", "AuthCtrlr.LocalPreAuthorize": "true"})
    status, answer = await api.post("/charge-points/CP1/configuration", {"values": values})
    assert (status, answer["outcome"]) == (200, "accepted"), answer
    assert answer["detail"]["results"] == dict.fromkeys(values, "Accepted")
    if not v16:
        sets = [payload["setVariableData"] for action, payload in sim.calls
                if action == "SetVariables"]
        assert all(len(batch) <= 2 for batch in sets) and len(sets[-1]) == 1
    kept = {e["key"]: e["value"]
            for e in (await api.get("/charge-points/CP1/configuration/known"))["configuration"]}
    assert all(kept[key] == value for key, value in values.items()), kept
    password = "AuthorizationKey" if v16 else "SecurityCtrlr.BasicAuthPassword"
    for bad in [{}, {"A": 1}, {password: "second-password-456"}]:
        status, answer = await api.post("/charge-points/CP1/configuration", {"values": bad})
        assert status == 400, bad


async def test_the_password_set_as_configuration_is_stored(app: App, api: Api,
                                                           sims: SimFactory) -> None:
    await register(app.pool, "CP1", PASSWORD, {1: None})
    sim = sims(app, password=PASSWORD)
    await sim.start()
    key = "AuthorizationKey" if _v16(sims) else "SecurityCtrlr.BasicAuthPassword"
    status, answer = await api.post("/charge-points/CP1/configuration", {"key": key, "value": "x"})
    assert status == 400
    status, answer = await api.post("/charge-points/CP1/configuration",
                                    {"key": key, "value": "second-password-456"})
    assert (status, answer["outcome"]) == (200, "accepted"), answer
    stored = await store.get_charge_point(app.pool, "CP1")
    assert stored is not None and verify_password("second-password-456", stored["password_hash"])
    known = await api.get("/charge-points/CP1/configuration/known")
    assert "second-password-456" not in json.dumps(known)


async def test_cli_sends_a_generic_command_through_the_running_node(
        app: App, sims: SimFactory, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    await register(app.pool, "CP1", None, {1: None}, security_profile=0)
    sim = sims(app)
    await sim.start()
    monkeypatch.setenv("CSMS_DATABASE_URL", app.database_url)
    monkeypatch.setenv("CSMS_LOG_LEVEL", "warning")
    payload = '{"type": "Soft"}' if _v16(sims) else '{"type": "OnIdle"}'
    code = await asyncio.to_thread(main, ["charge-points", "command", "CP1", "Reset", payload])
    out, err = capsys.readouterr()
    assert code == 0 and json.loads(out)["status"] == "Accepted", (out, err)
    code = await asyncio.to_thread(main, ["charge-points", "command", "CP1", "Reset", "{"])
    assert code == 2 and "payload" in capsys.readouterr().err
    code = await asyncio.to_thread(main, ["charge-points", "command", "CP1", "Reset",
                                          '{"type": "Sideways"}'])
    assert code == 2 and "invalid" in capsys.readouterr().err
    code = await asyncio.to_thread(main, ["charge-points", "command", "CP9", "Reset", payload])
    assert code == 1 and "not_found" in capsys.readouterr().err


# --- pure mappings -------------------------------------------------------------------------------

EFFECTS: list[tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]] = [
    ("ChangeConfiguration", {"key": "AuthorizationKey", "value": "p" * 16},
     {"status": "Accepted"}, {"password": "p" * 16}),
    ("ChangeConfiguration", {"key": "AuthorizationKey", "value": "p" * 16},
     {"status": "Rejected"}, {}),
    ("ChangeConfiguration", {"key": "SecurityProfile", "value": "2"},
     {"status": "RebootRequired"}, {"security_profile": 2}),
    ("ChangeConfiguration", {"key": "SecurityProfile", "value": "9"}, {"status": "Accepted"}, {}),
    ("ChangeConfiguration", {"key": "HeartbeatInterval", "value": "9"},
     {"status": "Accepted"}, {}),
    ("SetVariables", {"setVariableData": [
        {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "BasicAuthPassword"},
         "attributeValue": "q" * 16},
        {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "SecurityProfile"},
         "attributeValue": "3"}]},
     {"setVariableResult": [
         {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "BasicAuthPassword"},
          "attributeStatus": "Accepted"},
         {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "SecurityProfile"},
          "attributeStatus": "Rejected"}]},
     {"password": "q" * 16}),
    ("SetVariables", {"setVariableData": [
        {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "BasicAuthPassword"},
         "attributeValue": "q" * 16, "attributeType": "Target"}]},
     {"setVariableResult": [
         {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "BasicAuthPassword"},
          "attributeType": "Target", "attributeStatus": "Accepted"}]}, {}),
    ("Reset", {"type": "Hard"}, {"status": "Accepted"}, {}),
]


@pytest.mark.parametrize(("action", "payload", "response", "expected"), EFFECTS)
def test_effects_of_a_raw_call(action: str, payload: dict[str, Any], response: dict[str, Any],
                               expected: dict[str, Any]) -> None:
    assert generic.effects(action, payload, response) == expected


def test_every_csms_action_has_its_schema() -> None:
    from pathlib import Path

    import ocpp
    root = Path(ocpp.__file__).parent
    for protocol, folder, suffix in [("ocpp1.6", "v16", ""), ("ocpp2.0.1", "v201", "Request")]:
        for action in generic.CSMS_ACTIONS[protocol]:
            assert (root / folder / "schemas" / f"{action}{suffix}.json").exists(), action


@pytest.mark.parametrize(("items", "size", "expected"), [
    ([1, 2, 3, 4, 5], 2, [[1, 2], [3, 4], [5]]),
    ([1, 2], 2, [[1, 2]]),
    ([1, 2, 3], None, [[1, 2, 3]]),
    ([1, 2, 3], 0, [[1, 2, 3]]),
    ([], 3, [[]]),
])
def test_batches(items: list[int], size: int | None, expected: list[list[int]]) -> None:
    assert configuration.batches(items, size) == expected


def test_configuration_answers_as_neutral_entries() -> None:
    assert configuration.entries_16(
        [{"key": "A", "value": "1", "readonly": True}, {"key": "AuthorizationKey", "value": "s"}],
        ["B"]) == [ConfigurationEntry("A", "1", True), ConfigurationEntry(
            "AuthorizationKey", MASK, False), ConfigurationEntry("B", None, None, False,
                                                                 "UnknownKey")]
    assert configuration.entries_201([
        {"component": {"name": "C"}, "variable": {"name": "V"}, "attribute_status": "Accepted",
         "attribute_value": "7"},
        {"component": {"name": "C"}, "variable": {"name": "W"},
         "attribute_status": "UnknownVariable"},
        {"component": {"name": "C"}, "variable": {"name": "X"}, "attribute_status": "Rejected"},
    ]) == [ConfigurationEntry("C.V", "7"), ConfigurationEntry("C.W", None, None, False,
                                                              "UnknownVariable"),
           ConfigurationEntry("C.X", None, None, True, "Rejected")]
