"""The OICP bridge as a whole: domain events into outbox messages, and their delivery to Hubject."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import structlog

from bridge import outbox
from bridge.oicp import authorization, cdr, evse_data, evse_status, notifications, pricing
from bridge.oicp.authorizer import HubjectAuthorizer
from bridge.oicp.client import HubjectClient
from bridge.oicp.inbound import OicpInbound
from csms.config import OicpSettings
from csms.domain import charging
from csms.domain.billing import tariffs
from csms.domain.billing.cost import cost_fields, costing
from csms.domain.billing.pricing import readings, session_pricing
from csms.domain.commands import CommandService
from csms.domain.events import (
    ChargingStarted,
    DomainEvent,
    EvseDataChanged,
    EvseStatusChanged,
    MeterSampled,
    ReservationEnded,
    SessionEnded,
    TariffAssigned,
    TariffChanged,
)
from csms.domain.model import AuthorizationStatus, EvseStatus
from csms.domain.sites import parse_site
from csms.storage import cdr_store, store
from csms.storage.notifications import Listener
from csms.storage.outage import outage

log = structlog.get_logger(__name__)

PARTNER = "hubject"


def _hubject_session(attributes: dict[str, Any]) -> bool:
    """A session Hubject knows by its SessionID (a cached authorization gets one only later)."""
    return "SessionID" in attributes.get("oicp", {})


class OicpBridge:
    def __init__(self, pool: asyncpg.Pool, listener: Listener, settings: OicpSettings,
                 commands: CommandService) -> None:
        self.pool = pool
        self.settings = settings
        self.client = HubjectClient(settings)
        self.inbound = OicpInbound(settings, pool, commands)
        self.authorizer = HubjectAuthorizer(pool, self.client, settings)
        self.listener = listener
        self.lanes = outbox.Lanes(pool, listener, PARTNER, self._deliver,
                                  settings.retry_base_delay, settings.retry_max_delay)
        self._scheduler: asyncio.Task[None] | None = None
        self._pricer: asyncio.Task[None] | None = None
        self._pricing_due = asyncio.Event()
        # What each tariff's products leave out, as last logged: logged once, again if it changes.
        self._pricing_noted: dict[str, list[str]] = {}

    async def start(self) -> None:
        await self.client.start()
        await self.lanes.start()
        await self.inbound.start()
        await self.listener.subscribe(store.PRICING_CHANNEL, self._pricing_notified)
        self._pricer = asyncio.get_running_loop().create_task(self._pricing_forever())
        if self.settings.full_load_interval > 0:
            self._scheduler = asyncio.get_running_loop().create_task(self._full_loads())
        log.info("oicp bridge started", base_url=self.settings.base_url,
                 operator_id=self.settings.operator_id)

    async def stop(self) -> None:
        for task in (self._scheduler, self._pricer):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self.listener.unsubscribe(store.PRICING_CHANNEL, self._pricing_notified)
        await self.inbound.stop()
        await self.lanes.stop()
        await self.client.stop()

    async def on_event(self, conn: asyncpg.Connection, event: DomainEvent) -> None:
        """Runs inside the domain change's transaction: the messages commit with it."""
        if isinstance(event, EvseStatusChanged):
            await self._status_changed(conn, event)
        elif isinstance(event, ReservationEnded) and "oicp" in event.attributes:
            # The spec wants a CDR for every remote reservation once it ends.
            record = cdr.reservation_record(event, await self._zone(conn, event.charge_point_id))
            await self._send_cdr(conn, record)
        elif isinstance(event, EvseDataChanged):
            await self._sync_evse_data(conn, event.charge_point_id)
            await store.mark_pricing_due(conn)  # a new EVSE, or a site's tariff, changes prices
        elif isinstance(event, TariffChanged | TariffAssigned):
            await store.mark_pricing_due(conn)
        elif isinstance(event, ChargingStarted) and _hubject_session(event.attributes):
            # Start says the energy flows (OICP 2.3, eRoamingChargingNotifications Start), not
            # that the transaction began.
            await self._send(conn, notifications.OPERATION, notifications.PATH, notifications.start(
                event.attributes["oicp"], event.session_id, str(event.evse_id),
                self.settings.operator_id, event.started_at, event.charging_started_at,
                event.meter_start_wh, await self._zone(conn, event.charge_point_id)),
                session_id=event.session_id)
        elif (isinstance(event, MeterSampled) and event.session_id and event.energy_wh is not None
              and _hubject_session(event.attributes)):
            await self._progress(conn, event)
        elif isinstance(event, SessionEnded) and "oicp" in event.attributes:
            # Only roaming sessions: our own customers' sessions are not Hubject's business.
            oicp = event.attributes["oicp"]
            samples = [(row["sampled_at"], float(row["value"]))
                       for row in await store.energy_samples(conn, event.session_id)]
            period = await self._charging_period(conn, event, samples)
            if _hubject_session(event.attributes):
                await self._send(conn, notifications.OPERATION, notifications.PATH,
                                 notifications.end(
                                     oicp, event.session_id, str(event.evse_id),
                                     self.settings.operator_id, event.started_at, event.stopped_at,
                                     period, event.meter_start_wh, event.meter_stop_wh,
                                     await self._zone(conn, event.charge_point_id)),
                                 session_id=event.session_id)
            product_id = await self._price(conn, event)
            record = cdr.charge_detail_record(event, [wh for _, wh in samples], period,
                                              await self._zone(conn, event.charge_point_id),
                                              product_id)
            if not await self._send_cdr(conn, record):
                return
            log.info("cdr queued", partner=PARTNER, session_id=event.session_id,
                     oicp_session=record.get("SessionID"), energy_kwh=record["ConsumedEnergy"])

    async def _charging_period(self, conn: asyncpg.Connection, event: SessionEnded,
                               samples: list[charging.Reading]) -> tuple[datetime, datetime]:
        """When energy flowed: from the meter, and the Charging state the domain kept."""
        session = await store.get_session(conn, event.session_id)
        return charging.charging_period(
            event.started_at or event.stopped_at, event.stopped_at,
            session["charging_started_at"] if session is not None else None, samples,
            event.meter_start_wh, event.meter_stop_wh)

    async def _price(self, conn: asyncpg.Connection, event: SessionEnded) -> str | None:
        """Cost the session with the tariff of its EVSE for its EMP, exactly as an OCPI session
        is costed, and record it; returns the pricing product in force when it started."""
        provider = event.attributes["oicp"].get("ProviderID") or tariffs.ALL
        started = event.started_at or event.stopped_at
        priced = await session_pricing(conn, event.charge_point_id, event.evse_id, started, "EUR",
                                       provider)
        if priced.tariff is None:
            return None
        cost = costing(priced.tariff, priced.currency, started, event.stopped_at,
                       await readings(conn, event.session_id, started, event.meter_start_wh,
                                      event.stopped_at, event.meter_stop_wh),
                       priced.time_zone)
        product_id = pricing.product_at(priced.tariff, started, priced.time_zone)
        await store.record_session_cost(conn, event.session_id, "oicp", provider,
                                        str(priced.tariff["id"]), product_id, priced.currency,
                                        {**cost_fields(cost),
                                         "charging_periods": cost.charging_periods})
        return product_id

    async def _deliver(self, message: asyncpg.Record) -> outbox.Delivery:
        """The outbox's sender. A CDR of a session that charged on a cached authorization
        gets its Hubject SessionID first, now that Hubject answers again."""
        body = message["body"]
        if message["operation"] == cdr.OPERATION and "SessionID" not in body:
            session_id = body["CPOPartnerSessionID"]
            # Recorded with the session once Hubject gave it: a CDR sent again (Hubject refused
            # it for now, or we restarted) asks for no second Hubject session.
            hubject_session = await store.late_roaming_session(self.pool, session_id, "oicp")
            if hubject_session is None:
                late, code = await self.authorizer.late_start(
                    body["Identification"], body["EvseID"], session_id)
                if late is None or (late.status is not AuthorizationStatus.ACCEPTED
                                    and code in authorization.NOT_ABOUT_THE_CARD):
                    # No answer, or the EMP cannot be reached just now: ask again later.
                    return outbox.Delivery(False, retry=True, error="AuthorizeStart before the "
                                           f"CDR: no decision from Hubject ({code or 'no answer'})")
                if late.status is not AuthorizationStatus.ACCEPTED:
                    return outbox.Delivery(False, error="AuthorizeStart before the CDR: "
                                                        f"NotAuthorized ({code})")
                if not late.attributes["oicp"].get("SessionID"):
                    return outbox.Delivery(False, retry=True, error="AuthorizeStart before the "
                                           "CDR: Authorized without a SessionID")
                hubject_session = await store.record_late_roaming_session(
                    self.pool, session_id, "oicp", late.attributes["oicp"]["SessionID"])
                log.info("hubject session for a cached authorization", partner="hubject",
                         session_id=session_id, oicp_session=hubject_session)
            body = {**body, "SessionID": hubject_session}
        return await self.client.deliver(message["path"], body)

    async def _zone(self, conn: asyncpg.Connection, charge_point_id: str) -> str:
        """OICP times carry the offset of the charger's location: its site's zone, else ours."""
        return await store.site_time_zone(conn, charge_point_id) or self.settings.time_zone

    async def _send(self, conn: asyncpg.Connection, operation: str, path: str,
                    body: dict[str, Any], coalesce_key: str | None = None,
                    session_id: str | None = None) -> None:
        """Data pushes in the main lane, one at a time as OICP wants; a session's notifications
        and CDR in that session's lane, in order."""
        lane = outbox.session_lane(session_id) if session_id else ""
        await outbox.enqueue(conn, PARTNER, operation, path, body, coalesce_key, lane)

    async def _send_cdr(self, conn: asyncpg.Connection, record: dict[str, Any]) -> bool:
        """Keep the CDR and queue it in its session's lane. Hubject accepts one CDR per session
        (OICP 2.3, eRoamingChargeDetailRecord) and has no credit: one kept already is not sent
        again (False)."""
        session_id = record["CPOPartnerSessionID"]
        if not await cdr_store.add(conn, session_id, "oicp", PARTNER, session_id, record):
            log.info("cdr already sent: not sent again", partner=PARTNER, session_id=session_id)
            return False
        message_id = await outbox.enqueue(conn, PARTNER, cdr.OPERATION,
                                          cdr.cdr_path(self.settings.operator_id), record,
                                          lane=outbox.session_lane(session_id))
        await cdr_store.carried_by(conn, session_id, message_id)
        return True

    async def _status_changed(self, conn: asyncpg.Connection, event: EvseStatusChanged) -> None:
        if event.evse_id:
            body = evse_status.push_evse_status(
                self.settings.operator_id, self.settings.operator_name, "update",
                [(event.evse_id, event.status)])
            key = f"evse-status:{event.evse_id}"
            # Several of our statuses are one to Hubject (Preparing, Charging, SuspendedEV are
            # all Occupied): what it holds already, or is about to, is not pushed again.
            if await outbox.latest_body(conn, PARTNER, key) != body:
                await self._send(conn, evse_status.OPERATION,
                                 evse_status.status_path(self.settings.operator_id), body,
                                 coalesce_key=key)
        if event.status is EvseStatus.FAULTED:
            evse = await store.get_evse(conn, event.charge_point_id, event.evse_number)
            session = await store.active_session_on_evse(conn, evse["id"]) if evse else None
            if session is not None and _hubject_session(session["attributes"]):
                await self._send(conn, notifications.OPERATION, notifications.PATH,
                                 notifications.error(session["attributes"]["oicp"],
                                                     str(session["id"]), str(session["evse_id"]),
                                                     self.settings.operator_id, event.error_code),
                                 session_id=str(session["id"]))

    async def _progress(self, conn: asyncpg.Connection, event: MeterSampled) -> None:
        """From the periodic meter values, at most one Progress per progress_interval."""
        assert event.session_id is not None
        session = await store.get_session(conn, event.session_id)
        if session is None or session["status"] != "active" or not _hubject_session(
                session["attributes"]) or session["charging_started_at"] is None:
            return  # progress of the charging: none before the energy flows (and Start went)
        key = f"progress:{event.session_id}"
        if await outbox.enqueued_within(conn, PARTNER, key, self.settings.progress_interval):
            return
        readings = await store.energy_readings(conn, event.session_id)
        await self._send(conn, notifications.OPERATION, notifications.PATH, notifications.progress(
            session["attributes"]["oicp"], event.session_id, str(session["evse_id"]),
            self.settings.operator_id, session["started_at"], session["charging_started_at"],
            event.sampled_at, session["meter_start_wh"], readings,
            await self._zone(conn, event.charge_point_id)),
            coalesce_key=key, session_id=event.session_id)

    async def _sync_evse_data(self, conn: asyncpg.Connection, charge_point_id: str) -> None:
        """Push what changed in the charger's static EVSE data since Hubject last heard of it."""
        wanted, owners = await self._evse_records(conn, charge_point_id)
        sent = await store.sent_evse_data(conn, "oicp", charge_point_id)
        changes = evse_data.changes(sent, wanted)
        for action, records in changes.items():
            await self._send(conn, evse_data.OPERATION, evse_data.data_path(
                self.settings.operator_id), evse_data.push_evse_data(
                self.settings.operator_id, self.settings.operator_name, action, records))
        if changes:
            await store.record_sent_evse_data(conn, "oicp", owners, wanted,
                                              [r["EvseID"] for r in changes.get("delete", [])])
            log.info("evse data queued", partner=PARTNER, charge_point_id=charge_point_id,
                     **{action: len(records) for action, records in changes.items()})

    async def _evse_records(self, conn: asyncpg.Connection, charge_point_id: str | None
                            ) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
        now = datetime.now(UTC)
        wanted: dict[str, dict[str, Any]] = {}
        owners: dict[str, str] = {}
        for row in await store.roaming_evses(conn, charge_point_id):
            wanted[row["evse_id"]] = evse_data.evse_data_record(
                parse_site(row["site"]), row["evse_id"], row["charge_point_id"], now)
            owners[row["evse_id"]] = row["charge_point_id"]
        return wanted, owners

    async def sync_all_evse_data(self) -> int:
        """Push what changed, for every charger; returns how many EVSEs Hubject will hold."""
        async with self.pool.acquire() as conn, conn.transaction():
            charge_points = {row["charge_point_id"] for row in await store.roaming_evses(conn)}
            charge_points |= await store.charge_points_with_sent_evse_data(conn, "oicp")
            for charge_point_id in sorted(charge_points):
                await self._sync_evse_data(conn, charge_point_id)
            return len(await store.roaming_evses(conn))

    async def push_all_evse_data(self) -> int:
        """A fullLoad of every EVSE on a site: Hubject's copy is replaced; returns how many."""
        async with self.pool.acquire() as conn, conn.transaction():
            wanted, owners = await self._evse_records(conn, None)
            sent = await store.sent_evse_data(conn, "oicp")
            await self._send(conn, evse_data.OPERATION, evse_data.data_path(
                self.settings.operator_id), evse_data.push_evse_data(
                self.settings.operator_id, self.settings.operator_name, "fullLoad",
                list(wanted.values())), coalesce_key="evse-data:fullLoad")
            await store.record_sent_evse_data(conn, "oicp", owners, wanted,
                                              sorted(sent.keys() - wanted.keys()))
        return len(wanted)

    async def _full_loads(self) -> None:
        """Scheduled full loads repair whatever drifted (a partner's reset, a lost update)."""
        while True:
            await asyncio.sleep(self.settings.full_load_interval)
            try:
                # With several nodes, the first to wake does it for all.
                if await outbox.enqueued_within(self.pool, PARTNER, "evse-data:fullLoad",
                                                self.settings.full_load_interval / 2):
                    continue
                data, statuses = await self.push_all_evse_data(), await self.push_all_statuses()
                # Also brings in tariff elements whose start_date has come.
                prices = await self.push_all_pricing()
                log.info("full loads queued", partner=PARTNER, evse_data=data, statuses=statuses,
                         pricing_pushes=prices)
            except (OSError, asyncpg.PostgresError) as exc:
                log.error("full loads not queued", partner=PARTNER, error=repr(exc))

    async def push_all_statuses(self) -> int:
        """A fullLoad of every roaming EVSE's status; returns how many."""
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                """SELECT evse_id, status FROM evses WHERE evse_id IS NOT NULL
                   AND retired_at IS NULL ORDER BY evse_id""")
            body = evse_status.push_evse_status(
                self.settings.operator_id, self.settings.operator_name, "fullLoad",
                [(row["evse_id"], row["status"]) for row in rows])
            await outbox.enqueue(conn, PARTNER, evse_status.OPERATION,
                                 evse_status.status_path(self.settings.operator_id), body,
                                 coalesce_key="evse-status:fullLoad")
        return len(rows)

    # --- dynamic pricing ------------------------------------------------------------------------

    async def _pricing_state(self, conn: asyncpg.Connection) -> dict[str, dict[str, dict[str, Any]]]:
        """What Hubject should hold: per EMP ('products:<ProviderID>') the products of the tariffs
        its EVSEs charge by, with its default price; and which products apply at which EVSE
        ('evse-pricing'). An EMP appears apart from '*' only where a deal of its own applies."""
        current = {row["id"]: row["data"] for row in await store.current_tariffs(conn)}
        assignments = await tariffs.assignments_at(conn)
        providers = sorted({provider for provider, _ in assignments} | {tariffs.ALL})
        uses: dict[tuple[str, str], str] = {}
        power: dict[str, float] = {}
        sites: dict[str, Any] = {}
        for row in await store.roaming_evses(conn):
            site_id = row["site"].get("id", "")
            if site_id not in sites:
                sites[site_id] = parse_site(row["site"])
            details = sites[site_id].details(row["evse_id"])
            for provider in providers:
                chosen = tariffs.resolve(assignments, row["evse_id"], details.tariff, provider,
                                         current.keys())
                if chosen is None or (provider != tariffs.ALL and chosen[1] == tariffs.ALL):
                    continue  # no price here, or the offer to all EMPs covers this one too
                uses[(provider, row["evse_id"])] = chosen[0]
                power[chosen[0]] = max(power.get(chosen[0], 0.0), float(details.power_kw))
        defaults = {provider: tariffs.resolve(assignments, "", "", provider, current.keys())
                    for provider in providers}
        today = datetime.now(ZoneInfo(self.settings.time_zone)).date()
        wanted_ids = set(uses.values()) | {d[0] for d in defaults.values() if d is not None}
        products = {tariff_id: pricing.pricing_products(
            current[tariff_id], power.get(tariff_id, pricing.DEFAULT_POWER_KW), today)
            for tariff_id in sorted(wanted_ids)}
        self._log_left_out(products)
        state: dict[str, dict[str, dict[str, Any]]] = {}
        for provider in providers:
            chosen = defaults[provider]
            default = pricing.default_price(products[chosen[0]] if chosen else None,
                                            current[chosen[0]]["currency"] if chosen else "EUR")
            dataset: dict[str, dict[str, Any]] = {pricing.META + "default": default.as_meta()}
            used = {tariff_id for (p, _), tariff_id in uses.items() if p == provider}
            if chosen is not None and chosen[1] == provider:
                used.add(chosen[0])
            for tariff_id in sorted(used):
                dataset |= {record["ProductID"]: record for record in products[tariff_id].records}
            state[f"products:{provider}"] = dataset
        state["evse-pricing"] = {
            f"{provider} {evse_id}": pricing.evse_pricing_record(evse_id, provider,
                                                                 products[tariff_id].ids)
            for (provider, evse_id), tariff_id in sorted(uses.items()) if products[tariff_id].ids}
        return state

    def _log_left_out(self, products: dict[str, pricing.Products]) -> None:
        """What of a tariff EMPs will not see: a WARNING once per tariff (and `csms tariffs list`)."""
        for tariff_id, found in products.items():
            if found.notes and self._pricing_noted.get(tariff_id) != found.notes:
                log.warning("tariff partly not expressible in OICP pricing products", partner=PARTNER,
                            tariff=tariff_id, left_out=found.notes)
            self._pricing_noted[tariff_id] = found.notes

    def _pricing_notified(self, payload: str) -> None:
        self._pricing_due.set()

    async def _pricing_forever(self) -> None:
        """Works the prices out once whatever made them due has committed, on whichever node
        takes the mark first; a crash before the pushes are queued leaves the mark set."""
        while True:
            self._pricing_due.clear()  # before looking: a NOTIFY meanwhile is not lost
            try:
                async with self.pool.acquire() as conn, conn.transaction():
                    if await store.take_pricing_due(conn):
                        await self.sync_pricing(conn)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                if not outage.noted(exc):
                    log.warning("pricing not worked out", partner=PARTNER, error=repr(exc))
            # The mark is also looked at now and then: a NOTIFY lost while the database was away.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(30):  # not wait_for: see bridge/outbox.py
                    await self._pricing_due.wait()

    async def sync_pricing(self, conn: asyncpg.Connection, full: bool = False) -> int:
        """Queue the pricing pushes that bring Hubject to our current prices (fullLoads with
        `full`); returns how many were queued or replaced a waiting one."""
        # One change at a time computes against what was queued before it.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('oicp-pricing'))")
        state = await self._pricing_state(conn)
        sent = await store.pricing_sent(conn)
        # Products before the EVSE pricing that names them.
        datasets = sorted(state.keys() | sent.keys(), key=lambda d: (d == "evse-pricing", d))
        queued = 0
        for dataset in datasets:
            was = sent.get(dataset, {})
            # An EMP whose deals all ended: take its products back, its default price stays.
            wanted = state.get(dataset) or {k: v for k, v in was.items() if k.startswith(pricing.META)}
            records = {k: v for k, v in wanted.items() if not k.startswith(pricing.META)}
            if not records and not {k for k in was if not k.startswith(pricing.META)}:
                continue  # nothing priced, nothing to take back: Hubject need not hear of it
            key = f"pricing:{dataset}"
            pending = bool(await conn.fetchval(
                """SELECT 1 FROM outbox WHERE partner = $1 AND coalesce_key = $2
                   AND status = 'pending'""", PARTNER, key))
            step = ("fullLoad", [records[k] for k in sorted(records)]) if full else \
                pricing.plan(was, wanted, pending)
            if step is None:
                continue
            action, body_records = step
            if dataset == "evse-pricing":
                operation, path = pricing.OPERATION_EVSE, pricing.evse_pricing_path(
                    self.settings.operator_id)
                body = pricing.push_evse_pricing(action, body_records)
            else:
                provider = dataset.removeprefix("products:")
                operation, path = pricing.OPERATION_PRODUCTS, pricing.products_path(
                    self.settings.operator_id)
                body = pricing.push_pricing_products(
                    self.settings.operator_id, self.settings.operator_name, provider, action,
                    wanted.get(pricing.META + "default") or was[pricing.META + "default"],
                    body_records)
            # A push still waiting is replaced (the plan made it a fullLoad): the newest wins.
            await self._send(conn, operation, path, body, coalesce_key=key)
            await store.record_pricing_sent(conn, dataset, wanted)
            queued += 1
            log.info("pricing queued", partner=PARTNER, dataset=dataset, action=action,
                     records=len(body_records))
        return queued

    async def push_all_pricing(self) -> int:
        """A fullLoad of every pricing data set; returns how many pushes were queued."""
        async with self.pool.acquire() as conn, conn.transaction():
            return await self.sync_pricing(conn, full=True)
