"""Charge point lifecycle in domain terms: registration, connection, boot, heartbeat, status, reports."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import structlog

from csms.config import OcppSettings
from csms.domain.availability import evse_status
from csms.domain.events import (
    ChargePointBooted,
    ChargePointConnected,
    ChargePointDisconnected,
    EventBus,
    EvseDataChanged,
    EvseStatusChanged,
    SiteLimitChanged,
)
from csms.domain.model import EvseStatus
from csms.domain.sessions import charging_started
from csms.domain.sites import Site
from csms.security.credentials import hash_password
from csms.storage import store
from csms.storage.energy import site_limit_store
from csms.storage.group_commit import GroupCommit
from csms.storage.outage import outage

log = structlog.get_logger(__name__)

# Seconds between writes of the chargers' last_seen: one UPDATE for every charger heard meanwhile.
LAST_SEEN_FLUSH = 5.0

_BOOT_ANSWER = {"accepted": None, "pending": "Pending", "rejected": "Rejected"}


@dataclass(frozen=True)
class Registration:
    """Our answer to a boot: Accepted, Pending or Rejected, and the seconds until the charger's
    next BootNotification (Pending, Rejected) or heartbeat (Accepted); None: the heartbeat
    interval."""

    status: str
    interval: int | None = None


@dataclass(frozen=True)
class Boot:
    charge_point_id: str
    vendor: str
    model: str
    serial_number: str | None
    firmware_version: str | None


class ChargePointService:
    def __init__(self, pool: asyncpg.Pool, events: EventBus, settings: OcppSettings,
                 node_id: str) -> None:
        self.pool = pool
        self.events = events
        self.settings = settings
        self.node_id = node_id
        # Boot storms (a depot's power coming back, a restart of ours) are what these batch for.
        self._heartbeats: GroupCommit[str, None] = GroupCommit(pool, store.touch)
        self._connects: GroupCommit[tuple[str, str], str | None] = GroupCommit(
            pool, self._store_connects)
        self._disconnects: GroupCommit[str, None] = GroupCommit(pool, self._store_disconnects)
        self._boots: GroupCommit[Boot, Registration] = GroupCommit(pool, self._store_boots)
        # frames since the last flush: charger → the last one's time.time() (a float per frame;
        # a datetime is made for the few written per flush)
        self._seen: dict[str, float] = {}

    async def admit(self, charge_point_id: str) -> asyncpg.Record | None:
        """The charger's record if it may open a connection; unknown ones only when the config
        says so."""
        charge_point = await store.get_charge_point(self.pool, charge_point_id)
        if charge_point is not None or not self.settings.accept_unknown_charge_points:
            return charge_point
        # Accepting anyone was the operator's choice: such a charger has no password to give.
        await store.insert_charge_point(self.pool, charge_point_id, None, security_profile=0)
        log.info("unknown charge point registered on connect", charge_point_id=charge_point_id)
        return await store.get_charge_point(self.pool, charge_point_id)

    async def connected(self, charge_point_id: str, protocol: str) -> str | None:
        """Returns the node that held the charger's connection until now, if any."""
        return await self._connects.submit((charge_point_id, protocol))

    async def _store_connects(self, conn: asyncpg.Connection,
                              batch: list[tuple[str, str]]) -> list[str | None]:
        previous = await store.set_connected(conn, batch, self.node_id)
        for charge_point_id, protocol in batch:
            await self.events.publish(conn, ChargePointConnected(charge_point_id, protocol))
        return [previous.get(charge_point_id) for charge_point_id, _ in batch]

    async def disconnected(self, charge_point_id: str) -> None:
        await self._disconnects.submit(charge_point_id)

    async def _store_disconnects(self, conn: asyncpg.Connection, batch: list[str]) -> None:
        # Reconnected to another node meanwhile: that node holds it, nothing to say.
        for charge_point_id in await store.set_disconnected(conn, batch, self.node_id):
            await self.events.publish(conn, ChargePointDisconnected(charge_point_id))

    async def boot(self, charge_point_id: str, vendor: str, model: str,
                   serial_number: str | None, firmware_version: str | None) -> Registration:
        """Records the boot; returns our answer by the charger's registration policy."""
        answer = await self._boots.submit(Boot(charge_point_id, vendor, model, serial_number,
                                               firmware_version))
        assert answer is not None
        log.info("boot", charge_point_id=charge_point_id, vendor=vendor, model=model,
                 firmware=firmware_version, status=answer.status)
        return answer

    async def _store_boots(self, conn: asyncpg.Connection,
                           batch: list[Boot]) -> list[Registration]:
        registered = await store.registrations(conn, [boot.charge_point_id for boot in batch])
        answers = [self._answer(*registered.get(boot.charge_point_id, ("rejected", None)))
                   for boot in batch]
        await store.record_boots(conn, [
            (boot.charge_point_id, boot.vendor, boot.model, boot.serial_number,
             boot.firmware_version, answer.status)
            for boot, answer in zip(batch, answers, strict=True)])
        for boot in batch:
            await self.events.publish(conn, ChargePointBooted(
                boot.charge_point_id, boot.vendor, boot.model, boot.firmware_version))
        return answers

    def _answer(self, registration: str, interval: int | None) -> Registration:
        # ocpp.boot_status holds the whole fleet (e.g. Pending while provisioning): it answers
        # the chargers whose own policy is the default, accepted.
        status = _BOOT_ANSWER.get(registration) or self.settings.boot_status
        return Registration(status, interval if status != "Accepted" else None)

    def seen(self, charge_point_id: str) -> None:
        """A frame came in: remembered here, stored by the next flush (a write per frame would
        cost more than the frames' own work)."""
        self._seen[charge_point_id] = time.time()

    async def flush_seen(self) -> None:
        if self._seen:
            seen, self._seen = self._seen, {}
            await store.set_last_seen(self.pool, [(charge_point_id, datetime.fromtimestamp(at, UTC))
                                                  for charge_point_id, at in seen.items()])

    async def flush_seen_forever(self, interval: float = LAST_SEEN_FLUSH) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.flush_seen()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                if not outage.noted(exc):  # the next flush has newer
                    log.warning("last_seen not stored", error=str(exc))

    async def heartbeat(self, charge_point_id: str) -> None:
        await self._heartbeats.submit(charge_point_id)

    async def status(self, charge_point_id: str, evse_number: int, connector_number: int,
                     status: EvseStatus, ocpp_status: str, error_code: str | None,
                     at: datetime) -> None:
        """A status report; evse_number 0 is the charge point as a whole."""
        async with self.pool.acquire() as conn, conn.transaction():
            if evse_number == 0:
                await store.set_charge_point_status(conn, charge_point_id, status, error_code)
                return
            evse = await store.ensure_evse(conn, charge_point_id, evse_number)
            await store.upsert_connector(conn, evse["id"], connector_number, status,
                                         ocpp_status, error_code, at)
            # An EVSE of several connectors is usable while one of them is: it shows that one.
            connectors = await store.list_connectors(conn, [evse["id"]])
            shown = evse_status(EvseStatus(c["status"]) for c in connectors)
            winner = next(c for c in connectors if c["status"] == shown)
            previous = await store.set_evse_status(conn, evse["id"], shown, winner["ocpp_status"],
                                                   winner["error_code"], at)
            if previous != shown:
                await self.events.publish(conn, EvseStatusChanged(
                    charge_point_id, evse_number, evse["evse_id"], shown,
                    EvseStatus(previous), winner["error_code"], at,
                ))
            if shown is EvseStatus.CHARGING and previous != shown:
                await self._charging(conn, evse["id"], at)
        log.info("status", charge_point_id=charge_point_id, evse=evse_number,
                 connector=connector_number, status=ocpp_status, error_code=error_code)

    async def _charging(self, conn: asyncpg.Connection, evse_pk: int, at: datetime) -> None:
        """The charger's Charging state starts the charging of its session, if the meter has not."""
        session = await store.active_session_on_evse(conn, evse_pk)
        if session is not None and await store.set_charging_started(conn, str(session["id"]), at):
            await self.events.publish(conn, charging_started(session, at))

    async def report(self, charge_point_id: str, kind: str, payload: dict[str, Any]) -> None:
        """Store what a charger reported that has no domain model (DataTransfer, NotifyEvent, …)."""
        await store.insert_report(self.pool, charge_point_id, kind, payload)
        log.info("report stored", charge_point_id=charge_point_id, kind=kind)


