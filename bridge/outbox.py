"""The durable outbox: roaming messages stored with their cause, delivered in order with retries."""

from __future__ import annotations

import asyncio
import contextlib
import weakref
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import structlog

from csms.metrics import roaming_request
from csms.storage.notifications import Listener
from csms.storage.outage import outage

# What operators see of the outbox lives with the storage (the admin API and console import no bridge).
from csms.storage.outbox_view import CHANNEL as CHANNEL
from csms.storage.outbox_view import Overview as Overview
from csms.storage.outbox_view import has_messages as has_messages
from csms.storage.outbox_view import list_messages as list_messages
from csms.storage.outbox_view import overview as overview
from csms.storage.outbox_view import retry as retry

log = structlog.get_logger(__name__)

LOG_CONTEXT = ("charge_point_id", "session_id")
# A partner's messages go in lanes, each delivered in order, one request at a time: the main lane
# ("") for data pushes (OICP wants those one at a time) and a few for sessions' notifications and
# CDRs, so a partner that answers in 200 ms still takes more than five sessions' messages a second.
SESSION_LANES = 4
LANES = ("", *(f"s{n}" for n in range(SESSION_LANES)))


_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = \
    weakref.WeakKeyDictionary()


def delivery_slots(pool: asyncpg.Pool) -> asyncio.Semaphore:
    """An attempt holds a pool connection (its lane's lock) while the partner answers, and its
    sender may look something up with a second one. Lanes of several partners at once must not
    take the pool from the chargers' writes, nor deadlock on it: at most a third of the pool
    delivers at a time in this process."""
    loop = asyncio.get_running_loop()
    if loop not in _slots:
        _slots[loop] = asyncio.Semaphore(max(1, pool.get_max_size() // 3))
    return _slots[loop]


def session_lane(session_id: str) -> str:
    """Every message of one session goes in the same lane, so they arrive in order."""
    return f"s{zlib.crc32(session_id.encode()) % SESSION_LANES}"


@dataclass(frozen=True)
class Replacement:
    """Another message to send in this one's place, in its place in the lane (e.g. the whole
    object, when the partner does not know the object a PATCH was about)."""

    operation: str
    path: str
    body: dict[str, Any]


@dataclass(frozen=True)
class Delivery:
    """What became of one attempt. retry=False with ok=False: the partner refused it for good;
    with a replacement: the message becomes that one, attempted next."""

    ok: bool
    retry: bool = False
    error: str | None = None
    http_status: int | None = None  # the partner's answer; None: it did not answer
    replacement: Replacement | None = None
    given_up: bool = False  # failed for good after too many attempts


def give_up_after(delivery: Delivery, attempts: int, limit: int) -> Delivery:
    """A message still worth a retry after `limit` attempts is given up instead: failed for
    good (counted in csms_outbox_failed), for messages that are worthless late."""
    if delivery.ok or not delivery.retry or attempts < limit:
        return delivery
    return Delivery(False, error=_short(f"given up after {attempts} attempts: {delivery.error}"),
                    http_status=delivery.http_status, given_up=True)


def _short(text: str, limit: int = 160) -> str:
    """One line of at most `limit` characters."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[:limit - 1] + "…"


def unanswered(exc: BaseException) -> Delivery:
    """A request that got no answer (refused, timed out, cut off): retried. Its reason is the
    exception's message, not its repr."""
    text = str(exc)
    return Delivery(False, retry=True,
                    error=_short(f"{type(exc).__name__}: {text}" if text.strip() else type(exc).__name__))


Sender = Callable[[asyncpg.Record], Awaitable[Delivery]]


async def enqueue(conn: asyncpg.Connection, partner: str, operation: str, path: str,
                  body: dict[str, Any], coalesce_key: str | None = None, lane: str = "",
                  addressee: str | None = None, held: str | None = None) -> int:
    """Store a message inside the caller's transaction; the worker is woken once it commits.
    The charger and session being logged about go with it, for the delivery's log lines.
    `addressee`: the party it is for behind a hub; `held`: why it must wait for that party
    (skipped until `release`), None to deliver it."""
    bound = structlog.contextvars.get_contextvars()
    context = {key: bound[key] for key in LOG_CONTEXT if key in bound} or None
    if coalesce_key is None:
        message_id = await conn.fetchval(
            """INSERT INTO outbox (partner, operation, path, body, log_context, lane, addressee,
                                   held, last_error)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id""",
            partner, operation, path, body, context, lane, addressee, held is not None, held,
        )
    else:
        message_id = await conn.fetchval(
            """INSERT INTO outbox (partner, operation, path, body, coalesce_key, log_context, lane,
                                   addressee, held, last_error)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
               ON CONFLICT (partner, coalesce_key)
                   WHERE status = 'pending' AND coalesce_key IS NOT NULL
               DO UPDATE SET body = EXCLUDED.body, path = EXCLUDED.path,
                   log_context = EXCLUDED.log_context, version = outbox.version + 1,
                   addressee = EXCLUDED.addressee, held = EXCLUDED.held,
                   last_error = CASE WHEN EXCLUDED.held THEN EXCLUDED.last_error
                                     ELSE outbox.last_error END
               RETURNING id""",
            partner, operation, path, body, coalesce_key, context, lane, addressee,
            held is not None, held,
        )
    await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, partner)  # sent on commit
    log.info("roaming message queued", partner=partner, operation=operation, message_id=message_id,
             **({"held": held} if held else {}))
    return int(message_id)


async def hold(conn: asyncpg.Connection, partner: str, addressee: str, reason: str) -> int:
    """The pending messages for a party wait (skipped by their lanes) until `release`."""
    done = await conn.execute(
        """UPDATE outbox SET held = true, last_error = $3
           WHERE partner = $1 AND addressee = $2 AND NOT held AND status = 'pending'""",
        partner, addressee, reason,
    )
    return int(done.split()[-1])


async def release(conn: asyncpg.Connection, partner: str, addressee: str) -> int:
    """The messages held for a party go out now, each in its place in its lane (by id)."""
    done = await conn.execute(
        """UPDATE outbox SET held = false, last_error = NULL, next_attempt_at = now()
           WHERE partner = $1 AND addressee = $2 AND held AND status = 'pending'""",
        partner, addressee,
    )
    released = int(done.split()[-1])
    if released:
        await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, partner)  # sent on commit
        log.info("roaming messages released", partner=partner, addressee=addressee,
                 count=released)
    return released


