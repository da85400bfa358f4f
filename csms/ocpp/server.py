"""The OCPP WebSocket server: admission, subprotocol choice, one adapter per connection."""

from __future__ import annotations

import asyncio
import math
import os
import ssl
import unicodedata
from collections import Counter, deque
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

from csms.cluster.links import Connections
from csms.cluster.relay import Relay
from csms.config import OcppSettings
from csms.ocpp.adapter import OcppAdapter, Services
from csms.ocpp.connection import CountedConnection
from csms.ocpp.log_throttle import LogThrottle
from csms.ocpp.ocpp16 import Ocpp16Adapter
from csms.ocpp.ocpp201 import Ocpp201Adapter
from csms.security.clients import client_key
from csms.security.credentials import Busy, PasswordCheck, basic_credentials
from csms.security.throttle import FailureLimit
from csms.security.tls import server_context

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


def _refuse(connection: ServerConnection, status: HTTPStatus, why: str,
            retry_after: float | None = None) -> Response:
    response = connection.respond(status, why + "\n")
    if status is HTTPStatus.UNAUTHORIZED or retry_after is not None:
        response.headers = Headers(response.headers)
    if status is HTTPStatus.UNAUTHORIZED:
        response.headers["WWW-Authenticate"] = 'Basic realm="ocpp", charset="UTF-8"'
    if retry_after is not None:
        response.headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
    return response


def tls_context(settings: OcppSettings, charger_ca_pem: str = "") -> ssl.SSLContext | None:
    """TLS for security profiles 2 and 3; client certificates are asked for, not demanded,
    so profile 2 chargers (password only) share the port with profile 3 ones. Those our own
    CA signed (charger_ca_pem) are taken, as well as those of tls_client_ca."""
    if not settings.tls_cert:
        return None
    return server_context(settings.tls_cert, settings.tls_key, settings.tls_client_ca,
                          require_client=False, second_cert=settings.tls_second_cert,
                          second_key=settings.tls_second_key, client_ca_pem=charger_ca_pem)


