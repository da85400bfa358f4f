"""The CDRs we sent, each kept as sent: originals, credits and corrected reissues."""

from __future__ import annotations

from typing import Any, TypeAlias

import asyncpg

from csms.storage.paging import fetch_page

Executor: TypeAlias = asyncpg.Connection | asyncpg.Pool

_COLUMNS = """id, protocol, partner, session_id, outbox_id, body, credit, credit_reference_id,
              reissue_of, created_at"""


async def add(conn: asyncpg.Connection, cdr_id: str, protocol: str, partner: str,
              session_id: str | None, body: dict[str, Any], credit_reference_id: str | None = None,
              reissue_of: str | None = None) -> bool:
    """Keep a CDR about to be queued; False if one with its id (or a credit of the same CDR)
    is kept already: a CDR is sent once, never replaced."""
    inserted = await conn.fetchval(
        """INSERT INTO cdrs (id, protocol, partner, session_id, body, credit,
                             credit_reference_id, reissue_of)
           VALUES ($1, $2, $3, $4, $5, $6::text IS NOT NULL, $6, $7)
           ON CONFLICT DO NOTHING RETURNING true""",
        cdr_id, protocol, partner, session_id, body, credit_reference_id, reissue_of)
    return bool(inserted)


async def carried_by(conn: asyncpg.Connection, cdr_id: str, outbox_id: int) -> None:
    """The outbox message that carries the CDR (queued in the same transaction)."""
    await conn.execute("UPDATE cdrs SET outbox_id = $2 WHERE id = $1", cdr_id, outbox_id)


async def get(db: Executor, cdr_id: str, lock: bool = False) -> asyncpg.Record | None:
    """One CDR; lock: held until the transaction ends (one correction of it at a time)."""
    return await db.fetchrow(f"SELECT {_COLUMNS} FROM cdrs WHERE id = $1"
                             + (" FOR UPDATE" if lock else ""), cdr_id)


async def credit_of(db: Executor, cdr_id: str) -> asyncpg.Record | None:
    """The credit CDR of a CDR, if it was credited."""
    return await db.fetchrow(f"SELECT {_COLUMNS} FROM cdrs WHERE credit AND credit_reference_id = $1",
                             cdr_id)


async def reissues(db: Executor, session_id: str) -> int:
    """How many corrected CDRs a session's CDR has had."""
    return int(await db.fetchval(
        "SELECT count(*) FROM cdrs WHERE session_id = $1 AND reissue_of IS NOT NULL", session_id))


async def of_partner(db: Executor, partner: str) -> list[asyncpg.Record]:
    """A partner's CDRs, credits included, oldest first (OCPI's CDRs sender interface)."""
    return await db.fetch(f"SELECT {_COLUMNS} FROM cdrs WHERE partner = $1 ORDER BY created_at, id",
                          partner)


async def of_session(db: Executor, session_id: str) -> list[asyncpg.Record]:
    """A session's CDRs with how their delivery stands, in the order they were queued."""
    return await db.fetch(
        f"""SELECT {', '.join('c.' + c.strip() for c in _COLUMNS.split(','))},
                   o.status, o.attempts, o.last_error, o.delivered_at
            FROM cdrs c LEFT JOIN outbox o ON o.id = c.outbox_id
            WHERE c.session_id = $1 ORDER BY c.created_at, c.id""", session_id)


_SHOWN = f"""SELECT {', '.join('c.' + c.strip() for c in _COLUMNS.split(','))},
                   o.status, o.delivered_at
            FROM cdrs c LEFT JOIN outbox o ON o.id = c.outbox_id"""


async def one(db: Executor, cdr_id: str) -> asyncpg.Record | None:
    """One CDR with the state of the message that carries it."""
    return await db.fetchrow(f"{_SHOWN} WHERE c.id = $1", cdr_id)


_PAGE = f"""{_SHOWN}
            WHERE ($1::text IS NULL OR c.session_id = $1)
              AND ($2::text IS NULL OR c.protocol = $2)
            ORDER BY c.created_at DESC, c.id DESC"""


async def page(pool: asyncpg.Pool, session_id: str | None, protocol: str | None, limit: int,
               offset: int) -> tuple[list[asyncpg.Record], int]:
    """CDRs newest first, with the state of the message that carries each, and how many in all."""
    return await fetch_page(pool, _PAGE, (session_id, protocol), limit, offset)
