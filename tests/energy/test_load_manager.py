"""The site load manager end to end, both versions on a site: shares, lower first, refusals, caps."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from csms.app import App
from csms.domain.energy.load_allocation import SiteLimit
from csms.domain.energy.site_limits import LimitPeriod
from csms.storage import store
from csms.storage.energy import energy_store
from simulators.chargepoint import SimConfig, SimulatedChargePoint
from simulators.chargepoint16 import ChargePoint16
from simulators.chargepoint201 import ChargePoint201
from tests.conftest import AppFactory, SimFactory
from tests.energy_support import Watch, make_site, push_fallback, set_limit, settled, tx_limit, wait_for
from tests.operators.test_metrics import scrape
from tests.support import Api, eventually, ws_url

FULL_W = 32 * 230 * 3  # an EV that would draw 32 A on each phase


@pytest.fixture
async def sims() -> AsyncIterator[SimFactory]:
    """Chargers of both versions on one site, taking turns (1.6 first): each test covers both
    at once, in half the time of running it once per version."""
    made: list[SimulatedChargePoint] = []

    def factory(app: App, charge_point_id: str = "CP1", **options: Any) -> SimulatedChargePoint:
        options.setdefault("meter_interval", 0.2)
        config = SimConfig(charge_point_id=charge_point_id, url=ws_url(app), **options)
        sim = ChargePoint16(config) if len(made) % 2 == 0 else ChargePoint201(config)
        made.append(sim)
        return sim

    yield factory
    for sim in made:
        await sim.stop()


async def _charger(app: App, sims: SimFactory, cp: str, watch: Watch | None = None,
                   fallback: float | None = 0.0, **options: Any) -> SimulatedChargePoint:
    options.setdefault("power_w", FULL_W)
    sim = sims(app, cp, **options)
    if watch is not None:
        watch.watch(sim)
    await sim.start()
    await wait_for(lambda: sim.boot_status == "Accepted")
    await wait_for_online(app, cp)
    if fallback is not None:
        await push_fallback(app, cp, fallback)
    return sim


async def wait_for_online(app: App, cp: str) -> None:
    async def online() -> bool:
        return await app.commands.online(cp)
    await eventually(online)


async def test_two_sessions_share_and_the_last_gets_everything(app: App, sims: SimFactory) -> None:
    await store.upsert_token(app.pool, "CARD")
    watch = Watch(limit=32)
    await make_site(app, "S1", {"CPA": 1, "CPB": 1})
    await set_limit(app, "S1", 32, fallback=0)
    a = await _charger(app, sims, "CPA", watch)
    b = await _charger(app, sims, "CPB", watch)

    await a.start_local_session(1, "CARD")
    await wait_for(lambda: tx_limit(a) == 32)
    await b.start_local_session(1, "CARD")
    await wait_for(lambda: tx_limit(a) == 16 and tx_limit(b) == 16)
    assert await energy_store.allowed(app.pool, "CPB", 1) == 16
    await settled(app, "S1")
    _, samples = await scrape(app)  # what the node managing the site reports
    for phase in ("L1", "L2", "L3"):
        labels = (("phase", phase), ("site", "S1"))
        assert samples[("csms_site_limit_amps", labels)] == 32
        assert samples[("csms_site_allowed_amps", labels)] == 32

    await a.stop_local_session(1)
    await wait_for(lambda: tx_limit(b) == 32)
    await settled(app, "S1")
    assert watch.history and not watch.over(), watch.over()
    assert await energy_store.allowed(app.pool, "CPA", 1) is None  # its session is over


async def test_a_refusing_charger_is_counted_at_its_maximum(app: App, sims: SimFactory) -> None:
    await store.upsert_token(app.pool, "CARD")
    await make_site(app, "S1", {"CPR": 1, "CPB": 1})
    await set_limit(app, "S1", 48, fallback=0)
    refusing = await _charger(app, sims, "CPR", fallback=None, smart_charging=False)
    b = await _charger(app, sims, "CPB")
    await b.start_local_session(1, "CARD")
    await wait_for(lambda: tx_limit(b) == 32)

    await refusing.start_local_session(1, "CARD")
    await wait_for(lambda: tx_limit(b) == 16)  # 48 A less the refusing one's 32
    await settled(app, "S1")
    rows = await app.pool.fetch("SELECT charge_point_id, status FROM evse_allowances ORDER BY 1")
    assert [(r["charge_point_id"], r["status"]) for r in rows] == [
        ("CPB", "Accepted"), ("CPR", "Rejected")]
    allocation = await app.load_manager.allocation("S1")  # type: ignore[union-attr]
    assert allocation is not None and allocation["counted"] == [48.0, 48.0, 48.0]


async def test_a_lowered_limit_lowers_everybody_first(app: App, api: Api, sims: SimFactory) -> None:
    await store.upsert_token(app.pool, "CARD")
    watch = Watch(limit=32)
    await make_site(app, "S1", {"CPA": 1, "CPB": 1})
    await set_limit(app, "S1", 32, fallback=0)
    a = await _charger(app, sims, "CPA", watch)
    b = await _charger(app, sims, "CPB", watch)
    await a.start_local_session(1, "CARD")
    await b.start_local_session(1, "CARD")
    await wait_for(lambda: tx_limit(a) == 16 and tx_limit(b) == 16)
    await settled(app, "S1")

    # At runtime through the API (as an energy management system would): in force within seconds.
    status, answer = await api.request("PUT", "/sites/S1/limit", json={"amps": 20, "fallback_amps": 0})
    assert status == 200, answer
    await wait_for(lambda: tx_limit(a) == 10 and tx_limit(b) == 10)
    watch.limit = 20
    assert not watch.over(), watch.over()  # never above the old limit while lowering
    watch.limit = 40
    await set_limit(app, "S1", 40, fallback=0)  # raised again: room for both at 20
    await wait_for(lambda: tx_limit(a) == 20 and tx_limit(b) == 20)
    assert not watch.over(), watch.over()

    # No limit any more: our profiles are cleared, and nothing is kept as allowed.
    status, _ = await api.request("DELETE", "/sites/S1/limit")
    assert status in (200, 204)
    await wait_for(lambda: tx_limit(a) is None and tx_limit(b) is None)
    await eventually(lambda: app.pool.fetchval(
        "SELECT NOT EXISTS (SELECT 1 FROM evse_allowances)"))


async def test_a_cap_tighter_than_the_share(app: App, sims: SimFactory) -> None:
    await store.upsert_token(app.pool, "CARD")
    watch = Watch(limit=32)
    await make_site(app, "S1", {"CPA": 1, "CPB": 1})
    await set_limit(app, "S1", 32, fallback=0)
    a = await _charger(app, sims, "CPA", watch)
    b = await _charger(app, sims, "CPB", watch)
    await a.start_local_session(1, "CARD")
    await b.start_local_session(1, "CARD")
    await wait_for(lambda: tx_limit(a) == 16 and tx_limit(b) == 16)

    result = await app.commands.set_evse_cap("CPA", 1, "emsp", 8)
    assert result.accepted and result.detail["allowed"] == {"1": 8.0}, result
    assert tx_limit(a) == 8
    await wait_for(lambda: tx_limit(b) == 24)  # what the cap leaves goes to the other
    result = await app.commands.clear_evse_cap("CPA", 1, "emsp")
    assert result.accepted, result
    await wait_for(lambda: tx_limit(a) == 16 and tx_limit(b) == 16)
    assert not watch.over(), watch.over()


async def test_a_cap_without_a_site_limit(app: App, sims: SimFactory) -> None:
    await store.upsert_token(app.pool, "CARD")
    await make_site(app, "S1", {"CPA": 1})  # a site without a limit
    a = await _charger(app, sims, "CPA", fallback=None)
    # No session: nothing to change, the cap is kept for the next one.
    result = await app.commands.set_evse_cap("CPA", 1, "grid:EMS", 10)
    assert result.accepted and result.detail["allowed"] == {}, result
    await a.start_local_session(1, "CARD")
    await wait_for(lambda: tx_limit(a) == 10)
    result = await app.commands.set_evse_cap("CPA", 1, "grid:EMS", 12, until=None)
    assert result.accepted and tx_limit(a) == 12, result
    result = await app.commands.clear_evse_cap("CPA", 1, "grid:EMS")
    assert result.accepted and tx_limit(a) == 32, result
    assert (await app.commands.set_evse_cap("NOPE", 1, "ev", 10)).outcome == "not_found"
    assert (await app.commands.set_evse_cap("CPA", 1, "ev", -1)).outcome == "invalid"


async def test_unused_share_goes_to_others_and_priorities_first(app: App, api: Api,
                                                                sims: SimFactory) -> None:
    await store.upsert_token(app.pool, "CARD")
    await store.upsert_token(app.pool, "FLEET")
    await store.set_token_group(app.pool, "FLEET", "fleet")
    await make_site(app, "S1", {"CPA": 1, "CPB": 1, "CPC": 1})
    await set_limit(app, "S1", 40, fallback=0, group_priorities={"fleet": 5})
    # A car that only takes 6 A: it keeps a margin above its draw, the rest goes to the other.
    a = await _charger(app, sims, "CPA", power_w=6 * 230 * 3)
    b = await _charger(app, sims, "CPB")
    await a.start_local_session(1, "CARD")
    await b.start_local_session(1, "CARD")
    await wait_for(lambda: tx_limit(a) == 8 and tx_limit(b) == 32)

    # A fleet card comes first: everything above the others' minimums.
    c = await _charger(app, sims, "CPC")
    await c.start_local_session(1, "FLEET")
    await wait_for(lambda: (tx_limit(a), tx_limit(b), tx_limit(c)) == (6, 6, 28))

    async def accepted() -> dict[str, Any] | None:
        """The allocation once CPC's answer is in (the charger applies a profile before its
        answer reaches us: Pending until then)."""
        allocation = await api.get("/sites/S1/allocation")
        by_cp = {e["charge_point_id"]: e for e in allocation["evses"]}
        return allocation if by_cp["CPC"]["status"] == "Accepted" else None
    allocation = await eventually(accepted)
    assert allocation["limit"] == [40.0, 40.0, 40.0] and allocation["counted"][0] <= 40
    by_cp = {e["charge_point_id"]: e for e in allocation["evses"]}
    assert by_cp["CPC"]["priority"] == 5 and by_cp["CPC"]["allowed"] == 28
    status, _ = await api.request("GET", "/sites/NOPE/allocation")
    assert status == 404


async def test_one_node_manages_a_site_and_another_takes_over(make_app: AppFactory,
                                                              sims: SimFactory) -> None:
    a = await make_app(node_id="a")
    b = await make_app(node_id="b")
    for node in (a, b):
        node.settings.energy.interval, node.settings.energy.lease = 0.3, 2.0
    await store.upsert_token(a.pool, "CARD")
    await make_site(a, "S1", {"CPA": 1, "CPB": 1})
    # Node a manages the site; the chargers are connected to node b: profiles go through b.
    await a.pool.execute("INSERT INTO site_leases (site_id, node_id, until) "
                         "VALUES ('S1', 'a', now() + interval '2 seconds')")
    await set_limit(b, "S1", 32, fallback=0)
    ca = await _charger(b, sims, "CPA")
    cb = await _charger(b, sims, "CPB")
    await ca.start_local_session(1, "CARD")
    await cb.start_local_session(1, "CARD")
    await wait_for(lambda: tx_limit(ca) == 16 and tx_limit(cb) == 16)
    assert a.load_manager is not None and b.load_manager is not None
    assert a.load_manager.rounds > 0 and b.load_manager.rounds == 0  # never both

    await a.stop()  # its lease goes with it: node b manages the site from its next tick
    await ca.stop_local_session(1)
    await wait_for(lambda: tx_limit(cb) == 32)
    assert b.load_manager.rounds > 0
    assert await b.pool.fetchval("SELECT node_id FROM site_leases WHERE site_id = 'S1'") == "b"


async def test_an_offline_charger_keeps_its_allowance_until_it_is_back(app: App,
                                                                        sims: SimFactory) -> None:
    await store.upsert_token(app.pool, "CARD")
    await make_site(app, "S1", {"CPA": 1, "CPB": 1, "CPC": 1})
    await set_limit(app, "S1", 48, fallback=0)
    a = await _charger(app, sims, "CPA")
    b = await _charger(app, sims, "CPB")
    c = await _charger(app, sims, "CPC")
    await a.start_local_session(1, "CARD")
    await b.start_local_session(1, "CARD")
    await wait_for(lambda: tx_limit(a) == 24 and tx_limit(b) == 24)

    a.network.clear()  # its uplink is down: what it holds cannot be lowered
    await a.drop_connection()

    async def offline() -> bool:
        return not await app.pool.fetchval("SELECT connected FROM charge_points WHERE id = 'CPA'")
    await eventually(offline)
    await c.start_local_session(1, "CARD")
    await wait_for(lambda: tx_limit(b) == 12 and tx_limit(c) == 12)  # around A's 24
    await settled(app, "S1")
    allocation = await app.load_manager.allocation("S1")  # type: ignore[union-attr]
    assert allocation is not None
    held = {e["charge_point_id"]: (e["counted"], e["online"]) for e in allocation["evses"]}
    assert held == {"CPA": (24.0, False), "CPB": (12.0, True), "CPC": (12.0, True)}

    # A cap meanwhile: kept, but the charger cannot be told yet.
    assert (await app.commands.set_evse_cap("CPA", 1, "emsp", 8)).outcome == "offline"

    a.network.set()  # back: everybody shares again, its cap applied
    await wait_for(lambda: tx_limit(a) == 8 and tx_limit(b) == 20 and tx_limit(c) == 20)


async def test_a_round_is_due_when_the_schedule_changes_the_limit(app: App) -> None:
    """Not only on the interval's beat: a timer at the schedule's next change."""
    await make_site(app, "S1", {"CPA": 1})
    start = datetime.now(UTC) + timedelta(minutes=2)
    period = LimitPeriod(frozenset(range(7)), start.strftime("%H:%M"),
                         (start + timedelta(minutes=1)).strftime("%H:%M"), SiteLimit.amps(10))
    await set_limit(app, "S1", 32, fallback=0, schedule=(period,))
    await settled(app, "S1")
    assert app.load_manager is not None
    manager = app.load_manager

    async def scheduled() -> bool:
        return "S1" in manager._timers
    await eventually(scheduled)
    timer = manager._timers["S1"]
    due = start.replace(second=0, microsecond=0)
    wait = (due - datetime.now(UTC)).total_seconds()
    assert abs(timer.when() - asyncio.get_running_loop().time() - wait) < 5


async def test_a_car_drawing_more_is_given_room_at_once(app: App, sims: SimFactory) -> None:
    """Its meter values re-allocate the site, not the interval's beat (made a minute here)."""
    app.settings.energy.interval, app.settings.energy.lease = 60, 120
    await store.upsert_token(app.pool, "CARD")
    await make_site(app, "S1", {"CPA": 1, "CPB": 1})
    await set_limit(app, "S1", 32, fallback=0)
    a = await _charger(app, sims, "CPA")
    b = await _charger(app, sims, "CPB", power_w=6 * 230 * 3)  # its car takes 6 A for now
    await a.start_local_session(1, "CARD")
    await b.start_local_session(1, "CARD")
    # (a round after each one's first meter values: slow on a busy machine, as below)
    await wait_for(lambda: tx_limit(a) == 24 and tx_limit(b) == 8, timeout=90)
    b.config.power_w = FULL_W  # now it would take all it can: its share grows as it draws more
    # (by the margin at each step: a few rounds, each after a meter value; slow on a busy machine)
    await wait_for(lambda: tx_limit(a) == 16 and tx_limit(b) == 16, timeout=90)


async def test_a_cap_on_the_whole_charger_is_shared_by_its_evses(app: App, sims: SimFactory) -> None:
    await store.upsert_token(app.pool, "CARD")
    await make_site(app, "S1", {"CPA": 2})  # no site limit: the charger is managed for its cap
    a = await _charger(app, sims, "CPA", fallback=None, connectors=2)
    result = await app.commands.set_evse_cap("CPA", 0, "grid:SO", 20)  # e.g. NotifyChargingLimit
    assert result.accepted, result
    await store.upsert_token(app.pool, "CARD2")
    await a.start_local_session(1, "CARD")
    await a.start_local_session(2, "CARD2")
    await wait_for(lambda: tx_limit(a, 1) == 10 and tx_limit(a, 2) == 10)
