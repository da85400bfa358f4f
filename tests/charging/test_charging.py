"""End to end, for both OCPP versions: simulator ↔ real WebSocket ↔ server ↔ real PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import pytest
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from csms.app import App
from csms.domain.charge_points import register
from csms.domain.events import DomainEvent, MeterSampled, SessionEnded, SessionStarted
from csms.storage import store
from tests.conftest import AppFactory, SimFactory
from tests.support import Api, eventually, ws_url

TICK_WH = 2750  # 11 kW for 900 simulated seconds


async def _session(pool: asyncpg.Pool, session_id: str) -> asyncpg.Record:
    row = await store.get_session(pool, session_id)
    assert row is not None
    return row


def _record(app: App) -> list[DomainEvent]:
    seen: list[DomainEvent] = []

    async def subscriber(conn: asyncpg.Connection, event: DomainEvent) -> None:
        seen.append(event)

    app.events.subscribe(subscriber)
    return seen


async def test_boot_and_status(app: App, api: Api, sims: SimFactory) -> None:
    await register(app.pool, "CP1", None, {1: "DE*ABC*E0001*1"}, security_profile=0)
    sim = sims(app)
    await sim.start()
    interval_key = ("MeterValueSampleInterval" if sims.protocol == "1.6"  # type: ignore[attr-defined]
                    else "TxUpdatedInterval")
    configured = await sim.wait_for_call(
        "ChangeConfiguration" if sims.protocol == "1.6" else "SetVariables")  # type: ignore[attr-defined]
    assert interval_key in json.dumps(configured) and "900" in json.dumps(configured)

    charge_point = await api.get("/charge-points/CP1")
    assert charge_point["connected"] and charge_point["live"]
    assert charge_point["protocol"] == f"ocpp{sims.protocol}"  # type: ignore[attr-defined]
    assert (charge_point["vendor"], charge_point["model"]) == ("SimVendor", "SimModel")
    assert charge_point["last_seen"].endswith("Z")

    async def evse_status() -> str:
        return str((await api.items("/charge-points/CP1/evses"))[0]["status"])

    await eventually(lambda: _equals(evse_status(), "available"))
    await sim.set_status(1, "Faulted", "GroundFailure")
    await eventually(lambda: _equals(evse_status(), "faulted"))
    [evse] = await api.items("/charge-points/CP1/evses")
    assert evse["evse_id"] == "DE*ABC*E0001*1"
    assert evse["connectors"][0]["ocpp_status"] == "Faulted"
    if sims.protocol == "1.6":  # type: ignore[attr-defined]  # 2.0.1 reports faults through NotifyEvent
        assert evse["error_code"] == "GroundFailure"


async def _equals(value: Any, expected: Any) -> bool:
    return await value == expected


async def test_local_authorization(app: App, api: Api, sims: SimFactory) -> None:
    await register(app.pool, "CP1", None, {1: None}, security_profile=0)
    assert (await api.post("/tokens", {"uid": "GOOD"}))[0] == 201
    assert (await api.post("/tokens", {"uid": "BLOCKED"}))[0] == 201
    assert (await api.post("/tokens/BLOCKED/block"))[0] == 200
    sim = sims(app)
    await sim.start()
    assert await sim.authorize("GOOD") == "Accepted"
    assert await sim.authorize("BLOCKED") == "Blocked"
    assert await sim.authorize("STRANGER") == "Invalid"
    with pytest.raises(RuntimeError):
        await sim.start_local_session(1, "STRANGER")

    transaction_id = await sim.start_local_session(1, "GOOD")
    sessions = (await api.get("/sessions?status=active"))["items"]
    assert [(s["transaction_id"], s["token_uid"], s["remote"]) for s in sessions] == \
        [(transaction_id, "GOOD", False)]
    await sim.stop_local_session(1)
    session = await eventually(lambda: _completed(api, sessions[0]["id"]))
    assert session["stop_reason"] == "local"


async def _completed(api: Api, session_id: str) -> dict[str, Any] | None:
    session = await api.get(f"/sessions/{session_id}")
    return session if session["status"] == "completed" else None


async def test_remote_start_meter_values_and_remote_stop(app: App, api: Api,
                                                          sims: SimFactory) -> None:
    await register(app.pool, "CP1", None, {1: "DE*ABC*E0001*1"}, security_profile=0)
    events = _record(app)
    sim = sims(app)
    await sim.start()

    status, started = await api.post("/charge-points/CP1/evses/1/start", {"token": "EMP-TOKEN"})
    assert status == 200 and started["outcome"] == "accepted", started
    session_id = started["session_id"]

    async def active_with_samples() -> bool:
        session = await _session(app.pool, session_id)
        samples = await store.list_samples(app.pool, session_id)
        return session["status"] == "active" and len(
            [s for s in samples if s["context"] == "Sample.Periodic"]) >= 8
    await eventually(active_with_samples)
    session = await _session(app.pool, session_id)
    assert session["remote"] and session["token_uid"] == "EMP-TOKEN"
    assert session["transaction_id"] == sim.transaction_id(1)

    status, stopped = await api.post(f"/sessions/{session_id}/stop")
    assert status == 200 and stopped["outcome"] == "accepted"
    done = await eventually(lambda: _completed(api, session_id))
    assert done["stop_reason"] == "remote"
    assert done["meter_start_wh"] == 1000
    assert done["meter_stop_wh"] == sim.meter_wh[1]
    energy = done["meter_stop_wh"] - done["meter_start_wh"]
    assert energy > 0 and energy % TICK_WH == 0

    samples = await api.items(f"/sessions/{session_id}/meter-values")
    measurands = {s["measurand"] for s in samples}
    assert {"Energy.Active.Import.Register", "Power.Active.Import", "Current.Import",
            "SoC"} <= measurands
    assert any(s["phase"] == "L1" for s in samples) and any(s["unit"] == "Percent" for s in samples)

    # Both versions translate into the same domain events, whichever OCPP they speak.
    [start] = [e for e in events if isinstance(e, SessionStarted)]
    [end] = [e for e in events if isinstance(e, SessionEnded)]
    assert (start.session_id, start.evse_id, start.token_uid, start.remote) == \
        (session_id, "DE*ABC*E0001*1", "EMP-TOKEN", True)
    assert end.session_id == session_id and end.energy_wh == energy
    assert any(isinstance(e, MeterSampled) and e.session_id == session_id for e in events)


async def test_remote_start_refusals(app: App, api: Api, sims: SimFactory) -> None:
    await register(app.pool, "CP1", None, {1: None}, security_profile=0)
    status, answer = await api.post("/charge-points/CP1/evses/1/start", {"token": "T"})
    assert (status, answer["outcome"]) == (503, "offline")
    status, answer = await api.post("/charge-points/CP1/evses/7/start", {"token": "T"})
    assert (status, answer["outcome"]) == (404, "not_found")
    sim = sims(app)
    await sim.start()
    assert (await api.post("/charge-points/CP1/evses/1/start", {"token": "T"}))[0] == 200
    await eventually(lambda: _active_count(app, 1))
    # The charger, not our record, says the EVSE is busy; its refusal leaves the session alone.
    status, answer = await api.post("/charge-points/CP1/evses/1/start", {"token": "T2"})
    assert (status, answer["outcome"]) == (409, "busy")
    assert [s["status"] for s in (await api.get("/sessions"))["items"]] == ["failed", "active"]


async def _active_count(app: App, expected: int) -> bool:
    rows = await store.list_sessions(app.pool, "active", None, None, 10, 0)
    return len(rows) == expected


async def test_concurrent_transaction_is_refused(app: App, sims: SimFactory) -> None:
    """A token already in a transaction starts another one: ConcurrentTx (OCPP 1.6 §7.2,
    2.0.1 AuthorizationStatusEnumType), and the first one is untouched."""
    await register(app.pool, "CP1", None, {1: None, 2: None}, security_profile=0)
    await store.upsert_token(app.pool, "A")
    sim = sims(app, connectors=2)
    await sim.start()
    first = await sim.start_local_session(1, "A")
    await sim.stop()  # the simulator would not start a busy token itself: speak raw OCPP instead
    protocol = sims.protocol  # type: ignore[attr-defined]
    async with connect(f"{ws_url(app)}/CP1", subprotocols=[f"ocpp{protocol}"]) as ws:  # type: ignore[list-item]
        if protocol == "1.6":
            frame = [2, "s2", "StartTransaction", {"connectorId": 2, "idTag": "A", "meterStart": 5,
                                                   "timestamp": "2026-11-23T10:00:00Z"}]
        else:
            frame = [2, "s2", "TransactionEvent", {
                "eventType": "Started", "timestamp": "2026-11-23T10:00:00Z", "seqNo": 0,
                "triggerReason": "Authorized", "transactionInfo": {"transactionId": "second"},
                "idToken": {"idToken": "A", "type": "ISO14443"}, "evse": {"id": 2, "connectorId": 1}}]
        await ws.send(json.dumps(frame))
        reply = json.loads(await ws.recv())
    info = reply[2]["idTagInfo" if protocol == "1.6" else "idTokenInfo"]
    assert info["status"] == "ConcurrentTx"
    [active] = await store.list_sessions(app.pool, "active", None, None, 10, 0)
    assert active["transaction_id"] == first
    [refused] = await store.list_sessions(app.pool, "rejected", None, None, 10, 0)
    assert (refused["token_uid"], refused["evse_number"]) == ("A", 2)


async def test_server_restart_mid_session(make_app: AppFactory, sims: SimFactory) -> None:
    """The server dies mid-session; the charger ends the session offline; after the restart
    its queued messages close the right session with the right meter values."""
    app = await make_app()
    await register(app.pool, "CP1", None, {1: None}, security_profile=0)
    await store.upsert_token(app.pool, "TAG")
    sim = sims(app)
    await sim.start()
    transaction_id = await sim.start_local_session(1, "TAG")
    await eventually(lambda: _periodic_samples(app, 2))
    port = app.ocpp.port
    await app.stop()

    await eventually(lambda: _async(not sim.connected.is_set()))
    await eventually(lambda: _async(sim.meter_wh[1] >= 1000 + 4 * TICK_WH))  # ticks while offline
    await sim.stop_local_session(1)
    final_wh = sim.meter_wh[1]

    app = await make_app(ocpp_port=port)
    session = await eventually(lambda: _ended(app, transaction_id))
    assert session["status"] == "completed"
    assert (session["meter_start_wh"], session["meter_stop_wh"]) == (1000, final_wh)
    samples = await store.list_samples(app.pool, str(session["id"]))
    energy = sorted(s["value"] for s in samples if s["context"] == "Sample.Periodic"
                    and s["measurand"] == "Energy.Active.Import.Register")
    # every tick the charger made, online or queued offline, stored exactly once
    assert energy == [1000 + TICK_WH * i for i in range(1, len(energy) + 1)]
    assert energy[-1] == final_wh


async def _async(value: Any) -> Any:
    return value


async def _periodic_samples(app: App, count: int) -> bool:
    n = await app.pool.fetchval(
        "SELECT count(*) FROM meter_samples WHERE context = 'Sample.Periodic'")
    return bool(n >= count)


async def _ended(app: App, transaction_id: str) -> asyncpg.Record | None:
    session = await store.session_by_transaction(app.pool, "CP1", transaction_id)
    return session if session is not None and session["stopped_at"] is not None else None


async def test_remote_start_data_stays_with_the_session(app: App, sims: SimFactory) -> None:
    """What the caller of a remote start attaches (e.g. a roaming session id) is on the session
    the charger then reports, matched by remoteStartId (2.0.1) or connector and token (1.6)."""
    await register(app.pool, "CP1", None, {1: "DE*ABC*E0001*1"}, security_profile=0)
    events = _record(app)
    sim = sims(app)
    await sim.start()
    assert await app.commands.resolve_evse("DE*ABC*E0001*1") == ("CP1", 1)
    result = await app.commands.start_session("CP1", 1, "DE-ABC-C12345678-X",
                                              {"roaming_session_id": "b2688855-7f00-0002"})
    assert result.accepted and result.session_id
    await eventually(lambda: _active_count(app, 1))
    session = await _session(app.pool, result.session_id)
    assert session["attributes"] == {"roaming_session_id": "b2688855-7f00-0002"}
    assert session["transaction_id"] == sim.transaction_id(1)
    [started] = [e for e in events if isinstance(e, SessionStarted)]
    assert started.attributes == {"roaming_session_id": "b2688855-7f00-0002"}
    assert (await app.commands.stop_session(result.session_id)).accepted
    await eventually(lambda: _active_count(app, 0))
    [ended] = [e for e in events if isinstance(e, SessionEnded)]
    assert ended.attributes == started.attributes and ended.token_uid == "DE-ABC-C12345678-X"


async def test_replayed_meter_values_are_stored_once(app: App) -> None:
    """A charger that missed our answer sends the same MeterValues again."""
    await register(app.pool, "CP1", None, {1: None}, security_profile=0)
    frame = [2, "m1", "MeterValues", {"connectorId": 1, "meterValue": [{
        "timestamp": "2026-01-01T10:00:00Z", "sampledValue": [
            {"value": "1234", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
            {"value": "7.1", "measurand": "Current.Import", "phase": "L1", "unit": "A"},
            {"value": "7.2", "measurand": "Current.Import", "phase": "L2", "unit": "A"}]}]}]
    async with connect(f"{ws_url(app)}/CP1", subprotocols=[Subprotocol("ocpp1.6")]) as ws:
        for attempt in ("m1", "m1-again"):
            await ws.send(json.dumps([2, attempt, *frame[2:]]))
            assert json.loads(await ws.recv())[:2] == [3, attempt]
    assert await app.pool.fetchval("SELECT count(*) FROM meter_samples") == 3


async def test_last_seen_follows_every_frame(make_app: AppFactory) -> None:
    """A charger that only reports status and meter values (no heartbeat, no boot) is not silent."""
    app = await make_app(meter_value_interval=0)
    await register(app.pool, "CP1", None, {1: None}, security_profile=0)

    async def last_seen() -> Any:
        return (await store.get_charge_point(app.pool, "CP1"))["last_seen"]  # type: ignore[index]

    frames = [[2, "s", "StatusNotification", {"connectorId": 1, "errorCode": "NoError",
                                               "status": "Available"}],
              [2, "m", "MeterValues", {"connectorId": 1, "meterValue": [{
                  "timestamp": "2026-01-01T00:00:00Z",
                  "sampledValue": [{"value": "1000", "measurand": "Energy.Active.Import.Register"}]}]}]]
    async with connect(f"{ws_url(app)}/CP1", subprotocols=[Subprotocol("ocpp1.6")]) as ws:
        await eventually(last_seen)  # set by the connection
        connected = await last_seen()
        count = 0

        async def moved() -> bool:
            nonlocal count
            frame = frames[count % 2]
            count += 1
            await ws.send(json.dumps([2, f"{frame[1]}{count}", *frame[2:]]))
            assert json.loads(await ws.recv())[0] == 3
            return bool(await last_seen() > connected)

        await eventually(moved, timeout=60, interval=0.2)
