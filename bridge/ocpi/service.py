"""The OCPI bridge as a whole: its server, one outbox worker per partner, domain events into pushes."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import socket
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

import asyncpg
import structlog

from bridge import outbox
from bridge.ocpi import cli, hub_client_info
from bridge.ocpi.authorizer import OcpiAuthorizer
from bridge.ocpi.client import OcpiClient
from bridge.ocpi.control.commands import RESULT_ATTEMPTS
from bridge.ocpi.handshake import partners
from bridge.ocpi.handshake.credentials import Registrar
from bridge.ocpi.handshake.partners import Partner
from bridge.ocpi.publishing import cdrs, status_sent, sync
from bridge.ocpi.publishing.locations import evse_uid
from bridge.ocpi.publishing.places import Priced, priced_place
from bridge.ocpi.publishing.status import ocpi_evse_status
from bridge.ocpi.server import OcpiServer, build_location, evse_facts, location_rows
from bridge.ocpi.token_pull import TokenPuller
from bridge.ocpi.transport import timestamp
from bridge.ocpi.versions import dialects
from bridge.ocpi.versions.forms import RESERVED
from csms.config import OcpiSettings
from csms.domain.billing.cost import cost_fields, costing
from csms.domain.billing.pricing import readings
from csms.domain.billing.tariffs import ALL
from csms.domain.commands import CommandService
from csms.domain.events import (
    DomainEvent,
    EvseDataChanged,
    EvseStatusChanged,
    MeterSampled,
    RemoteStartChanged,
    ReservationEnded,
    ReservationHeld,
    SessionEnded,
    SessionStarted,
    TariffAssigned,
    TariffChanged,
)
from csms.domain.model import SessionStatus
from csms.domain.reservations import SESSION_ID
from csms.storage import store
from csms.storage.notifications import Listener

log = structlog.get_logger(__name__)


class OcpiBridge:
    def __init__(self, pool: asyncpg.Pool, listener: Listener, settings: OcpiSettings,
                 commands: CommandService) -> None:
        self.pool = pool
        self.listener = listener
        self.settings = settings
        self.client = OcpiClient(settings)
        self.registrar = Registrar(pool, self.client, settings)
        self.server = OcpiServer(settings, pool, self.registrar, commands)
        self.authorizer = OcpiAuthorizer(pool, self.client)
        # Who holds a token pull's claim (a process: the CLI's on-demand pull is one too).
        self.puller = TokenPuller(pool, self.client, settings,
                                  f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}")
        self.lanes: dict[int, outbox.Lanes] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._syncing: set[int] = set()  # partners whose full push this process is queueing

    async def operator_command(self, args: argparse.Namespace) -> int:
        """A `csms ocpi` subcommand (the CLI reaches the bridge only through the application)."""
        return await cli.command(self, args)

    async def start(self) -> None:
        await self.client.start()
        # Partners registered by any process (a CLI `csms ocpi register`, another node) are
        # announced on a channel: start delivering to them here too.
        await self.listener.subscribe(partners.CHANNEL, self._partner_announced)
        await self.server.start()
        for partner in await partners.all_registered(self.pool):
            await self.ensure_worker(partner)
            if partner.is_hub:  # what changed at the hub while we were away
                self._background(self._pull(partner.id))
        for partner_id in await sync.due(self.pool):  # a full push cut short by a stop
            self._background(self._sync(partner_id))
        self._background(self.puller.run())  # token lists: due pulls, one partner at a time

    async def stop(self) -> None:
        await self.server.stop()
        self.listener.unsubscribe(partners.CHANNEL, self._partner_announced)
        for task in list(self._tasks):  # a full push left half-way stays due for the next start
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for lanes in self.lanes.values():
            await lanes.stop()
        await self.client.stop()

    def _partner_announced(self, payload: str) -> None:
        self._background(self._start_worker_for(int(payload)))

    def _background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _start_worker_for(self, partner_id: int) -> None:
        partner = await partners.get(self.pool, partner_id)
        if partner is not None and partner.status == "registered":
            await self.ensure_worker(partner)
            if partner.is_hub:
                await self.pull_client_info(partner_id)
            self.puller.wake()  # its token list, if a full pull is due (partners.registered)
            await self._sync(partner_id)  # a new partner (or one that moved) gets everything

    async def _pull(self, partner_id: int) -> None:
        await self.pull_client_info(partner_id)

    async def pull_client_info(self, partner_id: int) -> int | None:
        """A hub's list of its parties and their status, asked for (mod_hub_client_info)."""
        partner = await partners.get(self.pool, partner_id)
        if partner is None or partner.status != "registered" or not partner.is_hub:
            return None
        try:
            return await hub_client_info.pull(self.pool, self.client, partner)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("ocpi hub client info not pulled", partner=partner_id, error=repr(exc))
            return None

    async def _sync(self, partner_id: int) -> None:
        """Queue the partner's due full push, after its registration's answer has gone."""
        if partner_id in self._syncing:
            return
        self._syncing.add(partner_id)
        try:
            await sync.run(self.pool, self.settings, partner_id)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            # Left due: the next start or announcement carries it on.
            log.warning("ocpi full push interrupted", partner=partner_id, error=repr(exc))
        finally:
            self._syncing.discard(partner_id)

    async def ensure_worker(self, partner: Partner) -> None:
        """Each partner's messages go out from its own lanes: locations, tariffs and commands'
        results in order in one, each session's PUT, PATCHes and CDR in order in another."""
        if partner.id in self.lanes:
            return
        lanes = outbox.Lanes(self.pool, self.listener, partner.outbox_name,
                             self._sender(partner.id), self.settings.retry_base_delay,
                             self.settings.retry_max_delay)
        self.lanes[partner.id] = lanes
        await lanes.start()

    def _sender(self, partner_id: int) -> Callable[[asyncpg.Record], Awaitable[outbox.Delivery]]:
        async def send(message: asyncpg.Record) -> outbox.Delivery:
            # Read afresh: the partner may have rotated its token or moved its endpoints.
            partner = await partners.get(self.pool, partner_id)
            if partner is None or partner.status != "registered" or not partner.their_token:
                return outbox.Delivery(False, error="partner is not registered")
            module, _, suffix = message["path"].partition("|")
            # "url": a URL the partner gave (a command's response_url); else one of its modules.
            base = "" if module == "url" else partner.endpoint(module, "RECEIVER")
            if base is None:
                return outbox.Delivery(False, error=f"partner offers no {module} receiver")
            method = message["operation"].split()[0]

            dialect = dialects.of(partner)

            async def whole() -> outbox.Replacement | None:
                return await self._whole(partner, module, suffix)
            delivery = await self.client.deliver(method, base + suffix, partner.their_token,
                                                 dialect.header_format(partner.token_format),
                                                 None if method == "DELETE" else message["body"],
                                                 partner.route(message["addressee"])
                                                 if dialect.routing_headers else None,
                                                 whole if method == "PATCH" else None)
            if module == "url":  # a CommandResult is worthless late: not retried forever
                delivery = outbox.give_up_after(delivery, message["attempts"] + 1,
                                                RESULT_ATTEMPTS)
            return delivery
        return send

    async def _whole(self, partner: Partner, module: str,
                     suffix: str) -> outbox.Replacement | None:
        """The PUT of the whole object a PATCH was about, as the domain has it now, in the
        partner's version."""
        ids = suffix.strip("/").split("/")[2:]  # after our country code and party
        if module == "locations" and ids:
            rows = await location_rows(self.pool, ids[0])
            if not rows:
                return None
            evses = (await evse_facts(self.pool, [ids[0]])).get(ids[0], [])
            body = build_location(self.settings, rows[0], evses, dialects.of(partner))
        elif module == "sessions" and len(ids) == 1:
            session = await store.get_session(self.pool, ids[0])
            if session is None or session["started_at"] is None or "ocpi" not in session["attributes"]:
                return None
            built = await self.server.session(session, dialects.of(partner))
            if built is None:
                return None
            body = built
        else:
            return None
        return outbox.Replacement(f"PUT {module}", f"{module}|{sync.object_path(self.settings, ids[0])}",
                                  body)

    # --- domain events, inside the transaction that caused them ---------------------------

    async def on_event(self, conn: asyncpg.Connection, event: DomainEvent) -> None:
        if isinstance(event, EvseStatusChanged) and event.evse_id:
            await self._status_changed(conn, event)
        elif isinstance(event, EvseDataChanged):
            await self._location_changed(conn, event.charge_point_id)
        elif isinstance(event, SessionStarted) and "ocpi" in event.attributes:
            await self._session_started(conn, event)
        elif isinstance(event, RemoteStartChanged) and "ocpi" in event.attributes:
            await self._before_start(conn, event.session_id, event.attributes["ocpi"],
                                     event.charge_point_id, event.evse_number, event.evse_id,
                                     event.requested_at, event.status)
        elif isinstance(event, ReservationHeld | ReservationEnded) and "ocpi" in event.attributes \
                and event.evse_number is not None and SESSION_ID in event.attributes:
            # A reservation of one EVSE is its session's RESERVATION; ended unused, INVALID.
            # (One of any EVSE names no EVSE a Session could: it shows from its start on.)
            if isinstance(event, ReservationHeld):
                status = RESERVED
            elif event.reason != "used":
                status = SessionStatus.EXPIRED
            else:
                return
            await self._before_start(conn, event.attributes[SESSION_ID], event.attributes["ocpi"],
                                     event.charge_point_id, event.evse_number, event.evse_id,
                                     event.reserved_at, status)
        elif (isinstance(event, MeterSampled) and event.session_id and event.energy_wh is not None
              and "ocpi" in event.attributes):
            await self._session_metered(conn, event)
        elif isinstance(event, SessionEnded) and "ocpi" in event.attributes:
            await self.server.profiles.session_ended(conn, event)
            await self._session_ended(conn, event)
        elif isinstance(event, TariffChanged):
            await self._tariff_changed(conn, event)
        elif isinstance(event, TariffAssigned) and event.provider_id == ALL:
            # Connectors name their tariff: the Locations of the EVSEs concerned change.
            for charge_point_id in await self._charge_points_of(conn, event.evse_ids):
                await self._location_changed(conn, charge_point_id)

    # --- sessions and CDRs: only to the eMSP that owns the token --------------------------

    async def _owner(self, conn: asyncpg.Connection, ocpi: dict[str, Any],
                     module: str) -> Partner | None:
        partner = await partners.get(conn, int(ocpi["partner"]))
        if partner is None or partner.status != "registered" or not partner.endpoint(module, "RECEIVER"):
            return None
        return partner

    async def _priced(self, conn: asyncpg.Connection, charge_point_id: str, evse_number: int,
                      evse_id: str | None, started_at: datetime) -> Priced:
        return await priced_place(conn, charge_point_id, evse_number, evse_id, started_at,
                                  self.settings.currency)

    async def _session_started(self, conn: asyncpg.Connection, event: SessionStarted) -> None:
        ocpi = event.attributes["ocpi"]
        partner = await self._owner(conn, ocpi, "sessions")
        if partner is None:
            return
        priced = await self._priced(conn, event.charge_point_id, event.evse_number,
                                    event.evse_id, event.started_at)
        body = dialects.of(partner).forms.session(
            self.settings, event.session_id, ocpi, priced, event.started_at, 0.0,
            SessionStatus.ACTIVE, event.started_at)
        if body is None:  # its version cannot say it (v211/inexpressible.py)
            return
        await hub_client_info.enqueue(conn, partner, "PUT sessions",
                                      f"sessions|{self._path(event.session_id)}", body,
                                      hub_client_info.token_party(ocpi),
                                      lane=outbox.session_lane(event.session_id))

    async def _before_start(self, conn: asyncpg.Connection, session_id: str, ocpi: dict[str, Any],
                            charge_point_id: str, evse_number: int, evse_id: str | None,
                            since: datetime, status: str) -> None:
        """A session before the charger starts it: PENDING from a START_SESSION, RESERVATION
        while a reservation holds the EVSE (`status` RESERVED), INVALID if it never starts;
        ACTIVE follows under the same id (the whole object each time: the eMSP may not have
        the earlier one)."""
        partner = await self._owner(conn, ocpi, "sessions")
        if partner is None:
            return
        priced = await self._priced(conn, charge_point_id, evse_number, evse_id, since)
        body = dialects.of(partner).forms.session(
            self.settings, session_id, ocpi, priced, since, 0.0, status, datetime.now(UTC))
        if body is None:
            return
        await hub_client_info.enqueue(conn, partner, "PUT sessions",
                                      f"sessions|{self._path(session_id)}", body,
                                      hub_client_info.token_party(ocpi),
                                      lane=outbox.session_lane(session_id))

    async def _session_metered(self, conn: asyncpg.Connection, event: MeterSampled) -> None:
        """Energy, charging periods and cost so far, at most one PATCH pending per session."""
        assert event.session_id is not None and event.energy_wh is not None
        session = await store.get_session(conn, event.session_id)
        if session is None or session["status"] != "active" or "ocpi" not in session["attributes"]:
            return
        partner = await self._owner(conn, session["attributes"]["ocpi"], "sessions")
        if partner is None or session["started_at"] is None \
                or event.sampled_at <= session["started_at"]:
            return
        priced = await self._priced(conn, session["charge_point_id"], session["evse_number"],
                                    session["evse_id"], session["started_at"])
        cost = costing(priced.tariff, priced.currency, session["started_at"],
                       event.sampled_at, await readings(
                           conn, event.session_id, session["started_at"],
                           session["meter_start_wh"], event.sampled_at, event.energy_wh),
                       priced.time_zone)
        await hub_client_info.enqueue(conn, partner, "PATCH sessions",
                                      f"sessions|{self._path(event.session_id)}",
                                      dialects.of(partner).forms.session_patch(
                                          event.session_id, cost.total_energy_kwh,
                                          event.sampled_at, cost=cost),
                                      hub_client_info.token_party(session["attributes"]["ocpi"]),
                                      coalesce_key=f"session:{event.session_id}",
                                      lane=outbox.session_lane(event.session_id))

    async def _session_ended(self, conn: asyncpg.Connection, event: SessionEnded) -> None:
        ocpi = event.attributes["ocpi"]
        costed = await cdrs.cost_session(conn, self.settings.currency, event.session_id,
                                         event.charge_point_id, event.evse_number, event.evse_id,
                                         event.started_at, event.stopped_at,
                                         event.meter_start_wh, event.meter_stop_wh)
        priced, cost = costed.priced, costed.cost
        if priced.tariff is not None:
            await store.record_session_cost(conn, event.session_id, "ocpi", None,
                                            str(priced.tariff["id"]), None, priced.currency,
                                            {**cost_fields(cost),
                                             "charging_periods": cost.charging_periods})
        partner = await self._owner(conn, ocpi, "sessions")
        if partner is not None:
            await hub_client_info.enqueue(conn, partner, "PATCH sessions",
                                          f"sessions|{self._path(event.session_id)}",
                                          dialects.of(partner).forms.session_patch(
                                              event.session_id, cost.total_energy_kwh,
                                              event.stopped_at, SessionStatus.COMPLETED,
                                              event.stopped_at, cost),
                                          hub_client_info.token_party(ocpi),
                                          coalesce_key=f"session:{event.session_id}",
                                          lane=outbox.session_lane(event.session_id))
        partner = await self._owner(conn, ocpi, "cdrs")
        if partner is None:
            return
        cdr = cdrs.session_cdr(self.settings, partner, event.session_id, ocpi, costed,
                               event.stopped_at, event.stopped_at)
        if cdr is None:  # its version cannot say it (v211/inexpressible.py)
            log.warning("ocpi cdr not expressible in the partner's version", partner=partner.id,
                        session_id=event.session_id)
            return
        await cdrs.publish(conn, partner, cdr, event.session_id)

    async def _tariff_changed(self, conn: asyncpg.Connection, event: TariffChanged) -> None:
        if event.data is None:
            await self._push(conn, "tariffs", "DELETE", self._path(event.tariff_id), {},
                             f"tariff:{event.tariff_id}")
            return
        for partner in await self._receivers(conn, "tariffs"):
            await sync.put_tariff(conn, self.settings, partner, event.tariff_id, event.data,
                                  event.valid_from)

    async def _receivers(self, conn: asyncpg.Connection, module: str) -> list[Partner]:
        return [p for p in await partners.all_registered(conn) if p.endpoint(module, "RECEIVER")]

    async def _push(self, conn: asyncpg.Connection, module: str, method: str, suffix: str,
                    body: dict[str, Any], key: str) -> None:
        for partner in await self._receivers(conn, module):
            await outbox.enqueue(conn, partner.outbox_name, f"{method} {module}",
                                 f"{module}|{suffix}", body, coalesce_key=key)

    async def _status_changed(self, conn: asyncpg.Connection, event: EvseStatusChanged) -> None:
        site_id = await store.site_of(conn, event.charge_point_id)
        if site_id is None:
            return
        uid = evse_uid(event.charge_point_id, event.evse_number)
        status = ocpi_evse_status(event.status)
        body = {"status": status, "last_updated": timestamp(event.at)}
        for partner in await self._receivers(conn, "locations"):
            # Several domain states are one OCPI status (Preparing, Charging, SuspendedEV are
            # all CHARGING): a change between them is none for the partner.
            if await status_sent.changed(conn, partner.id, uid, status):
                await outbox.enqueue(conn, partner.outbox_name, "PATCH locations",
                                     f"locations|{self._path(site_id, uid)}", body,
                                     coalesce_key=f"evse-status:{uid}")

    async def _location_changed(self, conn: asyncpg.Connection, charge_point_id: str) -> None:
        """The whole Location again (PUT): EVSEs came, went or changed their static data."""
        site_id = await store.site_of(conn, charge_point_id)
        if site_id is None:
            return
        rows = await location_rows(conn, site_id)
        evses = (await evse_facts(conn, [site_id])).get(site_id, [])
        for partner in await self._receivers(conn, "locations"):
            await sync.put_location(conn, self.settings, partner, rows[0], evses)

    async def _charge_points_of(self, conn: asyncpg.Connection, evse_ids: tuple[str, ...]) -> list[str]:
        """One charger per site holding these EVSEs ('*': every site): a Location PUT each."""
        rows = await conn.fetch(
            """SELECT DISTINCT ON (c.site_id) c.id FROM charge_points c JOIN evses e
                 ON e.charge_point_id = c.id
               WHERE c.site_id IS NOT NULL AND ($1 OR e.evse_id = ANY($2::text[]))
               ORDER BY c.site_id, c.id""",
            ALL in evse_ids, list(evse_ids))
        return [row["id"] for row in rows]

    def _path(self, *parts: str) -> str:
        return sync.object_path(self.settings, *parts)
