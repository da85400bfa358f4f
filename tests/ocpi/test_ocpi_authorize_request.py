"""OCPI real-time authorization: the token's real type, where it is presented, and answers read
leniently (with the simulated eMSP checking each request against the spec)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

import pytest
import structlog
from ocpp.v201 import call

from bridge.ocpi.tokens import authorization_info, ocpi_token_type
from csms.domain.charge_points import assign_sites, register
from csms.domain.model import TokenType
from simulators.chargepoint import SimConfig, Transaction
from simulators.chargepoint201 import ChargePoint201
from simulators.partners.emsp import Received, SimulatedEmsp
from tests.conftest import AppFactory, SimFactory
from tests.ocpi.test_ocpi_sessions import setup
from tests.oicp.test_oicp_evse_data import demo_site
from tests.oicp.test_oicp_roaming import _async
from tests.support import eventually, ws_url


@pytest.mark.parametrize(("token_type", "expected"), [
    (None, "RFID"),  # a 1.6 idTag names no type
    (TokenType.RFID, "RFID"),  # 2.0.1 ISO14443
    (TokenType.RFID_15693, "RFID"),  # 2.0.1 ISO15693
    (TokenType.CENTRAL, "APP_USER"),
    (TokenType.LOCAL, "AD_HOC_USER"),
    (TokenType.EMAID, "OTHER"),
    (TokenType.KEY_CODE, "OTHER"),
    (TokenType.MAC_ADDRESS, "OTHER"),
])
def test_token_types(token_type: TokenType | None, expected: str) -> None:
    assert ocpi_token_type(token_type) == expected


INFO = {"allowed": "ALLOWED", "token": {}}


@pytest.mark.parametrize(("data", "expected"), [
    (INFO, (INFO, False)),
    ([INFO], (INFO, True)),  # seen from peers: a one-element list
    ([INFO, INFO], (None, False)),
    ([], (None, False)),
    ("ALLOWED", (None, False)),
    (None, (None, False)),
])
def test_answer_shapes(data: Any, expected: Any) -> None:
    assert authorization_info(data) == expected


def asked(emsp: SimulatedEmsp, uid: str) -> list[Received]:
    return [r for r in emsp.received if r.path == f"/tokens/{uid}/authorize"]


async def authorize_201(sim: ChargePoint201, uid: str, id_token_type: str) -> str:
    answer = await sim.call(call.Authorize(id_token={"id_token": uid, "type": id_token_type}))
    return str(answer.id_token_info["status"])


async def test_type_and_place_of_an_authorize(make_app: AppFactory, emsp: SimulatedEmsp,
                                              sims: SimFactory) -> None:
    """1.6 cards are RFID; 2.0.1 names the type. CP1's only EVSE is where the token is shown."""
    app = await setup(make_app, emsp)
    emsp.token("CARD0001")
    emsp.token("APP00001", token_type="APP_USER")
    sim = sims(app)
    await sim.start()
    if sims.protocol == "1.6":  # type: ignore[attr-defined]
        assert await sim.authorize("CARD0001") == "Accepted"
        assert await sim.authorize("APP00001") == "Invalid"  # the eMSP has no RFID of that uid
        assert [r.query for r in asked(emsp, "APP00001")] == [{"type": "RFID"}]
    else:
        assert isinstance(sim, ChargePoint201)
        assert await authorize_201(sim, "CARD0001", "ISO14443") == "Accepted"
        assert await authorize_201(sim, "APP00001", "Central") == "Accepted"
        [app_user] = asked(emsp, "APP00001")
        assert app_user.query == {"type": "APP_USER"}
    [card] = asked(emsp, "CARD0001")
    assert card.query == {"type": "RFID"}
    assert card.body == {"location_id": "berlin-hub", "evse_uids": ["CP1-1"]}
    assert emsp.invalid == []


async def test_place_known_from_the_transaction(make_app: AppFactory, emsp: SimulatedEmsp) -> None:
    """A 2.0.1 Authorize of a charger with two EVSEs names no EVSE: the Location alone; its
    transaction names the EVSE."""
    app = await setup(make_app, emsp)
    await register(app.pool, "CP2", None, {1: "DE*ABC*E0002*1", 2: "DE*ABC*E0002*2"},
                   events=app.events, security_profile=0)
    await assign_sites(app.pool, app.events, [replace(demo_site(), charge_points=("CP1", "CP2"),
                                                      evses={})])
    emsp.token("CARD0002")
    emsp.token("KEY00002", token_type="OTHER")
    sim = ChargePoint201(SimConfig("CP2", ws_url(app), connectors=2, meter_interval=5))
    await sim.start()
    try:
        assert await authorize_201(sim, "CARD0002", "ISO14443") == "Accepted"
        assert [r.body for r in asked(emsp, "CARD0002")] == [{"location_id": "berlin-hub"}]
        sim.transactions[2] = Transaction(token="KEY00002", transaction_id=str(uuid.uuid4()))
        await sim.begin_transaction(2, {"id_token": "KEY00002", "type": "KeyCode"}, "Authorized")
        [started] = await eventually(lambda: _async(asked(emsp, "KEY00002")))
        assert started.query == {"type": "OTHER"}
        assert started.body == {"location_id": "berlin-hub", "evse_uids": ["CP2-2"]}
        assert emsp.invalid == []
    finally:
        await sim.stop()


async def test_answers_read_leniently(make_app: AppFactory, emsp: SimulatedEmsp) -> None:
    """`data` as a one-element list is read, logged once for the partner; an unreadable answer
    allows nothing, even for a pushed token whose eMSP allows it when it does not answer."""
    app = await setup(make_app, emsp)
    emsp.token("LIST0001")
    emsp.token("LIST0002")
    status, _ = await emsp.push_token(emsp.token("PUSHED01", whitelist="ALLOWED"))
    assert status == 200
    sim = ChargePoint201(SimConfig("CP1", ws_url(app), meter_interval=5))
    await sim.start()
    try:
        emsp.authorization_shape = "list"
        with structlog.testing.capture_logs() as logs:
            assert await authorize_201(sim, "LIST0001", "ISO14443") == "Accepted"
            assert await authorize_201(sim, "LIST0002", "ISO14443") == "Accepted"
        assert [e["event"] for e in logs if e["log_level"] == "warning"] == [
            "ocpi authorization answer not shaped as the spec says, read anyway"]
        emsp.authorization_shape = "unreadable"
        with structlog.testing.capture_logs() as logs:
            assert await authorize_201(sim, "PUSHED01", "ISO14443") == "Invalid"
        assert [e["event"] for e in logs if e["log_level"] == "warning"] == [
            "ocpi authorization answer unreadable, not allowed"]
        assert len(asked(emsp, "PUSHED01")) == 1
    finally:
        await sim.stop()


async def test_a_pushed_token_is_asked_for_by_its_own_type(make_app: AppFactory,
                                                           emsp: SimulatedEmsp) -> None:
    """The eMSP knows a token it pushed by uid and the type it pushed it with."""
    app = await setup(make_app, emsp)
    status, _ = await emsp.push_token(emsp.token("APPPUSH1", whitelist="NEVER",
                                                 token_type="APP_USER"))
    assert status == 200
    sim = ChargePoint201(SimConfig("CP1", ws_url(app), meter_interval=5))
    await sim.start()
    try:
        assert await authorize_201(sim, "APPPUSH1", "ISO14443") == "Accepted"
        assert [r.query for r in asked(emsp, "APPPUSH1")] == [{"type": "APP_USER"}]
        assert emsp.invalid == []
    finally:
        await sim.stop()
