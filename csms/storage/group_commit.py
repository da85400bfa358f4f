"""Group commit: the hot-path writes of many chargers in one transaction, each acknowledged once stored."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

import asyncpg
import structlog

from csms.storage.outage import outage

log = structlog.get_logger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")


class GroupCommit(Generic[Item, Result]):
    """While one batch is being written, the next one gathers.

    At low load a batch is one item and costs what a plain write costs; under load a round
    trip and a commit serve hundreds of chargers. Each caller waits for the commit of its own
    batch, so nothing is acknowledged to a charger before it is stored. A batch that fails is
    written again item by item, so one bad item fails alone.

    `write` stores a batch and returns one result per item, in order (or None: no results).
    """

    def __init__(self, pool: asyncpg.Pool,
                 write: Callable[[asyncpg.Connection, list[Item]],
                                 Awaitable[Sequence[Result] | None]],
                 max_batch: int = 500) -> None:
        self.pool = pool
        self.write = write
        self.max_batch = max_batch
        self._gathering: list[tuple[Item, asyncio.Future[Result | None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> Result | None:
        """Returns the item's result once committed; raises what writing it alone raised."""
        stored: asyncio.Future[Result | None] = asyncio.get_running_loop().create_future()
        self._gathering.append((item, stored))
        if self._writer is None:
            # A context of its own: the writer works for every charger in the batch, so it must
            # not log as the one whose call happened to start it.
            self._writer = asyncio.get_running_loop().create_task(self._write_all(),
                                                                  context=contextvars.Context())
        return await stored

    async def _write_all(self) -> None:
        try:
            while self._gathering:
                batch = self._gathering[:self.max_batch]
                del self._gathering[:self.max_batch]
                await self._write_batch(batch)
        finally:
            self._writer = None

    async def _write_batch(self, batch: list[tuple[Item, asyncio.Future[Result | None]]]
                           ) -> None:
        try:
            results = await self._commit([item for item, _ in batch])
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0][1], error=exc)
                return
            if not outage.noted(exc):
                log.warning("group commit failed; items written one by one", size=len(batch),
                            error=repr(exc))
            for item, stored in batch:
                try:
                    [result] = await self._commit([item])
                except Exception as single:  # the caller's handler turns it into a CALLERROR
                    _settle(stored, error=single)
                else:
                    _settle(stored, result)
            return
        for (_, stored), result in zip(batch, results, strict=True):
            _settle(stored, result)

    async def _commit(self, items: list[Item]) -> Sequence[Result | None]:
        async with self.pool.acquire() as conn, conn.transaction():
            results = await self.write(conn, items)
        return [None] * len(items) if results is None else results


def _settle(stored: asyncio.Future[Any], result: Any = None,
            error: BaseException | None = None) -> None:
    if stored.done():  # the caller gave up (its connection closed); the write stands
        return
    if error is None:
        stored.set_result(result)
    else:
        stored.set_exception(error)
