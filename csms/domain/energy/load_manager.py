"""The site load manager at runtime: a site's limit shared out as Tx profiles, lower first."""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import asyncpg
import structlog

from csms import metrics
from csms.config import EnergySettings
from csms.domain.energy.fallback import FALLBACK_PROFILE_ID, fallback_profile, profile_amps
from csms.domain.energy.load_allocation import (
    ALL_PHASES,
    SessionDemand,
    SiteLimit,
    allocate,
    phase_sums,
    plan_transition,
)
from csms.domain.energy.site_limits import EvseEnergy, SiteLimits
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
    EvseCapChanged,
    EvseDataChanged,
    EvseEnergyChanged,
    MeterSampled,
    SessionEnded,
    SessionStarted,
    SiteLimitChanged,
)
from csms.storage.energy import load_store, site_limit_store
from csms.storage.notifications import Listener
from csms.storage.outage import outage

if TYPE_CHECKING:
    from csms.domain.commands import CommandResult, CommandService

log = structlog.get_logger(__name__)

CHANNEL = "csms_energy"  # payload: a site key; sent inside the causing transaction (after commit)
TX_PROFILE_ID = 9002
TX_STACK_LEVEL = 1
# A charger managed for its caps alone (no site limit): its key, and the limit it shares (none).
CHARGER_KEY = "cp:"
UNLIMITED = Decimal(100000)
VOLTS = 230
MAX_PASSES = 4  # lowering passes a round makes when chargers refuse (each one counts at its max)
# Seconds before a fallback a charger refused is offered to it again (its boot offers it at once).
FALLBACK_RETRY = 60.0


def tx_profile_id(evse: int) -> int:
    """Our Tx profile's id on an EVSE: 9002 on EVSE 1, 9012 on EVSE 2, … (an id is the
    charger's, not the EVSE's: the same id on another EVSE would replace it)."""
    return TX_PROFILE_ID + 10 * (evse - 1)


def evse_key(charge_point_id: str, evse: int) -> str:
    return f"{charge_point_id}/{evse}"


@dataclass
class EvseView:
    """One EVSE in a round: what it may draw now (`counted`), whether we can change it, and why."""

    energy: EvseEnergy
    online: bool
    session_id: str | None = None
    transaction_id: str | None = None
    priority: int = 0
    min_amps: Decimal = Decimal(0)
    max_amps: Decimal = Decimal(0)
    draw: Decimal | None = None
    counted: Decimal = Decimal(0)  # what it may draw now, as the invariant counts it
    holding: Decimal = Decimal(0)  # the limit it applies now (our profile, or the fallback)
    # Idle, Fallback (no profile of ours yet), Pending (a raise on its way), Accepted, Rejected,
    # Unanswered (no answer: it may hold either)
    status: str = "Idle"
    allowed: Decimal | None = None  # the amps of our profile, when we sent one for the session
    # What it draws on its charger's fallback profile: the larger of the one it holds and the
    # site's, while a change is on its way.
    fallback: Decimal = Decimal(0)
    retry: bool = False  # a refusing charger tried again, at its maximum, for a new session

    @property
    def key(self) -> str:
        return evse_key(self.energy.charge_point_id, self.energy.evse)

    @property
    def controlled(self) -> bool:
        """We can change what it draws: a session, its charger reachable and taking profiles."""
        return self.session_id is not None and self.online and self.status in ("Accepted", "Fallback")


@dataclass(frozen=True)
class FallbackChange:
    """A charger holding our fallback profile at `held` A while its site asks for `wanted`."""

    charge_point_id: str
    held: Decimal
    wanted: Decimal


