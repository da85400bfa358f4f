"""Fallback profiles: a charger on a limited site holds a TxDefaultProfile at the site's fallback current."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import asyncpg
import structlog

from csms.cluster.links import Connections
from csms.domain.energy.smart_charging import (
    ChargingProfile,
    Kind,
    Purpose,
    RateUnit,
    SchedulePeriod,
    to_dict,
)
from csms.domain.events import (
    ChargePointConnected,
    DomainEvent,
    EvseDataChanged,
    SiteLimitChanged,
)
from csms.storage.energy import profile_store
from csms.storage.energy import site_limit_store as limits_store
from csms.storage.notifications import Listener
from csms.storage.outage import outage

if TYPE_CHECKING:  # the command service is the one way to a charger
    from csms.domain.commands import CommandService

log = structlog.get_logger(__name__)

# Ours among a charger's profiles (ENERGY.md): operators' profiles set through the API use others.
FALLBACK_PROFILE_ID = 9001
# A site's limit settings changed (payload: its id), told every node once the change commits.
CHANNEL = "csms_site_limits"
# Seconds a (re)connected charger is given to boot before we check what it holds.
BOOT_GRACE = 1.0
# Seconds between checks of what the chargers held here were last given: a notification lost
# while the LISTEN connection was down (csms/storage/notifications.py) is made up for by then.
RECHECK_INTERVAL = 60.0


def fallback_profile(amps: Decimal) -> ChargingProfile:
    """Every transaction on the charger (sent to EVSE 0: each EVSE) draws at most `amps` per
    phase until a Tx profile says otherwise. Relative with one period from 0 and no duration:
    in force whenever a transaction starts, in both versions (1.6 §3.13.1, 2.0.1 K01)."""
    return ChargingProfile(id=FALLBACK_PROFILE_ID, stack_level=0, purpose=Purpose.TX_DEFAULT,
                           kind=Kind.RELATIVE, unit=RateUnit.AMPERES,
                           periods=(SchedulePeriod(0, float(amps)),))


def profile_amps(recorded: dict[str, Any]) -> Decimal | None:
    """The current a recorded fallback profile allows (its first period), None if unreadable."""
    try:
        return Decimal(str(recorded["periods"][0]["limit"]))
    except (KeyError, IndexError, TypeError, ArithmeticError):
        return None


class FallbackService:
    """Runs on every node for the chargers that node holds: after a boot, on a reconnect, and
    when its site's limit settings change, each charger on a limited site is given the site's
    fallback TxDefaultProfile; one on a site without a limit loses ours. A fallback a charger
    already holds is changed by the load manager's round (csms/domain/energy/load_manager.py):
    every EVSE counts at least the fallback, so a raise waits until the sessions were lowered to
    make room for it."""

    def __init__(self, pool: asyncpg.Pool, commands: CommandService, connections: Connections,
                 listener: Listener, concurrency: int = 8) -> None:
        self.pool = pool
        self.commands = commands
        self.connections = connections
        self.listener = listener
        self._limit = asyncio.Semaphore(concurrency)
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        # Chargers here that answered our profile with a CALLERROR (no smart charging): not asked
        # again by the periodic check until they boot again.
        self._unable: set[str] = set()
        self._rechecks: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.listener.subscribe(CHANNEL, self._notified)
        self._rechecks = asyncio.get_running_loop().create_task(self._recheck_forever())

    async def stop(self) -> None:
        self.listener.unsubscribe(CHANNEL, self._notified)
        for task in [*self._tasks, *([self._rechecks] if self._rechecks else [])]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def settled(self) -> None:
        """Until nothing of ours is under way (what a boot or reconnect started included)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def on_event(self, conn: asyncpg.Connection, event: DomainEvent) -> None:
        """In the changing transaction: every node hears of the site once it commits (a NOTIFY
        is delivered on commit, never on rollback). A charger's EVSEs changing may change its
        site's default fallback (the limit shared by the EVSE count)."""
        if isinstance(event, SiteLimitChanged):
            await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, event.site_id)
        elif isinstance(event, EvseDataChanged):
            await conn.execute(
                """SELECT pg_notify($1, l.site_id) FROM charge_points c
                   JOIN site_limits l ON l.site_id = c.site_id
                   WHERE c.id = $2 AND l.fallback_amps IS NULL""",
                CHANNEL, event.charge_point_id)
        elif isinstance(event, ChargePointConnected) and event.charge_point_id in self.connections:
            self._track(self._reconnected(event.charge_point_id))

    async def _reconnected(self, charge_point_id: str) -> None:
        """A charger back without booting (1.6 after a lost connection) may have missed a change
        while away. One that boots is given the fallback by its boot: waiting a moment lets that
        go first, so this finds it held and sends nothing."""
        await asyncio.sleep(BOOT_GRACE)
        await self.push(charge_point_id, force=False)

    def booted(self, charge_point_id: str) -> None:
        """The charger has our boot answer (Accepted): it is given the fallback, whatever it held."""
        self._unable.discard(charge_point_id)
        self._spawn(charge_point_id, force=True)

    async def _recheck_forever(self) -> None:
        while True:
            await asyncio.sleep(RECHECK_INTERVAL)
            try:
                await self.recheck()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                if not outage.noted(exc):
                    log.warning("fallback profiles not checked", error=repr(exc))

    async def recheck(self) -> list[str]:
        """Set right every charger held here whose recorded fallback is not what its site asks
        for now, or that holds ours on a site without a limit (a few queries for all of them);
        the chargers that were sent something."""
        rows = await limits_store.fallback_records(self.pool, self.connections.ids(),
                                                   FALLBACK_PROFILE_ID)
        wanted: dict[str, dict[str, Any] | None] = {}
        due = []
        for row in rows:
            site_id = row["limited_site"]
            if site_id is not None and site_id not in wanted:
                limits = await limits_store.site_limits(self.pool, site_id)
                wanted[site_id] = to_dict(fallback_profile(limits.fallback_amps)) if limits else None
            profile = wanted.get(site_id) if site_id is not None else None
            if row["profile"] is None:
                if profile is not None and row["charge_point_id"] not in self._unable:
                    due.append(row["charge_point_id"])
            elif site_id is not None and row["status"] == "Accepted":
                continue  # held: the load manager's rounds change it (lower first, then raise)
            elif row["profile"] != profile or row["evse"] != 0 or row["status"] == "Pending":
                due.append(row["charge_point_id"])  # a refusal of this very profile stands
        sent = await asyncio.gather(*(self.push(cp, force=False) for cp in due))
        return [cp for cp, status in zip(due, sent, strict=True) if status is not None]

    def _notified(self, site_id: str) -> None:
        self._spawn_site(site_id)

    def _spawn_site(self, site_id: str) -> None:
        async def site() -> None:
            held = self.connections.ids()
            try:
                on_site = set(await self._on_site(site_id))
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                if not outage.noted(exc):
                    log.warning("fallback profiles not updated", site_id=site_id,
                                error=repr(exc))
                return
            await asyncio.gather(*(self.push(cp, force=False) for cp in held if cp in on_site))

        self._track(site())

    async def _on_site(self, site_id: str) -> list[str]:
        rows = await self.pool.fetch("SELECT id FROM charge_points WHERE site_id = $1", site_id)
        return [row["id"] for row in rows]

    def _spawn(self, charge_point_id: str, force: bool) -> None:
        self._track(self.push(charge_point_id, force))

    def _track(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def push(self, charge_point_id: str, force: bool) -> str | None:
        """Give the charger the fallback its site asks for now (force: even if we believe it
        holds it); the charger's answer, or None when nothing had to be sent."""
        lock = self._locks.setdefault(charge_point_id, asyncio.Lock())
        try:
            async with self._limit, lock:
                return await self._push(charge_point_id, force)
        except Exception as exc:  # one charger's trouble must not stop the others
            log.warning("fallback profile not sent", charge_point_id=charge_point_id,
                        error=repr(exc))
            return None
        finally:
            if not lock.locked():
                self._locks.pop(charge_point_id, None)

    async def _push(self, charge_point_id: str, force: bool) -> str | None:
        state = await limits_store.fallback_state(self.pool, charge_point_id, FALLBACK_PROFILE_ID)
        if state is None or not state["accepted"]:
            return None  # a charger not (yet) accepted is asked nothing; its boot brings it here
        if state["limited_site"] is None and not state["recorded"]:
            return None  # the common case, in one round trip: nothing of ours to give or take
        site_id = state["limited_site"]
        limits = await limits_store.site_limits(self.pool, site_id) if site_id else None
        held = [row for row in await profile_store.listed(self.pool, charge_point_id)
                if row["profile_id"] == FALLBACK_PROFILE_ID]
        if limits is None:
            if not held:
                return None
            result = await self.commands.clear_charging_profile(
                charge_point_id, profile_id=FALLBACK_PROFILE_ID)
            log.info("fallback profile cleared", charge_point_id=charge_point_id,
                     outcome=result.outcome.value)
            return str(result.detail.get("status") or result.outcome.value)
        profile = fallback_profile(limits.fallback_amps)
        if held and held[0]["status"] == "Accepted":
            if not force:
                return None  # the load manager changes it, in its order (lower first)
            # After a boot: what it held, or the site's if lower; a raise is the load manager's.
            amps = profile_amps(held[0]["profile"])
            if amps is not None and amps < limits.fallback_amps:
                profile = fallback_profile(amps)
        result = await self.commands.set_charging_profile(charge_point_id, 0, profile)
        from csms.domain.commands import Outcome  # here, as in jobs.py: it imports the services

        if result.outcome is Outcome.FAILED:
            self._unable.add(charge_point_id)
        status = str(result.detail.get("status") or result.outcome.value)
        log.info("fallback profile sent", charge_point_id=charge_point_id, site_id=site_id,
                 amps=float(limits.fallback_amps), outcome=result.outcome.value, status=status)
        return status
