"""Wiring: one process with its database pool, services, OCPP server and admin API."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import ssl
from dataclasses import dataclass, field

import asyncpg
import structlog

from bridge.ocpi.service import OcpiBridge
from bridge.oicp.service import OicpBridge
from csms.adapter import Services
from csms.api import AdminApi
from csms.authorization import AuthorizerChain, LocalAuthorizer
from csms.charge_points import ChargePointService
from csms.commands import CommandService, Connections
from csms.config import ConfigError, Settings
from csms.database import create_pool, database_url, migrate
from csms.events import EventBus
from csms.reservations import ReservationService
from csms.server import OcppServer
from csms.sessions import SessionService

log = structlog.get_logger(__name__)


@dataclass
class App:
    settings: Settings
    database_url: str
    pool: asyncpg.Pool
    events: EventBus
    authorizer: AuthorizerChain
    services: Services
    connections: Connections
    commands: CommandService
    ocpp: OcppServer
    api: AdminApi
    oicp: OicpBridge | None
    ocpi: OcpiBridge | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    async def open(cls, settings: Settings, url: str | None = None) -> App:
        """Connect (starting the embedded database if no URL is configured) and migrate."""
        url = url or database_url(settings.database)
        pool = await create_pool(url, settings.database.pool_min_size,
                                 settings.database.pool_max_size)
        async with pool.acquire() as conn:
            await migrate(conn)
        events = EventBus()
        authorizer = AuthorizerChain(LocalAuthorizer(pool))
        sessions = SessionService(pool, events, authorizer, settings.ocpp)
        reservations = ReservationService(pool, events)
        services = Services(ChargePointService(pool, events, settings.ocpp), sessions,
                            settings.ocpp, reservations)
        connections = Connections()
        commands = CommandService(pool, connections, sessions, reservations)
        try:
            oicp = OicpBridge(pool, url, settings.oicp, commands) if settings.oicp.enabled else None
        except (ConfigError, OSError, ssl.SSLError):  # e.g. a certificate file that is missing
            await pool.close()
            raise
        if oicp is not None:
            events.subscribe(oicp.on_event)
            authorizer.add(oicp.authorizer)
        ocpi = OcpiBridge(pool, url, settings.ocpi, commands) if settings.ocpi.enabled else None
        if ocpi is not None:
            events.subscribe(ocpi.on_event)
            authorizer.add(ocpi.authorizer)
        return cls(settings, url, pool, events, authorizer, services, connections, commands,
                   OcppServer(services, connections),
                   AdminApi(settings.api, pool, commands, events),
                   oicp, ocpi)

    async def start(self) -> None:
        # One process owns all connections: whatever the database says is stale after a restart.
        await self.pool.execute("UPDATE charge_points SET connected = false WHERE connected")
        if self.oicp is not None:
            await self.oicp.start()
        if self.ocpi is not None:
            await self.ocpi.start()
        await self.ocpp.start()
        await self.api.start()
        self.tasks.append(asyncio.get_running_loop().create_task(
            self.services.reservations.expire_forever()))

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.api.stop()
        if self.oicp is not None:
            await self.oicp.stop()
        if self.ocpi is not None:
            await self.ocpi.stop()
        await self.ocpp.stop()
        await self.pool.close()


async def serve_forever(settings: Settings) -> None:
    app = await App.open(settings)
    await app.start()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    log.info("csms running", ocpp_port=app.ocpp.port, api_port=app.api.port)
    await stopping.wait()
    log.info("shutting down")
    await app.stop()
