"""What costing a session needs from storage: the tariff, currency and zone it is priced by, its readings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from csms.domain.billing.cost import Reading
from csms.domain.billing.tariffs import ALL, evse_tariff
from csms.domain.sites import EvseDetails, Site, parse_site
from csms.storage import store


@dataclass(frozen=True)
class Pricing:
    tariff: dict[str, Any] | None  # as it was when the session started
    currency: str
    time_zone: str
    site_id: str | None  # the charger's site, even when its description is gone
    site: Site | None
    details: EvseDetails  # the EVSE's details on its site


async def session_pricing(conn: asyncpg.Connection | asyncpg.Pool, charge_point_id: str,
                          evse_id: str | None, started_at: datetime, default_currency: str,
                          provider: str = ALL) -> Pricing:
    """The tariff a session is priced by: for OCPI the one for every EMP; for Hubject the one
    for the session's EMP (its ProviderID), which may be a deal of its own."""
    site_id = await store.site_of(conn, charge_point_id)
    data = await store.get_site(conn, site_id) if site_id else None
    site = parse_site(data) if data else None
    details = site.details(evse_id or "") if site else EvseDetails()
    tariff = await evse_tariff(conn, evse_id, details.tariff, started_at, provider)
    return Pricing(tariff, str(tariff["currency"]) if tariff else default_currency,
                   site.time_zone if site else "UTC", site_id, site, details)


async def readings(conn: asyncpg.Connection | asyncpg.Pool, session_id: str, started_at: datetime,
                   meter_start_wh: float | None, until: datetime,
                   meter_end_wh: float | None = None) -> list[Reading]:
    """The session's energy register from its start to `until` (the end reading if known)."""
    found = [Reading(started_at, meter_start_wh or 0.0)] + [
        Reading(row["sampled_at"], float(row["value"]))
        for row in await store.energy_samples(conn, session_id)
        if started_at < row["sampled_at"] < until]
    found.append(Reading(until, meter_end_wh if meter_end_wh is not None else found[-1].energy_wh))
    return found
