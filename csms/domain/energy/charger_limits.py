"""Limits chargers tell us of (the grid's via 2.0.1 NotifyChargingLimit, the car's via ISO 15118)
recorded as EVSE caps the load manager respects, and the car's schedule judged against them."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

import asyncpg
import structlog

from csms.domain.commands import CommandResult
from csms.domain.energy import external_limits
from csms.domain.energy.external_limits import EV, Electrics, EvNeeds
from csms.domain.energy.load_manager import TX_STACK_LEVEL, tx_profile_id
from csms.domain.energy.smart_charging import (
    ChargingProfile,
    CompositeSchedule,
    Kind,
    Purpose,
    RateUnit,
    SchedulePeriod,
    profile_from_dict,
)
from csms.domain.events import DomainEvent, EventBus, EvseCapChanged, SessionEnded
from csms.domain.sites import EvseDetails, parse_site
from csms.storage import store
from csms.storage.energy import energy_store, profile_store

log = structlog.get_logger(__name__)

# The load manager's TxProfile (ENERGY.md interface 8), sent anew to renegotiate when no Tx
# profile of ours is held for the transaction.
PHASES = {"AC_1_PHASE": 1, "AC_3_PHASE": 3}


class CapCommands(Protocol):
    """What this needs of the command service (csms/domain/commands.py)."""

    async def set_evse_cap(self, charge_point_id: str, evse: int, source: str,
                           max_amps: Decimal | None, min_amps: Decimal | None = None,
                           detail: dict[str, Any] | None = None,
                           until: datetime | None = None) -> CommandResult: ...

    async def set_charging_profile(self, charge_point_id: str, evse: int,
                                   profile: ChargingProfile) -> CommandResult: ...


class ChargerLimits:
    def __init__(self, pool: asyncpg.Pool, events: EventBus, commands: CapCommands) -> None:
        self.pool = pool
        self.events = events
        self.commands = commands

    async def electrics(self, charge_point_id: str, evse: int) -> Electrics:
        """The EVSE's voltage and phases as its site describes it (230 V, three phases else)."""
        site_id = await store.site_of(self.pool, charge_point_id)
        data = await store.get_site(self.pool, site_id) if site_id else None
        details = EvseDetails()
        if data:
            try:
                site = parse_site(data)
            except ValueError:
                site = None
            if site is not None:
                evse_id = await store.roaming_evse_id(self.pool, charge_point_id, evse or None)
                details = site.details(evse_id) if evse_id else site.evse
        return Electrics(details.voltage, PHASES.get(details.power_type, 3))

    # --- K11-K14: limits set by an external system --------------------------------------

    async def external_limit(self, charge_point_id: str, evse: int, limit_source: str,
                             schedule: CompositeSchedule | None,
                             detail: dict[str, Any]) -> None:
        """K12 NotifyChargingLimit: the external limit becomes the EVSE's `grid:<source>` cap
        (evse 0: the whole charger), and the load manager hears of it in the same transaction."""
        source = external_limits.grid_source(limit_source)
        cap = external_limits.cap_of_schedule(schedule, await self.electrics(charge_point_id, evse),
                                              datetime.now(UTC))
        async with self.pool.acquire() as conn, conn.transaction():
            await energy_store.set_cap(conn, charge_point_id, evse, source, max_amps=cap.max_amps,
                                       detail=detail, until=cap.until)
            await self.events.publish(conn, EvseCapChanged(charge_point_id, evse, source))
        log.info("external charging limit", charge_point_id=charge_point_id, evse=evse,
                 source=source, max_amps=str(cap.max_amps))

    async def external_cleared(self, charge_point_id: str, evse: int | None,
                               limit_source: str) -> None:
        """K13 ClearedChargingLimit: the source's cap goes (evse None: on every EVSE)."""
        source = external_limits.grid_source(limit_source)
        async with self.pool.acquire() as conn, conn.transaction():
            if await energy_store.clear_cap(conn, charge_point_id, evse, source):
                await self.events.publish(conn, EvseCapChanged(charge_point_id, evse or 0, source))

    # --- K15-K17: ISO 15118 ----------------------------------------------------------------

    async def on_event(self, conn: asyncpg.Connection, event: DomainEvent) -> None:
        """The car's needs end with its session: the next car on the EVSE is not held to them
        (in the session's own transaction)."""
        if isinstance(event, SessionEnded) and await energy_store.clear_cap(
                conn, event.charge_point_id, event.evse_number, EV):
            await self.events.publish(conn, EvseCapChanged(event.charge_point_id,
                                                           event.evse_number, EV))

    async def ev_needs(self, charge_point_id: str, evse: int, needs: EvNeeds,
                       detail: dict[str, Any]) -> str:
        """K15/K16: the car's limits become the EVSE's `ev` cap; the load manager then sends the
        TxProfile fitted to them and to the site (the charger's answer to it is returned)."""
        cap = external_limits.cap_of_needs(needs, await self.electrics(charge_point_id, evse))
        result = await self.commands.set_evse_cap(charge_point_id, evse, EV, cap.max_amps,
                                                  cap.min_amps, detail)
        status = str(result.detail.get("status") or result.outcome.value)
        log.info("EV charging needs", charge_point_id=charge_point_id, evse=evse,
                 max_amps=str(cap.max_amps), min_amps=str(cap.min_amps), profile=status)
        return status

    async def ceiling(self, charge_point_id: str, evse: int) -> Decimal | None:
        """What we allow the EVSE now (A per phase): the load manager's allowance and every
        unexpired cap but the car's own; None: no limit of ours."""
        found = [row["max_amps"] for row in await energy_store.caps_of(
            self.pool, charge_point_id, evse) if row["max_amps"] is not None and
            row["source"] != EV]
        allowed = await energy_store.allowed(self.pool, charge_point_id, evse)
        if allowed is not None:
            found.append(allowed)
        return min(found) if found else None

    async def ev_schedule(self, charge_point_id: str, evse: int,
                          schedule: CompositeSchedule) -> str:
        """NotifyEVChargingSchedule (K15-K17; K16.FR.06/.FR.07): Accepted when the car's
        schedule stays within what we allow, Rejected above it (then renegotiated, K16.FR.08:
        see renegotiate)."""
        ceiling = await self.ceiling(charge_point_id, evse)
        above = external_limits.schedule_above(schedule, ceiling,
                                               await self.electrics(charge_point_id, evse))
        if above is None:
            return "Accepted"
        log.warning("EV charging schedule above our limit", charge_point_id=charge_point_id,
                    evse=evse, limit=above.limit, unit=schedule.unit.value,
                    allowed_amps=str(ceiling))
        return "Rejected"

    async def renegotiate(self, charge_point_id: str, evse: int) -> CommandResult | None:
        """K16.FR.08: after a rejected schedule the CSMS starts a renegotiation (use case K16): a
        new SetChargingProfile for the transaction makes the car compute its schedule again: the
        Tx profile we hold for it, else the load manager's at what we allow."""
        ceiling = await self.ceiling(charge_point_id, evse)
        session = await store.active_session_at(self.pool, charge_point_id, evse)
        if ceiling is not None and session is not None and session["transaction_id"] is not None:
            # At what we allow now, never a profile we hold: the load manager may be lowering it
            # this very moment, and sending it again would raise the charger behind its back.
            profile: ChargingProfile | None = ChargingProfile(
                tx_profile_id(evse), TX_STACK_LEVEL, Purpose.TX, Kind.RELATIVE,
                RateUnit.AMPERES, (SchedulePeriod(0, float(ceiling)),),
                transaction_id=str(session["transaction_id"]))
        else:
            held = [profile_from_dict(row["profile"]) for row in await profile_store.listed(
                self.pool, charge_point_id, evse) if row["status"] == "Accepted"
                and row["purpose"] == Purpose.TX.value]
            profile = max(held, key=lambda p: p.stack_level) if held else None
        if profile is None:
            log.info("nothing to renegotiate with", charge_point_id=charge_point_id, evse=evse)
            return None
        return await self.commands.set_charging_profile(charge_point_id, evse, profile)
