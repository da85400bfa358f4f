"""Fleet mode: many simulated chargers at once, for load; bounded in time, stops by itself."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from simulators.chargepoint import SimConfig, SimulatedChargePoint
from simulators.chargepoint16 import ChargePoint16
from simulators.chargepoint201 import ChargePoint201


def make_charge_point(protocol: str, config: SimConfig) -> SimulatedChargePoint:
    return ChargePoint16(config) if protocol == "1.6" else ChargePoint201(config)


async def run_fleet(protocol: str, url: str, count: int, duration: float, prefix: str = "FLEET",
                    heartbeat: float | None = None, token: str | None = None,
                    meter_interval: float | None = None, connect_rate: int = 200) -> Counter[str]:
    """Connect `count` chargers (at most `connect_rate` handshakes at a time), optionally run a
    local session on each, keep them for `duration` seconds; returns call counts by action."""
    sims = [make_charge_point(protocol, SimConfig(
        charge_point_id=f"{prefix}{i:05d}", url=url, heartbeat_interval=heartbeat,
        meter_interval=meter_interval)) for i in range(count)]
    gate = asyncio.Semaphore(connect_rate)
    started = time.perf_counter()

    async def bring_up(sim: SimulatedChargePoint) -> bool:
        async with gate:
            try:
                await sim.start()
            except RuntimeError:
                return False
        if token:
            try:
                await sim.start_local_session(1, token)
            except Exception:  # a refused token still leaves a booted charger
                pass
        return True

    up = await asyncio.gather(*(bring_up(sim) for sim in sims))
    booted_after = time.perf_counter() - started
    print(f"{sum(up)}/{count} chargers booted in {booted_after:.1f}s")
    await asyncio.sleep(max(0.0, duration - booted_after))
    counts: Counter[str] = Counter()
    for sim in sims:
        counts.update(action for action, _ in sim.sent)
        counts["errors"] += len(sim.errors)
    await asyncio.gather(*(sim.stop() for sim in sims))
    return counts