async def discard_pending(conn: asyncpg.Connection, partner: str, coalesce_keys: list[str]) -> int:
    """Drop pending messages that a newer, fuller one about to be enqueued makes pointless."""
    done = await conn.execute(
        """DELETE FROM outbox WHERE partner = $1 AND status = 'pending'
           AND coalesce_key = ANY($2::text[])""",
        partner, coalesce_keys,
    )
    return int(done.split()[-1])


async def discard_pending_paths(conn: asyncpg.Connection, partner: str,
                                prefixes: tuple[str, ...]) -> int:
    """Drop pending messages to these paths (prefixes of `path`): a full push replaces them.
    Waits for the partner's deliveries in flight (each holds its lane's row): one of these
    messages already on its way must not be sent after the caller's change is committed."""
    await conn.execute("SELECT 1 FROM outbox_lanes WHERE partner = $1 FOR UPDATE", partner)
    done = await conn.execute(
        """DELETE FROM outbox WHERE partner = $1 AND status = 'pending'
           AND EXISTS (SELECT 1 FROM unnest($2::text[]) p WHERE starts_with(path, p))""",
        partner, list(prefixes),
    )
    return int(done.split()[-1])


async def enqueued_within(db: asyncpg.Pool | asyncpg.Connection, partner: str,
                          coalesce_key: str, seconds: float) -> bool:
    """Was a message with this key enqueued in the last `seconds` (delivered or not)?"""
    return bool(await db.fetchval(
        """SELECT max(created_at) > now() - make_interval(secs => $3) FROM outbox
           WHERE partner = $1 AND coalesce_key = $2""",
        partner, coalesce_key, float(seconds),
    ))


