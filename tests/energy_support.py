"""Helpers for load manager tests: a limited site of simulated chargers, and what they hold over time."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from csms.app import App
from csms.domain.charge_points import register
from csms.domain.energy.load_allocation import SiteLimit
from csms.domain.energy.load_manager import tx_profile_id
from csms.domain.energy.site_limits import SiteLimits
from csms.domain.energy.smart_charging import ChargingProfile, Kind, Purpose, RateUnit, SchedulePeriod
from csms.domain.events import SiteLimitChanged
from csms.domain.sites import EvseDetails, Site
from csms.storage import store
from csms.storage.energy import load_store, site_limit_store
from simulators.chargepoint import SimulatedChargePoint
from simulators.smart_charging import Profiles
from tests.support import eventually


@dataclass
class Watch:
    """Every change of the profiles the site's simulated chargers hold, with what they then
    allow in all (per phase: every EVSE's limit, idle ones at their fallback) and the limit the
    test said is in force. Checked at each change, so a moment in flight is never missed."""

    limit: float = 0.0
    sims: list[SimulatedChargePoint] = field(default_factory=list)
    history: list[tuple[datetime, float, float]] = field(default_factory=list)

    def held(self) -> float:
        now = datetime.now(UTC)
        return sum(sim.profiles.limit(evse, now, "A") for sim in self.sims
                   for evse in range(1, sim.config.connectors + 1))

    def note(self) -> None:
        self.history.append((datetime.now(UTC), self.held(), self.limit))

    def over(self) -> list[tuple[datetime, float, float]]:
        return [(at, held, limit) for at, held, limit in self.history if held > limit + 1e-6]

    def watch(self, sim: SimulatedChargePoint) -> None:
        self.sims.append(sim)
        sim.profiles = Watched(sim.config.connectors, self)


class Watched(Profiles):
    def __init__(self, evses: int, watch: Watch) -> None:
        super().__init__(evses)
        self.watch = watch

    def set(self, evse: int, raw: dict[str, Any], transaction: bool) -> str:
        answer = super().set(evse, raw, transaction)
        self.watch.note()
        return answer

    def clear(self, *args: Any, **kwargs: Any) -> str:
        answer = super().clear(*args, **kwargs)
        self.watch.note()
        return answer

    def tx_ended(self, evse: int) -> None:
        super().tx_ended(evse)
        self.watch.note()


async def make_site(app: App, site_id: str, chargers: dict[str, int]) -> None:
    """A site with these chargers (id: EVSE count), each EVSE 32 A on three phases."""
    for cp, evses in chargers.items():
        await register(app.pool, cp, None, {n: None for n in range(1, evses + 1)},
                       security_profile=0)
    await place(app, site_id, list(chargers))


async def place(app: App, site_id: str, charge_points: list[str]) -> None:
    """A site holding these registered chargers, each EVSE 32 A on three phases."""
    site = Site(id=site_id, name="Depot", country="DEU", city="Berlin", street="Hauptstr.",
                postal_code="10115", house_number="1", latitude=52.5, longitude=13.4,
                hotline="+4930123456", charge_points=tuple(charge_points),
                evse=EvseDetails(amperage=32))
    await store.upsert_site(app.pool, site.id, site.to_json())
    await store.set_site(app.pool, charge_points, site_id)


async def set_limit(app: App, site_id: str, amps: float, fallback: float | None = None,
                    **options: Any) -> None:
    """As the limit API does: stored with its SiteLimitChanged in one transaction."""
    async with app.pool.acquire() as conn, conn.transaction():
        await site_limit_store.set_site_limits(conn, SiteLimits(
            site_id, SiteLimit.amps(Decimal(str(amps))),
            fallback_amps=Decimal(str(fallback or 0)), fallback_is_default=fallback is None,
            **options))
        await app.events.publish(conn, SiteLimitChanged(site_id))


async def push_fallback(app: App, charge_point_id: str, amps: float) -> None:
    """What sitelimits sends on boot: a TxDefaultProfile at the site's fallback."""
    result = await app.commands.set_charging_profile(charge_point_id, 0, ChargingProfile(
        id=9001, stack_level=0, purpose=Purpose.TX_DEFAULT, kind=Kind.RELATIVE,
        unit=RateUnit.AMPERES, periods=(SchedulePeriod(0, amps),)))
    assert result.accepted, result


def tx_limit(sim: SimulatedChargePoint, evse: int = 1) -> float | None:
    """The load manager's Tx profile limit the charger holds on the EVSE, or None."""
    held = sim.profiles.held.get(tx_profile_id(evse))
    if held is None or held.evse != evse:
        return None
    return float(held.schedule["charging_schedule_period"][0]["limit"])


async def settled(app: App, site_id: str) -> None:
    """A whole allocation round began after now and ended (every answer in)."""
    since = await load_store.clock(app.pool)
    assert app.load_manager is not None
    await app.pool.execute("SELECT pg_notify($1, $2)", "csms_energy", site_id)

    async def done() -> bool:
        at = await load_store.evaluated_at(app.pool, site_id)
        return at is not None and at > since
    await eventually(done)


async def wait_for(condition: Any, timeout: float = 30) -> None:
    async def check() -> bool:
        return bool(condition())
    await eventually(check, timeout)
