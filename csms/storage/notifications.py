"""PostgreSQL LISTEN for the whole process: one connection, re-established when the database comes back."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import asyncpg
import structlog

from csms.storage.outage import outage

log = structlog.get_logger(__name__)

Callback = Callable[[str], None]


class Listener:
    """Channels and their callbacks survive a lost connection (a database restart, a failover):
    the listener reconnects with backoff and listens again. Notifications sent while it was away
    are lost, so every subscriber also polls or times out on its own."""

    def __init__(self, url: str, retry_delay: float = 0.5, max_delay: float = 10.0) -> None:
        self.url = url
        self.retry_delay = retry_delay
        self.max_delay = max_delay
        self._callbacks: dict[str, list[Callback]] = {}
        self._conn: asyncpg.Connection | None = None
        self._lost = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def subscribe(self, channel: str, callback: Callback) -> None:
        first = channel not in self._callbacks
        self._callbacks.setdefault(channel, []).append(callback)
        if first and self._conn is not None and not self._conn.is_closed():
            await self._conn.add_listener(channel, self._dispatch)

    def unsubscribe(self, channel: str, callback: Callback) -> None:
        """Stop calling back; the channel stays listened to, which costs nothing."""
        with contextlib.suppress(KeyError, ValueError):
            self._callbacks[channel].remove(callback)

    async def start(self) -> None:
        await self._connect()
        self._task = asyncio.get_running_loop().create_task(self._keep_connected())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._conn is not None and not self._conn.is_closed():
            await self._conn.close()

    async def _connect(self) -> None:
        conn = await asyncpg.connect(self.url)
        conn.add_termination_listener(lambda _: self._lost.set())
        for channel in self._callbacks:
            await conn.add_listener(channel, self._dispatch)
        self._conn = conn
        self._lost.clear()

    async def _keep_connected(self) -> None:
        while True:
            await self._lost.wait()
            log.warning("notification connection lost; reconnecting")
            delay = self.retry_delay
            while True:
                try:
                    await self._connect()
                    log.info("notification connection back")
                    outage.reachable()
                    break
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    log.debug("reconnect failed", error=repr(exc), retry_in=delay)
                    await asyncio.sleep(delay)
                    delay = min(self.max_delay, delay * 2)

    def _dispatch(self, conn: object, pid: int, channel: str, payload: str) -> None:
        for callback in self._callbacks.get(channel, ()):
            try:
                callback(payload)
            except Exception:  # one subscriber's bug must not silence the others
                log.exception("notification callback failed", channel=channel)
