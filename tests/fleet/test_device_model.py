"""The 2.0.1 device model end to end: reports into the inventory, variables, monitors, events, display
messages and customer information against the simulator; a 1.6 charger answers not_supported."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from websockets.asyncio.client import connect

from csms.app import App
from csms.domain.charge_points import register
from csms.domain.fleet.device_model import (
    Address,
    Attribute,
    Characteristics,
    Invalid,
    Monitor,
    address,
)
from csms.ocpp.device_model201 import (
    address_201,
    component_201,
    display_message_201,
    event_201,
    variable_report_201,
)
from csms.operator.command_line.cli import main
from csms.storage.fleet import device_store
from simulators.chargepoint import SimConfig, SimulatedChargePoint
from simulators.chargepoint16 import ChargePoint16
from simulators.chargepoint201 import ChargePoint201
from simulators.device_model201 import crossed, measure
from tests.conftest import AppFactory, SimFactory
from tests.operators.console.test_console import api_for, browser  # noqa: F401  (fixtures)
from tests.operators.console.test_console import base as console_base
from tests.support import API_TOKEN, Api, eventually, ws_url

Starter = Callable[..., Any]


@pytest.fixture
async def station(app: App) -> AsyncIterator[Starter]:
    made: list[SimulatedChargePoint] = []

    async def start(charge_point_id: str = "CP1", version: str = "2.0.1") -> Any:
        await register(app.pool, charge_point_id, None, {1: None, 2: None}, security_profile=0)
        config = SimConfig(charge_point_id=charge_point_id, url=ws_url(app), connectors=2,
                           meter_interval=0)
        sim = ChargePoint201(config) if version == "2.0.1" else ChargePoint16(config)
        made.append(sim)
        await sim.start()
        await sim.connected.wait()
        # The meter interval set on boot.
        await sim.wait_for_call("SetVariables" if version == "2.0.1" else "ChangeConfiguration")
        return sim

    yield start
    for sim in made:
        await sim.stop()


async def _request(api: Api, request_id: int, cp: str = "CP1") -> dict[str, Any]:
    return await api.get(f"/charge-points/{cp}/device-model/requests/{request_id}")  # type: ignore[no-any-return]


async def _complete(api: Api, request_id: int) -> dict[str, Any]:
    async def done() -> dict[str, Any] | None:
        found = await _request(api, request_id)
        return found if found["status"] == "complete" else None
    return await eventually(done)  # type: ignore[no-any-return]


async def test_a_full_report_in_parts_becomes_the_inventory(app: App, api: Api,
                                                            station: Starter) -> None:
    sim = await station()
    status, answer = await api.post("/charge-points/CP1/device-model/report",
                                    {"base": "FullInventory"})
    assert (status, answer["outcome"]) == (200, "accepted"), answer
    request = await _complete(api, answer["detail"]["request_id"])
    variables = sim.device.variables
    # 36 variables, 10 a NotifyReport: four parts, seqNo 0-3, the last with tbc false.
    assert request["parts"] == (len(variables) + 9) // 10 > 1
    assert request["kind"] == "report:FullInventory"
    inventory = await api.items("/charge-points/CP1/device-model")
    assert len(inventory) == len(variables)

    power = await api.items("/charge-points/CP1/device-model?component=EVSE&variable=Power&evse=2")
    assert [(p["evse_id"], p["connector_id"], p["component_instance"]) for p in power] == [
        (2, None, None)]
    assert power[0]["attributes"] == [
        {"type": "Actual", "value": "0", "mutability": "ReadOnly", "persistent": True,
         "constant": False},
        {"type": "MaxSet", "value": "11000", "mutability": "ReadWrite", "persistent": False,
         "constant": False}]
    assert power[0]["characteristics"] == {"data_type": "decimal", "supports_monitoring": True,
                                           "unit": "W", "max_limit": 22000}
    # Instances are kept apart; a write-only variable is listed without a value.
    items = await api.items("/charge-points/CP1/device-model?component=DeviceDataCtrlr")
    assert [(i["variable_instance"], i["attributes"][0]["value"]) for i in items] == [
        ("GetReport", "10"), ("GetVariables", "20")]
    password = await api.items("/charge-points/CP1/device-model?variable=BasicAuthPassword")
    assert "value" not in password[0]["attributes"][0]

    # A report by criteria the station has nothing for: EmptyResultSet, nothing waits for parts.
    status, answer = await api.post("/charge-points/CP1/device-model/report",
                                    {"criteria": ["Problem"]})
    assert (status, answer["outcome"], answer["detail"]["status"]) == (
        409, "rejected", "EmptyResultSet")
    assert (await _request(api, answer["detail"]["request_id"]))["status"] == "empty"
    # By component: one part.
    status, answer = await api.post("/charge-points/CP1/device-model/report",
                                    {"variables": [{"component": "OCPPCommCtrlr"}]})
    assert status == 200
    assert (await _complete(api, answer["detail"]["request_id"]))["parts"] == 1
    assert (await sim.wait_for_call("GetReport"))["componentCriteria"] == ["Problem"]
    sent = await sim.wait_for_call("GetReport")
    assert sent["componentVariable"] == [{"component": {"name": "OCPPCommCtrlr"}}]


async def test_variables_read_and_written_are_kept_in_the_inventory(app: App, api: Api,
                                                                     station: Starter) -> None:
    sim = await station()
    status, answer = await api.post("/charge-points/CP1/device-model/variables/set", {
        "variables": [{"component": "OCPPCommCtrlr", "variable": "HeartbeatInterval",
                       "value": "120"},
                      {"component": "EVSE", "evse_id": 1, "variable": "Power",
                       "attribute_type": "MaxSet", "value": "7400"}]})
    assert status == 200, answer
    assert [r["status"] for r in answer["detail"]["results"]] == ["Accepted", "Accepted"]
    sent = await sim.wait_for_call("SetVariables")
    assert sent["setVariableData"][1]["component"] == {"name": "EVSE", "evse": {"id": 1}}
    status, answer = await api.post("/charge-points/CP1/device-model/variables/get", {
        "variables": [{"component": "EVSE", "evse_id": 1, "variable": "Power",
                       "attribute_type": "MaxSet"},
                      {"component": "EVSE", "evse_id": 2, "variable": "Power"},
                      {"component": "Nowhere", "variable": "Power"}]})
    assert [(r["evse_id"], r["status"], r.get("value")) for r in answer["detail"]["results"]] == [
        (1, "Accepted", "7400"), (2, "Accepted", "0"), (0, "UnknownVariable", None)]

    heartbeat = await api.items("/charge-points/CP1/device-model?variable=HeartbeatInterval")
    assert heartbeat[0]["attributes"] == [{"type": "Actual", "value": "120"}]
    power = await api.items("/charge-points/CP1/device-model?variable=Power")
    assert [(p["evse_id"], p["attributes"]) for p in power] == [
        (1, [{"type": "MaxSet", "value": "7400"}]), (2, [{"type": "Actual", "value": "0"}])]
    # A password is written, never kept nor shown, even by a charger that reports it back.
    status, answer = await api.post("/charge-points/CP1/device-model/variables/set", {
        "variables": [{"component": "SecurityCtrlr", "variable": "BasicAuthPassword",
                       "value": "a-new-password-0123"}]})
    assert (status, answer["detail"]["results"][0]["status"]) == (200, "Accepted")
    status, answer = await api.post("/charge-points/CP1/device-model/variables/get", {
        "variables": [{"component": "SecurityCtrlr", "variable": "BasicAuthPassword"}]})
    assert answer["detail"]["results"][0]["value"] == "***"
    assert await api.items("/charge-points/CP1/device-model?variable=BasicAuthPassword") == []
    assert "a-new-password" not in json.dumps(await api.items("/charge-points/CP1/device-model"))

    # Bad requests change nothing and reach no charger.
    for body in ({"variables": []}, {"variables": [{"component": "EVSE"}]},
                 {"variables": [{"component": "EVSE", "variable": "Power", "value": 1}]},
                 {"variables": [{"component": "EVSE", "variable": "Power", "value": "1",
                                 "attribute_type": "Max"}]}):
        status, answer = await api.post("/charge-points/CP1/device-model/variables/set", body)
        assert status == 400 and answer["error"], body


async def test_monitors_fire_events_shown_per_component(app: App, api: Api,
                                                        station: Starter) -> None:
    sim = await station()
    evse1_power = {"component": "EVSE", "evse_id": 1, "variable": "Power"}
    status, answer = await api.post("/charge-points/CP1/monitors", {"monitors": [
        {**evse1_power, "type": "UpperThreshold", "value": 7000, "severity": 5},
        {"component": "Fridge", "variable": "Power", "type": "Delta", "value": 1,
         "severity": 5},
        {"component": "ChargingStation", "variable": "Model", "type": "Delta", "value": 1,
         "severity": 5}]})
    assert status == 200, answer
    results = answer["detail"]["results"]
    assert [r["status"] for r in results] == ["Accepted", "UnknownComponent",
                                              "UnsupportedMonitorType"]
    monitor_id = results[0]["id"]
    monitors = await api.items("/charge-points/CP1/monitors")
    assert [(m["id"], m["component"], m["evse_id"], m["type"], m["value"]) for m in monitors] == [
        (monitor_id, "EVSE", 1, "UpperThreshold", 7000.0)]

    await measure(sim, {"name": "EVSE", "evse": {"id": 1}}, {"name": "Power"}, 7400)
    events = await api.items("/charge-points/CP1/device-events?component=EVSE")
    assert [(e["trigger"], e["actual_value"], e["evse_id"], e["variable_monitoring_id"],
             e["notification_type"]) for e in events] == [
        ("Alerting", "7400", 1, monitor_id, "CustomMonitor")]
    power = await api.items("/charge-points/CP1/device-model?variable=Power&evse=1")
    assert power[0]["attributes"] == [{"type": "Actual", "value": "7400"}]

    # Above the monitoring level, a monitor stays silent.
    status, _ = await api.post("/charge-points/CP1/monitoring/level", {"severity": 2})
    assert status == 200
    await measure(sim, {"name": "EVSE", "evse": {"id": 1}}, {"name": "Power"}, 0)
    await measure(sim, {"name": "EVSE", "evse": {"id": 1}}, {"name": "Power"}, 7400)
    await measure(sim, {"name": "ChargingStation"}, {"name": "Problem"}, True)  # severity 2
    events = await api.items("/charge-points/CP1/device-events")
    assert [(e["component"], e["notification_type"]) for e in events] == [
        ("ChargingStation", "PreconfiguredMonitor"), ("EVSE", "CustomMonitor")]

    # The report of the charger's monitors comes in parts: the preconfigured one too.
    status, answer = await api.post("/charge-points/CP1/monitors/report", {})
    assert status == 200
    request = await _complete(api, answer["detail"]["request_id"])
    assert request["kind"] == "monitoring_report:all"
    assert [m["id"] for m in await api.items("/charge-points/CP1/monitors")] == [1, monitor_id]

    status, answer = await api.post("/charge-points/CP1/monitors/clear",
                                    {"ids": [monitor_id, 999]})
    assert [r["status"] for r in answer["detail"]["results"]] == ["Accepted", "NotFound"]
    assert [m["id"] for m in await api.items("/charge-points/CP1/monitors")] == [1]

    status, answer = await api.post("/charge-points/CP1/monitoring/base",
                                    {"base": "HardWiredOnly"})
    assert status == 200
    status, answer = await api.post("/charge-points/CP1/monitors/report",
                                    {"criteria": ["DeltaMonitoring"]})
    assert (status, answer["detail"]["status"]) == (409, "EmptyResultSet")
    assert [m["id"] for m in await api.items("/charge-points/CP1/monitors")] == [1]  # unasked
    # The charger has no monitor at all any more: none is listed.
    status, answer = await api.post("/charge-points/CP1/monitors/report", {})
    assert (status, answer["detail"]["status"]) == (409, "EmptyResultSet")
    assert await api.items("/charge-points/CP1/monitors") == []
    # A full report replaces what we knew: a monitor it no longer lists is gone.
    await device_store.put_monitors(app.pool, "CP1", [
        Monitor(555, Address("EVSE", "Power", evse_id=2), "Delta", 1, 9)])
    status, answer = await api.post("/charge-points/CP1/monitors", {"monitors": [
        {**evse1_power, "type": "LowerThreshold", "value": 10, "severity": 3}]})
    status, answer = await api.post("/charge-points/CP1/monitors/report", {})
    await _complete(api, answer["detail"]["request_id"])
    assert [m["type"] for m in await api.items("/charge-points/CP1/monitors")] == ["LowerThreshold"]
    for path, body in (("/monitoring/level", {"severity": 10}), ("/monitoring/base", {}),
                       ("/monitors", {"monitors": [{**evse1_power, "type": "Upper",
                                                    "value": 1, "severity": 1}]}),
                       ("/monitors/clear", {"ids": ["1"]})):
        status, answer = await api.post(f"/charge-points/CP1{path}", body)
        assert status == 400, (path, answer)


async def test_display_messages(app: App, api: Api, station: Starter) -> None:
    sim = await station()
    for number in (1, 2, 3):
        status, answer = await api.post("/charge-points/CP1/display-messages", {
            "id": number, "content": f"Welcome {number}", "priority": "InFront",
            "language": "en", "evse_id": 1})
        assert status == 200, answer
    sent = await sim.wait_for_call("SetDisplayMessage")
    assert sent["message"]["message"] == {"format": "UTF8", "content": "Welcome 1",
                                          "language": "en"}
    status, answer = await api.post("/charge-points/CP1/display-messages", {
        "id": 4, "content": "<b>hi</b>", "format": "HTML"})
    assert (status, answer["detail"]["status"]) == (409, "NotSupportedMessageFormat")
    listed = await api.items("/charge-points/CP1/display-messages")
    assert [(m["message_id"], m["content"], m["evse_id"]) for m in listed] == [
        (1, "Welcome 1", 1), (2, "Welcome 2", 1), (3, "Welcome 3", 1)]

    # What the charger reports replaces what we knew, in parts (two messages each).
    sim.device.display_messages[2]["message"]["content"] = "Changed on site"
    status, answer = await api.post("/charge-points/CP1/display-messages/report", {})
    assert status == 200
    assert (await _complete(api, answer["detail"]["request_id"]))["parts"] == 2
    listed = await api.items("/charge-points/CP1/display-messages")
    assert listed[1]["content"] == "Changed on site"

    status, answer = await api.post("/charge-points/CP1/display-messages/2/clear")
    assert status == 200
    status, answer = await api.post("/charge-points/CP1/display-messages/2/clear")
    assert (status, answer["detail"]["status"]) == (409, "Unknown")
    assert [m["message_id"] for m in await api.items("/charge-points/CP1/display-messages")] == [1, 3]
    status, answer = await api.post("/charge-points/CP1/display-messages/report",
                                    {"priority": "AlwaysFront"})
    assert (status, answer["detail"]["status"]) == (409, "Unknown")
    assert (await _request(api, answer["detail"]["request_id"]))["status"] == "empty"


async def test_customer_information_is_assembled_and_cleared(app: App, api: Api,
                                                             station: Starter) -> None:
    sim = await station()
    sim.device.customer_data["alice"] = ["3 sessions; ", "last on EVSE 1; ",
                                         "token 04A1B2 cached"]
    status, answer = await api.post("/charge-points/CP1/customer-information",
                                    {"identifier": "alice", "clear": True})
    assert status == 200, answer
    request = await _complete(api, answer["detail"]["request_id"])
    assert (request["parts"], request["data"]) == (
        3, "3 sessions; last on EVSE 1; token 04A1B2 cached")
    status, answer = await api.post("/charge-points/CP1/customer-information",
                                    {"token": "alice"})
    request = await _complete(api, answer["detail"]["request_id"])
    assert request["data"] == "No data stored for alice"
    sent = await sim.wait_for_call("CustomerInformation")
    assert sent["customerIdentifier"] == "alice" and sent["clear"] is True
    for body in ({}, {"identifier": "a", "token": "b"}, {"identifier": "a", "report": False},
                 {"identifier": "x" * 65}):
        status, answer = await api.post("/charge-points/CP1/customer-information", body)
        assert status == 400, body


async def test_a_16_charger_has_no_device_model(app: App, api: Api, station: Starter) -> None:
    sim = await station("CP16", "1.6")
    calls = len(sim.calls)
    for path, body in [
        ("/device-model/report", {"base": "FullInventory"}),
        ("/device-model/variables/get", {"variables": [{"component": "EVSE",
                                                        "variable": "Power"}]}),
        ("/device-model/variables/set", {"variables": [{"component": "EVSE",
                                                        "variable": "Power", "value": "1"}]}),
        ("/monitors", {"monitors": [{"component": "EVSE", "variable": "Power",
                                     "type": "Delta", "value": 1, "severity": 1}]}),
        ("/monitors/clear", {"ids": [1]}), ("/monitors/report", {}),
        ("/monitoring/base", {"base": "All"}), ("/monitoring/level", {"severity": 1}),
        ("/display-messages", {"id": 1, "content": "hi"}), ("/display-messages/report", {}),
        ("/display-messages/1/clear", None),
        ("/customer-information", {"identifier": "alice"}),
    ]:
        status, answer = await api.post(f"/charge-points/CP16{path}", body)
        assert (status, answer["outcome"]) == (409, "not_supported"), (path, answer)
    assert len(sim.calls) == calls  # nothing reached the charger
    # Nothing waits for an answer that cannot come.
    assert await api.items("/charge-points/CP16/device-model/requests") == []


async def test_offline_and_unknown_chargers(app: App, api: Api) -> None:
    await register(app.pool, "CP1", None, {1: None}, security_profile=0)
    status, answer = await api.post("/charge-points/CP1/device-model/report",
                                    {"base": "SummaryInventory"})
    assert (status, answer) == (503, {"outcome": "offline", "detail": {}})
    assert await api.items("/charge-points/CP1/device-model/requests") == []
    status, answer = await api.post("/charge-points/NOPE/device-model/report",
                                    {"base": "SummaryInventory"})
    assert (status, answer["outcome"]) == (404, "not_found")
    status, _ = await api.request("GET", "/charge-points/NOPE/device-model")
    assert status == 404


async def test_through_the_node_holding_the_charger(make_app: AppFactory,
                                                   sims: SimFactory) -> None:
    """Node a asks, the charger is on node b: the report fills the one inventory; a 1.6
    charger's "not supported" travels back as such."""
    a = await make_app(node_id="a")
    b = await make_app(node_id="b")
    api = Api(f"http://127.0.0.1:{a.api.port}/api/v1")
    try:
        await register(a.pool, "CP1", None, {1: None}, security_profile=0)
        sim = sims(b)
        await sim.start()

        async def on_b() -> bool:
            return bool(await a.pool.fetchval("SELECT node_id FROM charge_points") == "b")
        await eventually(on_b)
        status, answer = await api.post("/charge-points/CP1/device-model/report",
                                        {"base": "SummaryInventory"})
        if sims.protocol == "1.6":  # type: ignore[attr-defined]
            assert (status, answer["outcome"]) == (409, "not_supported"), answer
            return
        assert (status, answer["outcome"]) == (200, "accepted"), answer
        await _complete(api, answer["detail"]["request_id"])
        states = await api.items("/charge-points/CP1/device-model?variable=AvailabilityState")
        assert len(states) == 3  # the station, its EVSE and its connector
    finally:
        await api.http.close()


