"""Where an eMSP's tokens land, pushed or pulled (one path), and the state of our pulls of them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypeAlias

import asyncpg
import structlog

from bridge.ocpi import tokens
from bridge.ocpi.handshake.partners import Partner
from bridge.ocpi.transport import parse_timestamp
from csms.storage import store

log = structlog.get_logger(__name__)
Db: TypeAlias = asyncpg.Pool | asyncpg.Connection


async def store_token(db: Db, partner: Partner, token: dict[str, Any], *,
                      pulled: bool = False) -> bool:
    """Keep a partner's Token (checked: tokens.read_token, and a party of its own), as its PUT
    and PATCH do and as a pull does. A pulled copy older than the one we hold (a push that came
    while the page was on its way) is not kept: False. A push always is (the eMSP's word)."""
    if isinstance(db, asyncpg.Pool):
        async with db.acquire() as conn:
            return await store_token(conn, partner, token, pulled=pulled)
    cc, pid, uid = token["country_code"].upper(), token["party_id"].upper(), token["uid"]
    async with db.transaction():
        if pulled:
            held = await db.fetchval(
                """SELECT attributes->'ocpi'->'object'->>'last_updated' FROM tokens
                   WHERE country_code = $1 AND party_id = $2 AND uid = $3 FOR UPDATE""",
                cc, pid, uid)
            if held is not None and _newer(held, token["last_updated"]):
                return False
        attributes = tokens.session_attributes(partner.id, token, "WHITELIST")
        attributes["ocpi"] |= {"whitelist": token["whitelist"], "object": token}
        await store.upsert_owned_token(db, cc, pid, uid, "RFID", tokens.status_of(token),
                                       partner.outbox_name, tokens.ask_first(token), attributes)
    # A pull may bring thousands: those are counted in its own log line.
    (log.debug if pulled else log.info)(
        "ocpi token stored", partner=partner.id, party=f"{cc}*{pid}", uid=uid,
        whitelist=token["whitelist"], valid=token["valid"], pulled=pulled)
    return True


def _newer(held: str, incoming: str) -> bool:
    """Is the copy we hold strictly newer than the incoming one? (Unreadable: no.)"""
    try:
        return parse_timestamp(held) > parse_timestamp(incoming)
    except ValueError:
        return False


async def withdraw_unlisted(conn: asyncpg.Connection, partner: Partner,
                            listed: set[tuple[str, str, str]], since: datetime) -> int:
    """After a complete full pull: the partner's valid tokens its list no longer holds are no
    longer valid (OCPI 2.2.1 Tokens, Sender Interface, GET, Response Data: "Any older information
    that is not specified in the response is considered as no longer valid"). Tokens cannot be
    deleted in OCPI (Push model: "deleting is not possible"), so they are kept with valid false,
    as the eMSP would PUT them, their last_updated as it was (listed again, even unchanged, they
    are valid again); copies stored since the pull began (a push meanwhile) are newer than the
    list and stay. How many were withdrawn."""
    rows = await conn.fetch(
        """SELECT country_code, party_id, uid, attributes->'ocpi'->'object' AS object
           FROM tokens WHERE owner = $1 AND updated_at < $2
             AND (attributes->'ocpi'->'object'->>'valid')::boolean
           ORDER BY country_code, party_id, uid""",
        partner.outbox_name, since)
    withdrawn = 0
    for row in rows:
        if (row["country_code"], row["party_id"], row["uid"]) in listed:
            continue
        if await store_token(conn, partner, {**row["object"], "valid": False}, pulled=True):
            withdrawn += 1
    return withdrawn


# --- pull state: one row per partner (migration 0039; partners.registered asks for a full one) --

async def claim(db: Db, holder: str, lease: float, partner_id: int | None = None,
                on_demand: bool = False) -> asyncpg.Record | None:
    """Take one due pull (of this partner, or any) for `lease` seconds: its row, or None when
    none is due or another process holds it. on_demand: a full pull now, due or not."""
    if on_demand and partner_id is not None:
        await db.execute("INSERT INTO ocpi_token_pulls (partner_id) VALUES ($1) "
                         "ON CONFLICT DO NOTHING", partner_id)
    return await db.fetchrow(
        """WITH chosen AS (
               SELECT t.partner_id FROM ocpi_token_pulls t
               JOIN ocpi_partners p ON p.id = t.partner_id
               WHERE p.status = 'registered' AND ($1::bigint IS NULL OR t.partner_id = $1)
                 AND ($2 OR t.next_due <= now())
                 AND (t.claimed_until IS NULL OR t.claimed_until < now())
               ORDER BY t.next_due, t.partner_id LIMIT 1 FOR UPDATE OF t SKIP LOCKED)
           UPDATE ocpi_token_pulls t SET claimed_by = $3, started_at = now(),
               claimed_until = now() + make_interval(secs => $4),
               full_asked_at = CASE WHEN $2 THEN now() ELSE t.full_asked_at END
           FROM chosen WHERE t.partner_id = chosen.partner_id RETURNING t.*""",
        partner_id, on_demand, holder, lease)


async def renew(db: Db, partner_id: int, holder: str, lease: float) -> bool:
    """Keep the claim for another lease; False: it was lost (it ran out, another took it)."""
    return bool(await db.fetchval(
        """UPDATE ocpi_token_pulls SET claimed_until = now() + make_interval(secs => $3)
           WHERE partner_id = $1 AND claimed_by = $2 RETURNING true""",
        partner_id, holder, lease))


async def succeeded(db: Db, partner_id: int, holder: str, *, full_done: bool,
                    newest: datetime | None, count: int, interval: float) -> None:
    """A pull ended well: the next incremental one is due an interval later (at once if a
    full pull was asked for while this one ran)."""
    await db.execute(
        """UPDATE ocpi_token_pulls SET claimed_by = NULL, claimed_until = NULL,
               full_asked_at = CASE WHEN $3 AND full_asked_at <= started_at THEN NULL
                                    ELSE full_asked_at END,
               last_full_at = CASE WHEN $3 THEN started_at ELSE last_full_at END,
               last_pull_at = started_at, last_count = $5, last_error = NULL, failures = 0,
               newest_seen = GREATEST(newest_seen, $4),
               next_due = CASE WHEN full_asked_at > started_at THEN now()
                               ELSE now() + make_interval(secs => $6) END
           WHERE partner_id = $1 AND claimed_by = $2""",
        partner_id, holder, full_done, newest, count, interval)


async def failed(db: Db, partner_id: int, holder: str, error: str, retry_after: float) -> None:
    """A pull failed: tried again (the same kind) after retry_after seconds (token_pull.backoff)."""
    await db.execute(
        """UPDATE ocpi_token_pulls SET claimed_by = NULL, claimed_until = NULL, last_error = $3,
               last_error_at = now(), failures = failures + 1,
               next_due = now() + make_interval(secs => $4)
           WHERE partner_id = $1 AND claimed_by = $2""",
        partner_id, holder, error[:500], retry_after)


async def release(db: Db, partner_id: int, holder: str) -> None:
    """Let go of a claim, the pull still due as it was (a stop in the middle of it)."""
    await db.execute("UPDATE ocpi_token_pulls SET claimed_by = NULL, claimed_until = NULL "
                     "WHERE partner_id = $1 AND claimed_by = $2", partner_id, holder)


async def state(db: Db, partner_id: int) -> asyncpg.Record | None:
    return await db.fetchrow("SELECT * FROM ocpi_token_pulls WHERE partner_id = $1", partner_id)


async def states(db: Db) -> list[asyncpg.Record]:
    return list(await db.fetch("SELECT * FROM ocpi_token_pulls ORDER BY partner_id"))


def pull_state(row: Mapping[str, Any]) -> dict[str, Any]:
    """A partner's pulls as the operator's partners view shows them. last_incremental_at: the
    last successful incremental pull since the last full one (None: none since); last_error:
    the last pull's, None once one succeeded."""
    last_pull, last_full = row["last_pull_at"], row["last_full_at"]
    incremental = last_pull is not None and (last_full is None or last_pull > last_full)
    return {"last_full_at": last_full, "last_incremental_at": last_pull if incremental else None,
            "next_due_at": row["next_due"], "tokens": row["last_count"],
            "last_error": row["last_error"] if row["failures"] > 0 else None,
            "failures": row["failures"]}


async def pull_states(db: Db) -> dict[int, dict[str, Any]]:
    """pull_state of each partner that has a row."""
    return {row["partner_id"]: pull_state(row) for row in await states(db)}
