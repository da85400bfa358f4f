"""Smart charging end to end beyond set/clear: what a charger holds (K09), limits it tells of (K11-K17),
remote start with a Tx profile, and the composite schedule compared with what we intend."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from websockets.asyncio.client import connect

from csms.app import App
from csms.domain.charge_points import register
from csms.domain.energy.smart_charging import profile_from_dict
from csms.domain.events import DomainEvent, EvseCapChanged
from csms.ocpp.translations.charging_profiles import profile_16, profile_201
from csms.operator.command_line.cli import main
from csms.storage import store
from csms.storage.energy import energy_store
from simulators.chargepoint import SimConfig, SimulatedChargePoint
from simulators.chargepoint201 import ChargePoint201
from tests.conftest import SimFactory
from tests.support import Api, eventually, ws_url

BASE = "/charge-points/CP1/charging-profiles"


def _profile(profile_id: int, purpose: str, stack_level: int, *limits: tuple[int, float],
             **extra: Any) -> dict[str, Any]:
    return {"id": profile_id, "stack_level": stack_level, "purpose": purpose, "kind": "Relative",
            "unit": "A", "periods": [{"start": start, "limit": limit} for start, limit in limits],
            **extra}


async def _online(app: App, sim: SimulatedChargePoint) -> SimulatedChargePoint:
    await register(app.pool, "CP1", None, {1: None, 2: None}, security_profile=0)
    await sim.start()
    await eventually(lambda: app.commands.online("CP1"))
    return sim


def _sim201(app: App, **options: Any) -> ChargePoint201:
    return ChargePoint201(SimConfig("CP1", ws_url(app), connectors=2, meter_interval=0.2,
                                    **options))


def _calls(sim: SimulatedChargePoint, action: str) -> list[dict[str, Any]]:
    return [payload for name, payload in sim.calls if name == action]


async def _cli(*argv: str) -> int:
    return await asyncio.to_thread(main, list(argv))


async def test_the_profiles_a_charger_holds(app: App, api: Api, sims: SimFactory,
                                            monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """K09: a 2.0.1 charger is asked and its reports (one per EVSE, tbc) assembled; a 1.6 one
    cannot be asked: our store answers, saying so."""
    sim = await _online(app, sims(app, connectors=2))
    for evse, profile in [(0, _profile(1, "ChargePointMax", 0, (0, 30.0))),
                          (1, _profile(2, "TxDefault", 0, (0, 16.0))),
                          (2, _profile(3, "TxDefault", 1, (0, 12.0)))]:
        status, answer = await api.post(BASE, {"evse": evse, "profile": profile})
        assert status == 200, answer
    charger = sims.protocol == "2.0.1"  # type: ignore[attr-defined]
    if charger:  # what the charger holds, not what we sent: it lost one
        sim.profiles.clear(3)

    status, answer = await api.request("GET", BASE + "?source=charger")
    assert status == 200, answer
    detail = answer["detail"]
    assert detail["reported_by"] == ("charger" if charger else "csms")
    assert sorted((p["evse"], p["source"], p["profile"]["id"]) for p in detail["profiles"]) == (
        [(0, "CSO", 1), (1, "CSO", 2)] if charger else [(0, "CSO", 1), (1, "CSO", 2), (2, "CSO", 3)])
    assert len(_calls(sim, "GetChargingProfiles")) == (1 if charger else 0)

    # By purpose and EVSE; nothing matching: NoProfiles.
    status, answer = await api.request("GET", BASE + "?source=charger&purpose=TxDefault&evse=1")
    assert [p["profile"]["id"] for p in answer["detail"]["profiles"]] == [2]
    status, answer = await api.request("GET", BASE + "?source=charger&id=99")
    assert (status, answer["detail"]["status"], answer["detail"]["profiles"]) == (
        200, "NoProfiles", [])
    if charger:
        assert _calls(sim, "GetChargingProfiles")[-1] == {
            "requestId": _calls(sim, "GetChargingProfiles")[-1]["requestId"],
            "chargingProfile": {"chargingProfileId": [99]}}

    # Bad input: one clear line, nothing sent.
    sent = len(sim.calls)
    for query in ["source=nope", "source=charger&purpose=Nope", "source=charger&limit_source=X",
                  "source=charger&id=a"]:
        status, answer = await api.request("GET", f"{BASE}?{query}")
        assert status == 400, (query, answer)
    assert len(sim.calls) == sent

    # The CLI asks the same way, through the relay.
    monkeypatch.setenv("CSMS_DATABASE_URL", app.database_url)
    monkeypatch.setenv("CSMS_LOG_LEVEL", "warning")
    capsys.readouterr()
    assert await _cli("profiles", "list", "CP1", "--from-charger", "--purpose",
                      "ChargePointMax", "--json") == 0
    shown = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert [(p["profile"]["id"], p["reported_by"]) for p in shown] == [
        (1, "charger" if charger else "csms")]


async def test_external_limits_become_grid_caps(app: App, api: Api) -> None:
    """K12/K13: a limit the grid operator (or an EMS) set is recorded as the EVSE's cap, the
    load manager told in the same transaction; cleared, it goes."""
    seen: list[EvseCapChanged] = []

    async def record(conn: asyncpg.Connection, event: DomainEvent) -> None:
        if isinstance(event, EvseCapChanged):
            seen.append(event)
    app.events.subscribe(record)
    sim = await _online(app, _sim201(app))

    await sim.notify_charging_limit("SO", 16.0, evse=1, grid_critical=True)
    caps = await energy_store.caps_of(app.pool, "CP1", 1)
    assert [(c["source"], c["evse"], c["max_amps"]) for c in caps] == [("grid:SO", 1, Decimal(16))]
    assert seen == [EvseCapChanged("CP1", 1, "grid:SO")]
    # In W, for the whole charger (no evseId), for an hour: 11040 W over 3 x 230 V.
    await sim.notify_charging_limit("EMS", 11040.0, unit="W", duration=3600)
    caps = await energy_store.caps_of(app.pool, "CP1", 2)
    assert [(c["source"], c["evse"], c["max_amps"], c["until"] is not None) for c in caps] == [
        ("grid:EMS", 0, Decimal("16.0"), True)]
    assert caps[0]["detail"]["charging_limit"]["charging_limit_source"] == "EMS"
    # Without a schedule: known, no value.
    await sim.notify_charging_limit("Other", None, evse=2)
    assert {c["source"]: c["max_amps"] for c in await energy_store.caps_of(app.pool, "CP1", 2)} \
        == {"grid:EMS": Decimal("16.0"), "grid:Other": None}

    # The charger holds them as external constraints (K11): reported by their source, its
    # draw kept to them; ours (CSO) apart.
    now = datetime.now(UTC)
    assert (sim.profiles.limit(1, now), sim.profiles.limit(2, now, "W")) == (16.0, 11040.0)
    status, answer = await api.request("GET", BASE + "?source=charger&limit_source=SO,EMS")
    assert status == 200, answer
    reported = sorted((p["evse"], p["source"], p["external"]["charging_profile_purpose"])
                      for p in answer["detail"]["profiles"])
    assert reported == [(0, "EMS", "ChargingStationExternalConstraints"),
                        (1, "SO", "ChargingStationExternalConstraints")]
    status, answer = await api.request("GET", BASE + "?source=charger&limit_source=CSO")
    assert answer["detail"]["status"] == "NoProfiles"

    await sim.cleared_charging_limit("SO", evse=1)
    await sim.cleared_charging_limit("EMS")
    assert not sim.profiles.held
    assert [c["source"] for c in await energy_store.caps_of(app.pool, "CP1", 1)] == []
    assert seen[-2:] == [EvseCapChanged("CP1", 1, "grid:SO"), EvseCapChanged("CP1", 0, "grid:EMS")]
    # Nothing held: nothing to tell.
    await sim.cleared_charging_limit("SO", evse=1)
    assert len(seen) == 5


async def test_remote_start_with_a_tx_profile(app: App, api: Api, sims: SimFactory,
                                              monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """1.6 §5.16 / 2.0.1 F01, K05: the charger applies the profile to the transaction it starts."""
    await store.upsert_token(app.pool, "CARD")
    sim = await _online(app, sims(app, connectors=2))
    sent = len(sim.calls)
    for bad in [_profile(7, "TxDefault", 1, (0, 10.0)),
                _profile(7, "Tx", 1, (0, 10.0), transaction_id="1"),
                _profile(7, "Tx", 1, (60, 10.0)), {"id": 7}]:
        status, answer = await api.post("/charge-points/CP1/evses/1/start",
                                        {"token": "CARD", "profile": bad})
        assert status == 400, answer
    assert len(sim.calls) == sent

    status, answer = await api.post("/charge-points/CP1/evses/1/start", {
        "token": "CARD", "profile": _profile(7, "Tx", 1, (0, 10.0))})
    assert (status, answer["outcome"]) == (200, "accepted"), answer
    action = "RemoteStartTransaction" if sims.protocol == "1.6" else "RequestStartTransaction"  # type: ignore[attr-defined]
    assert _calls(sim, action)[-1]["chargingProfile"]["chargingProfilePurpose"] == "TxProfile"
    await eventually(lambda: _true(1 in sim.transactions))
    assert sim.profiles.held[7].purpose == "tx" and sim.drawn_w(1) == 10.0 * 230 * 3
    assert [(p["evse"], p["status"], p["profile"]["id"]) for p in await api.items(BASE)] == [
        (1, "Accepted", 7)]

    # The CLI: the same, and bad input in one line.
    monkeypatch.setenv("CSMS_DATABASE_URL", app.database_url)
    monkeypatch.setenv("CSMS_LOG_LEVEL", "warning")
    capsys.readouterr()
    await store.upsert_token(app.pool, "CARD2")  # CARD charges on EVSE 1: on 2 it is ConcurrentTx
    assert await _cli("profiles", "start", "CP1", "--evse", "2", "--token", "CARD2", "--profile",
                      json.dumps(_profile(8, "Tx", 1, (0, 6.0)))) == 0
    await eventually(lambda: _true(2 in sim.transactions))
    assert sim.drawn_w(2) == 6.0 * 230 * 3
    assert await _cli("profiles", "start", "CP1", "--token", "CARD", "--profile",
                      json.dumps(_profile(8, "TxDefault", 1, (0, 6.0)))) == 2
    err = capsys.readouterr().err
    assert "must be a Tx profile" in err and len(err.strip().splitlines()) == 1


async def test_iso15118_needs_and_schedules(app: App) -> None:
    """K15-K17 with the load manager: the car's needs answered and recorded as the `ev` cap, a
    TxProfile at the car's maximum follows; its schedule is accepted within what we allow.
    The grid then limits the EVSE (K12): the load manager lowers the profile, the car asking
    for more is rejected and sent the profile anew (renegotiation), 3 times at most."""
    await store.upsert_token(app.pool, "CARD")
    sim = await _online(app, _sim201(app, iso15118=True, ev_max_amps=16, ev_min_amps=6))
    transaction_id = await sim.start_local_session(1, "CARD")
    await eventually(lambda: _true(("NotifyEVChargingNeeds", "Accepted") in sim.ev_answers))
    caps = await eventually(lambda: energy_store.caps_of(app.pool, "CP1", 1))
    assert [(c["source"], c["max_amps"], c["min_amps"]) for c in caps] == [
        ("ev", Decimal("16.0"), Decimal("6.0"))]
    await eventually(lambda: _true(("NotifyEVChargingSchedule", "Accepted") in sim.ev_answers))
    first = _calls(sim, "SetChargingProfile")[0]["chargingProfile"]
    assert (first["chargingProfilePurpose"], first["transactionId"]) == ("TxProfile",
                                                                        transaction_id)
    assert _limit(first) == 16.0

    # The grid allows 10 A: lowered to it; a car asking for 20 A is rejected and sent the
    # profile anew (renegotiation), 3 times in a row at most.
    sim.config.ev_schedule_amps = 20.0
    adapter: Any = app.connections.get("CP1")
    await sim.notify_charging_limit("SO", 10.0, evse=1)
    await eventually(lambda: _true((adapter._renegotiated or {}).get(1) == 3))
    await eventually(lambda: _true(sim.ev_answers.count(("NotifyEVChargingSchedule",
                                                         "Rejected")) >= 4))
    sets = _calls(sim, "SetChargingProfile")
    assert [_limit(p["chargingProfile"]) for p in sets[:5]] == [16.0] + [10.0] * 4
    assert {p["chargingProfile"]["transactionId"] for p in sets} == {transaction_id}
    assert await energy_store.allowed(app.pool, "CP1", 1) == Decimal(10)

    # A schedule within it is accepted again.
    sim.config.ev_schedule_amps = 9.5
    assert await sim.notify_ev_charging_schedule(1, 9.5) == "Accepted"

    # The grid's limit gone, the load manager allows the car's 16 A again: what it allows counts
    # (the car's own maximum is not a limit of ours).
    await sim.cleared_charging_limit("SO", evse=1)
    await eventually(lambda: _true(
        _limit(_calls(sim, "SetChargingProfile")[-1]["chargingProfile"]) == 16.0))
    assert await energy_store.allowed(app.pool, "CP1", 1) == Decimal(16)
    sim.config.ev_schedule_amps = 18.0
    assert await sim.notify_ev_charging_schedule(1, 18.0) == "Rejected"
    # Never more than 3 renegotiations for the car (it keeps asking for more).
    assert adapter._renegotiated[1] == 3

    # The car's needs end with its session.
    await sim.stop_local_session(1)
    await eventually(lambda: _none(energy_store.caps_of(app.pool, "CP1", 1)))


async def _none(rows: Any) -> bool:
    return not await rows


def _limit(profile: dict[str, Any]) -> float:
    return float(profile["chargingSchedule"][0]["chargingSchedulePeriod"][0]["limit"])


async def test_composite_compared_with_what_we_intend(app: App, api: Api,
                                                      sims: SimFactory) -> None:
    sim = await _online(app, sims(app, connectors=2))
    status, answer = await api.post(BASE, {"evse": 1, "profile": _profile(
        1, "TxDefault", 0, (0, 16.0))})
    assert status == 200, answer
    answer = await api.get("/charge-points/CP1/composite-schedule?evse=1&duration=600")
    detail = answer["detail"]
    assert [(p["start"], p["limit"]) for p in detail["intended"]["periods"]] == [(0, 16.0)]
    assert detail["mismatch"] == []

    # The charger holds more than we know of (set by someone else, a local setting): flagged.
    wire = profile_16 if sims.protocol == "1.6" else profile_201  # type: ignore[attr-defined]
    sim.profiles.set(1, wire(profile_from_dict(_profile(5, "TxDefault", 3, (0, 10.0)))), False)
    answer = await api.get("/charge-points/CP1/composite-schedule?evse=1&duration=600")
    assert answer["detail"]["mismatch"] == [
        {"start": 0, "end": 600, "reported": 10.0, "intended": 16.0}]
    # The load manager allows 8 A now: that is what we intend; in W too (0.1 A apart at most).
    await app.pool.execute("INSERT INTO evse_allowances (charge_point_id, evse, amps, status) "
                           "VALUES ('CP1', 1, 8, 'Accepted')")
    answer = await api.get("/charge-points/CP1/composite-schedule?evse=1&duration=600")
    assert answer["detail"]["mismatch"] == [
        {"start": 0, "end": 600, "reported": 10.0, "intended": 8.0}]
    sim.profiles.clear(5)
    sim.profiles.set(1, wire(profile_from_dict(_profile(6, "TxDefault", 3, (0, 8.05)))), False)
    answer = await api.get("/charge-points/CP1/composite-schedule?evse=1&duration=600&unit=W")
    assert [p["limit"] for p in answer["detail"]["schedule"]["periods"]] == [5554.5]  # 8.05 A
    assert answer["detail"]["mismatch"] == []


SCHEDULE = {"id": 1, "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10}]}


# The codes the server's validation gives (tests/ocpp_server/connection/test_ocpp_server.py): an incomplete
# payload is a ProtocolError, a wrong type a TypeConstraintViolation, a value outside its enum a
# FormatViolation.
@pytest.mark.parametrize(("frame", "code"), [
    ([2, "k1", "NotifyChargingLimit", {"evseId": 1}], "ProtocolError"),
    ([2, "k2", "NotifyChargingLimit", {"chargingLimit": {"chargingLimitSource": "Grid"}}],
     "FormatViolation"),
    ([2, "k3", "ClearedChargingLimit", {}], "ProtocolError"),
    ([2, "k4", "NotifyEVChargingNeeds", {"evseId": 1, "chargingNeeds": {}}], "ProtocolError"),
    ([2, "k5", "NotifyEVChargingSchedule", {"evseId": "one", "timeBase": "2026-12-04T06:00:00Z",
                                            "chargingSchedule": SCHEDULE}],
     "TypeConstraintViolation"),
    ([2, "k6", "ReportChargingProfiles", {"requestId": 1}], "ProtocolError"),
])
async def test_bad_frames_get_a_callerror_and_change_nothing(app: App, frame: list,
                                                             code: str) -> None:
    await register(app.pool, "CP1", None, {1: None}, security_profile=0)
    async with connect(f"{ws_url(app)}/CP1", subprotocols=["ocpp2.0.1"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps([2, "b", "BootNotification", {
            "chargingStation": {"vendorName": "V", "model": "M"}, "reason": "PowerUp"}]))
        assert json.loads(await ws.recv())[2]["status"] == "Accepted"
        await ws.send(json.dumps(frame))
        error = json.loads(await ws.recv())
        while error[1] != frame[1]:  # our own calls after the boot
            error = json.loads(await ws.recv())
        assert error[:3] == [4, frame[1], code], error
    assert await app.pool.fetchval("SELECT count(*) FROM evse_caps") == 0


async def _true(value: bool) -> bool:
    return value

