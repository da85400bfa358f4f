"""Tariffs: prices in OCPI's tariff model, every version kept, and which tariff an EVSE charges by."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg
import structlog

from csms import store
from csms.events import EventBus, TariffChanged

log = structlog.get_logger(__name__)

_DIMENSIONS = {"ENERGY", "FLAT", "PARKING_TIME", "TIME"}


class TariffError(ValueError):
    """A tariff definition that cannot be used; the message names the tariff and the field."""


def check_tariff(data: Any) -> dict[str, Any]:
    """A tariff as OCPI writes it (country_code, party_id and last_updated are filled in on the
    way out): id, currency and elements with price components."""
    if not isinstance(data, dict) or not isinstance(data.get("id"), str) or not data["id"]:
        raise TariffError("a tariff needs an id")
    where = f"tariff {data['id']!r}"
    if not isinstance(data.get("currency"), str) or len(data["currency"]) != 3:
        raise TariffError(f"{where}: currency must be an ISO 4217 code such as EUR")
    elements = data.get("elements")
    if not isinstance(elements, list) or not elements:
        raise TariffError(f"{where}: elements must list at least one element")
    for element in elements:
        components = element.get("price_components") if isinstance(element, dict) else None
        if not isinstance(components, list) or not components:
            raise TariffError(f"{where}: every element needs price_components")
        for component in components:
            if not isinstance(component, dict) or component.get("type") not in _DIMENSIONS \
                    or not isinstance(component.get("price"), int | float) \
                    or not isinstance(component.get("step_size"), int):
                raise TariffError(f"{where}: a price component needs type ({', '.join(sorted(_DIMENSIONS))}),"
                                  " price and step_size")
    return {k: v for k, v in data.items() if k not in ("country_code", "party_id", "last_updated")}


async def put_tariffs(pool: asyncpg.Pool, events: EventBus, tariffs: list[dict[str, Any]]) -> int:
    """Store new versions of the tariffs that changed; returns how many changed."""
    changed = 0
    async with pool.acquire() as conn, conn.transaction():
        current = {row["id"]: row["data"] for row in await store.current_tariffs(conn)}
        for tariff in map(check_tariff, tariffs):
            if current.get(tariff["id"]) == tariff:
                continue
            await store.put_tariff(conn, tariff["id"], tariff)
            await events.publish(conn, TariffChanged(tariff["id"], tariff, datetime.now(UTC)))
            changed += 1
    log.info("tariffs stored", changed=changed)
    return changed


async def delete_tariff(pool: asyncpg.Pool, events: EventBus, tariff_id: str) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await store.put_tariff(conn, tariff_id, None)
        await events.publish(conn, TariffChanged(tariff_id, None, datetime.now(UTC)))