async def latest_body(conn: asyncpg.Connection, partner: str,
                      coalesce_key: str) -> dict[str, Any] | None:
    """The body last queued under this key and not refused: what the partner holds, or will."""
    return await conn.fetchval(  # type: ignore[no-any-return]
        """SELECT body FROM outbox WHERE partner = $1 AND coalesce_key = $2
             AND status <> 'failed' ORDER BY created_at DESC, id DESC LIMIT 1""",
        partner, coalesce_key,
    )


def backoff(attempts: int, base: float = 1.0, ceiling: float = 300.0) -> float:
    """Seconds before the next attempt: doubling from `base`, at most `ceiling`."""
    return float(min(ceiling, base * 2 ** max(0, attempts - 1)))


class OutboxWorker:
    """Delivers one lane of a partner's messages strictly one at a time, oldest first.

    The oldest pending message blocks the ones behind it in its lane until it is delivered or
    refused for good: that keeps every EVSE's and session's messages in order, and OICP wants
    pushes sequential anyway. A crash between sending and recording the answer sends the message
    again.

    Every node runs a worker per partner and lane; the lane's row, locked FOR UPDATE SKIP LOCKED
    for the length of one attempt, lets exactly one of them deliver at a time. A node that dies
    mid-attempt releases the lock with its connection, and another node carries on.
    """

    def __init__(self, pool: asyncpg.Pool, listener: Listener, partner: str, send: Sender,
                 base_delay: float = 1.0, max_delay: float = 300.0, lane: str = "") -> None:
        self.pool = pool
        self.listener = listener
        self.partner = partner
        self.lane = lane
        self.send = send
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self.log = log.bind(partner=partner, lane=lane)

    async def start(self) -> None:
        await self.pool.execute(
            "INSERT INTO outbox_lanes (partner, lane) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            self.partner, self.lane)
        await self.listener.subscribe(CHANNEL, self._notified)
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self, grace: float = 15.0) -> None:
        if self._task is not None:
            # An attempt under way finishes and is recorded first: cut off, the partner would
            # hold the message while we think it undelivered, and get it again after a restart.
            self._stopping = True
            self._wake.set()
            await asyncio.wait({self._task}, timeout=grace)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.listener.unsubscribe(CHANNEL, self._notified)

    def _notified(self, payload: str) -> None:
        if payload == self.partner:
            self._wake.set()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow the stop's
            # cancellation when the wake-up or the timeout lands at the same moment, and the
            # loop then runs on while its stop waits for it forever.
            async with asyncio.timeout(seconds):
                await self._wake.wait()

    async def _run(self) -> None:
        while not self._stopping:
            # Cleared before looking, so a NOTIFY that comes while we look is not lost.
            self._wake.clear()
            try:
                delay = await self.deliver_next()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                # The database is away: try again soon.
                if not outage.noted(exc):
                    self.log.warning("outbox worker error", error=repr(exc))
                delay = 1.0
            if delay > 0 and not self._stopping:
                await self._sleep(delay)

    async def deliver_next(self) -> float:
        """Attempt the oldest pending message; returns how long to wait before the next try."""
        async with delivery_slots(self.pool), self.pool.acquire() as conn, conn.transaction():
            lane = await conn.fetchval(
                """SELECT partner FROM outbox_lanes WHERE partner = $1 AND lane = $2
                   FOR UPDATE SKIP LOCKED""",
                self.partner, self.lane,
            )
            if lane is None:
                return 5.0  # another node is delivering; its commit wakes us
            return await self._attempt(conn)

    async def _attempt(self, conn: asyncpg.Connection) -> float:
        message = await conn.fetchrow(
            """SELECT * FROM outbox WHERE partner = $1 AND lane = $2 AND status = 'pending'
                 AND NOT held ORDER BY id LIMIT 1""",
            self.partner, self.lane,
        )
        if message is None:
            return 5.0  # nothing to do: a NOTIFY wakes us earlier
        wait = (message["next_attempt_at"] - datetime.now(UTC)).total_seconds()
        if wait > 0:
            return wait
        with structlog.contextvars.bound_contextvars(
                message_id=message["id"], operation=message["operation"],
                **(message["log_context"] or {})):
            return await self._deliver(conn, message)

    async def _deliver(self, conn: asyncpg.Connection, message: asyncpg.Record) -> float:
        with roaming_request(self.partner, message["operation"]) as accepted:
            try:
                outcome = await self.send(message)
            except Exception as exc:  # a bug in building or sending must not stop the worker
                self.log.exception("outbox send failed")
                outcome = unanswered(exc)
            accepted(outcome.ok)
        attempts = message["attempts"] + 1
        if outcome.replacement is not None:
            # It keeps its id, so nothing behind it in the lane overtakes it; no longer coalesced
            # into, since a newer PATCH must not land in a PUT.
            new = outcome.replacement
            await conn.execute(
                """UPDATE outbox SET operation = $2, path = $3, body = $4, coalesce_key = NULL,
                       attempts = $5, last_error = $6, next_attempt_at = now()
                   WHERE id = $1""",
                message["id"], new.operation, new.path, new.body, attempts, outcome.error)
            self.log.info("replaced", error=outcome.error, by=new.operation)
            return 0.0
        if outcome.ok:
            # A newer version coalesced in while we were sending stays pending, to go next.
            # clock_timestamp(): the partner's answer, not the start of this attempt's transaction.
            await conn.execute(
                """UPDATE outbox SET status = CASE WHEN version = $2 THEN 'delivered' ELSE status END,
                       delivered_at = CASE WHEN version = $2 THEN clock_timestamp() END,
                       attempts = $3, last_error = NULL
                   WHERE id = $1""",
                message["id"], message["version"], attempts,
            )
            self.log.info("delivered", attempts=attempts)
            return 0.0
        if not outcome.retry:
            await conn.execute(
                """UPDATE outbox SET status = 'failed', attempts = $2, last_error = $3
                   WHERE id = $1""",
                message["id"], attempts, outcome.error,
            )
            self._failed("given up" if outcome.given_up else "refused by partner", message,
                         outcome, attempts)
            return 0.0
        delay = backoff(attempts, self.base_delay, self.max_delay)
        await conn.execute(
            """UPDATE outbox SET attempts = $2, last_error = $3, next_attempt_at = $4
               WHERE id = $1""",
            message["id"], attempts, outcome.error,
            datetime.now(UTC) + timedelta(seconds=delay),
        )
        self._failed("delivery failed, will retry", message, outcome, attempts,
                     retry_in=round(delay, 1))
        return delay

    def _failed(self, event: str, message: asyncpg.Record, outcome: Delivery, attempts: int,
                **more: Any) -> None:
        """One WARNING line an operator can act on: the partner, the operation, the HTTP status
        and a short reason."""
        self.log.warning(event, operation=message["operation"], http_status=outcome.http_status,
                         reason=_short(outcome.error or ""), attempts=attempts, **more)


class Lanes:
    """All of one partner's lane workers, started and stopped together."""

    def __init__(self, pool: asyncpg.Pool, listener: Listener, partner: str, send: Sender,
                 base_delay: float = 1.0, max_delay: float = 300.0) -> None:
        self.partner = partner
        self.workers = [OutboxWorker(pool, listener, partner, send, base_delay, max_delay, lane)
                        for lane in LANES]

    async def start(self) -> None:
        for worker in self.workers:
            await worker.start()

    async def stop(self) -> None:
        await asyncio.gather(*(worker.stop() for worker in self.workers))
