"""What OCPI sessions and CDRs need from the domain: where a session is, in OCPI's terms, and its tariff."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from bridge.ocpi.publishing.locations import connectors, evse_uid
from bridge.ocpi.sessions import Place
from csms.domain.billing.pricing import session_pricing
from csms.domain.billing.tariffs import ALL


@dataclass(frozen=True)
class Priced:
    place: Place
    tariff: dict[str, Any] | None  # as it was when the session started
    currency: str
    time_zone: str


async def priced_place(conn: asyncpg.Connection | asyncpg.Pool, charge_point_id: str,
                       evse_number: int, evse_id: str | None, started_at: datetime,
                       default_currency: str, provider: str = ALL) -> Priced:
    """Where a session is and the tariff it is priced by (csms.domain.billing.pricing)."""
    pricing = await session_pricing(conn, charge_point_id, evse_id, started_at, default_currency,
                                    provider)
    place = Place(pricing.site_id or charge_point_id,
                  evse_uid(charge_point_id, evse_number), evse_id,
                  connectors(pricing.details, started_at)[0], pricing.site)
    return Priced(place, pricing.tariff, pricing.currency, pricing.time_zone)
