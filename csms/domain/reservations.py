"""Reservations in domain terms: an EVSE (or any EVSE of a charger) held for one token until it
expires, is cancelled or used."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Any

import asyncpg
import structlog

from csms.domain.events import EventBus, ReservationEnded, ReservationHeld
from csms.storage import store
from csms.storage.outage import outage

log = structlog.get_logger(__name__)

ENDED = ("cancelled", "expired", "used")
# The attribute naming the id the session that uses a reservation gets: roaming partners see
# one session from the reservation on (OCPI RESERVATION, then ACTIVE).
SESSION_ID = "session_id"

# Connector types a reservation may ask for (IEC names as OCPP 2.0.1's ConnectorEnumType spells them).
CONNECTOR_TYPES = frozenset({
    "cCCS1", "cCCS2", "cG105", "cTesla", "cType1", "cType2", "s309-1P-16A", "s309-1P-32A",
    "s309-3P-16A", "s309-3P-32A", "sBS1361", "sCEE-7-7", "sType2", "sType3", "Other1PhMax16A",
    "Other1PhOver16A", "Other3Ph", "Pan", "wInductive", "wResonant", "Undetermined", "Unknown",
})


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


def holds_for(reservation: Any, token_uid: str, group: str | None) -> bool:
    """The reservation is this token's: its own, or one of its group's (1.6 §5.13 parentIdTag,
    2.0.1 groupIdToken)."""
    return bool(reservation["token_uid"] == token_uid
                or (group is not None and reservation["group_id"] == group))


async def held_for_another(db: store.Executor, charge_point_id: str, evse_pk: int,
                           token_uid: str) -> str | None:
    """Why a session for this token may not start on this EVSE, or None: the EVSE is reserved
    for another token, or it is one that a reservation of another token for any EVSE of the
    charger needs (a charger keeps as many EVSEs free as it holds such reservations: 2.0.1
    H01, 1.6 §5.13 connector 0)."""
    held = await store.open_reservations(db, charge_point_id)
    if not held:
        return None
    group = await store.token_group(db, token_uid)
    others = [r for r in held if not holds_for(r, token_uid, group)]
    if any(r["evse"] == evse_pk for r in others):
        return "the EVSE is reserved for another token"
    unnamed = [r for r in others if r["evse"] is None]
    if not unnamed:
        return None
    named = {r["evse"] for r in held if r["evse"] is not None}
    free = [pk for pk in await store.usable_evses(db, charge_point_id)
            if pk != evse_pk and pk not in named]
    if len(free) < len(unnamed):
        return "every other EVSE of the charger is held by a reservation"
    return None


async def has_evse_to_hold(db: store.Executor, charge_point_id: str) -> bool:
    """The charger can hold one more EVSE for a reservation of any of its EVSEs: it has a usable
    EVSE that no reservation names, beyond those its reservations of any EVSE keep free."""
    held = await store.open_reservations(db, charge_point_id)
    named = {r["evse"] for r in held if r["evse"] is not None}
    free = [pk for pk in await store.usable_evses(db, charge_point_id) if pk not in named]
    return len(free) > len([r for r in held if r["evse"] is None])


class ReservationService:
    def __init__(self, pool: asyncpg.Pool, events: EventBus) -> None:
        self.pool = pool
        self.events = events

    async def create(self, charge_point_id: str, evse_pk: int | None, token_uid: str,
                     expires_at: datetime, attributes: dict[str, Any],
                     connector_type: str | None = None) -> int:
        """A reservation about to be sent to the charger; its id is OCPP's reservationId.
        evse_pk None: any EVSE of the charger (of `connector_type`, when given)."""
        return await store.insert_reservation(self.pool, charge_point_id, evse_pk, token_uid,
                                              expires_at,
                                              {**attributes, SESSION_ID: str(uuid.uuid4())},
                                              connector_type)

    async def answered(self, reservation_id: int, accepted: bool) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            row = await store.set_reservation_status(conn, reservation_id,
                                                     "active" if accepted else "refused",
                                                     ("requested",))
            if row is not None and accepted:
                await self.events.publish(conn, ReservationHeld(
                    row["id"], row["charge_point_id"], row["evse_number"], row["evse_id"],
                    row["token_uid"], row["created_at"], row["attributes"][SESSION_ID],
                    dict(row["attributes"])))

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
                if not outage.noted(exc):
                    log.error("reservation expiry failed", error=repr(exc))
            await asyncio.sleep(interval)
