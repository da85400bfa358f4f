"""Offline EMPs and Hubject outages: who decides a foreign card, and the CDR either way."""

from __future__ import annotations

from typing import Any

from bridge import outbox
from csms.app import App
from csms.domain.charge_points import register
from csms.storage import store
from simulators.partners.hubject import SimulatedHubject
from tests.conftest import AppFactory, SimFactory
from tests.oicp.test_oicp_roaming import CDR, _async, _no_pending
from tests.support import eventually, oicp_settings

START = "eRoamingAuthorizeStart_v2.1"
STOP = "eRoamingAuthorizeStop_V2.1"
NOTIFICATION = "eRoamingChargingNotifications_V1.1"
CARD = "04A1B2C3D4E5F6"
RFID = {"RFIDMifareFamilyIdentification": {"UID": CARD}}


async def _app(make_app: AppFactory, hubject: SimulatedHubject, **oicp: Any) -> App:
    app = await make_app(oicp=oicp_settings(hubject, **oicp))
    await register(app.pool, "CP1", None, {1: "DE*ABC*E0001*1"}, security_profile=0)
    return app


async def _session(sim: Any, token: str) -> None:
    before = sim.meter_wh[1]
    await sim.start_local_session(1, token)
    await eventually(lambda: _async(sim.meter_wh[1] > before + 3000))
    await sim.stop_local_session(1)
    await sim.flush()


async def _sessions(app: App) -> list[Any]:
    return await store.list_sessions(app.pool, "completed", None, None, 10, 0)


async def test_offline_emp_hubject_authorizes_and_gets_the_cdr(
        make_app: AppFactory, hubject: SimulatedHubject, sims: SimFactory) -> None:
    """The EMP's system is down but its cards are in Hubject's authentication data: Hubject
    authorizes the card itself (OICP 2.3 eRoamingAuthorizeStart, option A) with a SessionID of
    its own; the session runs as any other, and only the starting card may end it
    (eRoamingAuthorizeStop: a session Hubject authorized offline stops with the same medium)."""
    hubject.known_cards[CARD] = "DE-OFF"
    hubject.offline_providers.add("DE-OFF")
    hubject.stop_cards.add("0000ABCD")  # the EMP would let this card stop; Hubject may not
    app = await _app(make_app, hubject)
    sim = sims(app)
    await sim.start()
    await sim.start_local_session(1, CARD)
    await eventually(lambda: _async(sim.meter_wh[1] > 4000))
    assert await sim.present_token(1, "0000ABCD") is False  # Hubject refuses the other card
    assert 1 in sim.transactions
    assert await sim.present_token(1, CARD) is True
    await sim.flush()
    [cdr] = await eventually(lambda: _async(hubject.accepted(CDR)))
    await eventually(lambda: _no_pending(app))

    # The other card: Hubject refused the stop, then (asked as a card of its own) knew it not.
    assert [r.body["Identification"] for r in hubject.accepted(START)] == [
        RFID, {"RFIDMifareFamilyIdentification": {"UID": "0000ABCD"}}]
    [stop] = hubject.accepted(STOP)
    [session] = await _sessions(app)
    oicp = session["attributes"]["oicp"]
    assert oicp["SessionID"] in hubject.sessions and hubject.sessions[oicp["SessionID"]][2]
    assert oicp["ProviderID"] == "DE-OFF" and "Cached" not in oicp
    assert stop.body["SessionID"] == oicp["SessionID"]
    assert cdr.body["SessionID"] == oicp["SessionID"] and cdr.body["Identification"] == RFID
    assert cdr.body["CPOPartnerSessionID"] == str(session["id"]) and cdr.body["ConsumedEnergy"] > 0
    types = [r.body["Type"] for r in hubject.accepted(NOTIFICATION)]
    assert types[0] == "Start" and types[-1] == "End"
    assert {r.body["SessionID"] for r in hubject.accepted(NOTIFICATION)} == {oicp["SessionID"]}
    assert len(hubject.accepted(CDR)) == 1 and hubject.invalid == []


async def test_unreachable_emp_is_a_refusal_not_an_outage(
        make_app: AppFactory, hubject: SimulatedHubject, sims: SimFactory) -> None:
    """An EMP that cannot be reached and left Hubject no authentication data: Hubject answers
    NotAuthorized, 310 (eRoamingAuthorizeStart, option B). That is Hubject's decision, so an
    earlier answer cached for the card does not overrule it; nor does it replace that answer,
    which still lets the card charge while Hubject itself cannot be reached."""
    hubject.known_cards[CARD] = "DE-8EO"
    app = await _app(make_app, hubject, authorize_reuse_window=0)
    sim = sims(app)
    await sim.start()
    assert await sim.authorize(CARD) == "Accepted"

    hubject.unreachable_providers.add("DE-8EO")
    assert await sim.authorize(CARD) == "Invalid"
    hubject.down = True
    assert await sim.authorize(CARD) == "Accepted"  # the cached answer
    assert [r.ok for r in hubject.received if r.operation == START] == [True, True, False]
    assert await app.pool.fetchval("SELECT count(*) FROM roaming_authorizations") == 1


