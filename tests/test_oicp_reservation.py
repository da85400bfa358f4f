"""Remote reservations from Hubject: ReserveNow/CancelReservation on both OCPP versions, and their CDRs."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from csms.app import App
from csms.domain.charge_points import register
from csms.storage import store
from simulators.chargepoint import SimConfig
from simulators.chargepoint16 import ChargePoint16
from simulators.partners.hubject import SimulatedHubject
from tests.conftest import AppFactory, SimFactory
from tests.support import eventually, oicp_settings, ws_url
from tests.test_oicp_evse_status import last_status
from tests.test_oicp_roaming import CDR, EVCO, _async, _no_pending, cpo_url, remote_start_body

PATH = "/api/oicp/reservation/v11/providers/DE-8EO/reservation-{}-request"


def reservation_body(evse_id: str = "DE*ABC*E0001*1", **overrides: Any) -> dict[str, Any]:
    return {"SessionID": str(uuid.uuid4()), "ProviderID": "DE-8EO", "EvseID": evse_id,
            "Identification": {"RemoteIdentification": {"EvcoID": EVCO}},
            "PartnerProductID": "Reservation", "EMPPartnerSessionID": "emp-r1", "Duration": 15,
            **overrides}


async def reserve(hubject: SimulatedHubject, app: App, body: dict[str, Any]) -> Any:
    return await hubject.send(cpo_url(app), PATH.format("start"), body)


async def cancel(hubject: SimulatedHubject, app: App, body: dict[str, Any]) -> Any:
    stop = {k: body[k] for k in ("SessionID", "ProviderID", "EvseID")}
    return await hubject.send(cpo_url(app), PATH.format("stop"), stop)


async def _app(make_app: AppFactory, hubject: SimulatedHubject) -> App:
    app = await make_app(oicp=oicp_settings(hubject, time_zone="Europe/Berlin"))
    await register(app.pool, "CP1", None, {1: "DE*ABC*E0001*1", 2: "DE*ABC*E0001*2"}, security_profile=0)
    await register(app.pool, "CP2", None, {1: "DE*ABC*E0002*1"}, security_profile=0)  # never connects
    return app


async def test_reservation_start_stop_and_its_cdr(make_app: AppFactory, hubject: SimulatedHubject,
                                                  sims: SimFactory) -> None:
    app = await _app(make_app, hubject)
    sim = sims(app, connectors=2)
    await sim.start()
    body = reservation_body()
    answer = await reserve(hubject, app, body)
    assert (answer["Result"], answer["StatusCode"]["Code"]) == (True, "000"), answer
    [reservation_id] = sim.reservations
    assert answer["CPOPartnerSessionID"] == f"reservation-{reservation_id}"
    await eventually(lambda: _async(last_status(hubject).get("DE*ABC*E0001*1") == "Reserved"))

    answer = await cancel(hubject, app, body)
    assert (answer["Result"], answer["StatusCode"]["Code"]) == (True, "000"), answer
    assert sim.reservations == {}
    [cdr] = await eventually(lambda: _async(hubject.accepted(CDR)))
    assert cdr.body["SessionID"] == body["SessionID"]
    assert cdr.body["CPOPartnerSessionID"] == f"reservation-{reservation_id}"
    assert (cdr.body["ConsumedEnergy"], cdr.body["PartnerProductID"]) == (0.0, "Reservation")
    assert cdr.body["Identification"] == body["Identification"]
    assert cdr.body["SessionStart"].endswith("+01:00")
    assert await cancel(hubject, app, body) == {  # over: a second stop changes nothing
        "Result": False, "StatusCode": {"Code": "501", "Description": "charger did not cancel"},
        "SessionID": body["SessionID"], "CPOPartnerSessionID": f"reservation-{reservation_id}"}
    await eventually(lambda: _no_pending(app))
    assert len(hubject.accepted(CDR)) == 1 and hubject.invalid == [] and hubject.bad_answers == []


async def test_reservation_used_by_the_driver(make_app: AppFactory, hubject: SimulatedHubject,
                                              sims: SimFactory) -> None:
    app = await _app(make_app, hubject)
    sim = sims(app)
    await sim.start()
    held = reservation_body()
    assert (await reserve(hubject, app, held))["Result"] is True
    start = remote_start_body()
    assert (await hubject.remote_start(cpo_url(app), start))["Result"] is True
    [reservation_cdr] = await eventually(lambda: _async(hubject.accepted(CDR)))
    assert reservation_cdr.body["SessionID"] == held["SessionID"] and sim.reservations == {}

    stop = {k: start[k] for k in ("SessionID", "ProviderID", "EvseID")}
    assert (await hubject.remote_stop(cpo_url(app), stop))["Result"] is True
    await eventually(lambda: _async(len(hubject.accepted(CDR)) == 2))
    assert hubject.accepted(CDR)[1].body["SessionID"] == start["SessionID"]
    assert hubject.invalid == []


async def test_expired_reservation_makes_its_cdr(make_app: AppFactory, hubject: SimulatedHubject,
                                                 sims: SimFactory) -> None:
    app = await _app(make_app, hubject)
    sim = sims(app)
    await sim.start()
    held = reservation_body()
    result = await app.commands.reserve(
        "CP1", 1, EVCO, datetime.now(UTC) + timedelta(seconds=0.2),
        {"oicp": {k: held[k] for k in ("SessionID", "ProviderID", "EvseID", "Identification")}})
    assert result.accepted
    assert await eventually(app.services.reservations.expire_due) == 1  # once its time is up
    assert await app.services.reservations.expire_due() == 0
    [cdr] = await eventually(lambda: _async(hubject.accepted(CDR)))
    assert cdr.body["SessionID"] == held["SessionID"] and "PartnerProductID" not in cdr.body
    reservation = await store.get_reservation(app.pool, result.detail["reservation_id"])
    assert reservation is not None and reservation["status"] == "expired"


async def test_negative_answers(make_app: AppFactory, hubject: SimulatedHubject,
                                sims: SimFactory) -> None:
    app = await _app(make_app, hubject)
    sim = sims(app, connectors=2)
    await sim.start()
    first = reservation_body()
    assert (await reserve(hubject, app, first))["Result"] is True
    await store.upsert_token(app.pool, "OURCARD")
    await sim.start_local_session(2, "OURCARD")

    async def code(answer: Any) -> str:
        assert answer["Result"] is False, answer
        return str(answer["StatusCode"]["Code"])

    cases = [
        (await reserve(hubject, app, reservation_body("DE*ABC*E9999*1")), "603"),
        (await reserve(hubject, app, reservation_body("DE*ABC*E0002*1")), "501"),
        (await reserve(hubject, app, first), "400"),  # SessionID used
        (await reserve(hubject, app, reservation_body("DE*ABC*E0001*2")), "602"),  # charging
        (await reserve(hubject, app, reservation_body(Duration=0)), "022"),
        (await reserve(hubject, app, reservation_body(Identification={})), "022"),
        (await hubject.send(cpo_url(app), PATH.format("start"), None, raw=b"[1"), "022"),
        (await cancel(hubject, app, reservation_body()), "400"),  # no such reservation
        (await cancel(hubject, app, {**first, "EvseID": "DE*ABC*E0001*2"}), "400"),
    ]
    for answer, expected in cases:
        assert await code(answer) == expected, answer
    assert len(sim.reservations) == 1
    assert hubject.bad_answers == []


async def test_reservation_refused_for_a_card_we_hold_as_blocked(
        make_app: AppFactory, hubject: SimulatedHubject) -> None:
    app = await _app(make_app, hubject)
    await store.upsert_token(app.pool, "04BLOCKED", status="blocked")
    await store.upsert_token(app.pool, EVCO, type_="eMAID", status="blocked")
    await store.upsert_token(app.pool, "04GOOD")
    sim = ChargePoint16(SimConfig("CP1", ws_url(app), meter_interval=0.2))
    await sim.start()

    def rfid(uid: str) -> dict[str, Any]:
        return reservation_body(Identification={"RFIDMifareFamilyIdentification": {"UID": uid}})
    try:
        # The answers of a remote start for the same token (102 invalid UID, 200 EvcoID locked).
        answer = await reserve(hubject, app, rfid("04BLOCKED"))
        assert (answer["Result"], answer["StatusCode"]) == (
            False, {"Code": "102", "Description": "token is blocked"}), answer
        answer = await reserve(hubject, app, reservation_body())  # the EvcoID
        assert (answer["Result"], answer["StatusCode"]["Code"]) == (False, "200"), answer
        assert [name for name, _ in sim.calls if name == "ReserveNow"] == []
        assert await app.pool.fetchval("SELECT count(*) FROM reservations") == 0

        answer = await reserve(hubject, app, rfid("04GOOD"))
        assert (answer["Result"], answer["StatusCode"]["Code"]) == (True, "000"), answer
        assert (await sim.wait_for_call("ReserveNow"))["idTag"] == "04GOOD"
    finally:
        await sim.stop()
    assert hubject.bad_answers == []
