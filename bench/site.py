"""Site load management: simulated chargers of both versions behind one limit, watched from their side."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp

from bench import target
from csms.domain.charge_points import register
from csms.domain.sites import parse_site
from csms.storage import store
from csms.storage.database import create_pool
from simulators.chargepoint import SimConfig, SimulatedChargePoint
from simulators.chargepoint16 import ChargePoint16
from simulators.chargepoint201 import ChargePoint201
from simulators.smart_charging import Profiles

SITE = "BENCH-SITE"
TOKEN = "BENCHCARD"
API_TOKEN = "bench-site-token"
# A car's draw as the simulator takes it (it reckons with three phases): its current per phase.
VOLTS_3 = 230 * 3
TICK = 0.2  # s: everyone's limit looked at again (a schedule may change it with no call)


def _percentiles(values: list[float], prefix: str) -> dict[str, float | None]:
    ordered = sorted(values)
    if not ordered:
        return {f"{prefix}_p50_ms": None, f"{prefix}_p99_ms": None}
    return {f"{prefix}_p50_ms": round(ordered[len(ordered) // 2] * 1000, 1),
            f"{prefix}_p99_ms": round(ordered[min(len(ordered) - 1,
                                                  int(len(ordered) * 0.99))] * 1000, 1)}


@dataclass
class Event:
    """A session starting or stopping at a charger (the card presented, the cable pulled)."""

    at: float
    charger: int
    kind: str  # "start" or "stop"
    profiles: list[float] = field(default_factory=list)  # TxProfiles that came while it was latest
    own: float | None = None  # start: when its own charger had its first TxProfile since


class Site:
    """What every charger allows and draws now, summed per phase at every change, from the
    chargers' side. A single-phase EVSE draws on L1 only; a limit in A holds on each phase."""

    def __init__(self, sims: list[SimulatedChargePoint], phases: list[int]) -> None:
        self.sims = sims
        self.phases = [range(n) for n in phases]  # the phase indices each EVSE draws on
        self.car_amps = [0.0] * len(sims)  # what each car would draw, per phase
        self.allowed = [0.0] * len(sims)
        self.drawn = [0.0] * len(sims)
        self.bare = [False] * len(sims)  # in a session, holding no Tx or TxDefault profile
        self.sum_allowed = [0.0, 0.0, 0.0]
        self.sum_drawn = [0.0, 0.0, 0.0]
        self.bare_count = 0
        # (time, sums allowed L1-L3, sums drawn L1-L3, sessions with no Tx or TxDefault profile)
        self.steps: list[tuple[float, tuple[float, ...], tuple[float, ...], int]] = []
        self.events: list[Event] = []
        self.waiting: dict[int, Event] = {}  # charger → its start without a TxProfile yet
        self.profiles_received = 0

    def changed(self, i: int) -> None:
        """Charger i's limit or session changed: what it allows and draws, and the sums."""
        sim = self.sims[i]
        allowed = sim.profiles.limit(1, datetime.now(UTC), "A") if 1 in sim.transactions else 0.0
        drawn = min(self.car_amps[i], allowed)
        bare = 1 in sim.transactions and not any(
            h.purpose in ("tx", "default") for h in sim.profiles.held.values())
        for phase in self.phases[i]:
            self.sum_allowed[phase] += allowed - self.allowed[i]
            self.sum_drawn[phase] += drawn - self.drawn[i]
        self.bare_count += bare - self.bare[i]
        self.allowed[i], self.drawn[i], self.bare[i] = allowed, drawn, bare
        self.steps.append((time.monotonic(), tuple(self.sum_allowed), tuple(self.sum_drawn),
                           self.bare_count))

    def tx_profile(self, i: int) -> None:
        """A TxProfile reached charger i (its handler took it)."""
        now = time.monotonic()
        self.profiles_received += 1
        if self.events:
            self.events[-1].profiles.append(now)
        start = self.waiting.pop(i, None)
        if start is not None:
            start.own = now
        self.changed(i)

    def session(self, i: int, kind: str) -> None:
        event = Event(time.monotonic(), i, kind)
        self.events.append(event)
        if kind == "start":
            self.waiting[i] = event
        else:
            self.waiting.pop(i, None)

    def figures(self, begin: float, end: float, limit: float) -> dict[str, Any]:
        """Over [begin, end]: the largest sum allowed per phase, and the time-weighted shares of
        the limit."""
        inside = [s for s in self.steps if begin <= s[0] <= end]
        before = [s for s in self.steps if s[0] < begin]
        zero = (0.0, 0.0, 0.0)
        steps = ([(begin, *before[-1][1:])] if before else []) + inside
        peaks = [max((s[1][p] for s in steps), default=0.0) for p in range(3)]
        peak = max(steps, key=lambda s: max(s[1]), default=(begin, zero, zero, 0))
        allowed_area, drawn_area, above = [0.0] * 3, [0.0] * 3, 0.0
        for (at, allowed, drawn, _), nxt in zip(steps, [*steps[1:], (end, zero, zero, 0)],
                                                strict=True):
            span = nxt[0] - at
            for p in range(3):
                allowed_area[p] += allowed[p] * span
                drawn_area[p] += drawn[p] * span
            above += span if max(allowed) > limit + 1e-6 else 0.0
        seconds = end - begin
        starts = [e for e in self.events if e.kind == "start" and begin <= e.at <= end]
        own = [e.own - e.at for e in starts if e.own is not None]
        # Every TxProfile counts for the latest session event before it (one arriving after the
        # next event counts for that one): a start is settled when the last of its own came.
        settled = [max([e.own or e.at, *e.profiles]) - e.at for e in starts if e.own is not None]

        def share(area: list[float]) -> list[float | None]:
            return [round(a / (limit * seconds), 3) if seconds > 0 else None for a in area]
        return {
            "max_allowed_sum_a": round(max(peaks), 1), "limit_held": max(peaks) <= limit + 1e-6,
            "max_allowed_sum_per_phase_a": [round(p, 1) for p in peaks],
            "above_limit_s": round(above, 2),
            # At that peak: sessions whose charger held no Tx or TxDefault profile (its maximum)
            "unprofiled_at_peak": peak[3],
            "used_share_per_phase": share(drawn_area), "allowed_share_per_phase": share(allowed_area),
            "sessions_started": len(starts),
            "starts_without_tx_profile": len(starts) - len(own),
            **_percentiles(own, "own_profile"), **_percentiles(settled, "all_profiles"),
            # by version (even chargers speak 1.6, odd ones 2.0.1)
            **_percentiles([e.own - e.at for e in starts if e.own is not None
                            and e.charger % 2 == 0], "own_profile_16"),
            **_percentiles([e.own - e.at for e in starts if e.own is not None
                            and e.charger % 2 == 1], "own_profile_201"),
            "tx_profiles_received": self.profiles_received}


