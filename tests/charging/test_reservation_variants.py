"""Reservations that name no EVSE: any EVSE of a charger (2.0.1 H01 without evseId, 1.6 §5.13
connector 0) or one of a connector type, end to end with the simulated chargers."""

from __future__ import annotations

from csms.app import App
from csms.domain.charge_points import register
from csms.storage import store
from tests.conftest import SimFactory
from tests.support import Api, eventually


async def _reservation_status(app: App, reservation_id: int) -> str:
    row = await store.get_reservation(app.pool, reservation_id)
    assert row is not None
    return str(row["status"])


async def test_a_reservation_of_any_evse_keeps_one_for_its_token(app: App, api: Api,
                                                                 sims: SimFactory) -> None:
    await register(app.pool, "CP1", None, {1: None, 2: None}, security_profile=0)
    for token in ("HOLDER", "OTHER", "THIRD"):
        await store.upsert_token(app.pool, token)
    sim = sims(app, connectors=2)
    await sim.start()

    status, answer = await api.post("/charge-points/CP1/reserve", {"token": "HOLDER", "minutes": 10})
    assert (status, answer["outcome"]) == (200, "accepted"), answer
    reservation_id = answer["detail"]["reservation_id"]
    reserved = await sim.wait_for_call("ReserveNow")
    if sims.protocol == "1.6":  # type: ignore[attr-defined]
        assert reserved["connectorId"] == 0
    else:
        assert "evseId" not in reserved and "connectorType" not in reserved
    assert sim.reservations[reservation_id] == (0, "HOLDER")
    row = await store.get_reservation(app.pool, reservation_id)
    assert row is not None and row["evse"] is None and row["status"] == "active"

    # Another token may take one EVSE: one stays free for the holder.
    status, answer = await api.post("/charge-points/CP1/evses/1/start", {"token": "OTHER"})
    assert (status, answer["outcome"]) == (200, "accepted"), answer
    await eventually(lambda: store.active_session_at(app.pool, "CP1", 1))
    # The last free EVSE is the holder's: a third token is refused before the charger is asked.
    status, answer = await api.post("/charge-points/CP1/evses/2/start", {"token": "THIRD"})
    assert (status, answer["outcome"]) == (409, "busy"), answer
    assert "reservation" in answer["detail"]["reason"]
    # The holder's session, on whichever EVSE, uses the reservation up.
    await sim.start_local_session(2, "HOLDER")
    await eventually(lambda: store.active_session_at(app.pool, "CP1", 2))

    async def used() -> bool:
        return await _reservation_status(app, reservation_id) == "used"
    await eventually(used)
    assert sim.reservations == {}


async def test_any_evse_reservation_refusals_and_connector_types(app: App, api: Api,
                                                                 sims: SimFactory) -> None:
    v16 = sims.protocol == "1.6"  # type: ignore[attr-defined]
    await register(app.pool, "CP1", None, {1: None, 2: None}, security_profile=0)
    sim = sims(app, connectors=2, connector_types={1: "cCCS2"})
    await sim.start()

    status, answer = await api.post("/charge-points/CP1/reserve", {"token": "T", "connector_type": "bogus"})
    assert status == 400 and "connector_type" in answer["error"]
    status, answer = await api.post("/charge-points/NOPE/reserve", {"token": "T"})
    assert (status, answer["outcome"]) == (404, "not_found")

    if v16:
        # OCPP 1.6 knows no connector types: refused here, nothing reaches the charger.
        status, answer = await api.post("/charge-points/CP1/reserve",
                                        {"token": "T", "connector_type": "cCCS2"})
        assert (status, answer["outcome"]) == (502, "failed"), answer
        assert answer["detail"]["error"] == "NotSupported"
        assert await _reservation_status(app, answer["detail"]["reservation_id"]) == "refused"
        # A charger without ReserveConnectorZeroSupported refuses connector 0 (§5.13).
        sim.settings["ReserveConnectorZeroSupported"] = "false"
        status, answer = await api.post("/charge-points/CP1/reserve", {"token": "T"})
        assert (status, answer["outcome"]) == (409, "rejected"), answer
        assert (await sim.wait_for_call("ReserveNow"))["connectorId"] == 0
        assert await _reservation_status(app, answer["detail"]["reservation_id"]) == "refused"
        return

    status, answer = await api.post("/charge-points/CP1/reserve",
                                    {"token": "T", "connector_type": "cCCS1"})
    assert (status, answer["outcome"]) == (409, "rejected"), answer  # no such connector here
    status, answer = await api.post("/charge-points/CP1/reserve",
                                    {"token": "T", "connector_type": "cCCS2"})
    assert (status, answer["outcome"]) == (200, "accepted"), answer
    await sim.wait_for_call("ReserveNow")
    reserved = await sim.wait_for_call("ReserveNow")
    assert reserved["connectorType"] == "cCCS2" and "evseId" not in reserved
    row = await store.get_reservation(app.pool, answer["detail"]["reservation_id"])
    assert row is not None and row["connector_type"] == "cCCS2" and row["status"] == "active"
    # The one CCS connector is held: a second such reservation finds none free.
    status, answer = await api.post("/charge-points/CP1/reserve",
                                    {"token": "U", "connector_type": "cCCS2"})
    assert (status, answer["outcome"]) == (409, "rejected"), answer
    assert answer["detail"]["status"] == "Occupied"
