"""OICP end to end: charging apart from the session, AuthorizeStart naming the EVSE, status pushed once."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from ocpp.v201 import call

from bridge import outbox
from csms.app import App
from csms.domain.charge_points import register
from csms.domain.charging import increases
from csms.storage import store
from simulators.chargepoint import SimConfig, SimulatedChargePoint, Transaction, now_z
from simulators.chargepoint16 import ChargePoint16
from simulators.chargepoint201 import ChargePoint201
from simulators.partners.hubject import Received, SimulatedHubject
from tests.conftest import AppFactory, SimFactory
from tests.oicp.test_oicp_authorize import CARD
from tests.oicp.test_oicp_authorize import START as AUTHORIZE_START
from tests.oicp.test_oicp_evse_status import STATUS, start_charger
from tests.oicp.test_oicp_roaming import CDR, _async, _no_pending, cpo_url, remote_start_body
from tests.support import eventually, oicp_settings, ws_url

NOTIFICATION = "eRoamingChargingNotifications_V1.1"
EVSE = "DE*ABC*E0001*1"
# OICP times have whole seconds: phases this long stay apart on the wire.
APART = timedelta(seconds=1.2)


def _times(body: dict[str, Any], *keys: str) -> list[datetime]:
    return [datetime.fromisoformat(body[key]) for key in keys]


def _pushed(hubject: SimulatedHubject, evse_id: str, action: str = "update") -> list[str]:
    return [record["EvseStatus"] for r in hubject.accepted(STATUS)
            if r.body["ActionType"] == action
            for record in r.body["OperatorEvseStatus"]["EvseStatusRecord"]
            if record["EvseID"] == evse_id]


async def _moments(app: App, session_id: str) -> dict[str, datetime | None]:
    session = await store.get_session(app.pool, session_id)
    assert session is not None
    readings = [(r["sampled_at"], r["value"])
                for r in await store.energy_samples(app.pool, session_id)]
    return {"started": session["started_at"], "charging": session["charging_started_at"],
            "last increase": increases(readings, session["meter_start_wh"])[1],
            "last reading": readings[-1][0] if readings else None}


async def _apart(app: App, session_id: str, earlier: str, later: str) -> bool:
    """The session's `later` moment is well after its `earlier` one."""
    moments = await _moments(app, session_id)
    first, then = moments[earlier], moments[later]
    return first is not None and then is not None and then >= first + APART


async def test_energy_flows_later_and_stops_earlier_than_the_session(
        make_app: AppFactory, hubject: SimulatedHubject, sims: SimFactory) -> None:
    app = await make_app(oicp=oicp_settings(hubject, progress_interval=0))
    await register(app.pool, "CP1", None, {1: EVSE}, security_profile=0)
    sim = sims(app, idle_ticks=10**9)  # the EV waits (a departure timer) ...
    await sim.start()
    start = remote_start_body()
    session_id = (await hubject.remote_start(cpo_url(app), start))["CPOPartnerSessionID"]
    await eventually(lambda: _async(_pushed(hubject, EVSE)[-1:] == ["Occupied"]))
    await eventually(lambda: _apart(app, session_id, "started", "last reading"))
    # The transaction runs, no energy flows: no Start notification, not even queued.
    queued = await outbox.list_messages(app.pool, "hubject", None, operation="ChargingNotification")
    assert queued == [] and sim.meter_wh[1] == 1000

    sim.config.idle_ticks = 0  # ... then draws energy ...
    started = (await eventually(lambda: _async(hubject.accepted(NOTIFICATION))))[0]
    assert started.body["Type"] == "Start"
    await eventually(lambda: _apart(app, session_id, "charging", "last increase"))
    sim.config.charge_ticks = 0  # ... until it is full, and stays plugged in a while.
    await eventually(lambda: _apart(app, session_id, "last increase", "last reading"))
    stop = {k: start[k] for k in ("SessionID", "ProviderID", "EvseID")}
    assert (await hubject.remote_stop(cpo_url(app), stop))["Result"] is True
    [cdr] = await eventually(lambda: _async(hubject.accepted(CDR)))
    await eventually(lambda: _no_pending(app))

    session_start, charging_start, charging_end, session_end = _times(
        cdr.body, "SessionStart", "ChargingStart", "ChargingEnd", "SessionEnd")
    assert session_start < charging_start < charging_end < session_end
    assert cdr.body["ConsumedEnergy"] == (sim.meter_wh[1] - 1000) / 1000
    notes = [r.body for r in hubject.accepted(NOTIFICATION)]
    assert [n["Type"] for n in notes][0] == "Start" and notes[-1]["Type"] == "End"
    assert {n["Type"] for n in notes[1:-1]} == {"Progress"}
    assert _times(notes[0], "SessionStart", "ChargingStart") == [session_start, charging_start]
    assert all(_times(n, "ChargingStart") == [charging_start] for n in notes)
    assert _times(notes[-1], "ChargingEnd", "SessionEnd") == [charging_end, session_end]
    if isinstance(sim, ChargePoint16):  # it said Charging before its meter showed energy
        [said] = [p["timestamp"] for name, p in sim.sent
                  if name == "StatusNotification" and p["status"] == "Charging"]
        assert charging_start == datetime.fromisoformat(said).replace(microsecond=0)
        moments = await _moments(app, session_id)
        assert moments["charging"] == datetime.fromisoformat(said)
    # Preparing, SuspendedEV, Charging, SuspendedEV, Finishing: one Occupied to Hubject (and
    # Available once the charger says so, which may come after the CDR).
    await eventually(lambda: _async(_pushed(hubject, EVSE)[-1:] == ["Available"]))
    assert _pushed(hubject, EVSE).count("Occupied") == 1
    assert hubject.invalid == []


