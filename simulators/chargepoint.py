"""What both simulated charge points share: the connection loop, the offline queue, meter accrual, logs."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import ssl
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog
from ocpp import exceptions as ocpp_exceptions
from ocpp.charge_point import ChargePoint as OcppChargePoint
from ocpp.charge_point import remove_nones, serialize_as_dict, snake_to_camel_case
from ocpp.exceptions import OCPPError
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from simulators.certificates import CertificateStore
from simulators.smart_charging import Profiles

log = structlog.get_logger(__name__)


def now_z() -> str:
    at = datetime.now(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def parse_z(value: str | None) -> datetime | None:
    """An OCPP timestamp (UTC with Z, or an offset)."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


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
    # The local authorization list (1.6 LocalAuthListEnabled, 2.0.1 LocalAuthListCtrlr.Enabled):
    # how many entries it holds and takes in one SendLocalList; used to authorize while offline.
    local_list: bool = True
    local_list_max: int = 100
    local_list_per_message: int = 50
    # Connector types by connector (2.0.1 ConnectorEnumType); the rest are Type 2 sockets.
    connector_types: dict[int, str] = field(default_factory=dict)
    # Keys one GetConfiguration may ask (1.6 GetConfigurationMaxKeys), variables one Get/SetVariables
    # may carry (2.0.1 DeviceDataCtrlr ItemsPerMessage); more are refused. None: no limit said.
    max_keys: int | None = None
    # Charging profiles (1.6 Smart Charging feature profile, 2.0.1 block K): False, its requests
    # get a CALLERROR NotImplemented, as from firmware without the feature.
    smart_charging: bool = True
    # ISO 15118 (2.0.1 K15-K17): the car says its needs at each transaction's start
    # (NotifyEVChargingNeeds: AC, ev_min_amps to ev_max_amps per phase) and its schedule after
    # each TxProfile (NotifyEVChargingSchedule: the profile's limit, or ev_schedule_amps when set,
    # e.g. above the limit to be rejected).
    iso15118: bool = False
    ev_max_amps: float = 32.0
    ev_min_amps: float = 6.0
    ev_schedule_amps: float | None = None
    # Firmware updates and log uploads: how they end. "Installed", or the failing status sent
    # instead (DownloadFailed, InvalidSignature, InstallationFailed, …); "Rejected": the request is
    # refused (where the version has an answer to refuse with). Logs: "Uploaded", "UploadFailed".
    firmware_outcome: str = "Installed"
    log_outcome: str = "Uploaded"
    # After sending this status the job waits until `job_resume` is set (a test's checkpoint).
    job_pause_after: str | None = None
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
    group: str | None = None  # the starting token's group, as the CSMS answered it
    meter_task: asyncio.Task[None] | None = field(default=None, repr=False)


