"""Foreign RFID cards through Hubject: AuthorizeStart/Stop, the session that follows, the cache."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.oicp import authorization
from csms.app import App
from csms.domain.charge_points import assign_sites, register
from csms.domain.model import AuthorizationStatus
from csms.storage import store
from simulators.partners.hubject import SimulatedHubject
from tests.conftest import AppFactory, SimFactory
from tests.oicp.test_oicp_evse_data import demo_site
from tests.oicp.test_oicp_roaming import CDR, _async, _no_pending
from tests.support import eventually, oicp_settings

START = "eRoamingAuthorizeStart_v2.1"
STOP = "eRoamingAuthorizeStop_V2.1"
CARD = "04A1B2C3D4E5F6"
RFID = {"RFIDMifareFamilyIdentification": {"UID": CARD}}


@pytest.mark.parametrize(("answer", "expected"), [
    ({"AuthorizationStatus": "Authorized", "SessionID": "s1", "ProviderID": "DE-8EO",
      "StatusCode": {"Code": "000"}},
     (AuthorizationStatus.ACCEPTED, {"SessionID": "s1", "ProviderID": "DE-8EO"})),
    ({"AuthorizationStatus": "NotAuthorized", "StatusCode": {"Code": "102"}},
     (AuthorizationStatus.INVALID, None)),
    ({"AuthorizationStatus": "NotAuthorized", "StatusCode": {"Code": "210"}},
     (AuthorizationStatus.INVALID, None)),
    # An EMP that cannot be reached: Hubject deals with it as NotAuthorized (eRoamingAuthorizeStart B).
    ({"AuthorizationStatus": "NotAuthorized", "StatusCode": {"Code": "310"}},
     (AuthorizationStatus.INVALID, None)),
    # Hubject's own trouble decides nothing: a cached answer may stand in.
    ({"AuthorizationStatus": "NotAuthorized", "StatusCode": {"Code": "320"}}, None),
    ({"AuthorizationStatus": "NotAuthorized", "StatusCode": {"Code": "009"}}, None),
    ({"AuthorizationStatus": "NotAuthorized", "StatusCode": {"Code": "021"}}, None),
    ({"Result": False, "StatusCode": {"Code": "001"}}, None),
    ("Internal Server Error", None),
])
def test_hubject_answer_to_ocpp(answer: Any, expected: Any) -> None:
    result = authorization.read_answer(answer, RFID)
    if expected is None:
        assert result is None
        return
    assert result is not None and result.status is expected[0]
    if expected[1] is None:
        assert result.attributes == {}
    else:
        assert result.attributes == {"oicp": {"Identification": RFID, **expected[1]}}


@pytest.mark.parametrize(("token", "identification"), [
    ("04a1b2c3d4e5f6", RFID),
    ("ABCD1234", {"RFIDMifareFamilyIdentification": {"UID": "ABCD1234"}}),
    ("OURCARD", None),  # not a UID Hubject could know: not asked
    ("ABCD12345", None),
])
def test_rfid_identification(token: str, identification: Any) -> None:
    assert authorization.rfid_identification(token) == identification


async def _app(make_app: AppFactory, hubject: SimulatedHubject, **oicp: Any) -> App:
    app = await make_app(oicp=oicp_settings(hubject, **oicp))
    await register(app.pool, "CP1", None, {1: "DE*ABC*E0001*1", 2: "DE*ABC*E0001*2"}, security_profile=0)
    return app


async def test_foreign_card_session_to_cdr_with_uid(make_app: AppFactory, hubject: SimulatedHubject,
                                                    sims: SimFactory) -> None:
    hubject.known_cards[CARD] = "DE-8EO"
    app = await _app(make_app, hubject)
    # The charger stands in India: OICP times carry its offset, not the configured default (UTC).
    await assign_sites(app.pool, app.events, [demo_site(time_zone="Asia/Kolkata",
                                                        charge_points=("CP1",))])
    sim = sims(app, connectors=2)
    await sim.start()
    await sim.start_local_session(1, CARD)  # Authorize, then the transaction
    await eventually(lambda: _async(sim.meter_wh[1] > 4000))
    # Another card of the EMP's stops it: Hubject is asked with AuthorizeStop.
    hubject.stop_cards.add("0000ABCD")
    assert await sim.authorize("0000ABCD") == "Accepted"
    await sim.stop_local_session(1)
    await sim.flush()
    [cdr] = await eventually(lambda: _async(hubject.accepted(CDR)))
    await eventually(lambda: _no_pending(app))

    [start] = hubject.accepted(START)  # one Hubject session for Authorize and transaction start
    assert start.body["Identification"] == RFID and start.body["OperatorID"] == "DE*ABC"
    [stop] = hubject.accepted(STOP)
    assert stop.body["Identification"] == {"RFIDMifareFamilyIdentification": {"UID": "0000ABCD"}}
    [session] = await store.list_sessions(app.pool, None, None, None, 10, 0)
    oicp = session["attributes"]["oicp"]
    assert oicp["ProviderID"] == "DE-8EO" and stop.body["SessionID"] == oicp["SessionID"]
    assert cdr.body["SessionID"] == oicp["SessionID"]
    assert cdr.body["Identification"] == RFID
    assert cdr.body["SessionStart"].endswith("+05:30") and cdr.body["ChargingEnd"].endswith("+05:30")
    assert cdr.body["CPOPartnerSessionID"] == str(session["id"])
    assert cdr.body["ConsumedEnergy"] == (session["meter_stop_wh"] - session["meter_start_wh"]) / 1000
    types = [r.body.get("Type") for r in hubject.accepted("eRoamingChargingNotifications_V1.1")]
    assert types[0] == "Start" and types[-1] == "End"
    assert hubject.invalid == []


async def test_card_hubject_refuses_cannot_charge(make_app: AppFactory, hubject: SimulatedHubject,
                                                  sims: SimFactory) -> None:
    app = await _app(make_app, hubject)
    sim = sims(app)
    await sim.start()
    assert await sim.authorize(CARD) == "Invalid"
    assert await sim.authorize("NOTAUID") == "Invalid"  # not asked: no valid UID
    assert [r.body["Identification"] for r in hubject.received if r.operation == START] == [RFID]
    assert hubject.invalid == []


async def _session(sim: Any, token: str) -> None:
    before = sim.meter_wh[1]
    await sim.start_local_session(1, token)
    await eventually(lambda: _async(sim.meter_wh[1] > before + 3000))
    await sim.stop_local_session(1)
    await sim.flush()


async def test_cached_answer_while_hubject_is_down(make_app: AppFactory, hubject: SimulatedHubject,
                                                   sims: SimFactory) -> None:
    hubject.known_cards[CARD] = "DE-8EO"
    app = await _app(make_app, hubject)
    sim = sims(app)
    await sim.start()
    await _session(sim, CARD)  # Hubject answers: its answer is remembered
    await eventually(lambda: _async(hubject.accepted(CDR)))

    hubject.down = True
    await _session(sim, CARD)  # the link is down: the earlier answer lets the driver charge
    assert await sim.authorize("00112233") == "Invalid"  # never authorized: nothing to fall back on
    assert len(hubject.accepted(CDR)) == 1

    hubject.down = False
    await eventually(lambda: _async(len(hubject.accepted(CDR)) == 2))
    await eventually(lambda: _no_pending(app))
    sessions = await store.list_sessions(app.pool, "completed", None, None, 10, 0)
    [cached] = [s for s in sessions if s["attributes"]["oicp"].get("Cached")]
    # A Hubject session of its own, fetched before the CDR went out, not the earlier one's,
    # and recorded with the session.
    late = [r for r in hubject.accepted(START) if r.body.get("CPOPartnerSessionID")]
    assert [r.body["CPOPartnerSessionID"] for r in late] == [str(cached["id"])]
    first_cdr, cached_cdr = [r.body for r in hubject.accepted(CDR)]
    assert cached_cdr["CPOPartnerSessionID"] == str(cached["id"])
    assert cached_cdr["SessionID"] and cached_cdr["SessionID"] != first_cdr["SessionID"]
    assert cached["attributes"]["oicp"]["SessionID"] == cached_cdr["SessionID"]
    assert cached_cdr["Identification"] == RFID
    assert hubject.invalid == []


async def test_no_cache_when_switched_off(make_app: AppFactory, hubject: SimulatedHubject,
                                          sims: SimFactory) -> None:
    hubject.known_cards[CARD] = "DE-8EO"
    app = await _app(make_app, hubject, authorization_cache_ttl=0, authorize_reuse_window=0)
    sim = sims(app)
    await sim.start()
    assert await sim.authorize(CARD) == "Accepted"
    hubject.down = True
    assert await sim.authorize(CARD) == "Invalid"
