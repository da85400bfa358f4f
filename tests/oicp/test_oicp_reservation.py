"""Remote reservations from Hubject: ReserveNow/CancelReservation on both OCPP versions, and their CDRs."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from bridge.oicp.cdr import oicp_time
from csms.app import App
from csms.domain.charge_points import register
from csms.storage import store
from simulators.chargepoint import SimConfig
from simulators.chargepoint16 import ChargePoint16
from simulators.partners.hubject import SimulatedHubject
from tests.conftest import AppFactory, SimFactory
from tests.oicp.test_oicp_evse_status import STATUS, last_status
from tests.oicp.test_oicp_roaming import CDR, EVCO, _async, _no_pending, cpo_url, remote_start_body
from tests.support import eventually, oicp_settings, ws_url

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


def _statuses(hubject: SimulatedHubject, evse_id: str) -> list[str]:
    """Every status Hubject accepted for the EVSE, in order."""
    return [record["EvseStatus"] for received in hubject.accepted(STATUS)
            for record in received.body["OperatorEvseStatus"]["EvseStatusRecord"]
            if record["EvseID"] == evse_id]


async def _ended(app: App, reservation_id: int) -> Any:
    row = await store.get_reservation(app.pool, reservation_id)
    return row if row is not None and row["status"] != "active" else None


async def test_reservation_expires_at_the_charger_and_here(
        make_app: AppFactory, hubject: SimulatedHubject, sims: SimFactory) -> None:
    """Reserved on Hubject while held; at its expiry the charger drops it (1.6: the connector is
    Available again; 2.0.1 also ReservationStatusUpdate Expired), we end it as of its expiry, and
    the EMP gets the reservation's CDR (OICP 2.3 eRoamingAuthorizeRemoteReservationStop: a CDR
    after every reservation) and Hubject the EVSE Available again."""
    app = await _app(make_app, hubject)
    sim = sims(app)
    await sim.start()
    held = reservation_body(Duration=1)
    assert (await reserve(hubject, app, held))["Result"] is True
    [reservation_id] = sim.reservations
    await eventually(lambda: _async(last_status(hubject).get("DE*ABC*E0001*1") == "Reserved"))
    assert hubject.accepted(CDR) == []

    # Its minute is up, by our clock and the charger's: as though our expiry job ran late.
    expires_at = await app.pool.fetchval(
        "UPDATE reservations SET expires_at = date_trunc('second', now()) - interval '30 seconds' "
        "WHERE id = $1 RETURNING expires_at", reservation_id)
    assert await sim.expire_reservation(reservation_id)
    [cdr] = await eventually(lambda: _async(hubject.accepted(CDR)))
    assert cdr.body["SessionID"] == held["SessionID"] and cdr.body["ConsumedEnergy"] == 0.0
    assert cdr.body["CPOPartnerSessionID"] == f"reservation-{reservation_id}"
    assert cdr.body["SessionEnd"] == oicp_time(expires_at, "Europe/Berlin")  # not when we noticed
    await eventually(lambda: _async(last_status(hubject).get("DE*ABC*E0001*1") == "Available"))
    statuses = _statuses(hubject, "DE*ABC*E0001*1")
    assert statuses.index("Reserved") < len(statuses) - 1 - statuses[::-1].index("Available")
    reservation = await store.get_reservation(app.pool, reservation_id)
    assert reservation is not None and reservation["status"] == "expired"
    assert reservation["ended_at"] == expires_at
    if sims.protocol == "2.0.1":  # type: ignore[attr-defined]
        assert ("ReservationStatusUpdate", {"reservationId": reservation_id,
                                            "reservationUpdateStatus": "Expired"}) in sim.sent
    await eventually(lambda: _no_pending(app))
    assert await app.services.reservations.expire_due() == 0
    assert len(hubject.accepted(CDR)) == 1 and hubject.invalid == [] and hubject.bad_answers == []


async def test_charger_drops_a_reservation_at_its_expiry(
        make_app: AppFactory, hubject: SimulatedHubject, sims: SimFactory) -> None:
    """The expiry sent in ReserveNow is kept by the charger itself, and we end ours as of then."""
    app = await _app(make_app, hubject)
    sim = sims(app)
    await sim.start()
    held = reservation_body()
    expires_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=3)
    result = await app.commands.reserve(  # what an OICP request does, with an expiry seconds away
        "CP1", 1, EVCO, expires_at,
        {"oicp": {k: held[k] for k in ("SessionID", "ProviderID", "EvseID", "Identification")}})
    assert result.accepted
    reservation_id = result.detail["reservation_id"]
    # (Reserved may be coalesced away in a burst this short: the test above shows it.)
    await eventually(lambda: _async(not sim.reservations))  # the charger's own clock
    await eventually(lambda: _async(last_status(hubject).get("DE*ABC*E0001*1") == "Available"))
    reservation = await eventually(lambda: _ended(app, reservation_id))
    assert reservation["status"] == "expired" and reservation["ended_at"] == expires_at
    [cdr] = await eventually(lambda: _async(hubject.accepted(CDR)))
    assert cdr.body["SessionID"] == held["SessionID"] and "PartnerProductID" not in cdr.body
    assert cdr.body["SessionEnd"] == oicp_time(expires_at, "Europe/Berlin")
    await eventually(lambda: _no_pending(app))
    assert len(hubject.accepted(CDR)) == 1 and hubject.invalid == []


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