def over_tls(connection: ServerConnection) -> bool:
    return connection.transport is not None and \
        connection.transport.get_extra_info("ssl_object") is not None


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
        self._tls_server: Server | None = None  # on ocpp.tls_port, when TLS has a port of its own
        self._ssl = tls_context(self.settings)  # made again at start, with our CA's certificate
        self._per_ip: Counter[str] = Counter()
        # The open connections, in the slices of the ping round (a second each): a charger stays
        # in its slice, so it is pinged every ping_interval, not sooner or later as others come.
        interval = self.settings.ping_interval
        slices = max(1, round(interval))
        self._ping_step = interval / slices
        self._live: list[set[ServerConnection]] = [set() for _ in range(slices)]
        self._pinger: asyncio.Task[None] | None = None
        self._connection_class = type("Counted", (CountedConnection,), {
            "per_ip": self._per_ip, "limit": self.settings.max_connections_per_ip})
        self._passwords = PasswordCheck(max_pending=self.settings.max_pending_password_checks,
                                        workers=min(8, os.cpu_count() or 2))
        self._failed_ids = FailureLimit(self.settings.auth_failures_per_charger)
        self._failed_addresses = FailureLimit(self.settings.auth_failures_per_address)
        self._refusals = LogThrottle(60.0)  # a flood of refused upgrades: a line a minute

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def tls_port(self) -> int | None:
        """The port TLS is on, if any: tls_port's, or the one port's."""
        if self._tls_server is not None:
            return int(self._tls_server.sockets[0].getsockname()[1])
        return self.port if self._ssl is not None else None

    async def _serve_on(self, port: int, context: ssl.SSLContext | None) -> Server:
        return await serve(
            self._handle, self.settings.host, port,
            subprotocols=[Subprotocol(name) for name in ADAPTERS],
            process_request=self._admit,
            max_size=self.settings.max_message_size,
            compression="deflate" if self.settings.compression else None,
            ssl=context, open_timeout=self.settings.handshake_timeout or None,
            ping_interval=None,  # one task pings every charger: see _keepalive
            create_connection=self._connection_class,
        )

    async def start(self) -> None:
        if self._ssl is not None:
            authority = await self.services.certificates.authority()
            self._ssl = tls_context(self.settings, authority.certificate_pem)
        # A plain port beside the TLS one is a relaxation: csms.security.exposure warns of it.
        separate = self._ssl is not None and self.settings.tls_port
        self._server = await self._serve_on(self.settings.port, None if separate else self._ssl)
        if separate:
            self._tls_server = await self._serve_on(self.settings.tls_port, self._ssl)
        if self.settings.ping_interval:
            self._pinger = asyncio.get_running_loop().create_task(self._keepalive())
        log.info("ocpp server listening", host=self.settings.host, port=self.port,
                 path=self.settings.path, tls_port=self.tls_port)

    async def stop(self) -> None:
        if self._pinger is not None:
            self._pinger.cancel()
        for server in (self._server, self._tls_server):
            if server is not None:
                server.close(close_connections=True)
                await server.wait_closed()
        self._passwords.close()

    async def _admit(self, connection: ServerConnection, request: Request) -> Response | None:
        peer = connection.remote_address
        limit = self.settings.max_connections_per_ip
        if getattr(connection, "over_limit", False):
            self._log_refusal("too many from one address", peer, limit=limit)
            return _refuse(connection, HTTPStatus.TOO_MANY_REQUESTS,
                           f"At most {limit} connections per address")
        try:
            charge_point_id = charge_point_id_from_path(request.path, self.settings.path)
        except BadIdentity as bad:
            self._log_refusal("bad charge point id", peer, reason=str(bad))
            return _refuse(connection, HTTPStatus.BAD_REQUEST, str(bad).capitalize())
        if charge_point_id is None:
            self._log_refusal("bad path", peer, path=request.path[:300])
            return _refuse(connection, HTTPStatus.NOT_FOUND,
                           f"Use {self.settings.path}/{{charge_point_id}}")
        charge_point = await self.services.charge_points.admit(charge_point_id)
        if charge_point is None:
            self._log_refusal("unknown charge point", peer, charge_point_id=charge_point_id)
            return _refuse(connection, HTTPStatus.NOT_FOUND,
                           f"Unknown charge point {charge_point_id}")
        profile = charge_point["security_profile"]
        certified = certificate_name(connection)
        if certified is not None and certified != charge_point_id:
            # The gap CitrineOS closed late: a valid certificate of another charger is no entry.
            log.warning("connection refused: certificate of another charger",
                        charge_point_id=charge_point_id, certificate=certified, peer=peer)
            return _refuse(connection, HTTPStatus.FORBIDDEN, "Certificate is not this charger's")
        if profile >= 2 and not over_tls(connection):
            # Upgraded (or registered) to profile 2 or 3: the plain port is no way in any more.
            if self._ssl is None:
                log.error("connection refused: profile needs TLS, the server has none",
                          charge_point_id=charge_point_id, profile=profile)
            else:
                self._log_refusal("profile needs TLS", peer, charge_point_id=charge_point_id,
                                  profile=profile)
            return _refuse(connection, HTTPStatus.FORBIDDEN, f"Security profile {profile} needs TLS")
        if profile == 3:
            if certified is None:
                log.warning("connection refused: no client certificate",
                            charge_point_id=charge_point_id, peer=peer)
                return _refuse(connection, HTTPStatus.UNAUTHORIZED, "Client certificate required")
            return None  # the certificate is the credential
        password_hash = charge_point["password_hash"]
        if password_hash is not None:
            return await self._authenticate(connection, request, charge_point_id, password_hash)
        if profile == 0 or self.settings.allow_unauthenticated:
            return None  # registered to connect without credentials, or the config says so
        # Profiles 1 and 2 are Basic auth: without a password anyone could connect as this
        # charger, and push the real one off.
        self._log_refusal("no password registered", peer, charge_point_id=charge_point_id)
        return _refuse(connection, HTTPStatus.UNAUTHORIZED,
                       "No password registered for this charger")

    def _log_refusal(self, why: str, peer: object, **details: object) -> None:
        """One line per kind of refusal and address a minute: a flood does not flood the log."""
        address = str(peer[0]) if isinstance(peer, tuple) and peer else str(peer)
        left_out = self._refusals.admit(f"{why} {address}")
        if left_out is not None:
            log.warning("connection refused: " + why, peer=peer,
                        refused_before_unlogged=left_out, **details)

    async def _authenticate(self, connection: ServerConnection, request: Request,
                            charge_point_id: str, password_hash: str) -> Response | None:
        """Basic auth: a password this node checked before gets in at once; past a few wrong
        ones for the id or the address, 429 without a check; 503 when the checks queue is full."""
        peer = connection.remote_address
        address = client_key(str(peer[0]) if peer else "")  # an IPv6 host per /64
        credentials = basic_credentials(request.headers.get("Authorization"))
        if credentials is None:  # no cost to us, and some clients ask first: not a failure
            self._log_refusal("missing credentials", peer, charge_point_id=charge_point_id)
            return _refuse(connection, HTTPStatus.UNAUTHORIZED, "Wrong or missing credentials")
        username, password = credentials
        if username == charge_point_id and self._passwords.known(password, password_hash):
            self._failed_ids.succeeded(charge_point_id)
            return None
        wait = max(self._failed_ids.retry_after(charge_point_id),
                   self._failed_addresses.retry_after(address))
        if wait:
            self._log_refusal("too many wrong passwords", peer, charge_point_id=charge_point_id)
            return _refuse(connection, HTTPStatus.TOO_MANY_REQUESTS,
                           "Too many wrong passwords: try later", retry_after=wait)
        self._failed_ids.start(charge_point_id)
        self._failed_addresses.start(address)
        matched: bool | None = None  # None: no check ran (queue full, or the upgrade dropped)
        try:
            matched = username == charge_point_id and await self._passwords.verify(
                password, password_hash)
        except Busy:
            pass
        finally:
            self._failed_ids.finish(charge_point_id, failed=matched is False)
            self._failed_addresses.finish(address, failed=matched is False)
        if matched is None:
            self._log_refusal("password checks queue full", peer)
            return _refuse(connection, HTTPStatus.SERVICE_UNAVAILABLE,
                           "Busy checking passwords: try later", retry_after=1)
        if not matched:
            self._log_refusal("wrong credentials", peer, charge_point_id=charge_point_id)
            return _refuse(connection, HTTPStatus.UNAUTHORIZED, "Wrong or missing credentials")
        self._failed_ids.succeeded(charge_point_id)
        return None

    async def _keepalive(self) -> None:
        """Pings every charger once each ping_interval; one that has not answered within
        ping_timeout is disconnected, so a dead connection does not hold its charger. One task
        for all instead of the websockets library's task per connection (about a tenth of the
        memory a charger costs), and the round spread over the interval a slice a second: all
        at once, every node pinged its thousands at the same moment each minute, and the
        fleet's slowest calls were the ones caught in it (bench/README.md, "Ping rounds")."""
        interval, timeout = self.settings.ping_interval, self.settings.ping_timeout
        loop = asyncio.get_running_loop()
        waiting: deque[tuple[float, ServerConnection, Awaitable[float]]] = deque()
        while True:
            for live in self._live:
                began = loop.time()
                chunk = list(live)
                pings = await asyncio.gather(*(self._ping(ws, timeout or interval) for ws in chunk))
                if timeout:
                    waiting.extend((began + timeout, ws, pong)
                                   for ws, pong in zip(chunk, pings, strict=True) if pong is not None)
                _drop_unanswered(waiting, loop.time())
                await asyncio.sleep(max(0.0, began + self._ping_step - loop.time()))

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
        """One coroutine for the connection's life (each level of a waiting coroutine stays in
        every idle charger's memory)."""
        assert websocket.request is not None  # always set once the handshake is done
        charge_point_id = charge_point_id_from_path(websocket.request.path, self.settings.path)
        protocol = websocket.subprotocol
        if charge_point_id is None or protocol not in ADAPTERS:
            await websocket.close(1002, "Offer subprotocol ocpp1.6 or ocpp2.0.1")
            return
        adapter: OcppAdapter = ADAPTERS[protocol](charge_point_id, websocket, self.services)
        previous = self.connections.put(charge_point_id, adapter)  # type: ignore[arg-type]
        if isinstance(previous, OcppAdapter):
            await self._close(previous, "Replaced by a new connection")
        log.info("charger connected", charge_point_id=charge_point_id, protocol=protocol,
                 peer=websocket.remote_address)
        # the emptiest slice of the ping round: they stay even as chargers come and go (the
        # connection itself is counted per address by CountedConnection, since its accept)
        live = min(self._live, key=len)
        live.add(websocket)
        try:
            holder = await self.services.charge_points.connected(charge_point_id, protocol)
            if holder is not None and holder != self.relay.node_id:
                await self.relay.release(holder, charge_point_id)
            await adapter.start()  # type: ignore[attr-defined]
        except ConnectionClosed as closed:
            log.info("charger disconnected", charge_point_id=charge_point_id,
                     code=closed.rcvd.code if closed.rcvd else None)
        finally:
            live.discard(websocket)
            adapter.close()
            if self.connections.remove(charge_point_id, adapter):  # type: ignore[arg-type]
                await asyncio.shield(self.services.charge_points.disconnected(charge_point_id))


def _drop_unanswered(waiting: deque[tuple[float, ServerConnection, Awaitable[float]]],
                     now: float) -> None:
    """The pings whose time is up (oldest first, as they were sent): a connection that has not
    answered is dropped."""
    while waiting and waiting[0][0] <= now:
        _, websocket, pong = waiting.popleft()
        answered = cast(asyncio.Future[float], pong)
        if not answered.done():
            log.warning("connection dropped: no pong", peer=websocket.remote_address)
            websocket.transport.abort()  # a dead peer would not take part in a close
        elif not answered.cancelled():
            answered.exception()  # closed meanwhile: seen, so asyncio does not warn
