"""The OICP bridge as a whole: domain events into outbox messages, and their delivery to Hubject."""

from __future__ import annotations

import asyncpg
import structlog

from bridge import outbox
from bridge.oicp import cdr, evse_status
from bridge.oicp.client import HubjectClient
from bridge.oicp.inbound import OicpInbound
from csms import store
from csms.commands import CommandService
from csms.config import OicpSettings
from csms.events import DomainEvent, EvseStatusChanged, SessionEnded

log = structlog.get_logger(__name__)

PARTNER = "hubject"


class OicpBridge:
    def __init__(self, pool: asyncpg.Pool, database_url: str, settings: OicpSettings,
                 commands: CommandService) -> None:
        self.pool = pool
        self.settings = settings
        self.client = HubjectClient(settings)
        self.inbound = OicpInbound(settings, pool, commands)
        self.worker = outbox.OutboxWorker(pool, database_url, PARTNER, self.client.deliver,
                                          settings.retry_base_delay, settings.retry_max_delay)

    async def start(self) -> None:
        await self.client.start()
        await self.worker.start()
        await self.inbound.start()
        log.info("oicp bridge started", base_url=self.settings.base_url,
                 operator_id=self.settings.operator_id)

    async def stop(self) -> None:
        await self.inbound.stop()
        await self.worker.stop()
        await self.client.stop()

    async def on_event(self, conn: asyncpg.Connection, event: DomainEvent) -> None:
        """Runs inside the domain change's transaction: the message commits with it."""
        if isinstance(event, EvseStatusChanged) and event.evse_id:
            body = evse_status.push_evse_status(
                self.settings.operator_id, self.settings.operator_name, "update",
                [(event.evse_id, event.status)])
            await outbox.enqueue(conn, PARTNER, evse_status.OPERATION,
                                 evse_status.status_path(self.settings.operator_id), body,
                                 coalesce_key=f"evse-status:{event.evse_id}")
        elif isinstance(event, SessionEnded) and "oicp" in event.attributes:
            # Only roaming sessions: our own customers' sessions are not Hubject's business.
            readings = await store.energy_readings(conn, event.session_id)
            record = cdr.charge_detail_record(event, readings, self.settings.time_zone)
            await outbox.enqueue(conn, PARTNER, cdr.OPERATION, cdr.cdr_path(self.settings.operator_id),
                                 record)
            log.info("cdr queued", partner=PARTNER, session_id=event.session_id,
                     oicp_session=record["SessionID"], energy_kwh=record["ConsumedEnergy"])

    async def push_all_statuses(self) -> int:
        """A fullLoad of every roaming EVSE's status; returns how many."""
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT evse_id, status FROM evses WHERE evse_id IS NOT NULL ORDER BY evse_id")
            body = evse_status.push_evse_status(
                self.settings.operator_id, self.settings.operator_name, "fullLoad",
                [(row["evse_id"], row["status"]) for row in rows])
            await outbox.enqueue(conn, PARTNER, evse_status.OPERATION,
                                 evse_status.status_path(self.settings.operator_id), body,
                                 coalesce_key="evse-status:fullLoad")
        return len(rows)
