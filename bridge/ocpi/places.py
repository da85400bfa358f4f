"""What OCPI sessions and CDRs need from the domain: where a session is, its tariff, its readings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from bridge.ocpi.locations import connectors, evse_uid
from bridge.ocpi.sessions import Place
from bridge.ocpi.tariffs import Reading
from csms.domain.sites import EvseDetails, parse_site
from csms.domain.tariffs import ALL, evse_tariff
from csms.storage import store


@dataclass(frozen=True)
class Priced:
    place: Place
    tariff: dict[str, Any] | None  # as it was when the session started
    currency: str
    time_zone: str


async def priced_place(conn: asyncpg.Connection | asyncpg.Pool, charge_point_id: str,
                       evse_number: int, evse_id: str | None, started_at: datetime,
                       default_currency: str, provider: str = ALL) -> Priced:
    """Where a session is and the tariff it is priced by: for OCPI the one for every EMP; for
    Hubject the one for the session's EMP (its ProviderID), which may be a deal of its own."""
    site_id = await store.site_of(conn, charge_point_id)
    data = await store.get_site(conn, site_id) if site_id else None
    site = parse_site(data) if data else None
    details = site.details(evse_id or "") if site else EvseDetails()
    place = Place(site_id or charge_point_id, evse_uid(charge_point_id, evse_number), evse_id,
                  connectors(details, started_at)[0], site)
    tariff = await evse_tariff(conn, evse_id, details.tariff, started_at, provider)
    return Priced(place, tariff, str(tariff["currency"]) if tariff else default_currency,
                  site.time_zone if site else "UTC")


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
