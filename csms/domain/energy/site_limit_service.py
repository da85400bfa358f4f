"""Setting a site's limit and its EVSEs' energy settings: checked, stored, announced in one transaction."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg
import structlog

from csms.domain.energy.site_limits import (
    EvseEnergy,
    LimitError,
    evse_energy_from_dict,
    limits_from_dict,
    limits_to_dict,
)
from csms.domain.events import EventBus, EvseEnergyChanged, SiteLimitChanged
from csms.storage.energy import site_limit_store as limits_store

log = structlog.get_logger(__name__)


class UnknownSite(LookupError):
    """No such site (or charger, or EVSE): the message says which."""


async def set_limits(pool: asyncpg.Pool, events: EventBus, site_id: str,
                     raw: dict[str, Any]) -> dict[str, Any]:
    """Replace the site's limit settings with `raw` (the API's form); LimitError when bad,
    UnknownSite when there is no such site. Returns what `show` returns."""
    async with pool.acquire() as conn, conn.transaction():
        data = await conn.fetchval("SELECT data FROM sites WHERE id = $1 FOR UPDATE", site_id)
        if data is None:
            raise UnknownSite(f"unknown site {site_id!r} (load it with `csms sites load`)")
        limits = limits_from_dict(site_id, raw, data.get("time_zone") or "UTC")
        await limits_store.set_site_limits(conn, limits)
        await events.publish(conn, SiteLimitChanged(site_id))
        shown = await _shown(conn, site_id)
    log.info("site limit set", site_id=site_id, amps=[float(a) for a in limits.limit.per_phase],
             periods=len(limits.schedule))
    assert shown is not None
    return shown


async def clear_limits(pool: asyncpg.Pool, events: EventBus, site_id: str) -> bool:
    """The site has no limit any more; False when it had none (nothing is announced then)."""
    async with pool.acquire() as conn, conn.transaction():
        if not await limits_store.site_exists(conn, site_id):
            raise UnknownSite(f"unknown site {site_id!r}")
        cleared = await limits_store.clear_site_limits(conn, site_id)
        if cleared:
            await events.publish(conn, SiteLimitChanged(site_id))
    if cleared:
        log.info("site limit cleared", site_id=site_id)
    return cleared


async def show(pool: asyncpg.Pool | asyncpg.Connection, site_id: str) -> dict[str, Any] | None:
    """The settings and the limit in force now; None when the site has no limit (UnknownSite
    when there is no such site)."""
    if not await limits_store.site_exists(pool, site_id):
        raise UnknownSite(f"unknown site {site_id!r}")
    return await _shown(pool, site_id)


async def _shown(db: asyncpg.Pool | asyncpg.Connection, site_id: str) -> dict[str, Any] | None:
    limits = await limits_store.site_limits(db, site_id)
    if limits is None:
        return None
    shown = limits_to_dict(limits, datetime.now(UTC))
    shown["evses"] = [_evse_json(e) for e in await limits_store.evse_energy(db, site_id)]
    return shown


def _evse_json(energy: EvseEnergy) -> dict[str, Any]:
    return {"charge_point_id": energy.charge_point_id, "evse": energy.evse,
            "evse_id": energy.evse_id, "priority": energy.priority,
            "min_amps": float(energy.min_amps), "max_amps": float(energy.max_amps),
            "phases": sorted(energy.phases)}


async def set_evse_energy(pool: asyncpg.Pool, events: EventBus, charge_point_id: str, evse: int,
                          raw: dict[str, Any]) -> dict[str, Any]:
    """Replace an EVSE's energy settings (absent keys: the site's defaults); the EVSE as the
    load manager now sees it (or the settings, for a charger on no site)."""
    priority, low, high, phases = evse_energy_from_dict(raw)
    async with pool.acquire() as conn, conn.transaction():
        if not await conn.fetchval(
                """SELECT EXISTS (SELECT 1 FROM evses WHERE charge_point_id = $1
                   AND evse_number = $2)""", charge_point_id, evse):
            raise UnknownSite(f"unknown EVSE {evse} of charge point {charge_point_id!r}")
        site_id = await limits_store.site_of(conn, charge_point_id)
        await limits_store.set_evse_energy(conn, charge_point_id, evse, priority=priority,
                                           min_amps=low, max_amps=high, phases=phases)
        found = None
        if site_id is not None:
            found = next(e for e in await limits_store.evse_energy(conn, site_id)
                         if (e.charge_point_id, e.evse) == (charge_point_id, evse))
            if found.min_amps > found.max_amps:  # the maximum from the site's EVSE details
                raise LimitError(f"min_amps {found.min_amps} is above the EVSE's max_amps "
                                 f"{found.max_amps}")
            await events.publish(conn, SiteLimitChanged(site_id))
        # The load manager follows at once, on a site with a limit or for the EVSE's caps alone.
        await events.publish(conn, EvseEnergyChanged(charge_point_id, evse))
    log.info("evse energy set", charge_point_id=charge_point_id, evse=evse)
    if found is not None:
        return {"site_id": site_id, **_evse_json(found)}
    return {"site_id": None, "charge_point_id": charge_point_id, "evse": evse,
            "priority": priority or 0,
            "min_amps": float(low if low is not None else EvseEnergy.min_amps),
            "max_amps": float(high) if high is not None else None,
            "phases": sorted(phases) if phases else None}


async def clear_evse_energy(pool: asyncpg.Pool, events: EventBus, charge_point_id: str,
                            evse: int) -> bool:
    async with pool.acquire() as conn, conn.transaction():
        cleared = await limits_store.clear_evse_energy(conn, charge_point_id, evse)
        site_id = await limits_store.site_of(conn, charge_point_id)
        if cleared and site_id is not None:
            await events.publish(conn, SiteLimitChanged(site_id))
        if cleared:
            await events.publish(conn, EvseEnergyChanged(charge_point_id, evse))
    return cleared