class SimulatedChargePoint:
    """A scriptable charger; subclasses speak one OCPP version."""

    subprotocol = ""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.connected = asyncio.Event()
        self._boot_status: str | None = None
        self._accepted = asyncio.Event()  # set by an Accepted boot answer, a triggered one too
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.errors: list[str] = []
        self.meter_wh = {n: config.meter_start_wh for n in range(1, config.connectors + 1)}
        self.transactions: dict[int, Transaction] = {}
        self.reservations: dict[int, tuple[int, str]] = {}  # reservation id → (connector, token)
        # Connector 0 in `reservations`: any connector; these held for a connector type or a group.
        self.reservation_types: dict[int, str | None] = {}
        self.reservation_groups: dict[int, str | None] = {}
        self.reservation_expiry: dict[int, datetime] = {}  # as ReserveNow said; firmware drops it then
        self.token_groups: dict[str, str | None] = {}  # as the CSMS's answers said
        self.inoperative: set[int] = set()
        self.scheduled: dict[int, bool] = {}  # connector → operative, once its transaction ends
        self.settings: dict[str, str] = {}
        self.cache_cleared = 0  # ClearCache calls taken
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
        self.local_list: dict[str, dict[str, Any]] = {}  # token → {"status", "expiry"}
        self.local_list_version = 0
        self.local_list_answers: list[str] = []  # what the next SendLocalLists answer instead
        self.profiles = Profiles(config.connectors)  # charging profiles it holds
        # Cleared: a SetChargingProfile waits to be taken and answered until it is set again
        # (slow firmware, a profile in flight; a test's checkpoint); `profiles_waiting` count.
        self.profile_answers = asyncio.Event()
        self.profile_answers.set()
        self.profiles_waiting = 0
        self.job_resume = asyncio.Event()
        self.installed_firmware: str | None = None  # the location of the last update installed
        self._firmware: asyncio.Task[None] | None = None  # the update under way
        self.certificates = CertificateStore(config.charge_point_id)
        self.pending_profile: int | None = None  # accepted, in force after the next reset

    async def profile_turn(self) -> None:
        """A SetChargingProfile's turn to be taken (see `profile_answers`)."""
        self.profiles_waiting += 1
        try:
            await self.profile_answers.wait()
        finally:
            self.profiles_waiting -= 1

    @property
    def boot_status(self) -> str | None:
        return self._boot_status

    @boot_status.setter
    def boot_status(self, status: str | None) -> None:
        self._boot_status = status
        if status == "Accepted":
            self._accepted.set()
        else:
            self._accepted.clear()

    def connector_type(self, connector: int) -> str:
        return self.config.connector_types.get(connector, "cType2")

    def _holds_for(self, reservation_id: int, token: str) -> bool:
        """The reservation is the token's own, or its group's (1.6 parentIdTag, 2.0.1 groupIdToken)."""
        group = self.token_groups.get(token)
        return self.reservations[reservation_id][1] == token or (
            group is not None and self.reservation_groups.get(reservation_id) == group)

    def _free(self, other_than: int | None = None, of_type: str | None = None) -> list[int]:
        """Connectors nobody is using or holds by name."""
        named = {connector for connector, _ in self.reservations.values()}
        return [c for c in self.meter_wh if c != other_than and c not in self.transactions
                and c not in self.inoperative and c not in named
                and (of_type is None or self.connector_type(c) == of_type)]

    def reserve(self, reservation_id: int, connector: int, token: str, group: str | None = None,
                connector_type: str | None = None, expires_at: datetime | None = None) -> str:
        """ReserveNow as a charger answers it; the connector shows Reserved until the reservation
        is used, cancelled or `expires_at` comes (see expire_reservation). Connector 0: any
        connector (of `connector_type`): accepted while one more is free than such reservations
        hold, and the last free ones then show Reserved."""
        if connector == 0:
            if connector_type is not None and not any(
                    self.connector_type(c) == connector_type for c in self.meter_wh):
                return "Rejected"
            unnamed = [r for r, (c, _) in self.reservations.items() if c == 0]
            free = self._free(of_type=connector_type)
            if len(free) <= len(unnamed):
                return "Occupied"
        elif connector in self.transactions or connector not in self.meter_wh:
            return "Occupied" if connector in self.transactions else "Rejected"
        elif connector in self.inoperative:
            return "Unavailable"
        self.reservations[reservation_id] = (connector, token)
        self.reservation_types[reservation_id] = connector_type
        self.reservation_groups[reservation_id] = group
        self.reservation_expiry.pop(reservation_id, None)
        if expires_at is not None:
            self.reservation_expiry[reservation_id] = expires_at
            self.spawn(self._expire_at(reservation_id, expires_at))
        self._show_reserved()
        return "Accepted"

    async def _expire_at(self, reservation_id: int, expires_at: datetime) -> None:
        # A timer may wake a little early (monotonic vs wall clock): a few ms late, never early.
        await asyncio.sleep(max(0.0, (expires_at - datetime.now(UTC)).total_seconds()) + 0.005)
        if self.reservation_expiry.get(reservation_id) == expires_at:  # not replaced meanwhile
            await self.expire_reservation(reservation_id)

    async def expire_reservation(self, reservation_id: int) -> bool:
        """The reservation's expiry came, as firmware sees it: dropped, its connector (or the
        ones it kept free) Available again; 2.0.1 also tells the CSMS (H01, Expired)."""
        if reservation_id not in self.reservations:
            return False
        held, _ = self.reservations.pop(reservation_id)
        self.reservation_expiry.pop(reservation_id, None)
        for connector in [held] if held else self._free():
            await self.set_status(connector, "Available")
        await self.reservation_expired(reservation_id)
        return True

    async def reservation_expired(self, reservation_id: int) -> None:
        """What the OCPP version tells the CSMS of an expiry (1.6: only the status)."""

    def _show_reserved(self) -> None:
        named = [c for c, _ in self.reservations.values() if c]
        unnamed = sum(1 for c, _ in self.reservations.values() if c == 0)
        free = self._free()
        for connector in named + (free if unnamed and len(free) <= unnamed else []):
            self.spawn(self.set_status(connector, "Reserved"))

    def cancel_reservation(self, reservation_id: int) -> str:
        if reservation_id not in self.reservations:
            return "Rejected"
        held, _ = self.reservations.pop(reservation_id)
        self.reservation_expiry.pop(reservation_id, None)
        for connector in [held] if held else self._free():
            self.spawn(self.set_status(connector, "Available"))
        return "Accepted"

    def may_start(self, connector: int, token: str) -> bool:
        """Whether a transaction for this token may start here: the connector is in service,
        reserved for nobody else, and not one that reservations of any connector need."""
        if connector in self.inoperative:
            return False
        others = [r for r in self.reservations if not self._holds_for(r, token)]
        if any(self.reservations[r][0] == connector for r in others):
            return False
        unnamed = [r for r in others if self.reservations[r][0] == 0]
        return len(self._free(other_than=connector)) >= len(unnamed)

    def use_reservation(self, connector: int, token: str) -> int | None:
        """A transaction starting with the token (or one of its group) uses its reservation of
        that connector, else of any connector."""
        for wanted in (connector, 0):
            for reservation_id, (held, _) in list(self.reservations.items()):
                if held == wanted and self._holds_for(reservation_id, token):
                    del self.reservations[reservation_id]
                    self.reservation_expiry.pop(reservation_id, None)
                    return reservation_id
        return None

    def apply_local_list(self, version: int, full: bool,
                         entries: list[tuple[str, dict[str, Any] | None]]) -> str:
        """SendLocalList as firmware takes it: a differential must raise the version, the list
        must fit; an entry without info removes its token."""
        if not self.config.local_list:
            return "NotSupported"
        if self.local_list_answers:
            return self.local_list_answers.pop(0)
        if not full and version <= self.local_list_version:
            return "VersionMismatch"
        if len(entries) > self.config.local_list_per_message:
            return "Failed"
        held = {} if full else dict(self.local_list)
        for token, info in entries:
            if info is None:
                held.pop(token, None)
            else:
                held[token] = info
        if len(held) > self.config.local_list_max:
            return "Failed"
        self.local_list, self.local_list_version = held, version
        return "Accepted"

    def local_authorization(self, token: str) -> str:
        """Offline (LocalAuthorizeOffline): the list's status, Expired past its expiry; a token
        not on the list is Unknown (no AllowOfflineTxForUnknownId)."""
        info = self.local_list.get(token)
        if info is None:
            return "Unknown"
        expiry = info.get("expiry")
        if expiry and datetime.fromisoformat(expiry.replace("Z", "+00:00")) <= datetime.now(UTC):
            return "Expired"
        return str(info["status"])

    def change_availability(self, connectors: list[int], operative: bool) -> str:
        """Accepted at once, or Scheduled for a connector in a transaction (after it ends)."""
        scheduled = False
        for connector in connectors:
            if connector in self.transactions:
                self.scheduled[connector] = operative
                scheduled = True
                continue
            (self.inoperative.discard if operative else self.inoperative.add)(connector)
            self.spawn(self.set_status(connector, "Available" if operative else "Unavailable"))
        return "Scheduled" if scheduled else "Accepted"

    def after_transaction(self, connector: int) -> str:
        """The connector's status once its transaction ended (a scheduled change applies)."""
        if connector in self.scheduled:
            operative = self.scheduled.pop(connector)
            (self.inoperative.discard if operative else self.inoperative.add)(connector)
        return "Unavailable" if connector in self.inoperative else "Available"

    def run_job(self, statuses: list[str],
                send: Callable[[str], Awaitable[Any]]) -> asyncio.Task[None]:
        """Status notifications one after another, as firmware sends them: each once connected
        (after a reboot or a lost connection too), none lost."""
        async def steps() -> None:
            for status in statuses:
                while True:
                    await self.connected.wait()
                    try:
                        await send(status)
                        break
                    except (ConnectionClosed, TimeoutError):
                        await asyncio.sleep(0.05)
                if status == self.config.job_pause_after:
                    await self.job_resume.wait()
        task = asyncio.get_running_loop().create_task(steps())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def firmware_job(self, location: str, signed: bool,
                     send: Callable[[str], Awaitable[Any]]) -> str:
        """An accepted update: its statuses, and once Installed the new firmware. One under way
        is cancelled for it (the answer then says AcceptedCanceled)."""
        async def sending(status: str) -> None:
            if status == "Installed":  # as firmware does: installed first, then said so
                self.installed_firmware = location
            await send(status)
        replaced = self._firmware is not None and not self._firmware.done()
        if self._firmware is not None and replaced:
            self._firmware.cancel()
        self._firmware = self.run_job(firmware_statuses(self.config.firmware_outcome, signed),
                                      sending)
        return "AcceptedCanceled" if replaced else "Accepted"

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

    async def stop_local_session(self, connector: int, reason: str = "Local",
                                 stopped_by: str | None = None) -> None:
        """End the transaction (stopped_by: the token presented, when not the starting one);
        works offline too (the messages are queued)."""
        raise NotImplementedError

    async def present_token(self, connector: int, token: str) -> bool:
        """A card held to the reader during the connector's transaction: its own token stops it,
        and so does another whose group (asked with an Authorize) is the starting token's (1.6
        parentIdTag, 2.0.1 C01/C09 groupIdToken); False when refused."""
        tx = self.transactions.get(connector)
        if tx is None:
            return False
        if token != tx.token:
            status = await self.authorize(token)
            group = self.token_groups.get(token)
            if status != "Accepted" or group is None or group != tx.group:
                return False
        await self.stop_local_session(connector, "Local", stopped_by=token)
        return True

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
            # Pending or Rejected: boot again after the interval the CSMS gave, or at once
            # when the boot it triggered (TriggerMessage) was accepted meanwhile.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._accepted.wait(), self.csms_heartbeat_interval)
            if self.boot_status != "Accepted":
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

    def queued(self) -> list[Any]:
        """The transaction messages waiting to be sent, oldest first."""
        return [payload for payload, _ in self._outbox]

    def lose_queued(self, count: int) -> None:
        """Storage full: `count` queued transaction messages after the oldest are dropped, as
        firmware does when its offline queue overflows (the oldest may be in flight)."""
        for _ in range(min(count, len(self._outbox) - 1)):
            _, answered = self._outbox[1]
            del self._outbox[1]
            if not answered.done():
                answered.set_result(None)

    async def flush(self, timeout: float = 10) -> None:
        """Wait until every queued transaction message has been answered, and what was waiting
        on each answer has run (a future's callbacks run in the order they were added, so ours,
        added now, come after them: polling the queue could return before them)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self._outbox:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise TimeoutError(f"{len(self._outbox)} messages still queued")
            await asyncio.wait([answered for _, answered in self._outbox], timeout=left)

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

    def tick_wh(self, connector: int = 0) -> int:
        return round(self.drawn_w(connector) * self.config.sample_seconds / 3600)

    def smart_charging_offered(self) -> None:
        if not self.config.smart_charging:
            raise ocpp_exceptions.NotImplementedError(description="no smart charging here")

    def drawn_w(self, connector: int) -> float:
        """What the EV draws: the charger's power, held to its charging profiles' limit now."""
        return min(self.config.power_w,
                   self.profiles.limit(connector, datetime.now(UTC), "W"))

    def drawn_amps(self, connector: int) -> float:
        """The current the EV draws on each of its three phases (what Current.Import reports)."""
        return self.drawn_w(connector) / (230 * 3)

    def start_metering(self, connector: int) -> None:
        tx = self.transactions[connector]
        tx.meter_task = asyncio.get_running_loop().create_task(self._meter_loop(connector))

    def stop_metering(self, connector: int) -> Transaction | None:
        tx = self.transactions.pop(connector, None)
        self.profiles.tx_ended(connector)
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
                self.meter_wh[connector] += self.tick_wh(connector)
            self.enqueue(self.meter_payload(connector))

    async def charging_changed(self, connector: int, drawing: bool) -> None:
        """The EV began or stopped drawing energy: the version's way of saying so, before the
        meter shows it."""

    def vendor_data(self, vendor_id: str, data: str | None) -> dict[str, Any]:
        """A DataTransfer from the CSMS: its own vendor's echoed, any other's unknown."""
        if vendor_id != self.config.vendor:
            return {"status": "UnknownVendorId"}
        return {"status": "Accepted", "data": data}

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


def firmware_statuses(outcome: str, signed: bool) -> list[str]:
    """The FirmwareStatusNotifications of an update that ends in `outcome`."""
    steps = ["Downloading", "Downloaded", *(["SignatureVerified"] if signed else []),
             "Installing", "Installed"]
    failed_at = {"DownloadFailed": "Downloaded", "InvalidSignature": "SignatureVerified",
                 "InstallVerificationFailed": "Installing", "InstallationFailed": "Installed"}
    if outcome in failed_at and failed_at[outcome] in steps:
        return [*steps[:steps.index(failed_at[outcome])], outcome]
    return steps


def log_statuses(outcome: str, core: bool) -> list[str]:
    """The Diagnostics/LogStatusNotifications of an upload (1.6 core says UploadFailed)."""
    if outcome in ("UploadFailed", "UploadFailure"):
        outcome = "UploadFailed" if core else "UploadFailure"
    return ["Uploading", outcome]
