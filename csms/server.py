"""The OCPP WebSocket server: admission, subprotocol choice, one adapter per connection."""

from __future__ import annotations

import asyncio
import ssl
import unicodedata
from collections import Counter
from collections.abc import Awaitable
from http import HTTPStatus
from typing import cast
from urllib.parse import unquote, urlsplit

import structlog
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from csms.adapter import OcppAdapter, Services
from csms.config import OcppSettings
from csms.credentials import PasswordCheck, basic_credentials
from csms.links import Connections
from csms.ocpp16 import Ocpp16Adapter
from csms.ocpp201 import Ocpp201Adapter
from csms.relay import Relay
from csms.tls import server_context

log = structlog.get_logger(__name__)

# The server's order decides when a charger offers both: prefer the newer protocol.
ADAPTERS: dict[str, type[Ocpp16Adapter] | type[Ocpp201Adapter]] = {
    "ocpp2.0.1": Ocpp201Adapter,
    "ocpp1.6": Ocpp16Adapter,
}


class BadIdentity(ValueError):
    """A path under the prefix whose last segment cannot be a charger's id."""


def charge_point_id_from_path(path: str, prefix: str) -> str | None:
    """'/ocpp/CP%201' → 'CP 1'; None unless the path is exactly prefix + one segment. Raises
    BadIdentity for a segment that is not UTF-8 or holds control characters ('CP1%00'): no
    database or log line takes those."""
    route = urlsplit(path).path
    base = prefix.rstrip("/") + "/"
    if not route.startswith(base):
        return None
    try:
        charge_point_id = unquote(route[len(base):], errors="strict")
    except UnicodeDecodeError:
        raise BadIdentity("charge point id is not UTF-8") from None
    if not charge_point_id or "/" in charge_point_id or len(charge_point_id) > 255:
        return None
    if any(unicodedata.category(char) in ("Cc", "Cs") for char in charge_point_id):
        raise BadIdentity("charge point id holds control characters")
    return charge_point_id


def _refuse(connection: ServerConnection, status: HTTPStatus, why: str) -> Response:
    response = connection.respond(status, why + "\n")
    if status is HTTPStatus.UNAUTHORIZED:
        response.headers = Headers(response.headers)
        response.headers["WWW-Authenticate"] = 'Basic realm="ocpp", charset="UTF-8"'
    return response


def tls_context(settings: OcppSettings) -> ssl.SSLContext | None:
    """TLS for security profiles 2 and 3; client certificates are asked for, not demanded,
    so profile 2 chargers (password only) share the port with profile 3 ones."""
    if not settings.tls_cert:
        return None
    return server_context(settings.tls_cert, settings.tls_key, settings.tls_client_ca,
                          require_client=False)


def certificate_name(connection: ServerConnection) -> str | None:
    """The commonName of the client certificate the charger presented (verified by TLS)."""
    peer = connection.transport.get_extra_info("peercert") if connection.transport else None
    for entry in (peer or {}).get("subject", ()):
        for key, value in entry:
            if key == "commonName":
                return str(value)
    return None


