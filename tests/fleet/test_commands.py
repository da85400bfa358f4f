"""Commands through the admin API and the command service: what reaches the charger, and every outcome."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from websockets.asyncio.client import connect

from csms.app import App
from csms.domain.charge_points import register
from csms.security.credentials import verify_password
from csms.storage import store
from simulators.chargepoint import SimConfig
from simulators.chargepoint16 import ChargePoint16
from tests.conftest import AppFactory, SimFactory
from tests.support import Api, eventually, ws_url


async def test_commands_reach_the_charger(app: App, api: Api, sims: SimFactory) -> None:
    await register(app.pool, "CP1", None, {1: None}, security_profile=0)
    sim = sims(app)
    await sim.start()
    v16 = sims.protocol == "1.6"  # type: ignore[attr-defined]
    configure = "ChangeConfiguration" if v16 else "SetVariables"
    await sim.wait_for_call(configure)  # the meter interval set on boot
    key = "HeartbeatInterval" if v16 else "OCPPCommCtrlr.HeartbeatInterval"

    cases: list[tuple[str, dict[str, Any] | None, str, str]] = [
        ("/charge-points/CP1/reset", {"hard": True}, "Reset", "Hard" if v16 else "Immediate"),
        ("/charge-points/CP1/evses/1/unlock", None, "UnlockConnector", '"connectorId": 1'),
        ("/charge-points/CP1/trigger", {"message": "Heartbeat"}, "TriggerMessage", "Heartbeat"),
        ("/charge-points/CP1/configuration", {"key": key, "value": "120"}, configure, "120"),
        ("/charge-points/CP1/availability", {"evse": 1, "operative": False}, "ChangeAvailability",
         "Inoperative"),
    ]
    for path, body, action, expected in cases:
        status, answer = await api.post(path, body)
        assert (status, answer["outcome"]) == (200, "accepted"), (path, answer)
        assert expected in json.dumps(await sim.wait_for_call(action)), action

    config = await api.get(f"/charge-points/CP1/configuration?key={key}")
    assert config["outcome"] == "accepted" and "120" in json.dumps(config["detail"])

    async def unavailable() -> bool:
        return bool((await api.items("/charge-points/CP1/evses"))[0]["status"] == "unavailable")
    await eventually(unavailable)


async def _answer_next(ws: Any, reply: Any) -> list[Any]:
    """Read the CSMS's next call; answer it (a CALLRESULT payload, a CALLERROR tuple, or not)."""
    frame = json.loads(await ws.recv())
    if isinstance(reply, dict):
        await ws.send(json.dumps([3, frame[1], reply]))
    elif isinstance(reply, tuple):
        await ws.send(json.dumps([4, frame[1], *reply]))
    return frame  # type: ignore[no-any-return]


# The charger's reply to a command (a CALLRESULT payload, a CALLERROR, none) and the API's answer.
OUTCOMES: list[tuple[Any, tuple[int, str]]] = [
    (None, (504, "timeout")),
    (("NotImplemented", "not here", {}), (502, "failed")),
    ({"status": "Rejected"}, (409, "rejected")),
    ({"status": "Accepted"}, (200, "accepted")),
]


