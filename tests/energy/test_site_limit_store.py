"""The site limit store: a limit, its schedule, fallback and priorities, and EVSE energy settings."""

from __future__ import annotations

from decimal import Decimal

import asyncpg

from csms.domain.energy.load_allocation import SiteLimit
from csms.domain.energy.site_limits import EvseEnergy, LimitPeriod, SiteLimits
from csms.domain.sites import EvseDetails, Site
from csms.storage import store
from csms.storage.database import create_pool
from csms.storage.energy import site_limit_store as limits_store


async def _site(conn: asyncpg.Pool) -> None:
    site = Site(id="S1", name="Depot", country="DEU", city="Berlin", street="Hauptstr.",
                postal_code="10115", house_number="1", latitude=52.5, longitude=13.4,
                hotline="+4930123456", time_zone="Europe/Berlin", charge_points=("CP1", "CP2"),
                evse=EvseDetails(amperage=16),
                evses={"DE*ABC*E2*1": EvseDetails(power_type="AC_1_PHASE", amperage=32)})
    await store.upsert_site(conn, site.id, site.to_json())
    for cp, evses in (("CP1", [(1, None), (2, None)]), ("CP2", [(1, "DE*ABC*E2*1")])):
        await store.insert_charge_point(conn, cp, None)
        for number, evse_id in evses:
            await conn.execute("INSERT INTO evses (charge_point_id, evse_number, evse_id) "
                               "VALUES ($1, $2, $3)", cp, number, evse_id)
    await store.set_site(conn, ["CP1", "CP2"], "S1")


async def test_limits_round_trip_with_derived_fallback(db_url: str) -> None:
    conn = await create_pool(db_url, min_size=1, max_size=2)
    try:
        await _site(conn)
        assert await limits_store.site_limits(conn, "S1") is None
        assert await limits_store.limited_sites(conn) == []
        period = LimitPeriod(frozenset({0, 1, 2, 3, 4}), "08:00", "18:00", SiteLimit.amps(Decimal(20)))
        await limits_store.set_site_limits(conn, SiteLimits(
            "S1", SiteLimit((Decimal(63), Decimal(63), Decimal(40))), (period,),
            group_priorities={"fleet": 5}))
        limits = await limits_store.site_limits(conn, "S1")
        assert limits is not None
        assert limits.limit == SiteLimit((63, 63, 40))
        assert limits.schedule == (period,)
        assert limits.group_priorities == {"fleet": 5}
        assert limits.time_zone == "Europe/Berlin"
        # The lowest limit at any time (20 A from 08:00) over the 3 EVSEs, in tenths.
        assert limits.fallback_is_default and limits.fallback_amps == Decimal("6.6")
        assert await limits_store.limited_sites(conn) == ["S1"]
        assert await limits_store.site_of(conn, "CP2") == "S1"

        await limits_store.set_site_limits(conn, SiteLimits(
            "S1", SiteLimit.amps(Decimal(100)), fallback_amps=Decimal(8), fallback_is_default=False))
        limits = await limits_store.site_limits(conn, "S1")
        assert limits is not None and limits.schedule == () and limits.group_priorities == {}
        assert limits.fallback_amps == 8 and not limits.fallback_is_default

        assert await limits_store.clear_site_limits(conn, "S1")
        assert await limits_store.site_limits(conn, "S1") is None
        assert not await limits_store.clear_site_limits(conn, "S1")
    finally:
        await conn.close()


async def test_evse_energy_from_site_details_and_overrides(db_url: str) -> None:
    conn = await create_pool(db_url, min_size=1, max_size=2)
    try:
        await _site(conn)
        await limits_store.set_evse_energy(conn, "CP1", 2, priority=3, min_amps=Decimal(8),
                                           max_amps=None, phases=frozenset({2}))
        assert await limits_store.evse_energy(conn, "S1") == [
            EvseEnergy("CP1", 1, max_amps=Decimal(16)),
            EvseEnergy("CP1", 2, priority=3, min_amps=Decimal(8), max_amps=Decimal(16),
                       phases=frozenset({2})),
            EvseEnergy("CP2", 1, max_amps=Decimal(32), phases=frozenset({1}), evse_id="DE*ABC*E2*1"),
        ]
        assert await limits_store.evse_energy(conn, "nowhere") == []
    finally:
        await conn.close()
