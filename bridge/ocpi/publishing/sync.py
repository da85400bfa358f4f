"""Whole objects to OCPI partners: a Location's PUT, and every Location and Tariff, a page at a time,
to a partner that arrived after them."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import asyncpg
import structlog

from bridge import outbox
from bridge.ocpi.handshake import partners
from bridge.ocpi.handshake.partners import Partner
from bridge.ocpi.publishing import status_sent
from bridge.ocpi.publishing.locations import EvseFacts
from bridge.ocpi.server import build_location, evse_facts, location_rows
from bridge.ocpi.versions import dialects
from csms.config import OcpiSettings
from csms.storage import store

log = structlog.get_logger(__name__)

PAGE = 100  # objects per transaction: a 10,000-site operator's full push is many small ones
STAGES = ("locations", "tariffs")


def object_path(settings: OcpiSettings, *parts: str) -> str:
    """An object's path below a partner's module URL: /{our country}/{our party}/{id}/…"""
    return "/" + "/".join([settings.country_code, settings.party_id, *parts])


async def put_location(conn: asyncpg.Connection, settings: OcpiSettings, partner: Partner,
                       row: asyncpg.Record, evses: list[EvseFacts]) -> dict[str, Any]:
    """The whole Location (PUT) in the partner's data lane; returns it."""
    location = build_location(settings, row, evses, dialects.of(partner))
    # The PUT carries every EVSE's current status. A pending PATCH would stay ahead of it,
    # and a newer status coalescing into that PATCH would then be overwritten by the PUT.
    await outbox.discard_pending(conn, partner.outbox_name, [f"evse-status:{e.uid}" for e in evses])
    await outbox.enqueue(conn, partner.outbox_name, "PUT locations",
                         f"locations|{object_path(settings, row['id'])}", location,
                         coalesce_key=f"location:{row['id']}")
    await status_sent.record(conn, partner.id, {e["uid"]: e["status"] for e in location["evses"]})
    return location


async def request(db: asyncpg.Pool | asyncpg.Connection, partner_id: int) -> bool:
    """Every Location and Tariff is due to this partner again (False: it is not registered)."""
    return bool(await db.fetchval(
        """UPDATE ocpi_partners SET sync_stage = 'locations', sync_after = ''
           WHERE id = $1 AND status = 'registered' RETURNING true""", partner_id))


async def due(db: asyncpg.Pool | asyncpg.Connection) -> list[int]:
    """Partners whose full push is not finished (a restart, a node that died half-way)."""
    return [row["id"] for row in await db.fetch(
        """SELECT id FROM ocpi_partners WHERE status = 'registered' AND sync_stage IS NOT NULL
           ORDER BY id""")]


async def push_page(pool: asyncpg.Pool, settings: OcpiSettings,
                    partner_id: int) -> tuple[str, int] | None:
    """Queue the next page of the partner's full push, in one transaction; (stage, objects
    queued), or None when there is nothing (more) to push. The partner's row, locked for the
    page, keeps two processes from pushing the same page."""
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            """SELECT sync_stage, sync_after FROM ocpi_partners
               WHERE id = $1 AND status = 'registered' AND sync_stage IS NOT NULL FOR UPDATE""",
            partner_id)
        partner = await partners.get(conn, partner_id)
        if row is None or partner is None:
            return None
        stage, after = row["sync_stage"], row["sync_after"]
        if not partner.endpoint(stage, "RECEIVER"):
            done: list[str] = []
        elif stage == "locations":
            done = await _locations_page(conn, settings, partner, after)
        else:
            done = await _tariffs_page(conn, settings, partner, after)
        if len(done) == PAGE:
            following, after = stage, done[-1]
        else:
            following = STAGES[STAGES.index(stage) + 1] if stage != STAGES[-1] else None
            after = ""
        await conn.execute("UPDATE ocpi_partners SET sync_stage = $2, sync_after = $3 WHERE id = $1",
                           partner_id, following, after)
        return stage, len(done)


async def _locations_page(conn: asyncpg.Connection, settings: OcpiSettings, partner: Partner,
                          after: str) -> list[str]:
    # Status changes of these EVSEs wait for this page: one that committed first is in the PUT,
    # one that comes later is queued behind it; a PATCH never carries an older status than the PUT.
    await conn.execute(
        """SELECT 1 FROM evses e JOIN charge_points c ON c.id = e.charge_point_id
           WHERE c.site_id IN (SELECT id FROM sites WHERE id > $1 ORDER BY id LIMIT $2)
           ORDER BY e.id FOR SHARE OF e""", after, PAGE)
    rows = await location_rows(conn, after=after, limit=PAGE)
    evses = await evse_facts(conn, [row["id"] for row in rows])
    for row in rows:
        await put_location(conn, settings, partner, row, evses.get(row["id"], []))
    return [row["id"] for row in rows]


async def _tariffs_page(conn: asyncpg.Connection, settings: OcpiSettings, partner: Partner,
                        after: str) -> list[str]:
    rows = sorted((row for row in await store.current_tariffs(conn) if row["id"] > after),
                  key=lambda row: row["id"])[:PAGE]
    for row in rows:
        await put_tariff(conn, settings, partner, row["id"], row["data"], row["valid_from"])
    return [row["id"] for row in rows]


async def put_tariff(conn: asyncpg.Connection, settings: OcpiSettings, partner: Partner,
                     tariff_id: str, data: dict[str, Any], valid_from: datetime) -> None:
    tariff = dialects.of(partner).forms.tariff(settings, data, valid_from)
    if tariff is None:  # the partner's version cannot say it (v211/inexpressible.py): not sent
        return
    await outbox.enqueue(conn, partner.outbox_name, "PUT tariffs",
                         f"tariffs|{object_path(settings, tariff_id)}", tariff,
                         coalesce_key=f"tariff:{tariff_id}")


async def run(pool: asyncpg.Pool, settings: OcpiSettings, partner_id: int) -> dict[str, int]:
    """Queue the partner's whole due push, page by page; how many of each were queued."""
    counts = dict.fromkeys(STAGES, 0)
    attempts = 0
    while True:
        try:
            page = await push_page(pool, settings, partner_id)
        except (asyncpg.DeadlockDetectedError, asyncpg.SerializationError):
            attempts += 1  # a page that met a charger's status change: its turn comes again
            if attempts > 5:
                raise
            await asyncio.sleep(0.1 * attempts)
            continue
        if page is None:
            break
        counts[page[0]] += page[1]
    if any(counts.values()):
        log.info("ocpi full push queued", partner=partner_id, **counts)
    return counts
