"""A charger's WebSocket connection: counted per address from its accept, slim once it is open."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Iterable
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers

# A connection beyond max_connections_per_ip gets this long to send its request (and be answered
# 429) before it is dropped: half-open ones cannot pile up past the limit.
OVER_LIMIT_GRACE = 2.0


class _NoHeaders(Headers):
    """The headers of an opening handshake that is over: none, and none can be added."""

    def __setitem__(self, key: str, value: str) -> None:
        raise TypeError("the handshake is over")

    def set_insecure(self, key: str, value: str) -> None:
        raise TypeError("the handshake is over")

    def update(self, *args: Any, **kwargs: Any) -> None:
        if args or kwargs:  # Headers.__init__ calls it empty
            raise TypeError("the handshake is over")


NO_HEADERS = _NoHeaders()  # shared by every open connection


class FrameQueue(list[Any]):
    """What websockets' receive queue uses of a deque, on a list: 56 bytes while empty (as
    it is between a charger's calls) instead of the 760 an empty deque allocates. It holds
    a few frames at most (websockets stops reading past max_queue), so popping the first
    of a list costs nothing worth a deque."""

    __slots__ = ()

    def popleft(self) -> Any:
        return self.pop(0)

    def extendleft(self, items: Iterable[Any]) -> None:
        self[:0] = list(items)[::-1]  # deque.extendleft reverses: the assembler passes reversed()


class CountedConnection(ServerConnection):
    """Counted per address from the TCP accept to the close: upgrades under way (a slow or a
    never finished request, a password check) count towards max_connections_per_ip too."""

    per_ip: Counter[str]  # the server's, on the subclass each server makes
    limit: int = 0
    address = ""
    over_limit = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The attributes connection_made sets, made here first. CPython 3.11 shares attribute
        # names between a class's instances, but each instance made shrinks the room for new
        # names; asyncio calls connection_made a loop turn after the object is made, so with
        # many accepted at once the names no longer fit and every connection got a dict of its
        # own: 1.5 KiB more per charger, in about one process in three.
        self.recv_messages = None  # type: ignore[assignment]
        self.transport = None  # type: ignore[assignment]
        self.address = ""
        # Only appended to, iterated and removed from (flow control): a list does, empty at
        # 56 bytes instead of a deque's 760, and empty nearly always.
        if hasattr(self, "drain_waiters"):
            self.drain_waiters = []  # type: ignore[assignment]
        # websockets wraps its logger per connection (an adapter, a dict and a weak proxy, 0.3
        # KiB) only to offer the connection to log formats as %(websocket)s, which ours do
        # not use: the logger itself, shared.
        if isinstance(self.protocol.logger, logging.LoggerAdapter):
            self.logger = self.protocol.logger = self.protocol.logger.logger

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        frames = getattr(getattr(self, "recv_messages", None), "frames", None)
        if frames is not None and type(getattr(frames, "queue", None)).__name__ == "deque":
            frames.queue = FrameQueue(frames.queue)  # made by connection_made, empty here
        peer = transport.get_extra_info("peername")
        self.address = str(peer[0]) if peer else ""
        self.per_ip[self.address] += 1
        if self.limit and self.per_ip[self.address] > self.limit:
            self.over_limit = True
            self.loop.call_later(OVER_LIMIT_GRACE, self._drop_unanswered)

    async def handshake(self, *args: Any, **kwargs: Any) -> None:
        await super().handshake(*args, **kwargs)
        if self.response is not None and self.response.status_code == 101:
            self.forget_handshake()

    def forget_handshake(self) -> None:
        """The opening handshake's headers, read by nothing once the connection is open, were
        a quarter of what an idle charger's connection kept (about 4.5 KiB): dropped. The
        request's path stays (the charger's id)."""
        if self.request is not None:
            self.request.headers = NO_HEADERS
        if self.response is not None:
            self.response.headers = NO_HEADERS
            self.response.body = b""

    def acknowledge_pings(self, data: bytes) -> None:
        super().acknowledge_pings(data)
        if not self.pending_pings:
            # A dict emptied keeps the table it grew to: after the first keepalive ping,
            # every idle connection held one (0.2-0.3 KiB). An empty literal has none.
            self.pending_pings = {}

    def _drop_unanswered(self) -> None:
        if self.response is None and self.transport is not None:
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self.per_ip[self.address] -= 1
        if self.per_ip[self.address] <= 0:
            del self.per_ip[self.address]
