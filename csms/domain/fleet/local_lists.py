"""Local authorization lists: which tokens a charger holds for offline use, and keeping each list in sync."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any, Protocol

import asyncpg
import structlog
from ocpp.exceptions import OCPPError
from websockets.exceptions import ConnectionClosed

from csms.cluster.links import Connections
from csms.domain.authorization import status_of
from csms.domain.events import ChargePointConnected, ChargePointDisconnected, DomainEvent
from csms.storage.fleet import local_list_store as lists
from csms.storage.notifications import Listener
from csms.storage.outage import outage

log = structlog.get_logger(__name__)

# An entry as the list holds it: {"status", "type", "expires_at", "group"}; None: removed.
Entry = dict[str, Any]


@dataclass(frozen=True)
class LocalListSupport:
    """What a charger says of its list: enabled, how many entries it holds and takes at once."""

    enabled: bool
    max_length: int | None = None
    per_message: int | None = None


UNSUPPORTED = LocalListSupport(False)  # shared: kept per charger


class LocalListLink(Protocol):
    """What each OCPP adapter offers for lists; only the node holding the charger uses it (a
    full list is too large to relay)."""

    async def local_list_support(self) -> LocalListSupport: ...
    async def get_local_list_version(self) -> int: ...
    async def send_local_list(self, version: int, full: bool,
                              changes: list[tuple[str, Entry | None]]) -> str: ...


# --- the list's content, purely ------------------------------------------------------------


def entry_of(token: Mapping[str, Any]) -> Entry:
    """A token row as a list entry: its status now, its expiry, its group (OCPI group_id)."""
    expires_at = token["expires_at"]
    group = ((token["attributes"] or {}).get("ocpi") or {}).get("object", {}).get("group_id")
    return {"status": status_of(token).value, "type": token["type"],
            "expires_at": expires_at.astimezone(UTC).isoformat() if expires_at else None,
            "group": group}


def desired_list(tokens: Sequence[Mapping[str, Any]]) -> dict[str, Entry]:
    """One entry per UID (the list carries UIDs): our own token if we have one, else the first
    roaming copy that accepts, else the first copy (as authorization answers). Rows come grouped
    by UID, ours first."""
    by_uid: dict[str, list[Mapping[str, Any]]] = {}
    for token in tokens:
        by_uid.setdefault(token["uid"], []).append(token)
    listed: dict[str, Entry] = {}
    for uid, held in by_uid.items():
        entries = [entry_of(token) for token in held]
        if held[0]["owner"] is None:
            listed[uid] = entries[0]
        else:
            listed[uid] = next((e for e in entries if e["status"] == "accepted"), entries[0])
    return listed


def truncated(desired: dict[str, Entry], max_length: int | None) -> dict[str, Entry]:
    """What fits the charger: accepted entries first (they let drivers charge offline)."""
    if max_length is None or len(desired) <= max_length:
        return desired
    order = sorted(desired, key=lambda uid: (desired[uid]["status"] != "accepted", uid))
    return {uid: desired[uid] for uid in order[:max_length]}


def changes_between(held: dict[str, Entry], desired: dict[str, Entry]
                    ) -> list[tuple[str, Entry | None]]:
    """The differential update from what the charger holds to what it should: removals first,
    so a list at its maximum length never overflows on the way."""
    removed: list[tuple[str, Entry | None]] = [(uid, None) for uid in held if uid not in desired]
    changed: list[tuple[str, Entry | None]] = [
        (uid, entry) for uid, entry in desired.items() if held.get(uid) != entry]
    return removed + changed


def chunks(items: list[tuple[str, Entry | None]], size: int | None
           ) -> list[list[tuple[str, Entry | None]]]:
    """Split by what the charger takes in one SendLocalList; always at least one (maybe empty)."""
    if not size or size < 1:
        return [items]
    return [items[i:i + size] for i in range(0, len(items), size)] or [[]]


def applied(held: dict[str, Entry], changes: list[tuple[str, Entry | None]]) -> dict[str, Entry]:
    result = dict(held)
    for uid, entry in changes:
        if entry is None:
            result.pop(uid, None)
        else:
            result[uid] = entry
    return result


# --- keeping every list in sync ------------------------------------------------------------


class LocalListService:
    """Runs on every node for the chargers that node holds: a token change anywhere in the
    cluster (the database notifies) gives each a differential update; a (re)connect first asks
    the charger its version, and a charger that reports another one gets a full list."""

    def __init__(self, pool: asyncpg.Pool, connections: Connections, listener: Listener,
                 retry_interval: float, concurrency: int = 8) -> None:
        self.pool = pool
        self.connections = connections
        self.listener = listener
        self.retry_interval = retry_interval
        self._dirty: dict[str, bool] = {}  # charger → its version and support to be asked first
        self._support: dict[str, LocalListSupport] = {}
        self._wake = asyncio.Event()
        self._locks: dict[str, asyncio.Lock] = {}
        self._limit = asyncio.Semaphore(concurrency)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.listener.subscribe(lists.CHANNEL, self._notified)
        self._task = asyncio.get_running_loop().create_task(self._run_forever())

    async def stop(self) -> None:
        self.listener.unsubscribe(lists.CHANNEL, self._notified)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def on_event(self, conn: asyncpg.Connection, event: DomainEvent) -> None:
        """A charger reconnected here: its version is asked, its list checked (once it has been
        accepted; a boot has the adapter mark it once our answer is out)."""
        if isinstance(event, ChargePointConnected) and event.charge_point_id in self.connections:
            self.mark(event.charge_point_id, check=True)
        elif isinstance(event, ChargePointDisconnected):
            self._support.pop(event.charge_point_id, None)  # nothing kept per charger gone

    def _notified(self, payload: str) -> None:
        """'' : some token changed; a charger id: a full list was asked for it."""
        for charge_point_id in ([payload] if payload else self.connections.ids()):
            if charge_point_id in self.connections:
                self.mark(charge_point_id, check=False)

    def mark(self, charge_point_id: str, check: bool) -> None:
        self._dirty[charge_point_id] = self._dirty.get(charge_point_id, False) or check
        self._wake.set()

    async def _run_forever(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.retry_interval):  # not wait_for: see outbox
                    await self._wake.wait()
            self._wake.clear()
            try:
                if not self._dirty:  # a quiet interval: retry what failed
                    for charge_point_id in await lists.failed_among(self.pool,
                                                                    self.connections.ids()):
                        self._dirty.setdefault(charge_point_id, True)
                dirty, self._dirty = self._dirty, {}
                if dirty:
                    desired = desired_list(await lists.listed_tokens(self.pool))
                    await asyncio.gather(*(self._guarded(cp, check, desired)
                                           for cp, check in dirty.items()))
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                if not outage.noted(exc):
                    log.warning("local lists not synced", error=repr(exc))

    async def _guarded(self, charge_point_id: str, check: bool, desired: dict[str, Entry]) -> None:
        lock = self._locks.setdefault(charge_point_id, asyncio.Lock())
        async with self._limit, lock:
            try:
                await self.sync(charge_point_id, check, desired)
            except Exception as exc:  # one charger's trouble must not stop the others
                log.warning("local list sync failed", charge_point_id=charge_point_id,
                            error=repr(exc))
                with contextlib.suppress(Exception):
                    await lists.set_state(self.pool, charge_point_id, "failed", repr(exc)[:200])
        if not lock.locked():
            self._locks.pop(charge_point_id, None)

    async def sync(self, charge_point_id: str, check: bool, desired: dict[str, Entry]) -> None:
        link = self.connections.get(charge_point_id)
        if link is None or not hasattr(link, "send_local_list"):
            return
        support = self._support.get(charge_point_id)
        if not check and support is not None and not support.enabled:
            # Known to hold no list: a token change is nothing to it. Without this, every token
            # change cost each such charger three round trips (a write among them).
            return
        if not await lists.boot_accepted(self.pool, charge_point_id):
            return  # a charger not (yet) accepted is left alone; its boot brings it back here
        charger: LocalListLink = link  # type: ignore[assignment]
        row = await lists.ensure(self.pool, charge_point_id)
        if check or support is None:
            support = await charger.local_list_support()
            self._support[charge_point_id] = support
        if not support.enabled:
            await lists.set_state(self.pool, charge_point_id, "unsupported", supported=False)
            return
        full = row["full_requested"] or row["synced_at"] is None  # the first list is a full one
        base = row["version"]
        if check:
            version = await charger.get_local_list_version()
            if version < 0:  # 1.6: -1 says the charger has no local list
                self._support[charge_point_id] = UNSUPPORTED
                await lists.set_state(self.pool, charge_point_id, "unsupported", supported=False)
                return
            full = full or version != row["version"]
            base = max(base, version)  # a full list outnumbers whatever the charger holds
        wanted = truncated(desired, support.max_length)
        if len(wanted) < len(desired):
            log.warning("local list truncated to the charger's maximum",
                        charge_point_id=charge_point_id, max_length=support.max_length,
                        tokens=len(desired))
        outcome = await self._send(charger, charge_point_id, base if full else row["version"],
                                   dict(row["entries"]), wanted, full, support.per_message)
        if outcome == "VersionMismatch" and not full:  # the charger's list is not ours: replace it
            current = await lists.ensure(self.pool, charge_point_id)
            outcome = await self._send(charger, charge_point_id, current["version"], {}, wanted,
                                       True, support.per_message)
        if outcome == "Accepted":
            await lists.set_state(self.pool, charge_point_id, "synced", supported=True,
                                  synced=True)
        elif outcome == "NotSupported":
            await lists.set_state(self.pool, charge_point_id, "unsupported", outcome,
                                  supported=False)
        else:
            await lists.set_state(self.pool, charge_point_id, "failed", outcome, supported=True)

    async def _send(self, charger: LocalListLink, charge_point_id: str, version: int,
                    held: dict[str, Entry], wanted: dict[str, Entry], full: bool,
                    per_message: int | None) -> str:
        """Full: the first chunk replaces the list, the rest follow as differentials. Each
        message raises the version; what the charger accepted is recorded as it goes."""
        if full:
            changes: list[tuple[str, Entry | None]] = list(wanted.items())
            held = {}
        else:
            changes = changes_between(held, wanted)
            if not changes:
                return "Accepted"
        for number, chunk in enumerate(chunks(changes, per_message)):
            version += 1
            replace = full and number == 0
            try:
                status = await charger.send_local_list(version, replace, chunk)
            except TimeoutError:
                return "timeout"
            except (ConnectionClosed, OCPPError) as exc:
                return type(exc).__name__
            log.info("local list sent", charge_point_id=charge_point_id, version=version,
                     full=replace, entries=len(chunk), status=status)
            if status != "Accepted":
                return status
            held = applied(held, chunk)
            await lists.accepted(self.pool, charge_point_id, version, held)
        return "Accepted"
