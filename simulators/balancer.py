"""A TCP load balancer stand-in: each connection to the backend holding the fewest, the next if refused."""

from __future__ import annotations

import asyncio
import contextlib

import structlog

log = structlog.get_logger(__name__)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


class Balancer:
    """Least connections, as HAProxy's `leastconn` or nginx's `least_conn`: chargers spread over
    the nodes instead of filling the first. A node that is down refuses the connection and the
    next one gets it; a backend that dies closes its connections, so chargers reconnect through
    us to the nodes still up."""

    def __init__(self, backends: list[tuple[str, int]]) -> None:
        self.backends = backends
        self.connections: list[tuple[str, int]] = []  # the backend each connection went to
        self.open: dict[tuple[str, int], int] = dict.fromkeys(backends, 0)  # held now, per backend
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self, host: str = "127.0.0.1", port: int = 0, reuse_port: bool = False) -> int:
        """`reuse_port`: several processes on one port (the kernel deals out the connections),
        for more connections than one process may hold files open (two per connection)."""
        # a backlog for a fleet reconnecting at once
        self._server = await asyncio.start_server(self._handle, host, port, backlog=4096,
                                                  reuse_port=reuse_port or None)
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    def _order(self) -> list[tuple[str, int]]:
        """The backends to try, fewest open connections first (ties: in the order given)."""
        return sorted(self.backends, key=lambda backend: self.open[backend])

    async def _handle(self, client_reader: asyncio.StreamReader,
                      client_writer: asyncio.StreamWriter) -> None:
        for backend in self._order():
            self.open[backend] += 1  # counted while connecting: a burst spreads too
            try:
                backend_reader, backend_writer = await asyncio.open_connection(*backend)
            except OSError:
                self.open[backend] -= 1
                continue
            self.connections.append(backend)
            try:
                await asyncio.gather(_pipe(client_reader, backend_writer),
                                     _pipe(backend_reader, client_writer))
            finally:
                self.open[backend] -= 1
            return
        log.warning("no backend accepts connections", backends=self.backends)
        client_writer.close()
