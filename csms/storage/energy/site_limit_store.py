"""Sites' grid connection limits, schedules, fallbacks, group priorities and EVSE energy settings."""

from __future__ import annotations

from decimal import Decimal

from csms.domain.energy.load_allocation import SiteLimit
from csms.domain.energy.site_limits import (
    EvseEnergy,
    LimitPeriod,
    SiteLimits,
    default_fallback,
    phases_of,
)
from csms.domain.sites import parse_site
from csms.storage.store import Executor, Row


def _limit(amps: list[Decimal]) -> SiteLimit:
    return SiteLimit((amps[0], amps[1], amps[2]))


async def site_limits(db: Executor, site_id: str) -> SiteLimits | None:
    """The site's limit settings (fallback derived when not set), or None when it has no limit."""
    row = await db.fetchrow(
        """SELECT l.*, COALESCE(s.data ->> 'time_zone', 'UTC') AS time_zone,
                  (SELECT count(*) FROM evses e JOIN charge_points c ON c.id = e.charge_point_id
                   WHERE c.site_id = l.site_id AND e.retired_at IS NULL) AS evse_count
           FROM site_limits l JOIN sites s ON s.id = l.site_id WHERE l.site_id = $1""",
        site_id)
    if row is None:
        return None
    periods = await db.fetch(
        "SELECT * FROM site_limit_periods WHERE site_id = $1 ORDER BY position", site_id)
    groups = await db.fetch(
        "SELECT group_id, priority FROM site_group_priorities WHERE site_id = $1 ORDER BY group_id",
        site_id)
    limit = _limit(row["amps"])
    schedule = tuple(LimitPeriod(frozenset(p["days"]), p["starts"], p["ends"], _limit(p["amps"]),
                                 p["kw"]) for p in periods)
    fallback = row["fallback_amps"]
    return SiteLimits(
        site_id=site_id,
        limit=limit,
        schedule=schedule,
        fallback_amps=(fallback if fallback is not None
                       else default_fallback(limit, row["evse_count"], schedule)),
        group_priorities={g["group_id"]: g["priority"] for g in groups},
        time_zone=row["time_zone"],
        kw=row["kw"],
        fallback_is_default=fallback is None,
    )


async def site_of(db: Executor, charge_point_id: str) -> str | None:
    """The site a charger stands on, or None."""
    return await db.fetchval(  # type: ignore[no-any-return]
        "SELECT site_id FROM charge_points WHERE id = $1", charge_point_id)


async def evse_energy(db: Executor, site_id: str) -> list[EvseEnergy]:
    """Every EVSE in service on the site's chargers, with the operator's settings over the site's
    EVSE details (maximum from its amperage, phases from its power type)."""
    data = await db.fetchval("SELECT data FROM sites WHERE id = $1", site_id)
    if data is None:
        return []
    site = parse_site(data)
    rows = await db.fetch(
        """SELECT e.charge_point_id, e.evse_number, e.evse_id, x.priority, x.min_amps, x.max_amps,
                  x.phases
           FROM evses e JOIN charge_points c ON c.id = e.charge_point_id
           LEFT JOIN evse_energy x ON x.charge_point_id = e.charge_point_id
                                  AND x.evse = e.evse_number
           WHERE c.site_id = $1 AND e.retired_at IS NULL
           ORDER BY e.charge_point_id, e.evse_number""",
        site_id)
    result = []
    for row in rows:
        details = site.details(row["evse_id"] or "")
        result.append(EvseEnergy(
            charge_point_id=row["charge_point_id"],
            evse=row["evse_number"],
            priority=row["priority"] if row["priority"] is not None else 0,
            min_amps=row["min_amps"] if row["min_amps"] is not None else EvseEnergy.min_amps,
            max_amps=row["max_amps"] if row["max_amps"] is not None else Decimal(details.amperage),
            phases=frozenset(row["phases"]) if row["phases"] else phases_of(details.power_type),
            evse_id=row["evse_id"],
        ))
    return result


async def limited_sites(db: Executor) -> list[str]:
    """Every site that has a limit."""
    rows = await db.fetch("SELECT site_id FROM site_limits ORDER BY site_id")
    return [row["site_id"] for row in rows]


async def site_exists(db: Executor, site_id: str) -> bool:
    return bool(await db.fetchval("SELECT EXISTS (SELECT 1 FROM sites WHERE id = $1)", site_id))


