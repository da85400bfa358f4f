"""Chargers' configuration as they last reported it: one row per charger and key (or 2.0.1 variable)."""

from __future__ import annotations

from csms.domain.fleet.configuration import ConfigurationEntry
from csms.storage.store import Executor


async def save(db: Executor, charge_point_id: str, entries: list[ConfigurationEntry]) -> None:
    """Every result kept: a value overwrites the last known one; a key the charger does not know
    is marked so; a refused change keeps the last known value and records why."""
    if not entries:
        return
    await db.executemany(
        """INSERT INTO charger_configuration AS c
               (charge_point_id, key, value, readonly, known, status)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (charge_point_id, key) DO UPDATE SET
               value = CASE WHEN EXCLUDED.status IN ('Accepted', 'RebootRequired')
                            THEN EXCLUDED.value ELSE c.value END,
               readonly = COALESCE(EXCLUDED.readonly, c.readonly),
               known = EXCLUDED.known, status = EXCLUDED.status, updated_at = now()""",
        [(charge_point_id, e.key, e.value, e.readonly, e.known, e.status) for e in entries],
    )


async def load(db: Executor, charge_point_id: str) -> list[ConfigurationEntry]:
    rows = await db.fetch(
        """SELECT key, value, readonly, known, status FROM charger_configuration
           WHERE charge_point_id = $1 ORDER BY key""", charge_point_id)
    return [ConfigurationEntry(r["key"], r["value"], r["readonly"], r["known"], r["status"])
            for r in rows]
