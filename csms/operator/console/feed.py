"""The console's live feed: committed domain events of every node, and the OCPP frames of watched chargers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
import structlog

from csms.domain.events import (
    ChargePointBooted,
    ChargePointConnected,
    ChargePointDisconnected,
    DomainEvent,
    EvseDataChanged,
    EvseStatusChanged,
    MeterSampled,
    SessionEnded,
    SessionStarted,
)
from csms.ocpp.messages import Frame, MessageLog, message_log
from csms.ocpp.translations.meter import format_timestamp
from csms.storage.notifications import Listener

log = structlog.get_logger(__name__)

CHANNEL = "csms_console"
# Nodes with a console open say so here every ANNOUNCE_EVERY seconds; until WATCH_TTL after the
# last word, every node sends its committed events to CHANNEL. Nobody watching: no NOTIFY at all.
WATCH_CHANNEL = "csms_console_watch"
OUTBOX_CHANNEL = "outbox"  # bridge.outbox notifies it when a message is queued or retried
ANNOUNCE_EVERY = 10.0
WATCH_TTL = 30.0
# Items waiting for one slow browser; beyond, it is told to reload its data ("reset").
QUEUE_SIZE = 1000
FRAME = "frame"


def _at(value: Any) -> str | None:
    return format_timestamp(value) if value is not None else None


def describe(event: DomainEvent) -> dict[str, Any] | None:
    """What the console shows of an event (small: a NOTIFY payload is at most 8,000 bytes);
    None for events it does not show."""
    match event:
        case ChargePointConnected():
            return {"type": "connected", "charge_point_id": event.charge_point_id,
                    "protocol": event.protocol}
        case ChargePointDisconnected():
            return {"type": "disconnected", "charge_point_id": event.charge_point_id}
        case ChargePointBooted():
            return {"type": "booted", "charge_point_id": event.charge_point_id,
                    "vendor": event.vendor[:50], "model": event.model[:50],
                    "firmware_version": (event.firmware_version or "")[:50] or None}
        case EvseStatusChanged():
            return {"type": "evse_status", "charge_point_id": event.charge_point_id,
                    "evse_number": event.evse_number, "status": event.status.value,
                    "previous": event.previous.value, "error_code": (event.error_code or "")[:50]
                    or None, "at": _at(event.at)}
        case EvseDataChanged():
            return {"type": "evse_data", "charge_point_id": event.charge_point_id}
        case SessionStarted():
            return {"type": "session_started", "session_id": event.session_id,
                    "charge_point_id": event.charge_point_id, "evse_number": event.evse_number,
                    "started_at": _at(event.started_at)}
        case SessionEnded():
            return {"type": "session_ended", "session_id": event.session_id,
                    "charge_point_id": event.charge_point_id, "evse_number": event.evse_number,
                    "stopped_at": _at(event.stopped_at), "energy_wh": event.energy_wh}
        case MeterSampled():
            return {"type": "meter", "session_id": event.session_id,
                    "charge_point_id": event.charge_point_id,
                    "sampled_at": _at(event.sampled_at), "energy_wh": event.energy_wh,
                    "power_w": event.power_w}
    return None


def sse(name: str, data: Any) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


@dataclass(eq=False)
class Client:
    """One open event stream: everything, plus one charger's frames or one session's meter values."""

    charge_point_id: str | None
    session_id: str | None
    queue: asyncio.Queue[bytes | None] = field(
        default_factory=lambda: asyncio.Queue(QUEUE_SIZE))

    def offer(self, item: bytes | None) -> None:
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            # A browser that cannot keep up loses the backlog and reloads what it shows.
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(sse("reset", {}))

    def frame(self, entry: Frame) -> None:
        self.offer(sse(FRAME, frame_json(entry)))

    def wants(self, data: dict[str, Any]) -> bool:
        if data.get("type") == "meter":
            return data.get("session_id") == self.session_id
        return True


def frame_json(entry: Frame) -> dict[str, Any]:
    return {"at": format_timestamp(datetime.fromtimestamp(entry.at, UTC)),
            "charge_point_id": entry.charge_point_id, "direction": entry.direction,
            "frame": entry.text}


class ConsoleFeed:
    """Events reach the browsers through PostgreSQL NOTIFY, sent inside the transaction that
    caused them: PostgreSQL delivers it only once that transaction commits (never after a
    rollback), and to every node, so a console on any node sees every node's chargers.
    OCPP frames are node-local: a charger's frames show on the console of the node it is
    connected to (see the README)."""

    def __init__(self, pool: asyncpg.Pool, listener: Listener, node_id: str,
                 messages: MessageLog = message_log) -> None:
        self.pool = pool
        self.listener = listener
        self.node_id = node_id
        self.messages = messages
        self.clients: set[Client] = set()
        self._watched_until = 0.0  # time.monotonic(); some console somewhere is open
        self._sessions: dict[str, float] = {}  # sessions whose meter values a console charts
        self._announcer: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    async def start(self) -> None:
        await self.listener.subscribe(CHANNEL, self._received)
        await self.listener.subscribe(WATCH_CHANNEL, self._announced)
        await self.listener.subscribe(OUTBOX_CHANNEL, self._outbox)
        self._announcer = asyncio.get_running_loop().create_task(self._announce_forever())

    async def stop(self) -> None:
        if self._announcer is not None:
            self._announcer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._announcer
        for channel, callback in ((CHANNEL, self._received), (WATCH_CHANNEL, self._announced),
                                  (OUTBOX_CHANNEL, self._outbox)):
            self.listener.unsubscribe(channel, callback)
        self.close_streams()

    def close_streams(self) -> None:
        for client in list(self.clients):
            client.offer(None)

    # --- the event bus side: inside the domain change's transaction ------------------------

    async def on_event(self, conn: asyncpg.Connection, event: DomainEvent) -> None:
        if time.monotonic() > self._watched_until:
            return  # no console open anywhere: not even a NOTIFY
        if isinstance(event, MeterSampled) and event.session_id not in self._sessions:
            return  # meter values only for sessions whose chart is open: they are many
        data = describe(event)
        if data is not None:
            await conn.execute("SELECT pg_notify($1, $2)", CHANNEL,
                               json.dumps(data, separators=(",", ":")))

    # --- the browser side --------------------------------------------------------------------

    async def join(self, charge_point_id: str | None, session_id: str | None) -> Client:
        client = Client(charge_point_id, session_id)
        self.clients.add(client)
        self._watch_locally([session_id] if session_id else [])
        if charge_point_id is not None:
            self.messages.watch(charge_point_id, client.frame)
        with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            await self._announce()  # the other nodes start sending now, not at the next round
        return client

    def leave(self, client: Client) -> None:
        self.clients.discard(client)
        if client.charge_point_id is not None:
            self.messages.unwatch(client.charge_point_id, client.frame)

    def _watch_locally(self, sessions: list[str]) -> None:
        until = time.monotonic() + WATCH_TTL
        self._watched_until = until
        for session_id in sessions:
            self._sessions[session_id] = until

    async def _announce(self) -> None:
        sessions = sorted({c.session_id for c in self.clients if c.session_id})
        await self.pool.execute("SELECT pg_notify($1, $2)", WATCH_CHANNEL,
                                json.dumps({"node": self.node_id, "sessions": sessions[:100]}))

    async def _announce_forever(self) -> None:
        while True:
            await asyncio.sleep(ANNOUNCE_EVERY)
            now = time.monotonic()
            self._sessions = {s: until for s, until in self._sessions.items() if until > now}
            if not self.clients:
                continue
            try:
                await self._announce()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("console watch not announced", error=repr(exc))

    def _announced(self, payload: str) -> None:
        try:
            sessions = json.loads(payload).get("sessions", [])
        except (ValueError, AttributeError):
            return
        self._watch_locally([s for s in sessions if isinstance(s, str)])

    def _received(self, payload: str) -> None:
        if not self.clients:
            return
        try:
            data = json.loads(payload)
        except ValueError:
            return
        item = sse("domain", data)
        for client in self.clients:
            if client.wants(data):
                client.offer(item)

    def _outbox(self, partner: str) -> None:
        if self.clients:
            item = sse("domain", {"type": "outbox", "partner": partner})
            for client in self.clients:
                client.offer(item)
