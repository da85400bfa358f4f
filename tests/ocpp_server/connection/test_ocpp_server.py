"""The OCPP server over a real WebSocket: admission, subprotocols, bad frames, replaced connections."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import cast

import pytest
import structlog.testing
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus
from websockets.frames import Frame, Opcode
from websockets.protocol import Event, State
from websockets.typing import Subprotocol

from csms.app import App
from csms.domain.charge_points import register
from csms.storage import store
from tests.conftest import AppFactory
from tests.support import Api, eventually, ws_url

BOOT_16 = [2, "b1", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]


async def _call(ws, frame: list) -> list:  # type: ignore[no-untyped-def]
    await ws.send(json.dumps(frame))
    return json.loads(await ws.recv())  # type: ignore[no-any-return]


async def test_unknown_charger_is_refused_with_a_reason(app: App) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(f"{ws_url(app)}/NOPE", subprotocols=["ocpp1.6"]):  # type: ignore[list-item]
            pass
    assert refused.value.response.status_code == 404
    assert b"Unknown charge point NOPE" in refused.value.response.body


async def test_unknown_charger_accepted_when_configured(make_app: AppFactory) -> None:
    app = await make_app(accept_unknown_charge_points=True)
    async with connect(f"{ws_url(app)}/NEW1", subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
        reply = await _call(ws, BOOT_16)
        assert reply[2]["status"] == "Accepted"
    assert await store.get_charge_point(app.pool, "NEW1") is not None


async def test_connection_without_ocpp_subprotocol_is_refused(app: App) -> None:
    await register(app.pool, "CP1", None, {1: None}, security_profile=0)
    with pytest.raises(InvalidStatus) as refused:
        async with connect(f"{ws_url(app)}/CP1", subprotocols=["ocpp1.5"]):  # type: ignore[list-item]
            pass
    assert refused.value.response.status_code == 400


@pytest.mark.parametrize(("protocol", "frame", "code"), [
    # 1.6 spells it FormationViolation; the ocpp library would send 2.0.1's FormatViolation.
    ("ocpp1.6", [2, "x1", "Heartbeat", {"unexpected": 1}], "FormationViolation"),
    ("ocpp1.6", [2, "x2", "StatusNotification", {"connectorId": "one", "errorCode": "NoError",
                                                 "status": "Available"}], "TypeConstraintViolation"),
    ("ocpp1.6", [2, "x3", "StartTransaction", {"connectorId": 1}], "ProtocolError"),
    ("ocpp1.6", [2, "x4", "NoSuchAction", {}], "NotSupported"),
    # Valid by the schema (an integer), beyond what any connector id can be: refused, not a crash.
    ("ocpp1.6", [2, "x5", "StatusNotification", {"connectorId": 123456789012345678901234,
                                                 "errorCode": "NoError", "status": "Available"}],
     "PropertyConstraintViolation"),
    ("ocpp2.0.1", [2, "y3", "StatusNotification", {
        "timestamp": "2026-11-23T10:00:00Z", "connectorStatus": "Available", "evseId": 2**40,
        "connectorId": 1}], "PropertyConstraintViolation"),
    ("ocpp2.0.1", [2, "y1", "Heartbeat", {"unexpected": 1}], "FormatViolation"),
    ("ocpp2.0.1", [2, "y2", "StatusNotification", {"timestamp": "2026-11-23T10:00:00Z"}],
     "ProtocolError"),
])
async def test_schema_violation_gets_callerror_and_connection_survives(
        app: App, protocol: str, frame: list, code: str) -> None:
    await register(app.pool, "CP1", None, {1: None}, security_profile=0)
    async with connect(f"{ws_url(app)}/CP1", subprotocols=[protocol]) as ws:  # type: ignore[list-item]
        error = await _call(ws, frame)
        assert error[0] == 4 and error[1] == frame[1] and error[2] == code
        assert "ocpp_message" not in json.dumps(error[4])
        heartbeat = await _call(ws, [2, "hb", "Heartbeat", {}])
        assert heartbeat[0] == 3 and heartbeat[1] == "hb" and heartbeat[2]["currentTime"].endswith("Z")


async def test_second_connection_replaces_the_first(app: App) -> None:
    await register(app.pool, "CP1", None, {1: None}, security_profile=0)
    url = f"{ws_url(app)}/CP1"
    async with connect(url, subprotocols=["ocpp1.6"]) as first:  # type: ignore[list-item]
        await _call(first, BOOT_16)
        async with connect(url, subprotocols=["ocpp2.0.1"]) as second:  # type: ignore[list-item]
            await first.wait_closed()
            assert first.close_reason == "Replaced by a new connection"
            reply = await _call(second, [2, "b2", "BootNotification", {
                "chargingStation": {"vendorName": "V", "model": "M"}, "reason": "PowerUp"}])
            assert reply[2]["status"] == "Accepted"
            charge_point = await store.get_charge_point(app.pool, "CP1")
            assert charge_point is not None
            assert charge_point["connected"] and charge_point["protocol"] == "ocpp2.0.1"
        await eventually(lambda: _offline(app))


async def _offline(app: App) -> bool:
    charge_point = await store.get_charge_point(app.pool, "CP1")
    return charge_point is not None and not charge_point["connected"]


async def test_wrong_password_is_refused_before_the_upgrade(app: App) -> None:
    await register(app.pool, "CP1", "s3cret-pass", {1: None})
    url = f"{ws_url(app)}/CP1"
    for headers in ({}, {"Authorization": "Basic Q1AxOndyb25n"}):  # CP1:wrong
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url, subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                               additional_headers=headers):
                pass
        assert refused.value.response.status_code == 401
    async with connect(url.replace("ws://", "ws://CP1:s3cret-pass@"),
                       subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
        assert (await _call(ws, BOOT_16))[2]["status"] == "Accepted"


async def test_oversized_message_closes_cleanly(app: App) -> None:
    await register(app.pool, "CP1", None, {1: None}, security_profile=0)
    async with connect(f"{ws_url(app)}/CP1", subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps([2, "big", "DataTransfer", {"vendorId": "x", "data": "a" * 70000}]))
        await ws.wait_closed()
        assert ws.close_code == 1009


async def test_reports_are_acknowledged_and_stored(make_app: AppFactory) -> None:
    app = await make_app(known_vendors="ACME")  # a vendor we know: its DataTransfer is taken
    await register(app.pool, "CP1", None, {1: None}, security_profile=0)
    async with connect(f"{ws_url(app)}/CP1", subprotocols=["ocpp2.0.1"]) as ws:  # type: ignore[list-item]
        reply = await _call(ws, [2, "d1", "DataTransfer", {"vendorId": "ACME", "data": "hello"}])
        assert reply[2] == {"status": "Accepted"}
        reply = await _call(ws, [2, "s1", "SecurityEventNotification", {
            "type": "FirmwareUpdated", "timestamp": "2026-11-23T10:00:00Z", "techInfo": "v2"}])
        assert reply[0] == 3
    reports = await store.list_reports(app.pool, "CP1", None, 10)
    assert [(r["kind"], r["payload"]) for r in reports] == [
        ("SecurityEventNotification",
         {"type": "FirmwareUpdated", "timestamp": "2026-11-23T10:00:00Z", "techInfo": "v2"}),
        ("DataTransfer", {"vendorId": "ACME", "data": "hello"}),
    ]


async def test_security_events_of_both_versions_in_the_admin_api(app: App, api: Api) -> None:
    for charge_point_id, protocol in (("CP16", "ocpp1.6"), ("CP201", "ocpp2.0.1")):
        await register(app.pool, charge_point_id, None, {1: None}, security_profile=0)
        async with connect(f"{ws_url(app)}/{charge_point_id}",
                           subprotocols=[protocol]) as ws:  # type: ignore[list-item]
            reply = await _call(ws, [2, "s1", "SecurityEventNotification", {
                "type": "InvalidCentralSystemCertificate" if protocol == "ocpp1.6"
                else "TamperDetectionActivated",
                "timestamp": "2026-11-23T10:00:00Z", "techInfo": charge_point_id}])
            assert reply == [3, "s1", {}]
    events = await api.items("/security-events")
    assert [(e["charge_point_id"], e["type"], e["techInfo"]) for e in events] == [
        ("CP201", "TamperDetectionActivated", "CP201"),
        ("CP16", "InvalidCentralSystemCertificate", "CP16"),
    ]
    assert [e["type"] for e in await api.items("/security-events?charge_point=CP16")] == [
        "InvalidCentralSystemCertificate"]


async def test_transaction_event_seq_no_gap_is_logged(app: App) -> None:
    await register(app.pool, "CP1", None, {1: None}, security_profile=0)
    await store.upsert_token(app.pool, "TAG")

    def event(kind: str, seq_no: int) -> list:
        return [2, f"e{seq_no}", "TransactionEvent", {
            "eventType": kind, "timestamp": "2026-11-23T10:00:00Z", "seqNo": seq_no,
            "triggerReason": "Authorized" if kind == "Started" else "MeterValuePeriodic",
            "transactionInfo": {"transactionId": "tx-1"}, "evse": {"id": 1, "connectorId": 1},
            "idToken": {"idToken": "TAG", "type": "ISO14443"}}]

    with structlog.testing.capture_logs() as logs:
        async with connect(f"{ws_url(app)}/CP1", subprotocols=["ocpp2.0.1"]) as ws:  # type: ignore[list-item]
            assert (await _call(ws, event("Started", 0)))[2]["idTokenInfo"]["status"] == "Accepted"
            assert (await _call(ws, event("Updated", 1)))[0] == 3
            assert (await _call(ws, event("Updated", 4)))[0] == 3
    gaps = [entry for entry in logs if entry["event"] == "transaction event seqNo gap"]
    assert [(g["expected"], g["got"], g["charge_point_id"]) for g in gaps] == [(2, 4, "CP1")]
    session = await store.session_by_transaction(app.pool, "CP1", "tx-1")
    assert session is not None and session["last_seq_no"] == 4


async def test_shutdown_closes_chargers_with_going_away(make_app: AppFactory) -> None:
    """1001 tells a charger to reconnect (elsewhere, behind a load balancer), not that it erred."""
    app = await make_app(accept_unknown_charge_points=True)
    async with connect(f"{ws_url(app)}/CP1", subprotocols=[Subprotocol("ocpp1.6")]) as ws:
        await app.stop()
        await asyncio.wait_for(ws.wait_closed(), 5)
        assert ws.close_code == 1001


async def test_flooding_charger_is_limited_and_others_are_served(make_app: AppFactory) -> None:
    app = await make_app(accept_unknown_charge_points=True, max_messages_per_second=5)
    url = ws_url(app)
    async with connect(f"{url}/FLOOD", subprotocols=[Subprotocol("ocpp1.6")]) as flood, \
            connect(f"{url}/CALM", subprotocols=[Subprotocol("ocpp1.6")]) as calm:
        for n in range(80):  # far beyond the burst of 50
            await flood.send(json.dumps([2, f"f{n}", "Heartbeat", {}]))
        answers = [json.loads(await flood.recv()) for _ in range(80)]
        refused = [a for a in answers if a[0] == 4]
        assert refused and all(a[2] == "SecurityError" for a in refused)
        assert len(refused) < 80 and [a[0] for a in answers[:50]] == [3] * 50

        await calm.send(json.dumps([2, "c1", "Heartbeat", {}]))  # another charger: unaffected
        assert json.loads(await calm.recv())[0] == 3
        await asyncio.sleep(0.5)  # the flood's allowance refills; its connection survived
        await flood.send(json.dumps([2, "f-later", "Heartbeat", {}]))
        assert json.loads(await flood.recv())[:2] == [3, "f-later"]


async def test_connections_per_address_are_limited(make_app: AppFactory) -> None:
    app = await make_app(accept_unknown_charge_points=True, max_connections_per_ip=2)
    url = ws_url(app)
    async with connect(f"{url}/A", subprotocols=[Subprotocol("ocpp1.6")]), \
            connect(f"{url}/B", subprotocols=[Subprotocol("ocpp1.6")]):
        with pytest.raises(InvalidStatus) as refused:
            async with connect(f"{url}/C", subprotocols=[Subprotocol("ocpp1.6")]):
                pass
        assert refused.value.response.status_code == 429

    async def served() -> bool:  # both closed: room again, once the server has seen them go
        try:
            async with connect(f"{url}/C", subprotocols=[Subprotocol("ocpp1.6")]) as ws:
                await ws.send(json.dumps([2, "1", "Heartbeat", {}]))
                return bool(json.loads(await ws.recv())[0] == 3)
        except InvalidStatus as refused:
            assert refused.response.status_code == 429
            return False
    await eventually(served)


async def test_leniency_for_one_charger_and_one_action(make_app: AppFactory) -> None:
    app = await make_app(accept_unknown_charge_points=True,
                         lenient_validation="QUIRKY:StatusNotification")
    quirky = [2, "q1", "StatusNotification",
              {"connectorId": 1, "errorCode": "VendorSpecificOops", "status": "Available"}]
    answers = {}
    for charger in ("QUIRKY", "STRICT"):
        async with connect(f"{ws_url(app)}/{charger}", subprotocols=[Subprotocol("ocpp1.6")]) as ws:
            await ws.send(json.dumps(quirky))
            answers[charger] = json.loads(await ws.recv())
            await ws.send(json.dumps([2, "h", "Heartbeat", {"unexpected": True}]))
            answers[charger + " heartbeat"] = json.loads(await ws.recv())
    assert answers["QUIRKY"][0] == 3  # taken as sent
    assert answers["STRICT"][0] == 4  # the same frame from anyone else: refused
    # Only the named action: the quirky charger's other calls are still checked.
    assert answers["QUIRKY heartbeat"][0] == answers["STRICT heartbeat"][0] == 4
    status = await app.pool.fetchval(
        "SELECT ocpp_status FROM evses WHERE charge_point_id = 'QUIRKY'")
    assert status == "Available"


async def test_a_dead_connection_is_dropped_a_live_one_kept(make_app: AppFactory) -> None:
    # A pong may take a while on a busy machine: the timeout is generous, the pings frequent.
    app = await make_app(ping_interval=0.3, ping_timeout=2)
    await register(app.pool, "DEAD", None, {1: None}, security_profile=0)
    await register(app.pool, "LIVE", None, {1: None}, security_profile=0)
    # A peer that completes the handshake and then never reads again: it cannot answer pings.
    reader, writer = await asyncio.open_connection("127.0.0.1", app.ocpp.port)
    writer.write(b"GET /ocpp/DEAD HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                 b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                 b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ocpp1.6\r\n\r\n")
    assert b" 101 " in await reader.readuntil(b"\r\n\r\n")
    async with connect(f"{ws_url(app)}/LIVE", subprotocols=["ocpp1.6"]) as live:  # type: ignore[list-item]
        async def dropped() -> bool:
            return "DEAD" not in app.connections and bool(await app.pool.fetchval(
                "SELECT NOT connected FROM charge_points WHERE id = 'DEAD'"))
        await eventually(dropped)
        await asyncio.sleep(1.0)  # several rounds of pings, each answered
        assert "LIVE" in app.connections
        reply = await _call(live, [2, "h", "Heartbeat", {}])
        assert reply[0] == 3
    writer.close()


class _PingsSeen(ClientConnection):
    """A charger's connection that notes when each of the server's pings came (and answers it,
    as websockets does)."""

    pinged: list[float]

    def process_event(self, event: Event) -> None:
        if isinstance(event, Frame) and event.opcode is Opcode.PING:
            self.pinged.append(time.monotonic())
        super().process_event(event)


async def test_a_ping_round_is_spread_over_the_interval(make_app: AppFactory) -> None:
    """Each charger pinged once a round, the round in slices a second apart, not the whole node
    at once (at thousands of chargers, that burst was every node's slowest calls)."""
    app = await make_app(ping_interval=3, ping_timeout=2.5)
    names = [f"CP{n}" for n in range(6)]
    for name in names:
        await register(app.pool, name, None, {1: None}, security_profile=0)
    async with contextlib.AsyncExitStack() as stack:
        chargers = []
        for name in names:
            ws = cast(_PingsSeen, await stack.enter_async_context(connect(
                f"{ws_url(app)}/{name}", subprotocols=[Subprotocol("ocpp1.6")],
                create_connection=_PingsSeen)))
            ws.pinged = []
            chargers.append(ws)
        await eventually(lambda: _async(all(len(ws.pinged) >= 2 for ws in chargers)))
        firsts = sorted(ws.pinged[0] for ws in chargers)
        # three slices of two, a second apart (a charger that came after its slice's turn: the
        # next round's)
        assert firsts[-1] - firsts[0] >= 1.5, firsts
        for ws in chargers:  # each in its slice: once a round, not sooner as others come
            assert ws.pinged[1] - ws.pinged[0] >= 2.5, ws.pinged
        assert all(name in app.connections for name in names)  # answered: kept


async def test_compression_is_off_unless_configured(make_app: AppFactory) -> None:
    """A charger offering permessage-deflate gets plain frames: compression costs CPU per message."""
    plain = await make_app()
    compressing = await make_app(compression=True)
    for app, expected in ((plain, []), (compressing, ["permessage-deflate"])):
        await register(app.pool, "CP1", None, {1: None}, security_profile=0)
        async with connect(f"{ws_url(app)}/CP1", subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                           compression="deflate") as ws:
            assert [e.name for e in ws.protocol.extensions] == expected


async def test_a_charger_gone_before_its_answer_is_no_fault_of_ours(app: App) -> None:
    """Its call handled while it hangs up: the answer cannot go, and that is all (no traceback,
    no 'call not handled')."""
    await register(app.pool, "CP1", None, {1: None}, security_profile=0)
    async with app.pool.acquire() as holder:
        with structlog.testing.capture_logs() as logs:
            async with connect(f"{ws_url(app)}/CP1", subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
                await _call(ws, BOOT_16)
                adapter = app.connections.get("CP1")
                assert adapter is not None
                transaction = holder.transaction()
                await transaction.start()
                # The charger's row held, so its status report waits in its handler ...
                await holder.execute("SELECT 1 FROM charge_points WHERE id = 'CP1' FOR UPDATE")
                await ws.send(json.dumps([2, "s0", "StatusNotification", {
                    "connectorId": 0, "errorCode": "NoError", "status": "Available"}]))
                await eventually(lambda: _waiting_for_lock(app))
            # ... until the charger is gone; then it goes on and cannot answer.
            await eventually(lambda: _async(adapter._connection.state is State.CLOSED))  # type: ignore[attr-defined]
            await transaction.rollback()
            await eventually(lambda: _async(app.connections.get("CP1") is None))
    assert [e for e in logs if e["event"] == "call not handled"] == []
    assert not any(e.get("exc_info") for e in logs), logs


async def _waiting_for_lock(app: App) -> bool:
    return bool(await app.pool.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
        "AND datname = current_database()"))


async def _async(value: bool) -> bool:
    return value
