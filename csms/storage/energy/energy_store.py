"""EVSE caps by source and the current the load manager allows each EVSE, in the database."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from csms.storage.store import Executor, Row


async def set_cap(db: Executor, charge_point_id: str, evse: int, source: str, *,
                  max_amps: Decimal | None, min_amps: Decimal | None = None,
                  detail: dict[str, Any] | None = None, until: datetime | None = None) -> None:
    """Record (or replace) what one source limits an EVSE to (evse 0: the whole charger)."""
    await db.execute(
        """INSERT INTO evse_caps (charge_point_id, evse, source, max_amps, min_amps, detail, until)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (charge_point_id, evse, source) DO UPDATE SET max_amps = EXCLUDED.max_amps,
               min_amps = EXCLUDED.min_amps, detail = EXCLUDED.detail, until = EXCLUDED.until,
               updated_at = now()""",
        charge_point_id, evse, source, max_amps, min_amps, detail or {}, until)  # jsonb codec


async def clear_cap(db: Executor, charge_point_id: str, evse: int | None, source: str) -> bool:
    """Forget a source's cap on an EVSE (None: on every EVSE of the charger); True when one was held."""
    status = await db.execute(
        """DELETE FROM evse_caps WHERE charge_point_id = $1 AND source = $3
               AND ($2::integer IS NULL OR evse = $2)""",
        charge_point_id, evse, source)
    return status != "DELETE 0"


async def caps_of(db: Executor, charge_point_id: str, evse: int) -> list[Row]:
    """The unexpired caps on an EVSE, its charger's (evse 0) included, tightest maximum first."""
    return await db.fetch(
        """SELECT * FROM evse_caps WHERE charge_point_id = $1 AND evse IN (0, $2)
               AND (until IS NULL OR until > now())
           ORDER BY max_amps NULLS LAST, source""",
        charge_point_id, evse)


async def allowed(db: Executor, charge_point_id: str, evse: int) -> Decimal | None:
    """What the load manager allows the EVSE now (A per phase); None when it does not manage it."""
    amps: Decimal | None = await db.fetchval(
        "SELECT amps FROM evse_allowances WHERE charge_point_id = $1 AND evse = $2",
        charge_point_id, evse)
    return amps
