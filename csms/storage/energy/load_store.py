"""What the load manager reads and writes per site: sessions, draws, caps, allowances and its lease."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from csms.storage.store import Executor, Row


async def take_lease(db: Executor, site_id: str, node_id: str, seconds: float) -> bool:
    """Take or renew a site's lease; True while this node holds it (another's ran out: taken)."""
    holder = await db.fetchval(
        """INSERT INTO site_leases (site_id, node_id, until)
           VALUES ($1, $2, now() + make_interval(secs => $3))
           ON CONFLICT (site_id) DO UPDATE SET node_id = EXCLUDED.node_id, until = EXCLUDED.until
               WHERE site_leases.node_id = EXCLUDED.node_id OR site_leases.until < now()
           RETURNING node_id""",
        site_id, node_id, seconds)
    return holder == node_id


async def holds_lease(db: Executor, site_id: str, node_id: str) -> bool:
    held: bool = await db.fetchval(
        "SELECT EXISTS (SELECT 1 FROM site_leases WHERE site_id = $1 AND node_id = $2 "
        "AND until > now())", site_id, node_id)
    return held


async def release_leases(db: Executor, node_id: str) -> None:
    await db.execute("DELETE FROM site_leases WHERE node_id = $1", node_id)


async def release_leases_of(db: Executor, site_id: str, node_id: str) -> None:
    await db.execute("DELETE FROM site_leases WHERE site_id = $1 AND node_id = $2", site_id, node_id)


async def lease_holder(db: Executor, site_id: str) -> str | None:
    holder: str | None = await db.fetchval(
        "SELECT node_id FROM site_leases WHERE site_id = $1 AND until > now()", site_id)
    return holder


async def evaluated(db: Executor, site_id: str, node_id: str, began: datetime) -> None:
    """A round that began at `began` (the database's clock) has completed."""
    await db.execute(
        "UPDATE site_leases SET evaluated_at = $3 WHERE site_id = $1 AND node_id = $2",
        site_id, node_id, began)


async def evaluated_at(db: Executor, site_id: str) -> datetime | None:
    when: datetime | None = await db.fetchval(
        "SELECT evaluated_at FROM site_leases WHERE site_id = $1", site_id)
    return when


async def clock(db: Executor) -> datetime:
    """The database's time now (not the transaction's start): one clock for every node."""
    now: datetime = await db.fetchval("SELECT clock_timestamp()")
    return now


async def capped_charge_points(db: Executor) -> list[str]:
    """Chargers with an unexpired cap on any EVSE, or an allowance of ours still recorded."""
    rows = await db.fetch(
        """SELECT charge_point_id FROM evse_caps WHERE until IS NULL OR until > now()
           UNION SELECT charge_point_id FROM evse_allowances""")
    return [row["charge_point_id"] for row in rows]


async def evses_of(db: Executor, charge_point_ids: Sequence[str]) -> list[Row]:
    """The EVSEs of these chargers with their charger's connection state."""
    return await db.fetch(
        """SELECT e.charge_point_id, e.evse_number, cp.connected
           FROM evses e JOIN charge_points cp ON cp.id = e.charge_point_id
           WHERE e.charge_point_id = ANY($1::text[]) AND e.retired_at IS NULL
           ORDER BY e.charge_point_id, e.evse_number""",
        list(charge_point_ids))


async def active_sessions(db: Executor, charge_point_ids: Sequence[str]) -> list[Row]:
    """The active sessions on these chargers, with their EVSE number and their token's group."""
    return await db.fetch(
        """SELECT s.id, s.charge_point_id, e.evse_number, s.transaction_id, s.token_uid,
                  (SELECT t.group_id FROM tokens t WHERE t.uid = s.token_uid AND t.owner IS NULL
                   LIMIT 1) AS token_group
           FROM sessions s JOIN evses e ON e.id = s.evse
           WHERE s.charge_point_id = ANY($1::text[]) AND s.status = 'active'
               AND s.transaction_id IS NOT NULL""",
        list(charge_point_ids))


async def draws(db: Executor, session_ids: Sequence[Any], since: datetime) -> dict[str, Decimal]:
    """Each session's latest measured current (A, the highest phase) sampled after `since`."""
    rows = await db.fetch(
        """SELECT DISTINCT ON (session_id, phase) session_id, phase, value
           FROM meter_samples
           WHERE session_id = ANY($1::uuid[]) AND measurand = 'Current.Import'
               AND sampled_at >= $2 AND (location IS NULL OR location = 'Outlet')
           ORDER BY session_id, phase, sampled_at DESC""",
        list(session_ids), since)
    found: dict[str, Decimal] = {}
    for row in rows:
        key = str(row["session_id"])
        found[key] = max(found.get(key, Decimal(0)), Decimal(str(row["value"])))
    return found


async def session_active(db: Executor, session_id: str | None) -> bool:
    active: bool = await db.fetchval(
        "SELECT EXISTS (SELECT 1 FROM sessions WHERE id = $1::uuid AND status = 'active')",
        session_id)
    return active


async def caps(db: Executor, charge_point_ids: Sequence[str]) -> list[Row]:
    """The unexpired caps on these chargers' EVSEs (evse 0: every EVSE of the charger)."""
    return await db.fetch(
        """SELECT charge_point_id, evse, source, max_amps, min_amps FROM evse_caps
           WHERE charge_point_id = ANY($1::text[]) AND (until IS NULL OR until > now())""",
        list(charge_point_ids))


async def allowances(db: Executor, charge_point_ids: Sequence[str]) -> list[Row]:
    return await db.fetch(
        """SELECT charge_point_id, evse, amps, status, session_id, updated_at FROM evse_allowances
           WHERE charge_point_id = ANY($1::text[])""",
        list(charge_point_ids))


async def profiles_of(db: Executor, charge_point_ids: Sequence[str], profile_id: int) -> list[Row]:
    """The profile of this id we recorded on each of these chargers, with the charger's answer."""
    return await db.fetch(
        """SELECT charge_point_id, evse, profile, status FROM charging_profiles
           WHERE charge_point_id = ANY($1::text[]) AND profile_id = $2""",
        list(charge_point_ids), profile_id)


async def record(db: Executor, charge_point_id: str, evse: int, amps: Decimal, status: str,
                 session_id: str | None) -> None:
    """What we allow the EVSE for the session and the charger's answer (Pending: none yet)."""
    await db.execute(
        """INSERT INTO evse_allowances (charge_point_id, evse, amps, status, session_id)
           VALUES ($1, $2, $3, $4, $5::uuid)
           ON CONFLICT (charge_point_id, evse) DO UPDATE SET amps = EXCLUDED.amps,
               status = EXCLUDED.status, session_id = EXCLUDED.session_id, updated_at = now()""",
        charge_point_id, evse, amps, status, session_id)


async def forget(db: Executor, charge_point_id: str, evse: int) -> None:
    await db.execute("DELETE FROM evse_allowances WHERE charge_point_id = $1 AND evse = $2",
                     charge_point_id, evse)
