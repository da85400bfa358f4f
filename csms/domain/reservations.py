"""Reservations in domain terms: an EVSE held for one token until it expires, is cancelled or used."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import asyncpg
import structlog

from csms.domain.events import EventBus, ReservationEnded
from csms.storage import store

log = structlog.get_logger(__name__)

ENDED = ("cancelled", "expired", "used")


async def end_reservation(conn: asyncpg.Connection, events: EventBus, reservation_id: int,
                          reason: str) -> bool:
    """Ends an active (or just requested) reservation inside the caller's transaction."""
    assert reason in ENDED
    row = await store.set_reservation_status(conn, reservation_id, reason, ("active", "requested"))
    if row is None:
        return False
    await events.publish(conn, ReservationEnded(
        row["id"], row["charge_point_id"], row["evse_number"], row["evse_id"], row["token_uid"],
        row["created_at"], row["ended_at"], reason, dict(row["attributes"]),
    ))
    log.info("reservation ended", charge_point_id=row["charge_point_id"], reservation_id=row["id"],
             reason=reason)
    return True


class ReservationService:
    def __init__(self, pool: asyncpg.Pool, events: EventBus) -> None:
        self.pool = pool
        self.events = events

    async def create(self, charge_point_id: str, evse_pk: int, token_uid: str,
                     expires_at: datetime, attributes: dict[str, Any]) -> int:
        """A reservation about to be sent to the charger; its id is OCPP's reservationId."""
        return await store.insert_reservation(self.pool, charge_point_id, evse_pk, token_uid,
                                              expires_at, attributes)

    async def answered(self, reservation_id: int, accepted: bool) -> None:
        await store.set_reservation_status(self.pool, reservation_id,
                                           "active" if accepted else "refused", ("requested",))

    async def end(self, reservation_id: int, reason: str) -> bool:
        async with self.pool.acquire() as conn, conn.transaction():
            return await end_reservation(conn, self.events, reservation_id, reason)

    async def expire_due(self) -> int:
        """Ends every reservation past its expiry (chargers drop theirs on their own)."""
        due = await store.due_reservations(self.pool)
        return sum([await self.end(reservation_id, "expired") for reservation_id in due])

    async def expire_forever(self, interval: float = 5.0) -> None:
        while True:
            try:
                await self.expire_due()
            except (OSError, asyncpg.PostgresError) as exc:
                log.error("reservation expiry failed", error=repr(exc))
            await asyncio.sleep(interval)