class OcppServer:
    def __init__(self, services: Services, connections: Connections, relay: Relay) -> None:
        self.services = services
        self.settings = services.settings
        self.connections = connections
        self.relay = relay
        relay.on_release = self._release
        self._server: Server | None = None
        self._ssl = tls_context(self.settings)
        self._per_ip: Counter[str] = Counter()
        self._live: set[ServerConnection] = set()
        self._pinger: asyncio.Task[None] | None = None
        self._passwords = PasswordCheck()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await serve(
            self._handle, self.settings.host, self.settings.port,
            subprotocols=[Subprotocol(name) for name in ADAPTERS],
            process_request=self._admit,
            max_size=self.settings.max_message_size,
            compression="deflate" if self.settings.compression else None,
            ssl=self._ssl, open_timeout=self.settings.handshake_timeout or None,
            ping_interval=None,  # one task pings every charger: see _keepalive
        )
        if self.settings.ping_interval:
            self._pinger = asyncio.get_running_loop().create_task(self._keepalive())
        log.info("ocpp server listening", host=self.settings.host, port=self.port,
                 path=self.settings.path, tls=self._ssl is not None)

    async def stop(self) -> None:
        if self._pinger is not None:
            self._pinger.cancel()
        if self._server is not None:
            self._server.close(close_connections=True)
            await self._server.wait_closed()

    async def _admit(self, connection: ServerConnection, request: Request) -> Response | None:
        peer = connection.remote_address
        try:
            charge_point_id = charge_point_id_from_path(request.path, self.settings.path)
        except BadIdentity as bad:
            log.warning("connection refused: bad charge point id", reason=str(bad), peer=peer)
            return _refuse(connection, HTTPStatus.BAD_REQUEST, str(bad).capitalize())
        limit = self.settings.max_connections_per_ip
        if limit and peer and self._per_ip[peer[0]] >= limit:
            log.warning("connection refused: too many from one address", peer=peer, limit=limit)
            return _refuse(connection, HTTPStatus.TOO_MANY_REQUESTS,
                           f"At most {limit} connections per address")
        if charge_point_id is None:
            log.warning("connection refused: bad path", path=request.path, peer=peer)
            return _refuse(connection, HTTPStatus.NOT_FOUND,
                           f"Use {self.settings.path}/{{charge_point_id}}")
        charge_point = await self.services.charge_points.admit(charge_point_id)
        if charge_point is None:
            log.warning("connection refused: unknown charge point",
                        charge_point_id=charge_point_id, peer=peer)
            return _refuse(connection, HTTPStatus.NOT_FOUND,
                           f"Unknown charge point {charge_point_id}")
        profile = charge_point["security_profile"]
        certified = certificate_name(connection)
        if certified is not None and certified != charge_point_id:
            # The gap CitrineOS closed late: a valid certificate of another charger is no entry.
            log.warning("connection refused: certificate of another charger",
                        charge_point_id=charge_point_id, certificate=certified, peer=peer)
            return _refuse(connection, HTTPStatus.FORBIDDEN, "Certificate is not this charger's")
        if profile >= 2 and self._ssl is None:
            log.error("connection refused: profile needs TLS, the server has none",
                      charge_point_id=charge_point_id, profile=profile)
            return _refuse(connection, HTTPStatus.FORBIDDEN, f"Security profile {profile} needs TLS")
        if profile == 3:
            if certified is None:
                log.warning("connection refused: no client certificate",
                            charge_point_id=charge_point_id, peer=peer)
                return _refuse(connection, HTTPStatus.UNAUTHORIZED, "Client certificate required")
            return None  # the certificate is the credential
        password_hash = charge_point["password_hash"]
        if password_hash is not None:
            credentials = basic_credentials(request.headers.get("Authorization"))
            if (credentials is None or credentials[0] != charge_point_id
                    or not await self._passwords.verify(credentials[1], password_hash)):
                log.warning("connection refused: wrong credentials",
                            charge_point_id=charge_point_id, peer=peer)
                return _refuse(connection, HTTPStatus.UNAUTHORIZED, "Wrong or missing credentials")
        return None

    async def _keepalive(self) -> None:
        """Pings every charger each ping_interval; one that has not answered within ping_timeout
        is disconnected, so a dead connection does not hold its charger. One task for all
        instead of the websockets library's task per connection: about a tenth of the memory a
        charger costs."""
        interval, timeout = self.settings.ping_interval, self.settings.ping_timeout
        while True:
            await asyncio.sleep(max(0.0, interval - timeout) if timeout else interval)
            live = list(self._live)
            waiting: dict[ServerConnection, Awaitable[float]] = {}
            for start in range(0, len(live), 500):  # in chunks: a big fleet's calls go on
                chunk = live[start:start + 500]
                pings = await asyncio.gather(*(self._ping(ws, timeout or interval) for ws in chunk))
                waiting.update((ws, pong) for ws, pong in zip(chunk, pings, strict=True)
                               if pong is not None)
            if not timeout:
                continue
            await asyncio.sleep(timeout)
            for websocket, pong in waiting.items():
                answered = cast(asyncio.Future[float], pong)
                if not answered.done():
                    log.warning("connection dropped: no pong", peer=websocket.remote_address)
                    websocket.transport.abort()  # a dead peer would not take part in a close
                elif not answered.cancelled():
                    answered.exception()  # closed meanwhile: seen, so asyncio does not warn

    @staticmethod
    async def _ping(websocket: ServerConnection, within: float) -> Awaitable[float] | None:
        """The pong to wait for; None if closed, or if even the ping cannot be written (a peer
        that stopped reading fills our buffer): that one is dropped at once."""
        try:
            return await asyncio.wait_for(websocket.ping(), within)
        except ConnectionClosed:
            return None
        except TimeoutError:
            log.warning("connection dropped: not reading", peer=websocket.remote_address)
            websocket.transport.abort()
            return None

    async def _close(self, adapter: OcppAdapter, why: str) -> None:
        log.info("connection replaced", charge_point_id=adapter.charge_point_id, why=why)
        adapter.close()
        await adapter._connection.close(1000, why)  # type: ignore[attr-defined]

    async def _release(self, charge_point_id: str) -> None:
        """Another node holds this charger now: our connection to it is a stale one."""
        link = self.connections.get(charge_point_id)
        if isinstance(link, OcppAdapter):
            await self._close(link, "Replaced by a connection to another node")

    async def _handle(self, websocket: ServerConnection) -> None:
        assert websocket.request is not None  # always set once the handshake is done
        charge_point_id = charge_point_id_from_path(websocket.request.path, self.settings.path)
        protocol = websocket.subprotocol
        if charge_point_id is None or protocol not in ADAPTERS:
            await websocket.close(1002, "Offer subprotocol ocpp1.6 or ocpp2.0.1")
            return
        address = websocket.remote_address[0] if websocket.remote_address else ""
        self._per_ip[address] += 1
        self._live.add(websocket)
        try:
            await self._serve(websocket, charge_point_id, protocol)
        finally:
            self._per_ip[address] -= 1
            self._live.discard(websocket)

    async def _serve(self, websocket: ServerConnection, charge_point_id: str, protocol: str) -> None:
        adapter: OcppAdapter = ADAPTERS[protocol](charge_point_id, websocket, self.services)
        previous = self.connections.put(charge_point_id, adapter)  # type: ignore[arg-type]
        if isinstance(previous, OcppAdapter):
            await self._close(previous, "Replaced by a new connection")
        log.info("charger connected", charge_point_id=charge_point_id, protocol=protocol,
                 peer=websocket.remote_address)
        try:
            holder = await self.services.charge_points.connected(charge_point_id, protocol)
            if holder is not None and holder != self.relay.node_id:
                await self.relay.release(holder, charge_point_id)
            await adapter.start()  # type: ignore[attr-defined]
        except ConnectionClosed as closed:
            log.info("charger disconnected", charge_point_id=charge_point_id,
                     code=closed.rcvd.code if closed.rcvd else None)
        finally:
            adapter.close()
            if self.connections.remove(charge_point_id, adapter):  # type: ignore[arg-type]
                await asyncio.shield(self.services.charge_points.disconnected(charge_point_id))