class _Watched(Profiles):
    """A charger's profiles that tell the site when they change."""

    def __init__(self, site: Site, i: int, evses: int) -> None:
        super().__init__(evses)
        self.site, self.i = site, i

    def set(self, evse: int, raw: dict[str, Any], transaction: bool) -> str:
        status = super().set(evse, raw, transaction)
        if status == "Accepted" and raw.get("charging_profile_purpose") == "TxProfile":
            self.site.tx_profile(self.i)
        else:
            self.site.changed(self.i)
        return status

    def clear(self, profile_id: int | None = None, evse: int | None = None,
              purpose: str | None = None, stack_level: int | None = None) -> str:
        status = super().clear(profile_id, evse, purpose, stack_level)
        self.site.changed(self.i)
        return status

    def tx_ended(self, evse: int) -> None:
        super().tx_ended(evse)
        self.site.changed(self.i)


def _phases(n: int) -> int:
    """A quarter of the EVSEs are single-phase (on L1), of both versions; the rest three-phase."""
    return 1 if n % 8 in (2, 3) else 3


def _evse_id(n: int) -> str:
    return f"DE*BEN*E{n:05d}*1"


async def _prepare(database: target.Database, ids: list[str]) -> None:
    """The chargers registered (one 32 A EVSE each), all on one site."""
    pool = await create_pool(database.url, min_size=1, max_size=4)
    try:
        for n, charge_point_id in enumerate(ids):
            await register(pool, charge_point_id, None, {1: _evse_id(n)}, security_profile=0)
        site = parse_site({
            "id": SITE, "name": "Bench car park", "country": "DEU", "city": "Berlin",
            "street": "Benchstraße", "postal_code": "10115", "house_number": "1",
            "latitude": 52.5, "longitude": 13.4, "hotline": "+4930123456", "time_zone": "UTC",
            "charge_points": ids,
            "evses": {_evse_id(n): {"power_type": "AC_1_PHASE", "power_kw": 7}
                      for n in range(len(ids)) if _phases(n) == 1}})
        async with pool.acquire() as conn, conn.transaction():
            await store.upsert_site(conn, SITE, site.to_json())
            await store.set_site(conn, ids, SITE)
    finally:
        await pool.close()


async def _fallbacks_held(sims: list[SimulatedChargePoint], since: float,
                          timeout: float = 30.0) -> float | None:
    """Seconds until every charger held a TxDefault profile; None if some had none in time."""
    while not all(any(h.purpose == "default" for h in sim.profiles.held.values())
                  for sim in sims):
        if time.monotonic() - since > timeout:
            return None
        await asyncio.sleep(0.05)
    return round(time.monotonic() - since, 2)