async def register(pool: asyncpg.Pool, charge_point_id: str, password: str | None,
                   evses: dict[int, str | None], registration: str = "accepted",
                   events: EventBus | None = None, security_profile: int | None = None) -> None:
    """Register (or update) a charge point with its EVSEs and their roaming EvseIDs."""
    async with pool.acquire() as conn, conn.transaction():
        await store.insert_charge_point(conn, charge_point_id,
                                        hash_password(password) if password else None,
                                        registration, security_profile)
        for number, evse_id in sorted(evses.items()):
            await store.upsert_evse(conn, charge_point_id, number, evse_id)
        if events is not None:
            await events.publish(conn, EvseDataChanged(charge_point_id))
    log.info("charge point registered", charge_point_id=charge_point_id, evses=len(evses))


async def set_registration(pool: asyncpg.Pool, charge_point_id: str, registration: str,
                           interval: int | None) -> asyncpg.Record | None:
    """The charger's registration policy (accepted, pending, rejected), answered from its next
    BootNotification on; None: no such charger."""
    if registration not in _BOOT_ANSWER:
        raise ValueError("registration is accepted, pending or rejected")
    if interval is not None and interval < 1:
        raise ValueError("interval is a number of seconds, 1 or more")
    row = await store.set_registration(pool, charge_point_id, registration, interval)
    if row is not None:
        log.info("registration policy set", charge_point_id=charge_point_id,
                 registration=registration, interval=interval)
    return row


