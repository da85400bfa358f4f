"""Charging profiles end to end (both versions): set, list, clear, the composite schedule, refusals."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from csms.app import App
from csms.domain.charge_points import register
from csms.operator.command_line.cli import main
from csms.storage import store
from simulators.smart_charging import Profiles
from tests.conftest import SimFactory
from tests.support import Api, eventually

BASE = "/charge-points/CP1/charging-profiles"


def _profile(profile_id: int, purpose: str, stack_level: int, *limits: tuple[int, float],
             **extra: Any) -> dict[str, Any]:
    return {"id": profile_id, "stack_level": stack_level, "purpose": purpose, "kind": "Relative",
            "unit": "A", "periods": [{"start": start, "limit": limit} for start, limit in limits],
            **extra}


async def _online(app: App, sims: SimFactory, **options: Any) -> Any:
    await register(app.pool, "CP1", None, {1: None, 2: None}, security_profile=0)
    sim = sims(app, connectors=2, **options)
    await sim.start()
    await eventually(lambda: app.commands.online("CP1"))
    return sim


async def test_set_list_clear_and_composite(app: App, api: Api, sims: SimFactory) -> None:
    sim = await _online(app, sims)

    # A charger-wide maximum and a default for EVSE 1: both held, both kept as accepted.
    status, answer = await api.post(BASE, {"evse": 0, "profile": _profile(
        1, "ChargePointMax", 0, (0, 20.0))})
    assert (status, answer["outcome"]) == (200, "accepted"), answer
    status, answer = await api.post(BASE, {"evse": 1, "profile": _profile(
        2, "TxDefault", 0, (0, 32.0), (600, 10.0))})
    assert (status, answer["outcome"]) == (200, "accepted"), answer
    assert set(sim.profiles.held) == {1, 2}
    listed = await api.items(BASE)
    assert [(p["evse"], p["status"], p["profile"]["id"]) for p in listed] == [
        (0, "Accepted", 1), (1, "Accepted", 2)]

    # The composite as the charger computes it: the default capped by the maximum.
    answer = await api.get("/charge-points/CP1/composite-schedule?evse=1&duration=1200")
    schedule = answer["detail"]["schedule"]
    assert schedule["evse"] == 1 and schedule["unit"] == "A"
    assert [(p["start"], p["limit"]) for p in schedule["periods"]] == [(0, 20.0), (600, 10.0)]

    # The same purpose and stack level on the same EVSE: replaced, on the charger and here.
    status, answer = await api.post(BASE, {"evse": 1, "profile": _profile(
        3, "TxDefault", 0, (0, 16.0))})
    assert status == 200, answer
    assert set(sim.profiles.held) == {1, 3}
    assert [p["profile"]["id"] for p in await api.items(BASE + "?evse=1")] == [3]

    # Cleared by purpose: only those go.
    status, answer = await api.post(BASE + "/clear", {"purpose": "ChargePointMax"})
    assert (status, answer["outcome"], answer["detail"]["forgotten"]) == (200, "accepted", 1)
    assert set(sim.profiles.held) == {3}
    assert [p["profile"]["id"] for p in await api.items(BASE)] == [3]
    # Nothing matches on the charger: it says Unknown.
    status, answer = await api.post(BASE + "/clear", {"id": 99})
    assert (status, answer["outcome"], answer["detail"]["status"]) == (409, "rejected", "Unknown")
    status, answer = await api.post(BASE + "/clear")
    assert status == 200 and not sim.profiles.held and await api.items(BASE) == []


async def test_charger_rejects(app: App, api: Api, sims: SimFactory) -> None:
    sim = await _online(app, sims)
    # A Tx profile without a transaction there, a maximum on an EVSE, an EVSE it lacks.
    for evse, profile in [(1, _profile(5, "Tx", 0, (0, 10.0), transaction_id="1")),
                          (1, _profile(6, "ChargePointMax", 0, (0, 10.0))),
                          (7, _profile(7, "TxDefault", 0, (0, 10.0)))]:
        status, answer = await api.post(BASE, {"evse": evse, "profile": profile})
        assert (status, answer["outcome"]) == (409, "rejected"), answer
    assert not sim.profiles.held
    assert {p["status"] for p in await api.items(BASE)} == {"Rejected"}
    status, answer = await api.request("GET", "/charge-points/CP1/composite-schedule?evse=9")
    assert (status, answer["outcome"]) == (409, "rejected"), answer

    # Bad input: one clear line, nothing sent.
    sent = len(sim.calls)
    for body in [{"profile": _profile(8, "TxDefault", 0, (60, 10.0))},
                 {"profile": {"id": 1}}, {"evse": -1, "profile": _profile(8, "Tx", 0, (0, 1.0))},
                 {"profile": _profile(8, "Nope", 0, (0, 1.0))}]:
        status, answer = await api.post(BASE, body)
        assert status == 400, answer
    status, answer = await api.post(BASE + "/clear", {"purpose": "Nope"})
    assert status == 400, answer
    assert len(sim.calls) == sent


async def test_firmware_without_smart_charging(app: App, api: Api, sims: SimFactory) -> None:
    await _online(app, sims, smart_charging=False)
    status, answer = await api.post(BASE, {"profile": _profile(1, "ChargePointMax", 0, (0, 1.0))})
    assert (status, answer["outcome"]) == (502, "failed"), answer
    assert await api.items(BASE) == []


async def test_offline_and_unknown(app: App, api: Api) -> None:
    await register(app.pool, "CP1", None, {1: None}, security_profile=0)
    status, answer = await api.post(BASE, {"profile": _profile(1, "ChargePointMax", 0, (0, 1.0))})
    assert (status, answer["outcome"]) == (503, "offline"), answer
    status, answer = await api.post("/charge-points/CP9/charging-profiles",
                                    {"profile": _profile(1, "ChargePointMax", 0, (0, 1.0))})
    assert (status, answer["outcome"]) == (404, "not_found"), answer


def test_simulated_composite_takes_the_highest_stack_level_and_the_cap() -> None:
    now = datetime(2026, 12, 4, tzinfo=UTC)
    profiles = Profiles(2, max_amps=32.0)

    def wire(profile_id: int, purpose: str, level: int, periods: list[tuple[int, float]],
             **extra: Any) -> dict[str, Any]:
        return {"id": profile_id, "stack_level": level, "charging_profile_purpose": purpose,
                "charging_profile_kind": "Absolute", **extra, "charging_schedule": [{
                    "id": 1, "start_schedule": now.isoformat(), "charging_rate_unit": "A",
                    "charging_schedule_period": [{"start_period": s, "limit": limit}
                                                 for s, limit in periods]}]}

    assert profiles.set(1, wire(1, "TxDefaultProfile", 0, [(0, 16.0)]), False) == "Accepted"
    assert profiles.set(1, wire(2, "TxDefaultProfile", 1, [(0, 24.0), (300, 6.0)],
                                valid_to=(now + timedelta(seconds=600)).isoformat()),
                        False) == "Accepted"
    assert profiles.set(0, wire(3, "ChargingStationMaxProfile", 0, [(0, 30.0), (100, 20.0)]),
                        False) == "Accepted"
    found = profiles.composite(1, 900, "A", now)
    # Stack level 1 wins while valid (capped at 20 A from 100 s), then level 0's 16 A.
    assert [(p["start_period"], p["limit"]) for p in found["periods"]] == [
        (0, 24.0), (100, 20.0), (300, 6.0), (600, 16.0)]
    assert profiles.limit(1, now + timedelta(seconds=400), "W") == 6.0 * 230 * 3
    assert profiles.limit(2, now, "A") == 30.0  # no default of its own: the cap, then 32 A



async def test_cli(app: App, sims: SimFactory, monkeypatch: pytest.MonkeyPatch,
                   capsys: pytest.CaptureFixture[str]) -> None:
    """The CLI reaches a charger held by a running node (through the relay)."""
    monkeypatch.setenv("CSMS_DATABASE_URL", app.database_url)
    monkeypatch.setenv("CSMS_LOG_LEVEL", "warning")
    sim = await _online(app, sims)

    async def cli(*argv: str) -> int:
        return await asyncio.to_thread(main, list(argv))

    profile = json.dumps(_profile(4, "TxDefault", 2, (0, 12.5)))
    assert await cli("profiles", "set", "CP1", profile, "--evse", "1") == 0
    assert "accepted status=Accepted" in capsys.readouterr().out
    assert set(sim.profiles.held) == {4}
    assert await cli("profiles", "list", "CP1", "--json") == 0
    shown = next(json.loads(line) for line in capsys.readouterr().out.splitlines()
                 if line.startswith("["))  # not a log line of the running app's
    assert [(p["evse"], p["status"], p["profile"]["id"]) for p in shown] == [(1, "Accepted", 4)]
    assert await cli("profiles", "composite", "CP1", "--evse", "1", "--duration", "60") == 0
    schedule = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [(p["start"], p["limit"]) for p in schedule["periods"]] == [(0, 12.5)]
    assert await cli("profiles", "clear", "CP1", "--stack-level", "2") == 0
    assert not sim.profiles.held
    capsys.readouterr()
    for argv in [("profiles", "set", "CP1", "{"), ("profiles", "set", "CP1", '{"id": 1}'),
                 ("profiles", "set", "CP1", json.dumps(_profile(1, "Tx", 0, (9, 1.0))))]:
        assert await cli(*argv) == 2, argv
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert await cli("profiles", "set", "NOPE", profile) == 1
    assert "not_found" in capsys.readouterr().err


async def test_tx_profile_and_the_draw_held_to_it(app: App, api: Api, sims: SimFactory) -> None:
    await store.upsert_token(app.pool, "CARD")
    sim = await _online(app, sims)
    status, answer = await api.post(BASE, {"evse": 1, "profile": _profile(
        1, "TxDefault", 0, (0, 6.0))})
    assert status == 200, answer
    transaction_id = await sim.start_local_session(1, "CARD")
    start = sim.meter_wh[1]
    # 6 A on 3 phases at 230 V for the simulated 900 s of a tick.
    step = round(6.0 * 230 * 3 * sim.config.sample_seconds / 3600)
    await eventually(lambda: _true(sim.meter_wh[1] - start >= 2 * step))
    assert (sim.meter_wh[1] - start) % step == 0

    # A Tx profile for the running transaction: accepted, it lowers the draw further.
    status, answer = await api.post(BASE, {"evse": 1, "profile": _profile(
        2, "Tx", 1, (0, 4.0), transaction_id=transaction_id)})
    assert (status, answer["outcome"]) == (200, "accepted"), answer
    assert sim.drawn_w(1) == 4.0 * 230 * 3
    answer = await api.get("/charge-points/CP1/composite-schedule?evse=1&duration=60&unit=W")
    assert [p["limit"] for p in answer["detail"]["schedule"]["periods"]] == [4.0 * 230 * 3]
    # It ends with its transaction, on the charger.
    await sim.stop_local_session(1)
    assert set(sim.profiles.held) == {1}


async def _true(value: bool) -> bool:
    return value