async def test_every_command_outcome(make_app: AppFactory) -> None:
    # Long enough for the test to answer on a busy machine; the unanswered call waits it out once.
    app = await make_app(call_timeout=3, meter_value_interval=0)
    api = Api(f"http://127.0.0.1:{app.api.port}/api/v1")
    try:
        await register(app.pool, "CP1", None, {1: None}, security_profile=0)
        status, answer = await api.post("/charge-points/CP1/reset")
        assert (status, answer["outcome"]) == (503, "offline")
        status, answer = await api.post("/charge-points/NOPE/reset")
        assert (status, answer["outcome"]) == (404, "not_found")

        async with connect(f"{ws_url(app)}/CP1", subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
            await ws.send(json.dumps([2, "b", "BootNotification",
                                      {"chargePointVendor": "V", "chargePointModel": "M"}]))
            await ws.recv()
            for reply, expected in OUTCOMES:
                command = asyncio.create_task(api.post("/charge-points/CP1/reset"))
                frame = await _answer_next(ws, reply)
                assert frame[2] == "Reset"
                status, answer = await command
                assert (status, answer["outcome"]) == expected
            assert answer["detail"] == {"status": "Accepted"}
    finally:
        await api.http.close()


async def test_reservations_through_the_api(app: App, api: Api, sims: SimFactory) -> None:
    await register(app.pool, "CP1", None, {1: None}, security_profile=0)
    sim = sims(app)
    await sim.start()
    status, answer = await api.post("/charge-points/CP1/evses/1/reserve",
                                    {"token": "HOLDER", "minutes": 10})
    assert (status, answer["outcome"]) == (200, "accepted"), answer
    reservation_id = answer["detail"]["reservation_id"]
    reserved = await sim.wait_for_call("ReserveNow")
    assert "HOLDER" in json.dumps(reserved) and reservation_id in sim.reservations

    status, answer = await api.post(f"/reservations/{reservation_id}/cancel")
    assert (status, answer["outcome"]) == (200, "accepted"), answer
    assert sim.reservations == {}
    status, answer = await api.post(f"/reservations/{reservation_id}/cancel")
    assert answer["outcome"] == "rejected" and "cancelled" in answer["detail"]["reason"]
    status, answer = await api.post("/reservations/999/cancel")
    assert (status, answer["outcome"]) == (404, "not_found")
    status, answer = await api.post("/charge-points/CP1/evses/1/reserve", {"token": ""})
    assert status == 400


async def test_new_password_reaches_the_charger_before_it_counts(app: App, api: Api,
                                                                 sims: SimFactory) -> None:
    await register(app.pool, "CP1", "first-password-123", {1: None})
    sim = sims(app, password="first-password-123")
    await sim.start()
    status, answer = await api.post("/charge-points/CP1/password", {"password": "short"})
    assert status == 400
    status, answer = await api.post("/charge-points/CP1/password",
                                    {"password": "second-password-456"})
    assert (status, answer["outcome"]) == (200, "accepted"), answer
    key = "AuthorizationKey" if sims.protocol == "1.6" else "SecurityCtrlr.BasicAuthPassword"  # type: ignore[attr-defined]
    assert sim.settings[key] == sim.config.password == "second-password-456"
    stored = await store.get_charge_point(app.pool, "CP1")
    assert stored is not None and verify_password("second-password-456", stored["password_hash"])

    before = stored["connected_at"]
    await sim.drop_connection()  # it reconnects with the new password, and is let in
    await eventually(lambda: _reconnected(app, before))
    status, answer = await api.post("/charge-points/CP9/password",
                                    {"password": "third-password-789"})
    assert answer["outcome"] == "not_found"


async def _reconnected(app: App, since: Any) -> bool:
    charger = await store.get_charge_point(app.pool, "CP1")
    return charger is not None and charger["connected"] and charger["connected_at"] > since


async def test_remote_start_refused_for_a_token_we_hold_as_blocked_or_expired(app: App,
                                                                             api: Api) -> None:
    await register(app.pool, "CP1", None, {1: None}, security_profile=0)
    await store.upsert_token(app.pool, "BLOCKED1", status="blocked")
    await store.upsert_token(app.pool, "EXPIRED1", expires_at=datetime.now(UTC) - timedelta(days=1))
    await store.upsert_token(app.pool, "CARD1")
    sim = ChargePoint16(SimConfig("CP1", ws_url(app), meter_interval=0.2))
    await sim.start()
    try:
        for uid, status in (("BLOCKED1", "blocked"), ("EXPIRED1", "expired")):
            code, answer = await api.post("/charge-points/CP1/evses/1/start", {"token": uid})
            assert (code, answer["outcome"]) == (409, "token_refused"), answer
            assert answer["detail"] == {"reason": f"token is {status}", "token_status": status}
        # Refused before anything reached the charger, and nothing recorded.
        assert [name for name, _ in sim.calls if name == "RemoteStartTransaction"] == []
        assert await store.list_sessions(app.pool, None, None, None, 10, 0) == []

        code, answer = await api.post("/charge-points/CP1/evses/1/start", {"token": "CARD1"})
        assert (code, answer["outcome"]) == (200, "accepted"), answer
        assert (await sim.wait_for_call("RemoteStartTransaction"))["idTag"] == "CARD1"
    finally:
        await sim.stop()


async def test_reservation_refused_for_a_token_we_hold_as_blocked_or_expired(app: App,
                                                                             api: Api) -> None:
    await register(app.pool, "CP1", None, {1: None}, security_profile=0)
    await store.upsert_token(app.pool, "BLOCKED1", status="blocked")
    await store.upsert_token(app.pool, "EXPIRED1", expires_at=datetime.now(UTC) - timedelta(days=1))
    await store.upsert_token(app.pool, "CARD1")
    sim = ChargePoint16(SimConfig("CP1", ws_url(app), meter_interval=0.2))
    await sim.start()
    try:
        for path in ("/charge-points/CP1/evses/1/reserve", "/charge-points/CP1/reserve"):
            for uid, status in (("BLOCKED1", "blocked"), ("EXPIRED1", "expired")):
                code, answer = await api.post(path, {"token": uid})
                assert (code, answer["outcome"]) == (409, "token_refused"), answer
                assert answer["detail"] == {"reason": f"token is {status}", "token_status": status}
        # Refused before anything reached the charger, and no reservation recorded.
        assert [name for name, _ in sim.calls if name == "ReserveNow"] == []
        assert await app.pool.fetchval("SELECT count(*) FROM reservations") == 0

        code, answer = await api.post("/charge-points/CP1/evses/1/reserve", {"token": "CARD1"})
        assert (code, answer["outcome"]) == (200, "accepted"), answer
        assert (await sim.wait_for_call("ReserveNow"))["idTag"] == "CARD1"
    finally:
        await sim.stop()