async def _driver(site: Site, i: int, rng: random.Random, until: float, session_s: float,
                  idle_s: float, failures: list[str]) -> None:
    """Charger i: sessions of random length and draw, apart by random idle times, until `until`;
    a car may change its draw halfway (it tapers, or the driver turns the heating on)."""
    sim = site.sims[i]
    await asyncio.sleep(rng.uniform(0, idle_s))
    while time.monotonic() < until:
        site.car_amps[i] = rng.uniform(6, 32)
        sim.config.power_w = round(site.car_amps[i] * VOLTS_3)
        site.session(i, "start")
        try:
            await sim.start_local_session(1, TOKEN)
        except Exception as error:  # refused, or the connection dropped: counted, goes on
            failures.append(f"{sim.config.charge_point_id} start: {error!r}")
            site.waiting.pop(i, None)
            sim.transactions.pop(1, None)
            site.changed(i)
            await asyncio.sleep(idle_s)
            continue
        site.changed(i)
        length = rng.expovariate(1 / session_s)
        await asyncio.sleep(min(length / 2, max(0.0, until - time.monotonic())))
        if rng.random() < 0.5:
            site.car_amps[i] = rng.uniform(6, 32)
            sim.config.power_w = round(site.car_amps[i] * VOLTS_3)
            site.changed(i)
        await asyncio.sleep(min(length / 2, max(0.0, until - time.monotonic())))
        await _stop(site, i, failures)
        await asyncio.sleep(min(rng.expovariate(1 / idle_s), max(0.0, until - time.monotonic())))


async def _stop(site: Site, i: int, failures: list[str]) -> None:
    sim = site.sims[i]
    if 1 not in sim.transactions:
        return
    site.session(i, "stop")
    try:
        await sim.stop_local_session(1)
    except Exception as error:
        failures.append(f"{sim.config.charge_point_id} stop: {error!r}")
    site.car_amps[i] = 0.0
    site.changed(i)


async def _ticks(site: Site) -> None:
    while True:
        await asyncio.sleep(TICK)
        for i in range(len(site.sims)):
            site.changed(i)


async def _api(http: aiohttp.ClientSession, base: str, method: str, path: str,
               body: Any) -> tuple[int, Any]:
    async with http.request(method, base + path, json=body,
                            headers={"Authorization": f"Bearer {API_TOKEN}"}) as response:
        return response.status, await response.json(content_type=None)


async def site_load(database: target.Database, chargers: int, amps: float, seconds: float,
                    session_s: float, idle_s: float, meter_interval: float,
                    seed: int = 17) -> dict[str, Any]:
    """`chargers` chargers, half 1.6, half 2.0.1, on one site limited to `amps` per phase."""
    ids = [f"SITE{n:04d}" for n in range(chargers)]
    await _prepare(database, ids)
    server = target.csms(database.url, api_token=API_TOKEN)
    assert server.ready is not None
    base = server.ready.removesuffix("/readyz") + "/api/v1"
    failures: list[str] = []
    sims: list[SimulatedChargePoint] = [
        (ChargePoint16 if n % 2 == 0 else ChargePoint201)(SimConfig(
            charge_point_id=charge_point_id, url=server.url, meter_interval=meter_interval,
            heartbeat_interval=300, local_list=False))
        for n, charge_point_id in enumerate(ids)]
    site = Site(sims, [_phases(n) for n in range(chargers)])
    for n, sim in enumerate(sims):
        sim.profiles = _Watched(site, n, sim.config.connectors)
    await server.start()
    try:
        async with aiohttp.ClientSession() as http:
            status, answer = await _api(http, base, "POST", "/tokens", {"uid": TOKEN})
            if status not in (200, 201):
                raise RuntimeError(f"token not added: {status} {answer}")
            gate = asyncio.Semaphore(50)

            async def up(sim: SimulatedChargePoint) -> None:
                async with gate:
                    await sim.start()
            await asyncio.gather(*(up(sim) for sim in sims))
            status, answer = await _api(http, base, "PUT", f"/sites/{SITE}/limit", {"amps": amps})
            if status != 200:
                raise RuntimeError(f"PUT /sites/{SITE}/limit: {status} {answer}")
            # Everyone's fallback (a TxDefaultProfile pushed once the limit is set) in place first.
            fallback_s = await _fallbacks_held(sims, time.monotonic())
            rng = random.Random(seed)
            begin = time.monotonic()
            until = begin + seconds
            ticks = asyncio.create_task(_ticks(site))
            await asyncio.gather(*(_driver(site, n, random.Random(rng.random()), until,
                                           session_s, idle_s, failures)
                                   for n in range(chargers)))
            end = until
            figures = site.figures(begin, end, amps)
            ticks.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticks
            await asyncio.gather(*(_stop(site, n, failures) for n in range(chargers)))
    finally:
        await asyncio.gather(*(sim.stop() for sim in sims))
        await server.stop()
    return {"chargers": chargers, "ocpp16": (chargers + 1) // 2, "ocpp201": chargers // 2,
            "single_phase": sum(1 for n in range(chargers) if _phases(n) == 1),
            "limit_a": amps, "all_fallbacks_held_s": fallback_s,
            "seconds": round(end - begin, 1),
            "session_mean_s": session_s, "idle_mean_s": idle_s, **figures,
            "failures": len(failures), "first_failure": failures[:1]}
