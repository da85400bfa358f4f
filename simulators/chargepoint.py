"""What both simulated charge points share: the connection loop, the offline queue, meter accrual, logs."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import ssl
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog
from ocpp.charge_point import ChargePoint as OcppChargePoint
from ocpp.charge_point import remove_nones, serialize_as_dict, snake_to_camel_case
from ocpp.exceptions import OCPPError
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from simulators.certificates import CertificateStore

log = structlog.get_logger(__name__)


def now_z() -> str:
    at = datetime.now(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def wire(payload: Any) -> dict[str, Any]:
    """A call dataclass as it goes on the wire (camelCase, no nulls)."""
    return snake_to_camel_case(remove_nones(serialize_as_dict(payload)))  # type: ignore[no-any-return]


@dataclass
class SimConfig:
    charge_point_id: str
    url: str  # base, e.g. ws://127.0.0.1:9000/ocpp; the charger id is appended
    connectors: int = 1
    meter_interval: float | None = None  # real seconds between meter values; None: as the CSMS set
    power_w: int = 11000
    sample_seconds: float = 900.0  # simulated seconds one meter tick stands for
    password: str | None = None
    vendor: str = "SimVendor"
    model: str = "SimModel"
    firmware: str = "1.0.0"
    serial: str | None = None
    reconnect: bool = True
    meter_start_wh: int = 1000
    heartbeat_interval: float | None = None  # None: as the CSMS said in its boot answer
    tls: ssl.SSLContext | None = None  # for wss:// (e.g. with a client certificate, profile 3)
    # A transaction message refused with a CALLERROR is tried this often in all (1.6
    # TransactionMessageAttempts, 2.0.1 MessageAttemptsTransactionEvent), retry_interval apart.
    transaction_attempts: int = 1
    retry_interval: float = 1.0
    # The EV: meter ticks at a transaction's start before it draws energy, and ticks it draws
    # energy before it is full (None: until the transaction ends); a test may change them live.
    idle_ticks: int = 0
    charge_ticks: int | None = None
    # Security (1.6 whitepaper, 2.0.1 A): the profile it connects with, the CPO name its CSRs
    # carry (CpoName / SecurityCtrlr.OrganizationName), the key type it makes ('ec', 'rsa'),
    # where TLS is (wss:// base) and the CA it checks the server with.
    security_profile: int = 1
    cpo_name: str | None = "SimCPO"
    key_type: str = "ec"
    tls_url: str | None = None
    server_ca: str | None = None


@dataclass
class Transaction:
    token: str | None
    transaction_id: str | None = None
    seq_no: int = 0
    remote_start_id: int | None = None
    meter_task: asyncio.Task[None] | None = field(default=None, repr=False)


class SimulatedChargePoint:
    """A scriptable charger; subclasses speak one OCPP version."""

    subprotocol = ""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.connected = asyncio.Event()
        self.boot_status: str | None = None
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.errors: list[str] = []
        self.meter_wh = {n: config.meter_start_wh for n in range(1, config.connectors + 1)}
        self.transactions: dict[int, Transaction] = {}
        self.reservations: dict[int, tuple[int, str]] = {}  # reservation id → (connector, token)
        self.settings: dict[str, str] = {}
        self.csms_meter_interval = 900.0
        self.csms_heartbeat_interval = 300.0
        self.log = log.bind(charge_point_id=config.charge_point_id)
        self._client: OcppChargePoint | None = None
        # Transaction messages, strictly in order, each with the future of its answer.
        self._outbox: deque[tuple[Any, asyncio.Future[Any]]] = deque()
        # Answers to lose (the CSMS stored the call, its answer never arrives): action, fields.
        self._lose: list[tuple[str, dict[str, Any], bool]] = []
        self.network = asyncio.Event()  # cleared: no connection (e.g. a charger's uplink is down)
        self.network.set()
        self._outbox_changed = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._consumed: dict[str, int] = {}
        self.certificates = CertificateStore(config.charge_point_id)
        self.pending_profile: int | None = None  # accepted, in force after the next reset

    def reserve(self, reservation_id: int, connector: int, token: str) -> str:
        """ReserveNow as a charger answers it; the connector shows Reserved."""
        if connector in self.transactions or connector not in self.meter_wh:
            return "Occupied" if connector in self.transactions else "Rejected"
        self.reservations[reservation_id] = (connector, token)
        self.spawn(self.set_status(connector, "Reserved"))
        return "Accepted"

    def cancel_reservation(self, reservation_id: int) -> str:
        if reservation_id not in self.reservations:
            return "Rejected"
        connector, _ = self.reservations.pop(reservation_id)
        self.spawn(self.set_status(connector, "Available"))
        return "Accepted"

    def use_reservation(self, connector: int, token: str) -> int | None:
        """A transaction starting on a reserved connector with its token ends the reservation."""
        for reservation_id, held in list(self.reservations.items()):
            if held == (connector, token):
                del self.reservations[reservation_id]
                return reservation_id
        return None

    # --- to be provided by each version ----------------------------------------------------

    def make_client(self, websocket: Any) -> OcppChargePoint:
        raise NotImplementedError

    async def boot(self) -> None:
        raise NotImplementedError

    async def heartbeat(self) -> None:
        raise NotImplementedError

    async def set_status(self, connector: int, status: str, error_code: str = "NoError") -> None:
        raise NotImplementedError

    async def report_statuses(self) -> None:
        raise NotImplementedError

    def meter_payload(self, connector: int) -> Any:
        raise NotImplementedError

    async def authorize(self, id_tag: str) -> str:
        raise NotImplementedError

    async def start_local_session(self, connector: int, id_tag: str) -> str:
        """Authorize, then start a transaction; returns its id. Raises RuntimeError if refused."""
        raise NotImplementedError

    async def stop_local_session(self, connector: int, reason: str = "Local") -> None:
        """End the transaction; works offline too (the messages are queued)."""
        raise NotImplementedError

    def offline_copy(self, payload: Any) -> Any:
        """The payload as queued while offline (2.0.1 flags it)."""
        return payload

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        self._runner = asyncio.get_running_loop().create_task(self._run())
        self.spawn(self._drain())
        try:
            await asyncio.wait_for(self.connected.wait(), 10)
        except TimeoutError:
            await self.stop()
            raise RuntimeError(f"{self.config.charge_point_id} did not connect and boot") from None

    async def stop(self) -> None:
        self.config.reconnect = False
        tasks = [t for t in self._tasks] + [tx.meter_task for tx in self.transactions.values()
                                             if tx.meter_task] + ([self._runner] if self._runner else [])
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.connected.clear()

    async def drop_connection(self) -> None:
        if self._client is not None:
            await self._client._connection.close()

    def spawn(self, coroutine: Any) -> None:
        """Work that must not run inside a handler the CSMS is waiting on; a status report
        cut off by a lost connection is sent again on reconnect."""
        async def run() -> Any:
            with contextlib.suppress(ConnectionClosed):
                return await coroutine
        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _headers(self) -> dict[str, str]:
        if self.config.password is None:
            return {}
        pair = f"{self.config.charge_point_id}:{self.config.password}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode()}

    async def _run(self) -> None:
        backoff = 0.2
        while True:
            await self.network.wait()
            # Read on each connection: a security profile upgrade moves the charger to TLS.
            url = f"{self.config.url.rstrip('/')}/{self.config.charge_point_id}"
            try:
                async with connect(url, subprotocols=[self.subprotocol],  # type: ignore[list-item]
                                   additional_headers=self._headers(), open_timeout=5,
                                   ssl=self.config.tls) as ws:
                    self._client = self.make_client(ws)
                    reader = asyncio.get_running_loop().create_task(self._client.start())
                    online = asyncio.get_running_loop().create_task(self._online())
                    try:
                        # A connection lost while booting must not wait out a call's timeout.
                        await asyncio.wait({reader, online}, return_when=asyncio.FIRST_COMPLETED)
                        if not online.done():
                            reader.result()  # raises why the connection ended
                        online.result()
                        backoff = 0.2
                        await reader
                    finally:
                        online.cancel()
                        reader.cancel()
            except (OSError, ConnectionClosed, InvalidHandshake, TimeoutError, OCPPError) as exc:
                self.log.info("connection lost", error=repr(exc))
            finally:
                self.connected.clear()
                self._client = None
            if not self.config.reconnect:
                return
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)

    async def _online(self) -> None:
        await self.boot()
        while self.boot_status != "Accepted":
            await asyncio.sleep(self.csms_heartbeat_interval)
            await self.boot()
        self.connected.set()  # the outbox drains from here on, before anything else we send
        await self.report_statuses()
        self.spawn(self._heartbeats())

    async def _heartbeats(self) -> None:
        while self._client is not None:
            await asyncio.sleep(self.config.heartbeat_interval or self.csms_heartbeat_interval)
            with contextlib.suppress(ConnectionClosed, TimeoutError, OCPPError):
                await self.heartbeat()

    # --- calls -----------------------------------------------------------------------------

    async def call(self, payload: Any) -> Any:
        """One call to the CSMS; a CALLERROR is recorded and raised."""
        if self._client is None:
            raise ConnectionClosed(None, None)
        sent = (type(payload).__name__, wire(payload))
        self.sent.append(sent)
        client = self._client
        answer = asyncio.ensure_future(client.call(payload, suppress=False))
        # The library would wait out its timeout for an answer that a closed connection never brings.
        closed = asyncio.ensure_future(client._connection.wait_closed())
        try:
            await asyncio.wait({answer, closed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            closed.cancel()
            if not answer.done():
                answer.cancel()
        # Closed first: the answer is cancelled, but marked so only on its next turn.
        if not answer.done() or answer.cancelled():
            raise ConnectionClosed(None, None)
        if self._answer_lost(*sent):
            await client._connection.close()
            raise ConnectionClosed(None, None)
        try:
            return answer.result()
        except OCPPError as error:
            self.errors.append(error.code)
            raise

    def lose_answer(self, action: str, stay_offline: bool = False, **fields: Any) -> None:
        """The CSMS's answer to the next `action` call whose wire payload has these fields is
        lost: the connection drops once it came (stay_offline: and stays down until
        `network` is set again), so the call counts as unanswered and is resent."""
        self._lose.append((action, fields, stay_offline))

    def _answer_lost(self, action: str, payload: dict[str, Any]) -> bool:
        for loss in self._lose:
            name, fields, stay_offline = loss
            if name == action and all(payload.get(k) == v for k, v in fields.items()):
                self._lose.remove(loss)
                if stay_offline:
                    self.network.clear()
                self.log.info("answer lost", action=action)
                return True
        return False

    def enqueue(self, payload: Any) -> asyncio.Future[Any]:
        """Transaction messages are never lost: sent in order, queued while offline, resent
        until answered (after a reconnect too); the future has the answer (None: given up)."""
        answered: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._outbox.append((payload if self.connected.is_set() else self.offline_copy(payload),
                             answered))
        self._outbox_changed.set()
        return answered

    async def _drain(self) -> None:
        refused = 0
        while True:
            await self._outbox_changed.wait()
            if not self._outbox:
                self._outbox_changed.clear()
                continue
            await self.connected.wait()
            payload, answered = self._outbox[0]
            answer = None
            try:
                answer = await self.call(payload)
            except (ConnectionClosed, TimeoutError):
                self._outbox[0] = (self.offline_copy(payload), answered)
                await asyncio.sleep(0.1)
                continue
            except OCPPError:
                refused += 1
                if refused < self.config.transaction_attempts:
                    await asyncio.sleep(self.config.retry_interval)
                    continue
                # Given up on, as a real charger does after its last attempt.
            refused = 0
            self._outbox.popleft()
            if not answered.done():
                answered.set_result(answer)

    async def flush(self, timeout: float = 10) -> None:
        """Wait until every queued transaction message has been answered."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self._outbox:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"{len(self._outbox)} messages still queued")
            await asyncio.sleep(0.02)

    async def send_raw(self, text: str) -> None:
        if self._client is None:
            raise ConnectionClosed(None, None)
        await self._client._connection.send(text)

    def received(self, action: str, payload: dict[str, Any]) -> None:
        self.calls.append((action, payload))

    async def wait_for_call(self, action: str, timeout: float = 10) -> dict[str, Any]:
        """The next not yet awaited CSMS → charger call of that action."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            matching = [payload for name, payload in self.calls if name == action]
            index = self._consumed.get(action, 0)
            if len(matching) > index:
                self._consumed[action] = index + 1
                return matching[index]
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"no {action} received within {timeout}s")
            await asyncio.sleep(0.02)

    # --- transactions and meter values ------------------------------------------------------

    def transaction_id(self, connector: int) -> str | None:
        tx = self.transactions.get(connector)
        return tx.transaction_id if tx else None

    def connector_of(self, transaction_id: str) -> int | None:
        for connector, tx in self.transactions.items():
            if tx.transaction_id == transaction_id:
                return connector
        return None

    def tick_wh(self) -> int:
        return round(self.config.power_w * self.config.sample_seconds / 3600)

    def start_metering(self, connector: int) -> None:
        tx = self.transactions[connector]
        tx.meter_task = asyncio.get_running_loop().create_task(self._meter_loop(connector))

    def stop_metering(self, connector: int) -> Transaction | None:
        tx = self.transactions.pop(connector, None)
        if tx is not None and tx.meter_task is not None:
            tx.meter_task.cancel()
        return tx

    def draws_energy(self, tick: int) -> bool:
        """Whether the EV draws energy up to the transaction's meter tick (1: the first)."""
        charged = tick - self.config.idle_ticks
        return charged > 0 and (self.config.charge_ticks is None or charged <= self.config.charge_ticks)

    async def _meter_loop(self, connector: int) -> None:
        tick, drawing = 0, self.draws_energy(1)
        while True:
            await asyncio.sleep(self.config.meter_interval or self.csms_meter_interval)
            tick += 1
            if self.draws_energy(tick) != drawing:
                drawing = not drawing
                await self.charging_changed(connector, drawing)
            if drawing:
                self.meter_wh[connector] += self.tick_wh()
            self.enqueue(self.meter_payload(connector))

    async def charging_changed(self, connector: int, drawing: bool) -> None:
        """The EV began or stopped drawing energy: the version's way of saying so, before the
        meter shows it."""

    def configure(self, key: str, value: str) -> bool:
        """A setting the CSMS changes (either version's name); False: rejected."""
        if key in ("MeterValueSampleInterval", "SampledDataCtrlr.TxUpdatedInterval") \
                and not self.set_meter_interval(value):
            return False
        if key in ("AuthorizationKey", "SecurityCtrlr.BasicAuthPassword"):
            self.config.password = value  # the next connection authenticates with it
        if key in ("SecurityProfile", "SecurityCtrlr.SecurityProfile"):
            return self.accept_profile(value)
        self.settings[key] = value
        return True

    def accept_profile(self, value: str) -> bool:
        """As firmware does: never lower, and only what it can connect with (TLS known; for 3
        a certificate of its own). In force from the next reset."""
        profile = int(value) if value.isdigit() else -1
        if profile <= self.config.security_profile or profile > 3:
            return False
        if profile >= 2 and self.config.tls_url is None:
            return False
        if profile == 3 and self.certificates.chain_file is None:
            return False
        self.pending_profile = profile
        return True

    async def rebooted(self) -> None:
        """After a reset: a new security profile takes effect, on a new connection."""
        profile, self.pending_profile = self.pending_profile, None
        if profile is None:
            return
        assert self.config.tls_url is not None
        self.config.security_profile = profile
        self.config.url = self.config.tls_url
        self.config.tls = self.certificates.tls_context(self.config.server_ca, profile == 3)
        self.log.info("security profile in force", profile=profile)
        # Shutting down, as firmware does: its connectors go Unavailable first (and the CSMS,
        # answering in order, has had our Reset answer by then).
        with contextlib.suppress(ConnectionClosed, TimeoutError, OCPPError):
            for connector in self.meter_wh:
                await self.set_status(connector, "Unavailable")
        await self.drop_connection()

    async def request_certificate(self, use: str | None = None, key_type: str | None = None,
                                  common_name: str | None = None) -> str:
        """SignCertificate with a new key's CSR (A02/A03); the status the CSMS answered."""
        csr = self.certificates.request(key_type or self.config.key_type, self.config.cpo_name,
                                        common_name)
        answer = await self.call(self.sign_certificate_payload(csr, use))
        return str(answer.status)

    def sign_certificate_payload(self, csr: str, use: str | None) -> Any:
        raise NotImplementedError

    def set_meter_interval(self, value: str) -> bool:
        try:
            seconds = float(value)
        except ValueError:
            return False
        if seconds > 0:
            self.csms_meter_interval = seconds
        return True


def replace_offline(payload: Any) -> Any:
    return dataclasses.replace(payload, offline=True)
