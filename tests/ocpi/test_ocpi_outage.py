"""OCPI eMSP down for a long stretch: deliveries back off, survive restarts, arrive in order, once.

Order is kept per outbox lane: locations in one, each session's PUT, PATCHes and CDR in its own."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from datetime import datetime
from typing import Any

import asyncpg

from csms.app import App
from csms.storage import store
from simulators.chargepoint import SimulatedChargePoint
from simulators.partners.emsp import Received, SimulatedEmsp
from tests.conftest import AppFactory, SimFactory
from tests.ocpi.test_ocpi_sessions import setup
from tests.oicp.test_oicp_roaming import _async
from tests.support import eventually, free_port, ocpi_settings

BASE, CEILING = 0.1, 0.8  # retries wait 0.1, 0.2, 0.4, 0.8, 0.8, … seconds
SESSIONS_PATH = "/sessions/DE/ABC/"


async def rows(app: App, after_id: int = 0, status: str | None = None) -> list[asyncpg.Record]:
    """Outbox rows in delivery order (oldest first)."""
    return list(await app.pool.fetch(
        """SELECT * FROM outbox WHERE id > $1 AND ($2::text IS NULL OR status = $2)
           ORDER BY id""", after_id, status))


async def nothing_pending(app: App) -> bool:
    return not await rows(app, status="pending")


async def head(app: App) -> asyncpg.Record | None:
    pending = await rows(app, status="pending")
    return pending[0] if pending else None


async def settled(app: App, completed: int) -> bool:
    """The charger is idle: `completed` sessions closed, none active, the EVSE available again."""
    done = await store.list_sessions(app.pool, "completed", None, None, 10, 0)
    active = await store.list_sessions(app.pool, "active", None, None, 10, 0)
    status = await app.pool.fetchval(
        "SELECT status FROM evses WHERE charge_point_id = 'CP1' AND evse_number = 1")
    return len(done) == completed and not active and status == "available"


async def tried_again(app: App, error: str) -> None:
    """Wait until the oldest pending message has failed once more, with `error`."""
    first = await head(app)
    assert first is not None
    attempts = first["attempts"]

    async def again() -> bool:
        now = await head(app)
        return now is not None and now["attempts"] > attempts and error in now["last_error"]
    await eventually(again)


async def charge_until(sim: SimulatedChargePoint, ticks: int) -> None:
    """Let the meter run for a few ticks (each one a MeterValues / TransactionEvent)."""
    target = sim.meter_wh[1] + ticks * sim.tick_wh()
    await eventually(lambda: _async(sim.meter_wh[1] >= target))


def wire(message: asyncpg.Record) -> tuple[str, str, Any]:
    """What the eMSP should see for an outbox row: method, path below its 2.2.1 root, body."""
    module, _, suffix = message["path"].partition("|")
    return message["operation"].split()[0], f"/{module}{suffix}", message["body"]


def lane_heads(messages: list[asyncpg.Record]) -> set[int]:
    """The oldest message of each lane (rows come oldest first)."""
    heads: dict[str, int] = {}
    for message in messages:
        heads.setdefault(message["lane"], message["id"])
    return set(heads.values())


def only_heads_tried(messages: list[asyncpg.Record]) -> bool:
    """Head-of-line: in every lane nothing behind the oldest was tried, so nothing overtook it;
    and the oldest message of all was tried."""
    tried = {m["id"] for m in messages if m["attempts"]}
    return messages[0]["id"] in tried and tried <= lane_heads(messages)


def as_wire(received: Received) -> tuple[str, str, Any]:
    return received.method, received.path, received.body


def per_message(refused: list[Received]) -> list[list[Received]]:
    """The refused requests grouped by the message they carried."""
    groups: dict[str, list[Received]] = defaultdict(list)
    for request in refused:
        groups[json.dumps(as_wire(request), sort_keys=True)].append(request)
    return list(groups.values())


def spaced_out(refused: list[Received], restarts: list[tuple[float, float]]) -> list[str]:
    """Retries of one message closer together than half the backoff allows (ignoring gaps
    across a restart, where an attempt cut short leaves no record)."""
    too_close = []
    for n, (before, after) in enumerate(zip(refused, refused[1:], strict=False), start=1):
        if any(before.at <= stop and start <= after.at for stop, start in restarts):
            continue
        gap, least = after.at - before.at, min(CEILING, BASE * 2 ** (n - 1)) / 2
        if gap < least:
            too_close.append(f"attempt {n + 1} after {gap:.3f}s (backoff {2 * least:.1f}s)")
    return too_close


async def test_long_emsp_outage_with_restarts(make_app: AppFactory, emsp: SimulatedEmsp,
                                              sims: SimFactory) -> None:
    # Same OCPP and OCPI ports across restarts: the charger reconnects, the eMSP keeps our URL.
    port = free_port()
    ocpi = ocpi_settings(retry_base_delay=BASE, retry_max_delay=CEILING)
    app = await setup(make_app, emsp, ocpp_port=port, ocpi=ocpi)
    for uid in ("AABB0101", "AABB0102"):  # ALWAYS: the charger may start without asking the eMSP
        assert (await emsp.push_token(emsp.token(uid)))[0] == 200
    sim = sims(app)
    await sim.start()
    await eventually(lambda: nothing_pending(app))
    before_outage = await app.pool.fetchval("SELECT coalesce(max(id), 0) FROM outbox")
    seen = len(emsp.received)
    restarts: list[tuple[float, float]] = []

    # --- 1. The eMSP answers HTTP 503 to everything; a whole session happens meanwhile. -----
    emsp.down = True
    await sim.start_local_session(1, "AABB0101")
    await charge_until(sim, 3)
    await sim.stop_local_session(1)
    await sim.flush()
    await eventually(lambda: settled(app, 1))

    # Backoff: the oldest message is retried, its attempts grow and its next try moves on.
    observed: dict[int, datetime] = {}

    async def watch() -> bool:
        first = await head(app)
        if first is not None and first["attempts"]:
            assert first["last_error"].startswith("HTTP 503"), first["last_error"]
            observed[first["attempts"]] = first["next_attempt_at"]
        return len(observed) >= 3 and max(observed) >= 4
    await eventually(watch)
    times = [observed[n] for n in sorted(observed)]
    assert times == sorted(times) and len(set(times)) == len(times), observed
    pending = await rows(app, status="pending")
    assert only_heads_tried(pending)

    # --- 2. Restart while everything is pending: nothing lost, the backoff state kept. ------
    stopping = time.monotonic()
    await app.stop()
    app = await make_app(ocpp_port=port, ocpi=ocpi)
    restarts.append((stopping, time.monotonic()))
    after = await rows(app, status="pending")
    assert [(m["id"], m["operation"]) for m in after] == [(m["id"], m["operation"]) for m in pending]
    # The backoff is not reset by the restart: no burst of retries from the new process.
    assert after[0]["attempts"] >= pending[0]["attempts"]
    assert after[0]["next_attempt_at"] >= pending[0]["next_attempt_at"]
    tried = len(emsp.refused)
    await eventually(lambda: _async(len(emsp.refused) > tried))  # the new process carries on

    # --- 3. The eMSP is gone altogether (connection refused); a second session, with a ------
    # restart in the middle of it while the charger keeps metering offline.
    await emsp.stop()
    emsp.down = False  # once it listens again it accepts everything
    await tried_again(app, "ClientConnectorError")
    await eventually(lambda: _async(sim.connected.is_set()))  # back since the first restart
    await sim.start_local_session(1, "AABB0102")
    await charge_until(sim, 2)
    # Stop between two meter ticks: a call cut off by the shutdown would leave the simulator
    # waiting out its 10 s response timeout (it does not notice the closed connection).
    await sim.flush()
    stopping = time.monotonic()
    await app.stop()
    await eventually(lambda: _async(not sim.connected.is_set()))
    await charge_until(sim, 1)  # metered offline, queued by the charger
    app = await make_app(ocpp_port=port, ocpi=ocpi)
    restarts.append((stopping, time.monotonic()))
    await eventually(lambda: _async(sim.connected.is_set()))
    await charge_until(sim, 2)
    await sim.stop_local_session(1)
    await sim.flush(timeout=30)  # the queued offline ticks, then the end
    await eventually(lambda: settled(app, 2))
    await tried_again(app, "ClientConnectorError")

    # Everything since the outage began is still pending, and only each lane's oldest was tried.
    waiting = await rows(app, before_outage)
    assert {m["status"] for m in waiting} == {"pending"}
    assert only_heads_tried(waiting)
    assert emsp.received[seen:] == []
    # Retries were spaced out by the backoff, never hammering the failing eMSP.
    assert len(emsp.refused) >= 5
    heads = lane_heads(waiting)
    assert {(r.method, r.path) for r in emsp.refused} <= {wire(m)[:2] for m in waiting
                                                         if m["id"] in heads}
    assert [late for group in per_message(emsp.refused) for late in spaced_out(group, restarts)] == []

    # --- 4. The eMSP is back: everything arrives, in order, each message once. --------------
    await emsp.start(port=emsp.port)
    await eventually(lambda: nothing_pending(app))
    assert await rows(app, status="failed") == []
    delivered = await rows(app, before_outage)
    assert {m["status"] for m in delivered} == {"delivered"}
    got = emsp.received[seen:]
    assert emsp.invalid == [] and emsp.bad_answers == []
    # Exactly the stored messages, none twice, none missing; each lane's in the order stored.
    assert sorted(json.dumps(as_wire(r), sort_keys=True) for r in got) == \
        sorted(json.dumps(wire(m), sort_keys=True) for m in delivered)
    for lane in {m["lane"] for m in delivered}:
        stored = [wire(m) for m in delivered if m["lane"] == lane]
        assert [as_wire(r) for r in got if as_wire(r) in stored] == stored

    # Per session: one PUT (ACTIVE), PATCHes, the final COMPLETED, then its one CDR.
    sessions = sorted(await store.list_sessions(app.pool, "completed", None, None, 10, 0),
                      key=lambda s: s["started_at"])
    assert len(sessions) == 2
    for session in sessions:
        sid = str(session["id"])
        mine = [(i, r) for i, r in enumerate(got) if r.path == SESSIONS_PATH + sid
                or (r.path == "/cdrs" and r.body["id"] == sid)]
        kinds = [(r.method, r.body.get("status")) for _, r in mine]
        assert kinds[0] == ("PUT", "ACTIVE") and kinds[-2:] == [("PATCH", "COMPLETED"),
                                                                ("POST", None)], kinds
        assert set(kinds[1:-2]) <= {("PATCH", None)}, kinds  # no PUT or end twice
        patch, cdr = mine[-2][1].body, mine[-1][1].body
        kwh = (session["meter_stop_wh"] - session["meter_start_wh"]) / 1000
        assert cdr["total_energy"] == patch["kwh"] == round(kwh, 3) and kwh > 0
    assert len(emsp.of("POST", "/cdrs")) == 2 and len(emsp.of("PUT", SESSIONS_PATH)) == 2
    # The EVSE's last status the eMSP heard is its status now.
    statuses = [r.body["status"] for r in got if r.path.startswith("/locations/")]
    assert statuses and statuses[-1] == "AVAILABLE"