async def test_the_cli_asks_and_browses(app: App, station: Starter, db_url: str,
                                        monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CSMS_DATABASE_URL", db_url)
    monkeypatch.setenv("CSMS_LOG_LEVEL", "warning")
    sim = await station()
    sim.device.customer_data["bob"] = ["one card, ", "two sessions"]

    def csms(*argv: str) -> Any:  # in a thread: the CLI runs its own event loop
        return asyncio.to_thread(main, list(argv))

    assert await csms("device-model", "report", "CP1", "--base", "FullInventory") == 0
    assert capsys.readouterr().out.startswith("accepted\t")

    async def complete() -> bool:
        await csms("device-model", "requests", "CP1", "--json")
        return any((r["kind"], r["status"], r["parts"]) == ("report:FullInventory", "complete", 4)
                   for r in json.loads(capsys.readouterr().out))
    await eventually(complete)
    assert await csms("device-model", "inventory", "CP1", "--component", "EVSE") == 0
    assert [line.split() for line in capsys.readouterr().out.splitlines()[:3]] == [
        ["VARIABLE", "ATTRIBUTES", "UNIT"], ["EVSE/1/AvailabilityState", "Actual=Available", "-"],
        ["EVSE/1/Power", "Actual=0", "MaxSet=11000", "W"]]

    assert await csms("device-model", "customer-information", "CP1", "bob") == 0
    request_id = json.loads(capsys.readouterr().out.split("\t", 1)[1])["request_id"]

    async def answered() -> bool:
        await csms("device-model", "customer-information", "CP1", "--request", str(request_id))
        return capsys.readouterr().out == "complete\tone card, two sessions\n"
    await eventually(answered)

    assert await csms("device-model", "monitors", "CP1") == 0
    assert await csms("device-model", "inventory", "NOPE") == 1
    assert capsys.readouterr().err == "error: unknown charge point 'NOPE'\n"


def _notify_report(request_id: int, seq_no: int, tbc: bool, variable: str) -> str:
    return json.dumps([2, f"n{seq_no}", "NotifyReport", {
        "requestId": request_id, "generatedAt": "2026-12-03T10:00:00Z", "seqNo": seq_no,
        "tbc": tbc, "reportData": [{"component": {"name": "OCPPCommCtrlr"},
                                    "variable": {"name": variable},
                                    "variableAttribute": [{"value": "1"}]}]}])


async def test_a_late_slow_or_vanishing_charger(make_app: AppFactory) -> None:
    """Timed out, the request still takes its parts when they come; a charger gone after its
    first part leaves the request receiving, with what came kept."""
    app = await make_app(call_timeout=1, meter_value_interval=0)
    api = Api(f"http://127.0.0.1:{app.api.port}/api/v1")
    try:
        await register(app.pool, "CP1", None, {1: None}, security_profile=0)
        async with connect(f"{ws_url(app)}/CP1", subprotocols=["ocpp2.0.1"]) as ws:  # type: ignore[list-item]
            await ws.send(json.dumps([2, "b", "BootNotification", {
                "reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "V"}}]))
            assert json.loads(await ws.recv())[2]["status"] == "Accepted"
            status, answer = await api.post("/charge-points/CP1/device-model/report",
                                            {"base": "FullInventory"})
            assert (status, answer["outcome"]) == (504, "timeout")
            request_id = answer["detail"]["request_id"]
            assert (await _request(api, request_id))["status"] == "timeout"
            frame = json.loads(await ws.recv())  # the GetBaseReport left unanswered
            assert frame[2:] == ["GetBaseReport",
                                 {"requestId": request_id, "reportBase": "FullInventory"}]
            for seq_no in (0, 1):
                await ws.send(_notify_report(request_id, seq_no, seq_no == 0, f"V{seq_no}"))
                assert json.loads(await ws.recv()) == [3, f"n{seq_no}", {}]
            assert (await _request(api, request_id))["status"] == "complete"

            # Accepted, one part of several, then the connection is gone.
            asking = asyncio.ensure_future(api.post("/charge-points/CP1/device-model/report",
                                                    {"base": "FullInventory"}))
            frame = json.loads(await ws.recv())
            await ws.send(json.dumps([3, frame[1], {"status": "Accepted"}]))
            status, answer = await asking
            assert status == 200
            second = answer["detail"]["request_id"]
            await ws.send(_notify_report(second, 0, True, "Only"))
            assert json.loads(await ws.recv()) == [3, "n0", {}]
        found = await _request(api, second)
        assert (found["status"], found["parts"]) == ("receiving", 1)
        inventory = await api.items("/charge-points/CP1/device-model")
        assert [v["variable"] for v in inventory] == ["Only"]  # a new full inventory replaces
        # A report nobody asked for (its request unknown here) is kept too.
        async with connect(f"{ws_url(app)}/CP1", subprotocols=["ocpp2.0.1"]) as ws:  # type: ignore[list-item]
            await ws.send(_notify_report(4711, 0, False, "Unasked"))
            assert json.loads(await ws.recv()) == [3, "n0", {}]
        assert (await _request(api, 4711))["kind"] == "report"
    finally:
        await api.http.close()


async def test_the_console_shows_the_inventory_monitors_and_events(
        make_app: AppFactory, browser: Any, api_for: Any) -> None:  # noqa: F811  (fixtures)
    from playwright.async_api import expect

    app = await make_app(meter_value_interval=0)
    api = await api_for(app)
    await register(app.pool, "CP1", None, {1: None}, security_profile=0)
    sim = ChargePoint201(SimConfig("CP1", ws_url(app), meter_interval=0))
    await sim.start()
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        await sim.connected.wait()
        status, answer = await api.post("/charge-points/CP1/monitors", {"monitors": [
            {"component": "EVSE", "evse_id": 1, "variable": "Power", "type": "UpperThreshold",
             "value": 7000, "severity": 5}]})
        assert status == 200, answer
        await measure(sim, {"name": "EVSE", "evse": {"id": 1}}, {"name": "Power"}, 7400)
        await page.goto(console_base(app) + "/#/chargers/CP1")
        await page.fill("#token", API_TOKEN)
        await page.click("form.login button")
        await expect(page.locator("#dm-state")).to_contain_text("No report yet")
        await page.click("#dm-report")
        await expect(page.locator("#dm-state")).to_contain_text(
            f"{len(sim.device.variables)} variables; last request report:FullInventory complete")
        await page.fill("#dm-filter", "EVSE")
        rows = page.locator("#dm-inventory tr")
        await expect(rows).to_have_count(2)
        await expect(page.locator('#dm-inventory tr[data-variable="Power"]')).to_contain_text(
            "Actual: 7400, MaxSet: 11000")
        await expect(page.locator("#dm-monitors")).to_contain_text("EVSE / 1 / Power: "
                                                                   "UpperThreshold 7000")
        await expect(page.locator("#dm-events")).to_contain_text("EVSE / 1 / Power: Alerting 7400")
    finally:
        await sim.stop()
    assert errors == []


# Charger messages at the edges of their schemas: each answered, and kept.
EDGES: list[tuple[str, dict[str, Any]]] = [
    ("NotifyEvent", {"generatedAt": "2026-12-03T12:00:00+02:00", "seqNo": 0, "eventData": [{
        "eventId": 2**40, "timestamp": "2026-12-03T12:00:00.123+02:00", "trigger": "Alerting",
        "actualValue": "x" * 2500, "eventNotificationType": "HardWiredNotification",
        "component": {"name": "Fan", "instance": "rear", "evse": {"id": 2, "connectorId": 3}},
        "variable": {"name": "Fault", "instance": "1"}, "cleared": True, "techInfo": "t" * 500}]}),
    ("NotifyReport", {"requestId": 2**40, "generatedAt": "2026-12-03T10:00:00Z", "seqNo": 0}),
    ("NotifyReport", {"requestId": -5, "generatedAt": "2026-12-03T10:00:00Z", "seqNo": 0,
                      "tbc": True, "reportData": [{"component": {"name": "A"},
                                                   "variable": {"name": "B"},
                                                   "variableAttribute": [{}]}]}),
    ("NotifyMonitoringReport", {"requestId": 9, "generatedAt": "2026-12-03T10:00:00Z",
                                "seqNo": 0}),
    ("NotifyDisplayMessages", {"requestId": 10}),
    ("NotifyDisplayMessages", {"requestId": 11, "messageInfo": [{
        "id": 2**40, "priority": "AlwaysFront", "startDateTime": "2026-12-03T10:00:00Z",
        "message": {"format": "URI", "content": "https://example.com/x"}}]}),
    ("NotifyCustomerInformation", {"data": "", "seqNo": 0, "generatedAt": "2026-12-03T10:00:00Z",
                                   "requestId": 12}),
]


async def test_charger_messages_at_the_edges_are_answered(app: App, api: Api) -> None:
    await register(app.pool, "CP1", None, {1: None}, security_profile=0)
    async with connect(f"{ws_url(app)}/CP1", subprotocols=["ocpp2.0.1"]) as ws:  # type: ignore[list-item]
        for number, (action, payload) in enumerate(EDGES):
            await ws.send(json.dumps([2, f"e{number}", action, payload]))
            assert json.loads(await ws.recv()) == [3, f"e{number}", {}], action
    events = await api.items("/charge-points/CP1/device-events")
    assert [(e["event_id"], e["component_instance"], e["connector_id"], e["cleared"],
             e["occurred_at"]) for e in events] == [
        (2**40, "rear", 3, True, "2026-12-03T10:00:00.123Z")]
    fan = await api.items("/charge-points/CP1/device-model?component=Fan")
    assert fan[0]["attributes"] == [{"type": "Actual", "value": "x" * 2500}]
    assert [r["status"] for r in await api.items("/charge-points/CP1/device-model/requests")] == [
        "complete", "complete", "complete", "complete", "receiving", "complete"]
    messages = await api.items("/charge-points/CP1/display-messages")
    assert [(m["message_id"], m["format"]) for m in messages] == [(2**40, "URI")]


# --- pure mappings -------------------------------------------------------------------------

@pytest.mark.parametrize(("where", "component"), [
    (Address("EVSE", "Power", evse_id=1), {"name": "EVSE", "evse": {"id": 1}}),
    (Address("Connector", "ConnectorType", evse_id=1, connector_id=2),
     {"name": "Connector", "evse": {"id": 1, "connector_id": 2}}),
    (Address("OCPPCommCtrlr", "MessageTimeout", variable_instance="Default"),
     {"name": "OCPPCommCtrlr"}),
    (Address("TokenReader", "Enabled", component_instance="front"),
     {"name": "TokenReader", "instance": "front"}),
])
def test_addresses_to_201_and_back(where: Address, component: dict[str, Any]) -> None:
    assert component_201(where.as_dict()) == component
    variable = {"name": where.variable, **({"instance": where.variable_instance}
                                           if where.variable_instance else {})}
    assert address_201(component, variable) == where


def test_report_data_defaults_as_the_schema_says() -> None:
    report = variable_report_201({
        "component": {"name": "AuthCtrlr"}, "variable": {"name": "Enabled"},
        "variable_attribute": [{"value": "true"}, {"type": "Target", "value": "false",
                                                   "mutability": "WriteOnly"}],
        "variable_characteristics": {"data_type": "boolean", "supports_monitoring": False}})
    assert report.attributes == [
        Attribute("Actual", "true", "ReadWrite", False, False),
        Attribute("Target", "false", "WriteOnly", False, False)]
    assert report.characteristics == Characteristics("boolean", False)


def test_events_and_display_messages_map() -> None:
    event = event_201({"event_id": 7, "timestamp": "2026-12-03T10:00:00Z", "trigger": "Alerting",
                       "actual_value": "81", "component": {"name": "EVSE", "evse": {"id": 1}},
                       "variable": {"name": "Temperature"}, "tech_code": "T1",
                       "event_notification_type": "HardWiredNotification"})
    assert (event.event_id, event.occurred_at, event.address.evse_id, event.details) == (
        7, datetime(2026, 12, 3, 10, tzinfo=UTC), 1, {"tech_code": "T1"})
    assert display_message_201({"id": 3, "priority": "NormalCycle", "content": "Hi",
                                "format": "ASCII", "starts_at": "2026-12-03T10:00:00Z",
                                "evse_id": 2}) == {
        "id": 3, "priority": "NormalCycle", "message": {"format": "ASCII", "content": "Hi"},
        "start_date_time": "2026-12-03T10:00:00Z",
        "display": {"name": "DisplayMessageCtrlr", "evse": {"id": 2}}}


@pytest.mark.parametrize(("given", "error"), [
    ({"variable": "Power"}, "'component'"),
    ({"component": "EVSE"}, "'variable'"),
    ({"component": "EVSE", "variable": "Power", "evse_id": -1}, "'evse_id'"),
    ({"component": "EVSE", "variable": "x" * 51}, "'variable'"),
    ("EVSE.Power", "an object"),
])
def test_bad_addresses_say_why(given: Any, error: str) -> None:
    with pytest.raises(Invalid, match=error):
        address(given)


@pytest.mark.parametrize(("kind", "limit", "before", "after", "trigger"), [
    ("UpperThreshold", 10, 5, 11, "Alerting"),
    ("UpperThreshold", 10, 11, 12, None),  # already above: no new alert
    ("LowerThreshold", 10, 11, 9, "Alerting"),
    ("Delta", 5, 10, 14, None),
    ("Delta", 5, 10, 15, "Delta"),
])
def test_simulated_monitors_fire_on_crossing(kind: str, limit: float, before: float,
                                              after: float, trigger: str | None) -> None:
    assert crossed({"type": kind, "value": limit}, before, after) == trigger