@dataclass
class SiteState:
    """What one round sees of a site."""

    key: str
    limit: SiteLimit
    fallback: Decimal  # the site's, as its settings say now
    evses: list[EvseView] = field(default_factory=list)
    stale: list[tuple[str, int]] = field(default_factory=list)  # allowances of sessions over
    # Chargers reachable whose fallback is to change: a lowering goes with the round's
    # lowerings, a raise only once they are taken (with the raises).
    fallback_changes: list[FallbackChange] = field(default_factory=list)

    def phases(self) -> dict[str, frozenset[int]]:
        return {e.key: e.energy.phases for e in self.evses}

    def targets(self, margin: float) -> dict[str, Decimal]:
        """What each controlled session is to be allowed. Every EVSE counts at least the
        fallback, whatever we allow it: its session may end any moment, and the charger then
        goes back to its fallback profile on its own. So the fallback is set aside for every
        EVSE and the rest of the limit shared out above it."""
        reserved = {p: Decimal(0) for p in (1, 2, 3)}
        demands = []
        for e in self.evses:
            f = e.fallback
            for p in e.energy.phases:
                reserved[p] += f
            if e.controlled:
                draw = max(e.draw - f, Decimal(0)) if e.draw is not None else None
                demands.append(SessionDemand(e.key, max(e.min_amps - f, Decimal(0)),
                                             max(e.max_amps - f, Decimal(0)), e.priority,
                                             e.energy.phases, draw))
            elif e.counted > f:  # fixed where it is: offline, or refusing (its maximum)
                demands.append(SessionDemand(e.key, 0, e.counted - f, 0, e.energy.phases,
                                             rejected_profile=True))
        room = SiteLimit(tuple(max(Decimal(str(amps)) - reserved[p], Decimal(0))  # type: ignore[arg-type]
                               for p, amps in zip((1, 2, 3), self.limit.per_phase, strict=True)))
        extra = allocate(room, demands, margin).allowed
        return {e.key: min(e.fallback + extra[e.key], e.max_amps)
                for e in self.evses if e.controlled}

    def assume_fallbacks(self, amps: Mapping[str, Decimal]) -> None:
        """As if these chargers held these lower fallbacks already: what their sessions are
        lowered to alongside (never raised: that waits for the chargers' answers)."""
        for e in self.evses:
            new = amps.get(e.energy.charge_point_id)
            if new is None or new >= e.fallback:
                continue
            if not e.controlled and e.counted == e.fallback:
                e.counted = new
            e.fallback = new

    def counted_sums(self) -> dict[int, Decimal]:
        return phase_sums({e.key: e.counted for e in self.evses}, self.phases())