async def test_a_refusal_since_ends_what_the_cache_allows(
        make_app: AppFactory, hubject: SimulatedHubject, sims: SimFactory) -> None:
    """The newest answer for a card decides: one Hubject refused after authorizing it earlier
    does not charge on the earlier answer while Hubject is down."""
    hubject.known_cards[CARD] = "DE-8EO"
    app = await _app(make_app, hubject, authorize_reuse_window=0)
    sim = sims(app)
    await sim.start()
    assert await sim.authorize(CARD) == "Accepted"
    del hubject.known_cards[CARD]  # the EMP blocked the card
    assert await sim.authorize(CARD) == "Invalid"
    hubject.down = True
    assert await sim.authorize(CARD) == "Invalid"
    assert await app.pool.fetchval(
        "SELECT array_agg(status_code ORDER BY id) FROM roaming_authorizations") == ["000", "102"]


async def test_outage_session_gets_one_hubject_session_and_one_cdr(
        make_app: AppFactory, hubject: SimulatedHubject, sims: SimFactory) -> None:
    """Hubject down: the card charges on its cached answer; once Hubject is back the session
    gets its own SessionID (a late AuthorizeStart naming our session), recorded with the
    session, so a CDR Hubject does not take at once is sent again with the same SessionID."""
    hubject.known_cards[CARD] = "DE-8EO"
    app = await _app(make_app, hubject)
    sim = sims(app)
    await sim.start()
    await _session(sim, CARD)
    await eventually(lambda: _async(hubject.accepted(CDR)))
    await eventually(lambda: _no_pending(app))

    hubject.down = True
    await _session(sim, CARD)
    hubject.failures_for[CDR] = ["500"]  # the first CDR after the outage fails
    hubject.down = False
    await eventually(lambda: _async(len(hubject.accepted(CDR)) == 2))
    await eventually(lambda: _no_pending(app))

    [cached] = [s for s in await _sessions(app) if s["attributes"]["oicp"].get("Cached")]
    late = [r for r in hubject.accepted(START) if r.body.get("CPOPartnerSessionID")]
    assert [r.body["CPOPartnerSessionID"] for r in late] == [str(cached["id"])]  # asked once
    tries = [r for r in hubject.received if r.operation == CDR
             and r.body["CPOPartnerSessionID"] == str(cached["id"])]
    assert len(tries) == 2 and not tries[0].ok  # refused once, sent again
    assert {r.body["SessionID"] for r in tries} == {cached["attributes"]["oicp"]["SessionID"]}
    assert hubject.sessions[cached["attributes"]["oicp"]["SessionID"]][0] == CARD
    # Notifications went for the first session only: the cached one had no SessionID meanwhile.
    assert {r.body["SessionID"] for r in hubject.accepted(NOTIFICATION)} == {
        hubject.accepted(CDR)[0].body["SessionID"]}
    assert hubject.invalid == []


async def test_outage_session_waits_for_its_emp_and_a_refusal_is_left_to_an_operator(
        make_app: AppFactory, hubject: SimulatedHubject, sims: SimFactory) -> None:
    """The late AuthorizeStart of a session that charged on the cache: while the EMP cannot be
    reached (310) the CDR waits and asks again; a card Hubject now refuses leaves the CDR
    failed in the outbox, for an operator to settle with the EMP."""
    hubject.known_cards[CARD] = "DE-8EO"
    hubject.known_cards["0A0B0C0D"] = "DE-8EO"
    app = await _app(make_app, hubject, authorize_reuse_window=0)  # the sessions: on the cache
    sim = sims(app)
    await sim.start()
    assert await sim.authorize(CARD) == "Accepted"
    assert await sim.authorize("0A0B0C0D") == "Accepted"
    hubject.down = True
    await _session(sim, "0A0B0C0D")
    del hubject.known_cards["0A0B0C0D"]  # refused from now on
    hubject.down = False

    async def failed() -> list[Any]:
        return await outbox.list_messages(app.pool, "hubject", "failed")
    [refused] = await eventually(failed)
    assert "NotAuthorized (102)" in refused["last_error"]
    assert refused["body"]["Identification"] == {
        "RFIDMifareFamilyIdentification": {"UID": "0A0B0C0D"}}

    hubject.down = True
    await _session(sim, CARD)
    hubject.unreachable_providers.add("DE-8EO")
    hubject.down = False
    # Its EMP is away: asked again and again, nothing sent.
    await eventually(lambda: _async(len([r for r in hubject.received if r.operation == START
                                         and r.body.get("CPOPartnerSessionID")
                                         and r.body["Identification"] == RFID]) >= 3))
    assert hubject.accepted(CDR) == []
    hubject.unreachable_providers.clear()
    [cdr] = await eventually(lambda: _async(hubject.accepted(CDR)))
    assert cdr.body["Identification"] == RFID and cdr.body["SessionID"] in hubject.sessions
    assert [m["id"] for m in await failed()] == [refused["id"]]
    assert hubject.invalid == []
