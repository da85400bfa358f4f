"""What operators see of the roaming outbox: its messages, a partner's deliveries at a glance, a retry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from csms.storage.paging import fetch_page

CHANNEL = "outbox"  # notified when a partner's messages are due


STATES = ("pending", "delivered", "failed")  # an outbox message's delivery state


async def list_messages(db: asyncpg.Pool | asyncpg.Connection, partner: str | None,
                        status: str | None, limit: int | None = 100,
                        operation: str | None = None) -> list[asyncpg.Record]:
    return await db.fetch(f"{_MESSAGES} LIMIT $4", partner, status, operation, limit)


_MESSAGES = """SELECT id, partner, operation, path, status, attempts, next_attempt_at, last_error,
           created_at, delivered_at, body, addressee, held
    FROM outbox WHERE ($1::text IS NULL OR partner = $1) AND ($2::text IS NULL OR status = $2)
      AND ($3::text IS NULL OR operation = $3)
    ORDER BY id DESC"""


async def page_messages(pool: asyncpg.Pool, partner: str | None, status: str | None, limit: int,
                        offset: int) -> tuple[list[asyncpg.Record], int]:
    return await fetch_page(pool, _MESSAGES, (partner, status, None), limit, offset)


@dataclass(frozen=True)
class Overview:
    """How one partner's deliveries stand, read in one snapshot."""

    counts: dict[str, int]  # by status
    waiting: asyncpg.Record | None  # the oldest pending message
    last_failed: asyncpg.Record | None
    last_delivered_at: datetime | None
    last_of: dict[str, asyncpg.Record | None]  # the newest message of each operation asked for


async def has_messages(db: asyncpg.Pool | asyncpg.Connection, partner: str) -> bool:
    return bool(await db.fetchval("SELECT EXISTS (SELECT 1 FROM outbox WHERE partner = $1)", partner))


async def overview(conn: asyncpg.Connection, partner: str, operations: list[str]) -> Overview:
    """Run it in a repeatable-read transaction, so the parts agree while messages move on."""
    counts = {row["status"]: row["count"] for row in await conn.fetch(
        "SELECT status, count(*) FROM outbox WHERE partner = $1 GROUP BY status", partner)}
    waiting = await conn.fetchrow(
        """SELECT id, operation, attempts, last_error, next_attempt_at, created_at FROM outbox
           WHERE partner = $1 AND status = 'pending' ORDER BY id LIMIT 1""", partner)
    failed = await conn.fetchrow(
        """SELECT id, operation, last_error FROM outbox WHERE partner = $1 AND status = 'failed'
           ORDER BY id DESC LIMIT 1""", partner)
    delivered = await conn.fetchval(
        """SELECT delivered_at FROM outbox WHERE partner = $1 AND status = 'delivered'
           ORDER BY id DESC LIMIT 1""", partner)
    last_of = {operation: await conn.fetchrow(
        """SELECT id, status, created_at, delivered_at, last_error FROM outbox
           WHERE partner = $1 AND operation = $2 ORDER BY id DESC LIMIT 1""", partner, operation)
        for operation in operations}
    return Overview(counts, waiting, failed, delivered, last_of)


async def retry(db: asyncpg.Pool, message_id: int) -> bool:
    """An operator's retry of a failed (or waiting) message: due now."""
    done = await db.execute(
        """UPDATE outbox SET status = 'pending', next_attempt_at = now()
           WHERE id = $1 AND status IN ('failed', 'pending')""",
        message_id,
    )
    await db.execute("SELECT pg_notify($1, (SELECT partner FROM outbox WHERE id = $2))",
                     CHANNEL, message_id)
    return bool(done.endswith("1"))
