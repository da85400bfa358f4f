"""Domain events and the bus that hands them to subscribers inside the transaction that caused them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
import structlog

from csms.domain.model import EvseStatus, StopReason

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ChargePointConnected:
    charge_point_id: str
    protocol: str


@dataclass(frozen=True)
class ChargePointDisconnected:
    charge_point_id: str


@dataclass(frozen=True)
class ChargePointBooted:
    charge_point_id: str
    vendor: str
    model: str
    firmware_version: str | None


@dataclass(frozen=True)
class EvseStatusChanged:
    charge_point_id: str
    evse_number: int
    evse_id: str | None
    status: EvseStatus
    previous: EvseStatus
    error_code: str | None
    at: datetime


@dataclass(frozen=True)
class EvseDataChanged:
    """What a charger's EVSEs offer changed: added, retired, moved to a site, site edited."""

    charge_point_id: str


@dataclass(frozen=True)
class SessionStarted:
    session_id: str
    charge_point_id: str
    evse_number: int
    evse_id: str | None
    token_uid: str | None
    started_at: datetime
    meter_start_wh: float | None
    remote: bool
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RemoteStartChanged:
    """A remote start's session before the charger starts it: sent (pending), or over without
    a transaction (failed: refused or unreachable; expired: never taken up)."""

    session_id: str
    charge_point_id: str
    evse_number: int
    evse_id: str | None
    token_uid: str | None
    requested_at: datetime
    status: str  # a SessionStatus value: pending, failed or expired
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ChargingStarted:
    """Energy began to flow in a session (its first increase, or the charger's Charging state)."""

    session_id: str
    charge_point_id: str
    evse_number: int
    evse_id: str | None
    started_at: datetime  # the session's start
    charging_started_at: datetime
    meter_start_wh: float | None
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MeterSampled:
    session_id: str | None
    charge_point_id: str
    evse_number: int | None
    sampled_at: datetime
    energy_wh: float | None
    power_w: float | None
    # The session's attributes: a roaming bridge sees at once whether the session is its own,
    # without a database round trip per meter value.
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SessionEnded:
    session_id: str
    charge_point_id: str
    evse_number: int
    evse_id: str | None
    token_uid: str | None
    started_at: datetime | None
    stopped_at: datetime
    meter_start_wh: float | None
    meter_stop_wh: float | None
    reason: StopReason
    attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def energy_wh(self) -> float | None:
        if self.meter_start_wh is None or self.meter_stop_wh is None:
            return None
        return self.meter_stop_wh - self.meter_start_wh


@dataclass(frozen=True)
class ReservationHeld:
    """The charger accepted a reservation: its EVSE (or any EVSE) is held for the token."""

    reservation_id: int
    charge_point_id: str
    evse_number: int | None  # None: it holds any EVSE of the charger
    evse_id: str | None
    token_uid: str
    reserved_at: datetime
    session_id: str  # the id of the session that will use it (reservations.SESSION_ID)
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ReservationEnded:
    """A reservation the charger had accepted is over: cancelled, expired or used."""

    reservation_id: int
    charge_point_id: str
    evse_number: int | None  # None: it held any EVSE of the charger
    evse_id: str | None
    token_uid: str
    reserved_at: datetime
    ended_at: datetime
    reason: str
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TariffChanged:
    """A tariff was created, changed or deleted (data None)."""

    tariff_id: str
    data: dict[str, Any] | None
    valid_from: datetime


@dataclass(frozen=True)
class TariffAssigned:
    """EVSEs (('*',): every EVSE) charge by another tariff (None: unassigned) for an EMP ('*': all)."""

    provider_id: str
    evse_ids: tuple[str, ...]
    tariff_id: str | None


@dataclass(frozen=True)
class EvseCapChanged:
    """A source's cap on an EVSE was set or cleared (csms/storage/energy/energy_store.py); evse 0: all."""

    charge_point_id: str
    evse: int
    source: str


@dataclass(frozen=True)
class SiteLimitChanged:
    """A site's grid limit, schedule, fallback or priorities changed
    (csms/storage/energy/site_limit_store.py)."""

    site_id: str


@dataclass(frozen=True)
class EvseEnergyChanged:
    """An EVSE's energy settings (priority, minimum, maximum, phases) were set or cleared
    (csms/storage/energy/site_limit_store.py), on a site with a limit or not."""

    charge_point_id: str
    evse: int


DomainEvent = (
    ChargePointConnected
    | ChargePointDisconnected
    | ChargePointBooted
    | EvseStatusChanged
    | EvseDataChanged
    | SessionStarted
    | RemoteStartChanged
    | ChargingStarted
    | MeterSampled
    | SessionEnded
    | ReservationHeld
    | ReservationEnded
    | TariffChanged
    | TariffAssigned
    | EvseCapChanged
    | SiteLimitChanged
    | EvseEnergyChanged
)

# A subscriber runs inside the transaction that produced the event, so whatever it writes
# (e.g. a roaming outbox row) commits or rolls back together with the change itself.
Subscriber = Callable[[asyncpg.Connection, DomainEvent], Awaitable[None]]


class EventBus:
    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    async def publish(self, conn: asyncpg.Connection, event: DomainEvent) -> None:
        # What the subscribers log (and queue for partners) carries the charger and session it
        # is about, so one session can be followed from OCPP into roaming.
        # bind/reset: a third of what bound_contextvars costs, and this runs per meter value.
        bound = structlog.contextvars.bind_contextvars(**_log_context(event))
        try:
            for subscriber in self._subscribers:
                await subscriber(conn, event)
        finally:
            structlog.contextvars.reset_contextvars(**bound)


def _log_context(event: DomainEvent) -> dict[str, str]:
    context = {}
    for key in ("charge_point_id", "session_id"):
        value = getattr(event, key, None)
        if value is not None:
            context[key] = str(value)
    return context
