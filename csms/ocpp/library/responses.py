"""A charger's answers to our calls, waiting for the call that asked: the ocpp library's queue, slimmer."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from csms.cluster.links import ChargerOffline


class ResponseQueue:
    """What the library needs of its asyncio.Queue (put_nowait and get), without the four
    deques of 760 bytes each that asyncio.Queue allocates up front: 3 KiB of every connected
    charger's memory, for a queue that is empty nearly all the time.

    As in asyncio.Queue, an item stays queued until a getter takes it, so a get() cancelled (a
    call's timeout) just as an answer arrives loses nothing: the next get() has it."""

    __slots__ = ("_items", "_waiter", "_closed")

    def __init__(self) -> None:
        self._items: deque[Any] | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False

    def close(self) -> None:
        """The connection is gone: a call waiting for its answer (and any later) ends as
        offline at once, instead of waiting out its timeout."""
        self._closed = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def put_nowait(self, item: Any) -> None:
        if self._items is None:
            self._items = deque()
        self._items.append(item)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def get(self) -> Any:
        while not self._items:
            if self._closed:
                raise ChargerOffline("the charger disconnected before it answered")
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        item = self._items.popleft()
        if not self._items:
            self._items = None  # idle again: nothing kept
        return item

    def empty(self) -> bool:
        return not self._items
