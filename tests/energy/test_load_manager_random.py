"""The site limit holds at every instant: random sessions, draws and limits, both OCPP versions on a site."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from csms.app import App
from csms.storage import store
from csms.storage.energy import load_store
from simulators.chargepoint import SimConfig, SimulatedChargePoint
from simulators.chargepoint16 import ChargePoint16
from simulators.chargepoint201 import ChargePoint201
from tests.energy_support import Watch, make_site, push_fallback, set_limit, settled, tx_limit, wait_for
from tests.support import eventually, ws_url

AMPS_W = 230 * 3  # W an EV draws per A on each of three phases


@dataclass(frozen=True)
class Scenario:
    chargers: int
    fallback: int
    limit: int
    steps: tuple[tuple[str, int, int], ...]  # (start|stop|draw|limit|fallback, charger, amps)


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    chargers = draw(st.integers(2, 3))
    fallback = draw(st.sampled_from([0, 6, 8, 12]))
    lowest = max(fallback * chargers, 12)  # the fallbacks fit: the operator's side of the deal
    limits = st.integers(lowest, 64)
    start = st.tuples(st.just("start"), st.integers(0, chargers - 1), st.just(0))
    stop = st.tuples(st.just("stop"), st.integers(0, chargers - 1), st.just(0))
    step = st.one_of(  # sessions come and go most; draws, the limit, the fallback now and then
        start, start, start, stop, stop,
        st.tuples(st.just("draw"), st.integers(0, chargers - 1), st.integers(4, 32)),
        st.tuples(st.just("limit"), st.just(0), limits),
        st.tuples(st.just("fallback"), st.just(0), st.sampled_from([0, fallback // 2, fallback])))
    return Scenario(chargers, fallback, draw(limits),
                    tuple(draw(st.lists(step, min_size=4, max_size=8))))


async def run(app: App, number: int, scenario: Scenario) -> None:
    site = f"H{number}"
    ids = [f"{site}C{i}" for i in range(scenario.chargers)]
    await make_site(app, site, dict.fromkeys(ids, 1))
    watch = Watch(limit=float("inf"))  # a charger is not bound before its fallback profile
    await set_limit(app, site, scenario.limit, fallback=scenario.fallback)
    sims: list[SimulatedChargePoint] = []
    try:
        for i, cp in enumerate(ids):  # both versions on one site
            config = SimConfig(charge_point_id=cp, url=ws_url(app), meter_interval=0.2,
                               power_w=32 * AMPS_W)
            sim: SimulatedChargePoint = (ChargePoint16(config) if i % 2 == 0
                                         else ChargePoint201(config))
            watch.watch(sim)
            sims.append(sim)
            await sim.start()
            await wait_for(lambda s=sim: s.boot_status == "Accepted")  # type: ignore[misc]
            await eventually(lambda c=cp: app.commands.online(c))  # type: ignore[misc]
            await push_fallback(app, cp, scenario.fallback)
        watch.limit = scenario.limit
        limit, fallback = scenario.limit, scenario.fallback
        for action, i, amps in scenario.steps:
            sim = sims[i]
            since = await load_store.clock(app.pool)
            if action == "start" and 1 not in sim.transactions:
                await sim.start_local_session(1, "CARD")
            elif action == "stop" and 1 in sim.transactions:
                await sim.stop_local_session(1)
            elif action == "draw":
                sim.config.power_w = amps * AMPS_W
            elif action == "limit":
                watch.limit = max(watch.limit, amps)  # lowering: the old one until all are lower
                limit = amps
                await set_limit(app, site, amps, fallback=fallback)
            elif action == "fallback":  # lowered or raised under the same limit: it holds
                fallback = amps
                await set_limit(app, site, limit, fallback=fallback)
            if action in ("start", "draw") and 1 in sim.transactions:
                await sampled(app, ids[i], since)  # the round after this one sees the draw
            await settled(app, site)
            if action == "limit":
                watch.limit = amps
            await check(app, site, sims, watch)
    finally:
        for sim in sims:
            await sim.stop()


async def sampled(app: App, charge_point_id: str, since: Any) -> None:
    async def found() -> bool:
        return bool(await app.pool.fetchval(
            "SELECT EXISTS (SELECT 1 FROM meter_samples WHERE charge_point_id = $1 "
            "AND measurand = 'Current.Import' AND sampled_at > $2)", charge_point_id, since))
    await eventually(found)


async def check(app: App, site: str, sims: list[SimulatedChargePoint], watch: Watch) -> None:
    # What the chargers held at every change, profiles in flight included.
    assert watch.history and not watch.over(), watch.over()
    # What we count never sums above the limit, and each charger holds what we recorded.
    assert app.load_manager is not None
    allocation = await app.load_manager.allocation(site)
    assert allocation is not None
    assert all(amps <= watch.limit for amps in allocation["counted"]), allocation
    for sim, evse in zip(sims, allocation["evses"], strict=True):
        if evse["status"] == "Accepted" and 1 in sim.transactions:
            assert tx_limit(sim) == evse["allowed"], (evse, sim.profiles.held)
    assert await load_store.lease_holder(app.pool, site) is not None


async def test_the_limit_holds_at_every_instant(app: App) -> None:
    await store.upsert_token(app.pool, "CARD")
    assert app.load_manager is not None
    app.settings.energy.interval = 0.5
    loop = asyncio.get_running_loop()
    numbers = itertools.count()

    @settings(max_examples=6, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
    @given(scenario=scenarios())
    @example(scenario=Scenario(3, 6, 20, (  # the fallbacks take most of the limit
        ("start", 0, 0), ("start", 1, 0), ("stop", 0, 0), ("start", 2, 0), ("limit", 0, 18),
        ("start", 0, 0), ("draw", 1, 4), ("stop", 2, 0))))
    @example(scenario=Scenario(2, 12, 24, (  # a car drawing less than the fallback then leaves
        ("draw", 0, 4), ("start", 0, 0), ("start", 1, 0), ("stop", 0, 0))))
    @example(scenario=Scenario(2, 8, 24, (  # the fallback lowered, then raised, under sessions
        ("start", 0, 0), ("fallback", 0, 0), ("start", 1, 0), ("stop", 1, 0), ("fallback", 0, 8),
        ("start", 1, 0), ("stop", 0, 0))))
    def one(scenario: Scenario) -> None:
        asyncio.run_coroutine_threadsafe(run(app, next(numbers), scenario), loop).result(120)

    await asyncio.to_thread(one)
