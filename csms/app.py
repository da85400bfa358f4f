"""Wiring: one process with its database pool, services, OCPP server and admin API."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import os
import signal
import ssl
from collections.abc import Awaitable
from dataclasses import dataclass, field

import asyncpg
import structlog

from bridge.ocpi import hub_client_info, token_store
from bridge.ocpi.handshake import partners as ocpi_partners
from bridge.ocpi.publishing import cdrs as ocpi_cdrs
from bridge.ocpi.service import OcpiBridge
from bridge.oicp import evse_data, evse_status, pricing
from bridge.oicp.service import PARTNER as HUBJECT
from bridge.oicp.service import OicpBridge
from csms import metrics
from csms.cluster.links import Connections
from csms.cluster.nodes import NodeRegistry, default_node_id
from csms.cluster.relay import Relay
from csms.config import ConfigError, Settings
from csms.domain.authorization import AuthorizerChain, LocalAuthorizer
from csms.domain.billing.session_costs import SessionCosts
from csms.domain.charge_points import ChargePointService
from csms.domain.commands import CommandService
from csms.domain.energy.charger_limits import ChargerLimits
from csms.domain.energy.fallback import FallbackService
from csms.domain.energy.load_manager import LoadManager
from csms.domain.events import EventBus
from csms.domain.fleet.certificates import CertificateService
from csms.domain.fleet.jobs import JobService
from csms.domain.fleet.local_lists import LocalListService
from csms.domain.reservations import ReservationService
from csms.domain.sessions import SessionService
from csms.memory import freeze_forever, tune_collector
from csms.ocpp.adapter import Services
from csms.ocpp.server import OcppServer
from csms.operator.console.feed import ConsoleFeed
from csms.operator.console.web import Console
from csms.operator.http import cdrs_api
from csms.operator.http.api import AdminApi
from csms.operator.http.fleet import local_list_api
from csms.operator.http.fleet.jobs_api import JobsApi
from csms.operator.roaming import Roaming
from csms.runtime import running_loop_name
from csms.security import exposure
from csms.stalls import StallWatch
from csms.storage.database import create_pool, database_url, migrate
from csms.storage.notifications import Listener

log = structlog.get_logger(__name__)

# Why a server cannot listen: the operator's to fix (another process on the port, a wrong host).
_LISTEN_ERRORS = {errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES}


# What the operator surfaces show of the bridges: csms/ imports bridge modules only here.
ROAMING = Roaming(
    hubject=HUBJECT,
    pushes={"oicp": {"status": evse_status.OPERATION, "data": evse_data.OPERATION},
            "ocpi": {"status": "PATCH locations", "data": "PUT locations"}},
    ocpi_partners=ocpi_partners.every,
    hub_clients=hub_client_info.listing,
    token_pulls=token_store.pull_states,
    tariff_for_hubject=pricing.describe,
    correct_cdr=lambda pool, settings, cdr_id, reissue: ocpi_cdrs.correct(
        pool, settings.ocpi, cdr_id, reissue))


class ListenError(OSError):
    """A server of ours cannot listen where the settings say."""


async def _listening(name: str, host: str, port: int, start: Awaitable[None]) -> None:
    try:
        await start
    except OSError as exc:
        if exc.errno not in _LISTEN_ERRORS:
            raise
        raise ListenError(f"{name} server cannot listen on {host}:{port}: "
                          f"{os.strerror(exc.errno).lower()}") from None


@dataclass
class App:
    settings: Settings
    database_url: str
    pool: asyncpg.Pool
    events: EventBus
    authorizer: AuthorizerChain
    services: Services
    connections: Connections
    listener: Listener
    registry: NodeRegistry
    relay: Relay
    commands: CommandService
    ocpp: OcppServer
    api: AdminApi
    oicp: OicpBridge | None
    ocpi: OcpiBridge | None = None
    console: ConsoleFeed | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    local_lists: LocalListService | None = None
    load_manager: LoadManager | None = None
    fallback: FallbackService | None = None

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
        node_id = settings.cluster.node_id or default_node_id()
        connections = Connections()
        listener = Listener(url)
        local_lists = (LocalListService(pool, connections, listener,
                                        settings.ocpp.local_list_retry)
                       if settings.ocpp.local_lists else None)
        services = Services(ChargePointService(pool, events, settings.ocpp, node_id), sessions,
                            settings.ocpp, reservations, local_lists=local_lists,
                            costs=SessionCosts(pool),
                            certificates=CertificateService(pool, settings.ocpp))
        registry = NodeRegistry(pool, events, node_id, settings.cluster.lease, connections.ids,
                                url)
        relay = Relay(pool, listener, registry, connections, settings.ocpp.call_timeout)
        commands = CommandService(pool, relay, sessions, reservations)
        jobs = JobService(pool, commands, settings.jobs)
        fallback = FallbackService(pool, commands, connections, listener)
        services = dataclasses.replace(services, jobs=jobs, fallback=fallback)
        energy = ChargerLimits(pool, events, commands)
        commands.electrics = energy.electrics
        services = dataclasses.replace(services, energy=energy)
        events.subscribe(energy.on_event)  # the car's needs end with its session
        events.subscribe(jobs.on_event)
        load_manager = LoadManager(pool, listener, commands, node_id, settings.energy)
        events.subscribe(load_manager.on_event)
        commands.events, commands.load_manager = events, load_manager
        events.subscribe(fallback.on_event)
        commands.tls_available = bool(settings.ocpp.tls_cert)
        commands.public_tls_url = settings.ocpp.public_tls_url
        commands.network_interface = settings.ocpp.network_interface
        try:
            oicp = (OicpBridge(pool, listener, settings.oicp, commands)
                    if settings.oicp.enabled else None)
        except (ConfigError, OSError, ssl.SSLError):  # e.g. a certificate file that is missing
            await pool.close()
            raise
        if oicp is not None:
            events.subscribe(oicp.on_event)
            authorizer.add(oicp.authorizer)
        ocpi = (OcpiBridge(pool, listener, settings.ocpi, commands)
                if settings.ocpi.enabled else None)
        if ocpi is not None:
            events.subscribe(ocpi.on_event)
            authorizer.add(ocpi.authorizer)
        api = AdminApi(settings.api, pool, commands, events)
        JobsApi(api, jobs)
        metrics.serve(api.app, pool, connections.by_protocol)
        # The web console: its live feed follows committed events; its routes join the API's.
        console = ConsoleFeed(pool, listener, node_id)
        events.subscribe(console.on_event)
        Console(api, console, settings.oicp.enabled, ROAMING)
        if local_lists is not None:
            events.subscribe(local_lists.on_event)
        local_list_api.routes(api)
        cdrs_api.routes(api, settings, ROAMING.correct_cdr)
        return cls(settings, url, pool, events, authorizer, services, connections, listener,
                   registry, relay, commands,
                   OcppServer(services, connections, relay),
                   api, oicp, ocpi, console, local_lists=local_lists, fallback=fallback,
                   load_manager=load_manager)

    async def start(self) -> None:
        exposure.refuse_to_start(self.settings)  # before anything listens
        exposure.warn_relaxations(self.settings)
        await self.listener.start()
        await self.registry.join()
        await self.relay.start()
        if self.local_lists is not None:
            await self.local_lists.start()
        if self.load_manager is not None:
            await self.load_manager.start()
        if self.fallback is not None:
            await self.fallback.start()
        settings = self.settings
        if self.oicp is not None:
            await _listening("OICP", settings.oicp.listen_host, settings.oicp.listen_port,
                             self.oicp.start())
        if self.ocpi is not None:
            await _listening("OCPI", settings.ocpi.listen_host, settings.ocpi.listen_port,
                             self.ocpi.start())
        await _listening("OCPP", settings.ocpp.host, settings.ocpp.port, self.ocpp.start())
        if self.console is not None:
            await self.console.start()
        await _listening("API", settings.api.host, settings.api.port, self.api.start())
        loop = asyncio.get_running_loop()
        self.tasks.append(loop.create_task(self.services.reservations.expire_forever()))
        self.tasks.append(loop.create_task(self.services.sessions.expire_forever()))
        self.tasks.append(loop.create_task(self.registry.keep_forever()))
        self.tasks.append(loop.create_task(self.services.charge_points.flush_seen_forever()))
        if self.services.jobs is not None:
            self.tasks.append(loop.create_task(self.services.jobs.schedule_forever()))

    async def stop(self, grace: float = 10.0) -> None:
        for task in self.tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.api.stop()
        if self.console is not None:
            await self.console.stop()
        if self.oicp is not None:
            await self.oicp.stop()
        if self.ocpi is not None:
            await self.ocpi.stop()
        if self.load_manager is not None:
            await self.load_manager.stop()
        await self.relay.stop()
        if self.local_lists is not None:
            await self.local_lists.stop()
        if self.fallback is not None:
            await self.fallback.stop()
        await self.ocpp.stop()
        await self.registry.leave()
        await self.listener.stop()
        await self.services.charge_points.flush_seen()
        try:
            # close() waits for every connection to come back: one held by a call that never
            # ends would keep a stopping node from ever exiting.
            await asyncio.wait_for(self.pool.close(), grace)
        except TimeoutError:
            log.warning("database connections still in use at stop: closed", grace=grace)
            self.pool.terminate()


async def serve_forever(settings: Settings) -> None:
    exposure.refuse_to_start(settings)  # before a database is started or touched
    app = await App.open(settings)
    try:
        await app.start()
    except BaseException:  # e.g. a port taken: what started stops, the node leaves at once
        await app.stop()
        raise
    threshold = tune_collector()
    loop = asyncio.get_running_loop()
    freezing = loop.create_task(freeze_forever())
    watching = loop.create_task(
        StallWatch(warn_after=settings.process.stall_warning).watch_forever())
    stopping = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    log.info("csms running", ocpp_port=app.ocpp.port, api_port=app.api.port,
             event_loop=running_loop_name(), gc_threshold=threshold)
    await stopping.wait()
    log.info("shutting down")
    freezing.cancel()
    watching.cancel()
    await app.stop()