class LoadManager:
    """Holds the lease of the sites it manages; per site at most one round in flight, further
    triggers coalesced into the next. Triggers arrive as NOTIFYs sent inside the transaction that
    caused them, so a round always reads what they committed, on whichever node holds the site."""

    def __init__(self, pool: asyncpg.Pool, listener: Listener, commands: CommandService,
                 node_id: str, settings: EnergySettings) -> None:
        self.pool = pool
        self.listener = listener
        self.commands = commands
        self.node_id = node_id
        self.settings = settings
        self._site_of: dict[str, str] = {}  # charge point -> site key, refreshed every interval
        self._known: set[str] = set()  # every site key to manage, whoever does
        self._discovering: set[str] = set()
        self._retrying: set[str] = set()  # EVSE keys asked again at their maximum, answer awaited
        self._fallback_refused: dict[str, tuple[Decimal, float]] = {}  # cp: (amps, when)
        self._held: set[str] = set()
        self._dirty: dict[str, asyncio.Event] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._last_power: dict[tuple[str, int | None], float] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self.rounds = 0

    # --- triggers ---------------------------------------------------------------------------

    async def on_event(self, conn: asyncpg.Connection, event: DomainEvent) -> None:
        """Inside the event's transaction: only a NOTIFY, which PostgreSQL delivers on commit."""
        key: str | None = None
        match event:
            case SiteLimitChanged():
                key = event.site_id
            case EvseCapChanged() | EvseEnergyChanged():
                key = self._site_of.get(event.charge_point_id) or await self._key_of(
                    conn, event.charge_point_id)
            case SessionStarted() | SessionEnded() | ChargePointConnected() | EvseDataChanged():
                key = self._site_of.get(event.charge_point_id)
            case MeterSampled():
                key = self._site_of.get(event.charge_point_id)
                if key is None or event.power_w is None or not self._draw_changed(event):
                    return
        if key is not None:
            await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, key)

    def _draw_changed(self, event: MeterSampled) -> bool:
        where = (event.charge_point_id, event.evse_number)
        power = float(event.power_w or 0)
        last = self._last_power.get(where)
        if last is not None and abs(power - last) < self.settings.draw_change_amps * VOLTS:
            return False
        self._last_power[where] = power
        return last is not None

    async def _key_of(self, db: Any, charge_point_id: str) -> str:
        site = await site_limit_store.site_of(db, charge_point_id)
        if site is not None and await site_limit_store.site_limits(db, site) is not None:
            return site
        return CHARGER_KEY + charge_point_id

    def _notified(self, payload: str) -> None:
        if payload in self._held:
            self.trigger(payload)
        elif payload not in self._known and payload not in self._discovering:
            # New to us (a new limit, caps just now): nobody may hold it yet, whoever takes it
            # first manages it. One we know is another node's: our tick takes over if it dies.
            self._discovering.add(payload)
            self._spawn(self._discover(payload))

    def trigger(self, key: str) -> None:
        event = self._dirty.get(key)
        if event is not None:
            event.set()

    # --- lifecycle and leases ---------------------------------------------------------------

    async def start(self) -> None:
        await self.listener.subscribe(CHANNEL, self._notified)
        self._loop_task = asyncio.get_running_loop().create_task(self._keep_forever())

    async def stop(self) -> None:
        self.listener.unsubscribe(CHANNEL, self._notified)
        tasks = [t for t in (self._loop_task, *self._workers.values(), *self._tasks) if t]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for timer in self._timers.values():
            timer.cancel()
        with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            await load_store.release_leases(self.pool, self.node_id)

    def _spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _keep_forever(self) -> None:
        while True:
            try:
                await self.tick()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                if not outage.noted(exc):
                    log.warning("load manager tick failed", error=repr(exc))
            except Exception:  # a bug here must not stop the leases being renewed next time
                log.exception("load manager tick failed")
            await asyncio.sleep(self.settings.interval)

    async def sites(self) -> dict[str, list[str]]:
        """Every site key to manage, with its chargers: limited sites, and chargers with caps
        on no limited site."""
        found: dict[str, list[str]] = {}
        async with self.pool.acquire() as conn:
            for site in await site_limit_store.limited_sites(conn):
                found[site] = sorted({e.charge_point_id
                                      for e in await site_limit_store.evse_energy(conn, site)})
            on_sites = {cp for cps in found.values() for cp in cps}
            for cp in await load_store.capped_charge_points(conn):
                if cp not in on_sites:
                    found[CHARGER_KEY + cp] = [cp]
        return found

    async def tick(self) -> None:
        """Renew or take the leases, and re-evaluate every site held (a lost NOTIFY costs at
        most one interval)."""
        found = await self.sites()
        self._found(found)
        for key in found:
            await self._claim(key)
        for key in list(self._held - set(found)):  # limit and caps gone: a last round, then let go
            self.trigger(key)

    async def _discover(self, key: str) -> None:
        try:
            found = await self.sites()
            self._found(found)
            if key in found:
                await self._claim(key)
        finally:
            self._discovering.discard(key)

    def _found(self, found: dict[str, list[str]]) -> None:
        self._site_of = {cp: key for key, cps in found.items() for cp in cps}
        self._known = set(found)

    async def _claim(self, key: str) -> None:
        if await load_store.take_lease(self.pool, key, self.node_id, self.settings.lease):
            if key not in self._held:
                log.info("site managed here", site=key, node_id=self.node_id)
                self._held.add(key)
                self._dirty[key] = asyncio.Event()
                self._workers[key] = asyncio.get_running_loop().create_task(self._work(key))
            self.trigger(key)
        elif key in self._held:
            log.warning("site lease lost", site=key, node_id=self.node_id)
            self._let_go(key)

    def _let_go(self, key: str) -> None:
        self._held.discard(key)
        self._dirty.pop(key, None)
        worker = self._workers.pop(key, None)
        if worker is not None and worker is not asyncio.current_task():
            worker.cancel()
        metrics.forget_site(key)

    async def _work(self, key: str) -> None:
        dirty = self._dirty[key]
        while True:
            await dirty.wait()
            dirty.clear()
            try:
                if not await self.rebalance(key):
                    await load_store.release_leases_of(self.pool, key, self.node_id)
                    self._let_go(key)
                    return
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                if not outage.noted(exc):
                    log.warning("allocation round failed", site=key, error=repr(exc))
            except Exception:
                log.exception("allocation round failed", site=key)

    # --- one round --------------------------------------------------------------------------

    async def state(self, key: str, now: datetime | None = None,
                    in_round: bool = False) -> SiteState | None:
        """What a round sees of a site (`in_round`: the round of this node, none other in
        flight); None when it has neither a limit nor caps."""
        now = now or datetime.now(UTC)
        async with self.pool.acquire() as conn:
            limits: SiteLimits | None = None
            if key.startswith(CHARGER_KEY):
                charge_point_id = key[len(CHARGER_KEY):]
                site = await site_limit_store.site_of(conn, charge_point_id)
                energies = [e for e in (await site_limit_store.evse_energy(conn, site) if site else [])
                            if e.charge_point_id == charge_point_id]
                if not energies:
                    energies = [EvseEnergy(charge_point_id, row["evse_number"])
                                for row in await load_store.evses_of(conn, [charge_point_id])]
                limit = SiteLimit.amps(UNLIMITED)
                fallback = Decimal(0)
            else:
                limits = await site_limit_store.site_limits(conn, key)
                if limits is None:
                    return None
                energies = await site_limit_store.evse_energy(conn, key)
                limit = limits.limit_at(now)
                fallback = limits.fallback_amps
            cps = sorted({e.charge_point_id for e in energies})
            online = {(r["charge_point_id"], r["evse_number"]): r["connected"]
                      for r in await load_store.evses_of(conn, cps)}
            sessions = {(r["charge_point_id"], r["evse_number"]): r
                        for r in await load_store.active_sessions(conn, cps)}
            caps: dict[tuple[str, int], list[asyncpg.Record]] = {}
            for row in await load_store.caps(conn, cps):
                caps.setdefault((row["charge_point_id"], row["evse"]), []).append(row)
            rows = {(r["charge_point_id"], r["evse"]): r
                    for r in await load_store.allowances(conn, cps)}
            draws = await load_store.draws(
                conn, [s["id"] for s in sessions.values()],
                now - timedelta(seconds=self.settings.draw_max_age))
            fallbacks = ({} if limits is None else
                         {r["charge_point_id"]: r for r in await load_store.profiles_of(
                             conn, cps, FALLBACK_PROFILE_ID)})
        if key.startswith(CHARGER_KEY):  # caps alone: only the capped EVSEs (and ours still)
            energies = [e for e in energies if caps.get((e.charge_point_id, e.evse))
                        or caps.get((e.charge_point_id, 0)) or (e.charge_point_id, e.evse) in rows]
            if not energies:
                return None
        evse_count: dict[str, int] = {}
        for cp, _ in online:
            evse_count[cp] = evse_count.get(cp, 0) + 1
        state = SiteState(key, limit, fallback)
        state.stale = [where for where, row in rows.items()
                       if where not in sessions and row["status"] != "Rejected"]
        # What each charger's fallback profile allows: the one it holds (or may hold, unanswered)
        # until it takes the site's, whichever is larger meanwhile.
        on_fallback: dict[str, Decimal] = {}
        wanted = to_dict(fallback_profile(fallback))
        for cp, record in fallbacks.items():
            held = profile_amps(record["profile"])
            if held is None or record["status"] not in ("Accepted", "Pending"):
                continue
            on_fallback[cp] = max(held, fallback)
            if record["status"] == "Accepted" and (record["profile"] != wanted
                                                   or record["evse"] != 0) and any(
                    up for (c, _), up in online.items() if c == cp):
                state.fallback_changes.append(FallbackChange(cp, held, fallback))
        for energy in energies:
            where = (energy.charge_point_id, energy.evse)
            view = EvseView(energy, bool(online.get(where)))
            view.fallback = on_fallback.get(energy.charge_point_id, fallback)
            session = sessions.get(where)
            row = rows.get(where)
            refusing = row is not None and row["status"] == "Rejected"
            if session is None:
                # Its next session starts on the fallback profile, or at its maximum if it
                # refuses profiles.
                view.counted = energy.max_amps if refusing else view.fallback
                view.status = "Rejected" if refusing else "Idle"
            else:
                view.session_id = str(session["id"])
                view.transaction_id = session["transaction_id"]
                priorities = [energy.priority]
                if limits is not None and session["token_group"] in limits.group_priorities:
                    priorities.append(limits.group_priorities[session["token_group"]])
                view.priority = max(priorities)
                view.min_amps, view.max_amps = _range(energy, caps.get(where, []) + [
                    _shared(cap, evse_count[energy.charge_point_id])
                    for cap in caps.get((energy.charge_point_id, 0), [])])
                view.draw = draws.get(view.session_id)
                ours = row is not None and str(row["session_id"]) == view.session_id
                if ours and row is not None:
                    view.allowed = view.holding = row["amps"]
                    view.status = row["status"]
                    if row["status"] == "Pending" and in_round:
                        # A raise of a round that never finished (its node died): unanswered.
                        view.status = "Unanswered"
                    view.counted = (max(row["amps"], view.fallback)
                                    if view.status in ("Accepted", "Pending") else energy.max_amps)
                elif refusing:  # refused for an earlier session: counted at its maximum, tried again
                    view.status, view.counted, view.retry = "Rejected", energy.max_amps, True
                else:  # no profile of ours yet: the charger's fallback holds it
                    view.status, view.counted = "Fallback", view.fallback
                    view.holding = view.fallback
                if view.status == "Unanswered":
                    view.retry = True
            state.evses.append(view)
        return state

    async def rebalance(self, key: str) -> bool:
        """One round: allocate, lower (and see it taken), then raise. False when the site has
        neither a limit nor caps any more (after its chargers got their maximum back)."""
        began = await load_store.clock(self.pool)
        if not await load_store.holds_lease(self.pool, key, self.node_id):
            return True  # another node took it: the tick notices
        self.rounds += 1
        state = await self.state(key, in_round=True)
        if state is None:
            await self._unmanage(key)
            await load_store.evaluated(self.pool, key, self.node_id, began)
            return False
        if state.stale:  # a Tx profile ends with its transaction: the fallback holds it again
            async with self.pool.acquire() as conn:
                for charge_point_id, evse in state.stale:
                    await load_store.forget(conn, charge_point_id, evse)
        # Every EVSE counts the larger of its charger's fallback and the site's until the charger
        # took the site's. A fallback lowered goes out with the sessions' lowerings, those as if
        # it were taken, and nothing is raised before the next round reads what the chargers
        # answered; a fallback raised goes out with the raises, once the lowerings were taken.
        fallback_lower = [c for c in state.fallback_changes if c.wanted <= c.held]
        fallback_raise = [c for c in state.fallback_changes if c.wanted > c.held]
        lowering_fallbacks = bool(fallback_lower)
        if lowering_fallbacks:
            state.assume_fallbacks({c.charge_point_id: c.wanted for c in fallback_lower})
        for _ in range(MAX_PASSES):
            target = state.targets(self.settings.margin)
            controlled = [e for e in state.evses if e.controlled]
            by_key = {e.key: e for e in state.evses}
            try:
                transition = plan_transition(
                    state.limit, {e.key: e.holding for e in controlled}, target, state.phases(),
                    {e.key: e.counted for e in state.evses if not e.controlled})
                lower = [(by_key[c.evse_id], c.after) for c in transition.lower]
                raise_ = [(by_key[c.evse_id], c.after) for c in transition.raise_]
            except ValueError as exc:  # the fallbacks alone exceed the limit: lower, never raise
                log.warning("site over its limit whatever we allow", site=key, error=str(exc))
                lower = [(e, target[e.key]) for e in controlled if target[e.key] < e.holding]
                raise_ = []
            # A new session's first profile may equal its fallback: sent all the same.
            changing = {e.key for e, _ in (*lower, *raise_)}
            unsent = [e for e in controlled if e.status == "Fallback" and e.key not in changing]
            lowered, _ = await asyncio.gather(
                self._send(key, lower + [(e, target[e.key]) for e in unsent], raising=False),
                self._send_fallbacks(fallback_lower))
            if lowering_fallbacks:
                break
            if not all(lowered):
                # Someone refused or did not answer: counted at its maximum, others lowered.
                state = await self.state(key, in_round=True) or state
                continue
            # Every EVSE was counted at the raised fallback: it fits beside the raises.
            await asyncio.gather(self._send(key, raise_, raising=True),
                                 self._send_fallbacks(fallback_raise))
            # Those counted at their maximum are asked again at it (safe in any order), off the
            # round: a charger that never answers must not hold the site's rounds up.
            for e in state.evses:
                if e.retry and e.online and e.session_id and e.key not in self._retrying:
                    self._retrying.add(e.key)
                    self._spawn(self._retry(e))
            break
        else:
            log.warning("chargers kept refusing; their maximum is counted", site=key)
        await load_store.evaluated(self.pool, key, self.node_id, began)
        if lowering_fallbacks:  # what the lowered fallbacks left is shared out in the next round
            self.trigger(key)
        final = await self.state(key)
        if final is not None:
            metrics.site_allocation(key, final.limit.per_phase, final.counted_sums())
            if any(e.status == "Unanswered" for e in final.evses if e.online):
                asyncio.get_running_loop().call_later(self.settings.interval, self.trigger, key)
            self._schedule_change(key)
        return True

    async def _unmanage(self, key: str) -> None:
        """The site's limit is gone: our Tx profiles are cleared (its chargers keep only what
        the site's fallback service and their caps say) and our allowances forgotten."""
        if key.startswith(CHARGER_KEY):
            return
        cps = sorted({e.charge_point_id for e in await site_limit_store.evse_energy(self.pool, key)})
        for row in await load_store.allowances(self.pool, cps):
            cp, evse = row["charge_point_id"], row["evse"]
            if row["status"] != "Rejected" and await load_store.session_active(
                    self.pool, str(row["session_id"]) if row["session_id"] else None):
                await self.commands.clear_charging_profile(cp, tx_profile_id(evse), evse)
            await load_store.forget(self.pool, cp, evse)
        metrics.forget_site(key)
        log.info("site no longer limited: its Tx profiles cleared", site=key)

    def _schedule_change(self, key: str) -> None:
        """A round at the schedule's next change too, not only on the interval's beat."""
        self._spawn(self._timer_for(key))

    async def _timer_for(self, key: str) -> None:
        if key.startswith(CHARGER_KEY):
            return
        limits = await site_limit_store.site_limits(self.pool, key)
        change = limits.next_change(datetime.now(UTC)) if limits else None
        old = self._timers.pop(key, None)
        if old is not None:
            old.cancel()
        if change is not None:
            delay = max(0.0, (change - datetime.now(UTC)).total_seconds()) + 0.01
            if delay < 24 * 3600:
                self._timers[key] = asyncio.get_running_loop().call_later(
                    delay, self.trigger, key)

    async def _send(self, key: str, changes: Iterable[tuple[EvseView, Decimal]],
                    raising: bool) -> list[bool]:
        """Send the profiles at once, wait for every answer, record each; True where accepted.
        A raise is recorded as Pending before it goes (counted at its maximum meanwhile), so a
        node taking over mid-flight never counts less than a charger may hold."""
        changes = list(changes)
        if raising:
            async with self.pool.acquire() as conn:
                for view, amps in changes:
                    await load_store.record(conn, view.energy.charge_point_id, view.energy.evse,
                                            amps, "Pending", view.session_id)
        return list(await asyncio.gather(*(self._push(view, amps) for view, amps in changes)))

    async def _send_fallbacks(self, changes: Iterable[FallbackChange]) -> list[bool]:
        return list(await asyncio.gather(*(self._push_fallback(c) for c in changes)))

    async def _push_fallback(self, change: FallbackChange) -> bool:
        """The site's fallback to a charger that holds another; True when it took it. One it
        refused is not offered again for a while (its next boot offers it at once)."""
        from csms.domain.commands import Outcome

        cp, loop = change.charge_point_id, asyncio.get_running_loop()
        refused = self._fallback_refused.get(cp)
        if refused is not None and refused[0] == change.wanted and \
                loop.time() - refused[1] < FALLBACK_RETRY:
            return False
        result = await self.commands.set_charging_profile(cp, 0, fallback_profile(change.wanted))
        log.info("fallback profile changed", charge_point_id=cp, held=str(change.held),
                 amps=str(change.wanted), outcome=result.outcome.value)
        if result.outcome is Outcome.ACCEPTED:
            self._fallback_refused.pop(cp, None)
            return True
        if result.outcome not in (Outcome.TIMEOUT, Outcome.OFFLINE):
            self._fallback_refused[cp] = (change.wanted, loop.time())
        return False

    async def _retry(self, view: EvseView) -> None:
        try:
            await self._push(view, view.energy.max_amps)
        finally:
            self._retrying.discard(view.key)

    async def _push(self, view: EvseView, amps: Decimal) -> bool:
        from csms.domain.commands import Outcome

        profile = ChargingProfile(
            id=tx_profile_id(view.energy.evse), stack_level=TX_STACK_LEVEL, purpose=Purpose.TX,
            kind=Kind.RELATIVE, unit=RateUnit.AMPERES,
            periods=(SchedulePeriod(0, float(amps), len(view.energy.phases)),),
            transaction_id=view.transaction_id)
        result: CommandResult = await self.commands.set_charging_profile(
            view.energy.charge_point_id, view.energy.evse, profile)
        cp, evse = view.energy.charge_point_id, view.energy.evse
        if result.outcome is Outcome.ACCEPTED:
            status = "Accepted"
        elif result.outcome in (Outcome.TIMEOUT, Outcome.OFFLINE):
            status = "Unanswered"  # it may hold the new one or the old: counted at its maximum
        else:
            status = "Rejected"
            if not await load_store.session_active(self.pool, view.session_id):
                # Its transaction ended while the profile was on its way: no refusal, and the
                # charger is back on its fallback.
                await load_store.forget(self.pool, cp, evse)
                return True
        log.info("site allowance", charge_point_id=cp, evse=evse, amps=str(amps), status=status)
        await load_store.record(self.pool, cp, evse, amps, status, view.session_id)
        return status == "Accepted"

    # --- what others read -------------------------------------------------------------------

    async def changed(self, charge_point_id: str, evse: int, timeout: float) -> CommandResult:
        """Something about the EVSE (0: the charger) committed just now: a round that reads it,
        on whichever node manages its site, and the charger's answer for it."""
        key = self._site_of.get(charge_point_id) or await self._key_of(self.pool, charge_point_id)
        since = await load_store.clock(self.pool)
        # A round that began before `since` may have missed the change: ask for one more.
        await self.pool.execute("SELECT pg_notify($1, $2)", CHANNEL, key)
        return await self.settle(charge_point_id, evse, since, timeout)

    async def settle(self, charge_point_id: str, evse: int, since: datetime,
                     timeout: float) -> CommandResult:
        """After a change committed at `since` (database clock): wait for a round that began
        later, then the charger's answer for the EVSE (0: all of the charger's)."""
        from csms.domain.commands import CommandResult, Outcome

        key = self._site_of.get(charge_point_id) or await self._key_of(self.pool, charge_point_id)
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            done = await load_store.evaluated_at(self.pool, key)
            if done is not None and done > since:
                break
            if asyncio.get_running_loop().time() > deadline:
                return CommandResult(Outcome.TIMEOUT, {"reason": "no allocation round in time"})
            await asyncio.sleep(0.05)
        state = await self.state(key)
        views = [e for e in (state.evses if state else [])
                 if e.energy.charge_point_id == charge_point_id and e.session_id
                 and evse in (0, e.energy.evse)]
        if any(not e.online for e in views):  # what it holds stays until it is back
            return CommandResult(Outcome.OFFLINE, {"status": "Offline"})
        if any(e.status == "Rejected" for e in views):
            return CommandResult(Outcome.REJECTED, {"status": "Rejected"})
        if any(e.status in ("Pending", "Unanswered") for e in views):
            return CommandResult(Outcome.TIMEOUT, {"status": "Unanswered"})
        allowed = {str(e.energy.evse): float(e.allowed) for e in views if e.allowed is not None}
        return CommandResult(Outcome.ACCEPTED, {"status": "Accepted", "allowed": allowed})

    async def allocation(self, site_id: str) -> dict[str, Any] | None:
        """The site's allocation now, per EVSE: allowed, status, draw; and the limit and sums
        per phase (what GET /sites/{id}/allocation returns). None: not managed."""
        state = await self.state(site_id)
        if state is None:
            return None
        async with self.pool.acquire() as conn:
            holder = await load_store.lease_holder(conn, site_id)
            evaluated = await load_store.evaluated_at(conn, site_id)
        sums = state.counted_sums()
        return {
            "site_id": site_id,
            "managed_by": holder,
            "evaluated_at": evaluated.isoformat().replace("+00:00", "Z") if evaluated else None,
            "limit": [float(a) for a in state.limit.per_phase],
            "fallback_amps": float(state.fallback),
            "counted": [float(sums[p]) for p in (1, 2, 3)],
            "evses": [{
                "charge_point_id": e.energy.charge_point_id, "evse": e.energy.evse,
                "session_id": e.session_id, "status": e.status,
                "allowed": float(e.allowed) if e.allowed is not None else None,
                "counted": float(e.counted),
                "draw": float(e.draw) if e.draw is not None else None,
                "online": e.online, "priority": e.priority,
                "phases": sorted(e.energy.phases),
            } for e in state.evses],
        }


def _shared(cap: Mapping[str, Any], evses: int) -> dict[str, Any]:
    """A cap on the whole charger (EVSE 0) is the sum of its EVSEs': shared evenly among all of
    them (an idle one may start a session any moment), rounded down to a tenth."""
    high = cap["max_amps"]
    if high is not None and evses > 1:
        high = Decimal(math.floor(Decimal(high) * 10 / evses)) / 10
    return {"max_amps": high, "min_amps": cap["min_amps"]}


def _range(energy: EvseEnergy, caps: list[Mapping[str, Any]]) -> tuple[Decimal, Decimal]:
    """The session's (min, max): the EVSE's, tightened by every cap; a maximum below the
    minimum leaves nothing the car can charge with."""
    low = max([energy.min_amps, *(c["min_amps"] for c in caps if c["min_amps"] is not None)])
    high = min([energy.max_amps, *(c["max_amps"] for c in caps if c["max_amps"] is not None)])
    if high < low:
        return Decimal(0), Decimal(0)
    return Decimal(low), Decimal(high)


__all__ = ["ALL_PHASES", "CHANNEL", "LoadManager", "TX_PROFILE_ID", "evse_key", "tx_profile_id"]
