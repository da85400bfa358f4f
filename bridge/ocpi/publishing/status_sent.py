"""The OCPI status each partner last got (or has queued) for each EVSE: the same one is not pushed twice."""

from __future__ import annotations

import asyncpg


async def changed(conn: asyncpg.Connection, partner_id: int, evse_uid: str, status: str) -> bool:
    """Record `status` as the partner's; False when it is what the partner has already."""
    return bool(await conn.fetchval(
        """INSERT INTO ocpi_evse_status_sent (partner_id, evse_uid, status) VALUES ($1, $2, $3)
           ON CONFLICT (partner_id, evse_uid) DO UPDATE SET status = EXCLUDED.status
               WHERE ocpi_evse_status_sent.status <> EXCLUDED.status
           RETURNING true""",
        partner_id, evse_uid, status))


async def record(conn: asyncpg.Connection, partner_id: int, statuses: dict[str, str]) -> None:
    """A whole Location went out: its EVSEs' statuses are the partner's now."""
    await conn.execute(
        """INSERT INTO ocpi_evse_status_sent (partner_id, evse_uid, status)
           SELECT $1, uid, status FROM unnest($2::text[], $3::text[]) AS t (uid, status)
           ON CONFLICT (partner_id, evse_uid) DO UPDATE SET status = EXCLUDED.status""",
        partner_id, list(statuses), list(statuses.values()))