async def _start_unasked(sim: SimulatedChargePoint, connector: int, card: str) -> None:
    """A transaction on a card the charger did not ask about (its local list, its cache)."""
    if isinstance(sim, ChargePoint16):
        sim.transactions[connector] = Transaction(token=card)
        await sim.begin_transaction(connector, card)
    elif isinstance(sim, ChargePoint201):
        sim.transactions[connector] = Transaction(token=card, transaction_id=str(uuid.uuid4()))
        await sim.begin_transaction(connector, {"id_token": card, "type": "ISO14443"},
                                    "Authorized")


async def test_authorize_start_names_the_evse_where_known(
        make_app: AppFactory, hubject: SimulatedHubject, sims: SimFactory) -> None:
    cards = ["04A1B2C3D4E5F6", "0000ABCD", "0000ABCE"]
    hubject.known_cards.update({card: "DE-8EO" for card in cards})
    app = await make_app(oicp=oicp_settings(hubject))
    await register(app.pool, "CP1", None, {1: "DE*ABC*E0001*1", 2: "DE*ABC*E0001*2"}, security_profile=0)
    await register(app.pool, "CP2", None, {1: "DE*ABC*E0002*1"}, security_profile=0)
    two, one = sims(app, "CP1", connectors=2), sims(app, "CP2")
    await two.start()
    await one.start()
    assert await two.authorize(cards[0]) == "Accepted"  # before the driver picks an EVSE
    assert await one.authorize(cards[1]) == "Accepted"  # the charger has just one
    await _start_unasked(two, 2, cards[2])
    await two.flush()

    def asked() -> list[Received]:
        return hubject.accepted(AUTHORIZE_START)
    await eventually(lambda: _async(len(asked()) == 3))
    assert [(r.body["Identification"]["RFIDMifareFamilyIdentification"]["UID"],
             r.body.get("EvseID")) for r in asked()] == [
        (cards[0], None), (cards[1], "DE*ABC*E0002*1"), (cards[2], "DE*ABC*E0001*2")]
    [session] = await store.list_sessions(app.pool, "active", None, None, 10, 0)
    assert session["attributes"]["oicp"]["EvseID"] == "DE*ABC*E0001*2"
    assert hubject.invalid == []


async def test_token_presented_during_a_transaction_names_its_evse(
        make_app: AppFactory, hubject: SimulatedHubject) -> None:
    hubject.known_cards[CARD] = "DE-8EO"
    app = await make_app(oicp=oicp_settings(hubject))
    await register(app.pool, "CP1", None, {1: "DE*ABC*E0001*1", 2: "DE*ABC*E0001*2"}, security_profile=0)
    sim = ChargePoint201(SimConfig("CP1", ws_url(app), connectors=2))
    await sim.start()
    try:
        tx = {"transaction_id": str(uuid.uuid4())}
        await sim.call(call.TransactionEvent(  # the cable first (2.0.1 TxStartPoint EVConnected)
            event_type="Started", timestamp=now_z(), trigger_reason="CablePluggedIn", seq_no=0,
            transaction_info=tx, evse={"id": 2, "connector_id": 1}))
        answer = await sim.call(call.TransactionEvent(
            event_type="Updated", timestamp=now_z(), trigger_reason="Authorized", seq_no=1,
            transaction_info=tx, id_token={"id_token": CARD, "type": "ISO14443"}))
        assert answer.id_token_info["status"] == "Accepted"
    finally:
        await sim.stop()
    [asked] = hubject.accepted(AUTHORIZE_START)
    assert asked.body["EvseID"] == "DE*ABC*E0001*2"


async def test_identical_status_pushed_once(make_app: AppFactory,
                                            hubject: SimulatedHubject) -> None:
    app = await make_app(oicp=oicp_settings(hubject))
    sim = await start_charger(app)
    try:
        await eventually(lambda: _async(_pushed(hubject, EVSE) == ["Available"]))
        # Each delivered before the next: no coalescing of pending pushes hides a repeat.
        for status in ("Preparing", "Charging", "SuspendedEV", "Charging", "Finishing",
                       "Available", "Preparing"):
            await sim.set_status(1, status)
            await eventually(lambda: _no_pending(app))
        # A, B, A, B: each a change Hubject must hear of; Occupied after Occupied is none.
        assert _pushed(hubject, EVSE) == ["Available", "Occupied", "Available", "Occupied"]
        assert app.oicp is not None
        assert await app.oicp.push_all_statuses() == 2  # the full load still says everything
        await eventually(lambda: _async(_pushed(hubject, EVSE, "fullLoad") == ["Occupied"]))
        assert _pushed(hubject, "DE*ABC*E0001*2", "fullLoad") == ["Available"]
    finally:
        await sim.stop()
    assert hubject.invalid == []
