"""ChangeAvailability of one connector, one EVSE or the whole charger, end to end: what reaches
the charger, Scheduled while a transaction runs, the state the StatusNotifications then give."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from ocpp.v201 import call

from csms.app import App
from csms.domain.availability import evse_status
from csms.domain.charge_points import register
from csms.domain.model import EvseStatus as E
from csms.operator.command_line.cli import main
from csms.storage import store
from simulators.chargepoint import SimConfig, now_z
from simulators.chargepoint201 import ChargePoint201
from tests.conftest import SimFactory
from tests.support import Api, eventually, ws_url


async def test_connector_evse_and_charger_wide_availability(app: App, api: Api,
                                                            sims: SimFactory) -> None:
    v16 = sims.protocol == "1.6"  # type: ignore[attr-defined]
    await register(app.pool, "CP1", None, {1: None, 2: None}, security_profile=0)
    await store.upsert_token(app.pool, "DRIVER")
    sim = sims(app, connectors=2)
    await sim.start()

    def statuses(wanted: dict[int, str]) -> Any:
        async def check() -> bool:
            evses = {e["evse_number"]: e for e in await api.items("/charge-points/CP1/evses")}
            return all(evses[n]["status"] == s and all(c["status"] == s
                                                       for c in evses[n]["connectors"])
                       for n, s in wanted.items())
        return check

    await eventually(statuses({1: "available", 2: "available"}))  # as the charger booted
    # One connector of EVSE 1.
    status, answer = await api.post("/charge-points/CP1/availability",
                                    {"evse": 1, "connector": 1, "operative": False})
    assert (status, answer["outcome"], answer["detail"]) == (200, "accepted", {"status": "Accepted"})
    sent = await sim.wait_for_call("ChangeAvailability")
    assert sent == ({"connectorId": 1, "type": "Inoperative"} if v16 else
                    {"operationalStatus": "Inoperative", "evse": {"id": 1, "connectorId": 1}})
    await eventually(statuses({1: "unavailable", 2: "available"}))

    # EVSE 2 while it charges: Scheduled, and unavailable once its transaction ends.
    await sim.start_local_session(2, "DRIVER")
    await eventually(lambda: store.active_session_at(app.pool, "CP1", 2))
    status, answer = await api.post("/charge-points/CP1/availability",
                                    {"evse": 2, "operative": False})
    assert (status, answer["outcome"], answer["detail"]) == (200, "accepted",
                                                             {"status": "Scheduled"})
    await sim.wait_for_call("ChangeAvailability")
    assert (await api.items("/charge-points/CP1/evses"))[1]["status"] != "unavailable"
    await sim.stop_local_session(2)
    await eventually(statuses({1: "unavailable", 2: "unavailable"}))

    # The whole charger.
    status, answer = await api.post("/charge-points/CP1/availability", {"operative": True})
    assert (status, answer["outcome"]) == (200, "accepted"), answer
    sent = await sim.wait_for_call("ChangeAvailability")
    assert sent == ({"connectorId": 0, "type": "Operative"} if v16 else
                    {"operationalStatus": "Operative"})
    await eventually(statuses({1: "available", 2: "available"}))

    for bad in ({"evse": -1, "operative": True}, {"evse": 0, "connector": 1, "operative": True},
                {"evse": 1, "connector": 0, "operative": True}, {"evse": 1}):
        status, answer = await api.post("/charge-points/CP1/availability", bad)
        assert status == 400, (bad, answer)
    if v16:  # a 1.6 EVSE is one connector: no other to address
        status, answer = await api.post("/charge-points/CP1/availability",
                                        {"evse": 1, "connector": 2, "operative": True})
        assert (status, answer["outcome"]) == (502, "failed") and \
            answer["detail"]["error"] == "NotSupported"


async def test_cli_availability_reserve_and_group(app: App, sims: SimFactory,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """The CLI reaches a charger held by a running node (through the relay)."""
    monkeypatch.setenv("CSMS_DATABASE_URL", app.database_url)
    monkeypatch.setenv("CSMS_LOG_LEVEL", "warning")
    await register(app.pool, "CP1", None, {1: None, 2: None}, security_profile=0)
    await store.upsert_token(app.pool, "CARD")
    sim = sims(app, connectors=2)
    await sim.start()

    async def cli(*argv: str) -> int:
        return await asyncio.to_thread(main, list(argv))

    assert await cli("charge-points", "availability", "CP1", "--evse", "2", "--connector", "2"
                     if sims.protocol == "1.6" else "1", "--inoperative") == 0  # type: ignore[attr-defined]
    assert "accepted status=Accepted" in capsys.readouterr().out
    assert (await sim.wait_for_call("ChangeAvailability"))["connectorId" if sims.protocol == "1.6"  # type: ignore[attr-defined]
                                                           else "evse"] in (2, {"id": 2, "connectorId": 1})
    assert await cli("charge-points", "availability", "CP1", "--connector", "1", "--operative") == 2
    assert await cli("charge-points", "reserve", "CP1", "CARD") == 0
    assert "accepted" in capsys.readouterr().out
    assert [held for held in sim.reservations.values()] == [(0, "CARD")]
    assert await cli("charge-points", "reserve", "NOPE", "CARD") == 1
    assert "not_found" in capsys.readouterr().err
    assert await cli("tokens", "group", "CARD", "FLEET") == 0
    assert (await store.get_token(app.pool, "CARD"))["group_id"] == "FLEET"  # type: ignore[index]
    assert await cli("tokens", "group", "CARD", "--none") == 0
    assert (await store.get_token(app.pool, "CARD"))["group_id"] is None  # type: ignore[index]
    assert await cli("tokens", "group", "NOPE", "X") == 1
    assert await cli("tokens", "add", "BADGE", "--group", "FLEET") == 0
    assert (await store.get_token(app.pool, "BADGE"))["group_id"] == "FLEET"  # type: ignore[index]


@pytest.mark.parametrize(("connectors", "expected"), [
    ([], E.UNKNOWN),
    ([E.AVAILABLE], E.AVAILABLE),
    ([E.UNAVAILABLE, E.AVAILABLE], E.AVAILABLE),  # one connector out: the EVSE still serves
    ([E.UNAVAILABLE, E.UNAVAILABLE], E.UNAVAILABLE),
    ([E.FAULTED, E.UNAVAILABLE], E.FAULTED),
    ([E.CHARGING, E.UNAVAILABLE], E.CHARGING),
    ([E.RESERVED, E.RESERVED], E.RESERVED),
    ([E.OCCUPIED, E.AVAILABLE], E.OCCUPIED),  # in use by one connector: the EVSE is
])
def test_evse_status_from_its_connectors(connectors: list[E], expected: E) -> None:
    assert evse_status(connectors) == expected


async def test_one_connector_out_of_service_leaves_the_evse_usable(app: App, api: Api) -> None:
    await register(app.pool, "CP1", None, {1: None}, security_profile=0)
    sim = ChargePoint201(SimConfig("CP1", ws_url(app), connectors=1))
    await sim.start()
    try:
        async def connector(number: int, status: str) -> None:
            await sim.call(call.StatusNotification(timestamp=now_z(), connector_status=status,
                                                   evse_id=1, connector_id=number))

        async def evse_is(status: str) -> bool:
            return bool((await api.items("/charge-points/CP1/evses"))[0]["status"] == status)

        await connector(2, "Available")
        await connector(1, "Unavailable")  # as after ChangeAvailability of connector 1
        await eventually(lambda: evse_is("available"))
        await connector(2, "Unavailable")
        await eventually(lambda: evse_is("unavailable"))
    finally:
        await sim.stop()