async def set_site_limits(db: Executor, limits: SiteLimits) -> None:
    """Store (or replace) a site's limit, schedule, fallback (None when `fallback_is_default`)
    and group priorities. Run it in a transaction with the SiteLimitChanged it causes."""
    await db.execute(
        """INSERT INTO site_limits (site_id, amps, kw, fallback_amps) VALUES ($1, $2, $3, $4)
           ON CONFLICT (site_id) DO UPDATE SET amps = EXCLUDED.amps, kw = EXCLUDED.kw,
               fallback_amps = EXCLUDED.fallback_amps, updated_at = now()""",
        limits.site_id, [Decimal(str(a)) for a in limits.limit.per_phase], limits.kw,
        None if limits.fallback_is_default else limits.fallback_amps)
    await db.execute("DELETE FROM site_limit_periods WHERE site_id = $1", limits.site_id)
    await db.executemany(
        """INSERT INTO site_limit_periods (site_id, position, days, starts, ends, amps, kw)
           VALUES ($1, $2, $3, $4, $5, $6, $7)""",
        [(limits.site_id, position, sorted(p.days), p.start, p.end,
          [Decimal(str(a)) for a in p.limit.per_phase], p.kw)
         for position, p in enumerate(limits.schedule)])
    await db.execute("DELETE FROM site_group_priorities WHERE site_id = $1", limits.site_id)
    await db.executemany(
        "INSERT INTO site_group_priorities (site_id, group_id, priority) VALUES ($1, $2, $3)",
        [(limits.site_id, group, priority) for group, priority in limits.group_priorities.items()])


async def clear_site_limits(db: Executor, site_id: str) -> bool:
    """Forget a site's limit (its schedule and priorities with it); True when it had one."""
    status = await db.execute("DELETE FROM site_limits WHERE site_id = $1", site_id)
    return status != "DELETE 0"


async def set_evse_energy(db: Executor, charge_point_id: str, evse: int, *, priority: int | None,
                          min_amps: Decimal | None, max_amps: Decimal | None,
                          phases: frozenset[int] | None) -> None:
    """The operator's settings for one EVSE (None: the site's default)."""
    await db.execute(
        """INSERT INTO evse_energy (charge_point_id, evse, priority, min_amps, max_amps, phases)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (charge_point_id, evse) DO UPDATE SET priority = EXCLUDED.priority,
               min_amps = EXCLUDED.min_amps, max_amps = EXCLUDED.max_amps,
               phases = EXCLUDED.phases, updated_at = now()""",
        charge_point_id, evse, priority, min_amps, max_amps,
        sorted(phases) if phases is not None else None)


async def clear_evse_energy(db: Executor, charge_point_id: str, evse: int) -> bool:
    status = await db.execute(
        "DELETE FROM evse_energy WHERE charge_point_id = $1 AND evse = $2", charge_point_id, evse)
    return status != "DELETE 0"


async def fallback_state(db: Executor, charge_point_id: str, profile_id: int) -> Row | None:
    """In one round trip, what deciding on a charger's fallback profile starts from: whether its
    boot was accepted, its site if that site has a limit, whether we recorded the profile."""
    return await db.fetchrow(
        """SELECT c.boot_status = 'Accepted' AS accepted, l.site_id AS limited_site,
                  EXISTS (SELECT 1 FROM charging_profiles p WHERE p.charge_point_id = c.id
                          AND p.profile_id = $2) AS recorded
           FROM charge_points c LEFT JOIN site_limits l ON l.site_id = c.site_id
           WHERE c.id = $1""",
        charge_point_id, profile_id)


async def fallback_records(db: Executor, charge_point_ids: list[str], profile_id: int) -> list[Row]:
    """Of these chargers, the accepted ones on a limited site or holding the profile: their
    limited site (or None) and the profile as we recorded it (or None)."""
    return await db.fetch(
        """SELECT c.id AS charge_point_id, l.site_id AS limited_site, p.profile, p.status, p.evse
           FROM charge_points c LEFT JOIN site_limits l ON l.site_id = c.site_id
           LEFT JOIN charging_profiles p ON p.charge_point_id = c.id AND p.profile_id = $2
           WHERE c.id = ANY($1::text[]) AND c.boot_status = 'Accepted'
             AND (l.site_id IS NOT NULL OR p.profile_id IS NOT NULL)
           ORDER BY c.id""",
        charge_point_ids, profile_id)
