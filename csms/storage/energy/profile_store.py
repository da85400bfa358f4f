"""Charging profiles in the database: what we sent each charger/EVSE and what the charger answered."""

from __future__ import annotations

from typing import Any

from csms.domain.energy.smart_charging import ChargingProfile, Purpose, to_dict
from csms.storage.store import Executor, Row


async def answered(db: Executor, charge_point_id: str, evse: int, profile: ChargingProfile,
                   status: str, detail: str | None = None) -> None:
    """What the charger made of a profile we sent. Accepted: it holds it, replacing one with the
    same id, or the same purpose and stack level on the same EVSE (1.6 §3.13.2, 2.0.1 K01.FR.05).
    Rejected, or Pending (no answer): kept only when we held nothing under that id, since the
    charger keeps what it had. A Tx profile whose transaction ended meanwhile (its answer
    overtaken by the transaction's end) is held no more: not recorded."""
    if profile.purpose is Purpose.TX and not await db.fetchval(
            """SELECT EXISTS (SELECT 1 FROM sessions s JOIN evses e ON e.id = s.evse
               WHERE s.charge_point_id = $1 AND e.evse_number = $2
                   AND s.status IN ('active', 'pending'))""", charge_point_id, evse):
        return
    if status == "Accepted":
        await db.execute(
            """DELETE FROM charging_profiles WHERE charge_point_id = $1 AND (profile_id = $2
                   OR (evse = $3 AND purpose = $4 AND stack_level = $5))""",
            charge_point_id, profile.id, evse, profile.purpose.value, profile.stack_level)
    await db.execute(
        """INSERT INTO charging_profiles
               (charge_point_id, profile_id, evse, purpose, stack_level, profile, status, detail)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING""",
        charge_point_id, profile.id, evse, profile.purpose.value, profile.stack_level,
        to_dict(profile), status, detail)


async def cleared(db: Executor, charge_point_id: str, profile_id: int | None, evse: int | None,
                  purpose: Purpose | None, stack_level: int | None) -> int:
    """The charger cleared the profiles matching every criterion given; how many we forget."""
    result = await db.execute(
        """DELETE FROM charging_profiles WHERE charge_point_id = $1
               AND ($2::integer IS NULL OR profile_id = $2)
               AND ($3::integer IS NULL OR evse = $3)
               AND ($4::text IS NULL OR purpose = $4)
               AND ($5::integer IS NULL OR stack_level = $5)""",
        charge_point_id, profile_id, evse, purpose.value if purpose else None, stack_level)
    return int(str(result).split()[-1])


async def transaction_ended(db: Executor, charge_point_id: str, evse: int) -> int:
    """The transaction on the EVSE ended: so did its Tx profiles on the charger (1.6 §3.13.1,
    2.0.1 K01: a TxProfile lives as long as its transaction); how many we forget."""
    result = await db.execute(
        "DELETE FROM charging_profiles WHERE charge_point_id = $1 AND evse = $2 AND purpose = $3",
        charge_point_id, evse, Purpose.TX.value)
    return int(str(result).split()[-1])


async def listed(db: Executor, charge_point_id: str, evse: int | None = None) -> list[Row]:
    return list(await db.fetch(
        """SELECT * FROM charging_profiles WHERE charge_point_id = $1
               AND ($2::integer IS NULL OR evse = $2)
           ORDER BY evse, purpose, stack_level DESC, profile_id""", charge_point_id, evse))


async def shown(db: Executor, charge_point_id: str, evse: int | None = None) -> list[dict[str, Any]]:
    """The profiles as the API and CLI show them."""
    return [{"evse": row["evse"], "status": row["status"], "detail": row["detail"],
             "updated_at": row["updated_at"].isoformat(), "profile": row["profile"]}
            for row in await listed(db, charge_point_id, evse)]
