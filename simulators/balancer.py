"""A TCP load balancer stand-in: each connection goes to the first backend that accepts it."""

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
    """Failover order, as HAProxy's `first` or nginx's `backup` servers do it: a node that is down
    refuses the connection and the next one gets it. A backend that dies closes its connections,
    so chargers reconnect through us to a node that is still up."""

    def __init__(self, backends: list[tuple[str, int]]) -> None:
        self.backends = backends
        self.connections: list[tuple[str, int]] = []  # the backend each connection went to
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        self._server = await asyncio.start_server(self._handle, host, port)
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _handle(self, client_reader: asyncio.StreamReader,
                      client_writer: asyncio.StreamWriter) -> None:
        for backend in self.backends:
            try:
                backend_reader, backend_writer = await asyncio.open_connection(*backend)
            except OSError:
                continue
            self.connections.append(backend)
            await asyncio.gather(_pipe(client_reader, backend_writer),
                                 _pipe(backend_reader, client_writer))
            return
        log.warning("no backend accepts connections", backends=self.backends)
        client_writer.close()
