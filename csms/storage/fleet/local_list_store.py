"""Local authorization lists in the database: the tokens a list holds, and each charger's copy."""

from __future__ import annotations

from typing import Any

from csms.storage.store import Executor, Row

# Our own tokens, and the roaming tokens an eMSP pushed for use offline (OCPI whitelist ALWAYS
# or ALLOWED_OFFLINE), per UID in the order authorization asks them (ours first).
_LISTED = """SELECT * FROM tokens
    WHERE owner IS NULL OR attributes #>> '{ocpi,whitelist}' IN ('ALWAYS', 'ALLOWED_OFFLINE')
    ORDER BY uid, owner IS NOT NULL, length(owner), owner, country_code, party_id"""

CHANNEL = "csms_local_list"  # the migration's trigger notifies it on any token change


async def listed_tokens(db: Executor) -> list[Row]:
    return list(await db.fetch(_LISTED))


async def get(db: Executor, charge_point_id: str) -> Row | None:
    return await db.fetchrow("SELECT * FROM local_lists WHERE charge_point_id = $1",
                             charge_point_id)


async def ensure(db: Executor, charge_point_id: str) -> Row:
    await db.execute("INSERT INTO local_lists (charge_point_id) VALUES ($1) ON CONFLICT DO NOTHING",
                     charge_point_id)
    row = await get(db, charge_point_id)
    assert row is not None
    return row


async def accepted(db: Executor, charge_point_id: str, version: int,
                   entries: dict[str, Any]) -> None:
    """The charger took a list update: it now holds `entries` at `version`."""
    await db.execute(
        """UPDATE local_lists SET version = $2, entries = $3, updated_at = now()
           WHERE charge_point_id = $1""", charge_point_id, version, entries)


async def set_state(db: Executor, charge_point_id: str, state: str, detail: str | None = None,
                    supported: bool | None = None, synced: bool = False) -> None:
    await db.execute(
        """UPDATE local_lists SET state = $2, detail = $3,
               supported = COALESCE($4, supported),
               full_requested = CASE WHEN $5 THEN false ELSE full_requested END,
               synced_at = CASE WHEN $5 THEN now() ELSE synced_at END, updated_at = now()
           WHERE charge_point_id = $1""", charge_point_id, state, detail, supported, synced)


async def request_full(db: Executor, charge_point_id: str) -> Row:
    """Ask whichever node holds the charger to send it a full list."""
    await ensure(db, charge_point_id)
    await db.execute("UPDATE local_lists SET full_requested = true, updated_at = now() "
                     "WHERE charge_point_id = $1", charge_point_id)
    await db.execute("SELECT pg_notify($1, $2)", CHANNEL, charge_point_id)
    row = await get(db, charge_point_id)
    assert row is not None
    return row


async def failed_among(db: Executor, charge_point_ids: list[str]) -> list[str]:
    """Those of these chargers whose last update failed (or that asked for a full list)."""
    rows = await db.fetch(
        """SELECT charge_point_id FROM local_lists WHERE charge_point_id = ANY($1)
           AND (state = 'failed' OR full_requested)""", charge_point_ids)
    return [row["charge_point_id"] for row in rows]


async def boot_accepted(db: Executor, charge_point_id: str) -> bool:
    return bool(await db.fetchval(
        "SELECT boot_status = 'Accepted' FROM charge_points WHERE id = $1", charge_point_id))