async def retire(pool: asyncpg.Pool, events: EventBus, charge_point_id: str,
                 evse_numbers: list[int] | None) -> int:
    """Take EVSEs (or the whole charger) out of service for good; roaming partners drop them."""
    async with pool.acquire() as conn, conn.transaction():
        count = await store.retire_evses(conn, charge_point_id, evse_numbers)
        await events.publish(conn, EvseDataChanged(charge_point_id))
    log.info("evses retired", charge_point_id=charge_point_id, count=count)
    return count


async def assign_sites(pool: asyncpg.Pool, events: EventBus, sites: list[Site]) -> list[str]:
    """Store site definitions and place their charge points; returns unknown charge point ids."""
    unknown: list[str] = []
    async with pool.acquire() as conn, conn.transaction():
        for site in sites:
            await store.upsert_site(conn, site.id, site.to_json())
            before = set(await store.charge_points_on_site(conn, site.id))
            await store.set_site(conn, sorted(before - set(site.charge_points)), None)
            placed = await store.set_site(conn, list(site.charge_points), site.id)
            unknown += sorted(set(site.charge_points) - set(placed))
            for charge_point_id in sorted(before | set(placed)):
                await events.publish(conn, EvseDataChanged(charge_point_id))
            if site.limit is not None:  # [site.limit]; a site without one keeps what it has
                await site_limit_store.set_site_limits(conn, site.limit)
                await events.publish(conn, SiteLimitChanged(site.id))
    log.info("sites stored", sites=len(sites), unknown_charge_points=unknown)
    return unknown


def parse_evse_option(option: str) -> tuple[int, str | None]:
    """'1=DE*ABC*E0001*1' or '1' → (1, 'DE*ABC*E0001*1') / (1, None)."""
    number, _, evse_id = option.partition("=")
    value = int(number)
    if value < 1:
        raise ValueError(f"EVSE number must be 1 or more, got {value}")
    return value, evse_id.strip() or None
