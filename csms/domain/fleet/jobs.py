"""Firmware updates and log uploads as jobs per charger, and rollouts that run a few at a time."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import asyncpg
import structlog

from csms.domain.events import ChargePointBooted
from csms.storage.fleet import job_store
from csms.storage.outage import outage

if TYPE_CHECKING:  # the command service is the one way to a charger
    from csms.config import JobSettings
    from csms.domain.commands import CommandResult, CommandService

log = structlog.get_logger(__name__)

# Seconds after a boot before its charger's waiting jobs are sent.
BOOT_GRACE = 1.0
# Queued jobs a scheduler round reads of a rollout whose offline chargers fail.
QUEUE_PAGE = 500


class JobKind(StrEnum):
    FIRMWARE = "firmware"
    LOG = "log"  # 1.6 GetDiagnostics, 1.6 security and 2.0.1 GetLog


class JobState(StrEnum):
    QUEUED = "queued"  # waiting for its turn in the rollout, or for its charger to connect
    REQUESTED = "requested"  # sent to the charger (or about to be)
    DOWNLOADING = "downloading"
    DOWNLOADED = "downloaded"
    INSTALLING = "installing"
    INSTALLED = "installed"
    UPLOADING = "uploading"
    UPLOADED = "uploaded"
    FAILED = "failed"


FINAL = frozenset({JobState.INSTALLED, JobState.UPLOADED, JobState.FAILED})


class OfflinePolicy(StrEnum):
    WAIT = "wait"  # a charger offline when its turn comes is started once it connects
    FAIL = "fail"  # ... fails at once, and the rollout goes on without it


class LogType(StrEnum):
    DIAGNOSTICS = "diagnostics"
    SECURITY = "security"


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass(frozen=True)
class FirmwareRequest:
    """What to install: signed (the 1.6 security whitepaper, 2.0.1) with a signing certificate
    and signature, else plain 1.6 core UpdateFirmware."""

    location: str
    retrieve_at: datetime
    install_at: datetime | None = None
    retries: int | None = None
    retry_interval: int | None = None
    signing_certificate: str | None = None
    signature: str | None = None

    @property
    def signed(self) -> bool:
        return self.signing_certificate is not None or self.signature is not None

    def to_json(self) -> dict[str, Any]:
        return {k: v.isoformat() if isinstance(v, datetime) else v
                for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FirmwareRequest:
        retrieve_at = _time(data["retrieve_at"])
        assert retrieve_at is not None
        return cls(data["location"], retrieve_at, _time(data.get("install_at")),
                   data.get("retries"), data.get("retry_interval"),
                   data.get("signing_certificate"), data.get("signature"))


@dataclass(frozen=True)
class LogRequest:
    """Which log to upload where (1.6 core: diagnostics by GetDiagnostics; else GetLog)."""

    location: str
    log_type: LogType = LogType.DIAGNOSTICS
    oldest: datetime | None = None
    latest: datetime | None = None
    retries: int | None = None
    retry_interval: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v.isoformat() if isinstance(v, datetime) else v
                for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LogRequest:
        return cls(data["location"], LogType(data.get("log_type", "diagnostics")),
                   _time(data.get("oldest")), _time(data.get("latest")),
                   data.get("retries"), data.get("retry_interval"))


def _not_before(request: FirmwareRequest | LogRequest) -> datetime:
    """Nothing is expected from the charger before its retrieve or install date."""
    times = [getattr(request, name, None) for name in ("retrieve_at", "install_at")]
    return max([t for t in times if t is not None], default=datetime.now(UTC))


async def create_rollout(pool: asyncpg.Pool, settings: JobSettings, charge_point_ids: list[str],
                         request: FirmwareRequest | LogRequest, max_concurrent: int | None = None,
                         offline_policy: OfflinePolicy | None = None) -> int:
    """A rollout of one queued job per charger, for whichever node schedules to start."""
    kind = JobKind.FIRMWARE if isinstance(request, FirmwareRequest) else JobKind.LOG
    async with pool.acquire() as conn, conn.transaction():
        rollout_id = await job_store.insert_rollout(
            conn, max_concurrent or settings.max_concurrent,
            offline_policy or settings.offline_policy)
        await job_store.insert_jobs(conn, list(dict.fromkeys(charge_point_ids)), kind,
                                    request.to_json(), _not_before(request), rollout_id)
    log.info("rollout created", rollout_id=rollout_id, kind=kind,
             charge_points=len(charge_point_ids))
    return rollout_id


class JobService:
    """Creates jobs, starts them through the command service, follows the chargers' status
    notifications; one node's scheduler at a time starts the next job of each rollout."""

    def __init__(self, pool: asyncpg.Pool, commands: CommandService,
                 settings: JobSettings) -> None:
        self.pool = pool
        self.commands = commands
        self.settings = settings
        self._wake = asyncio.Event()

    # --- creating ---------------------------------------------------------------------------

    async def create(self, charge_point_ids: list[str], request: FirmwareRequest | LogRequest,
                     max_concurrent: int | None = None,
                     offline_policy: OfflinePolicy | None = None) -> int:
        """A rollout of one job per charger (all queued); returns its id. Start it with
        schedule(), or leave it to the scheduler's next round."""
        return await create_rollout(self.pool, self.settings, charge_point_ids, request,
                                    max_concurrent, offline_policy)

    # --- scheduling -------------------------------------------------------------------------

    async def schedule(self, wait: bool = False) -> int:
        """One round: fail stalled jobs, start queued ones where their rollout has room, and
        send them; returns how many were sent. While another round (of any node) claims jobs,
        this one is skipped, or with `wait` runs after it (the claims are short: the calls to
        the chargers go out after them)."""
        started: list[asyncpg.Record] = []
        async with self.pool.acquire() as conn, conn.transaction():
            if wait:
                await conn.execute("SELECT pg_advisory_xact_lock($1)", job_store.SCHEDULER_LOCK)
            elif not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)",
                                         job_store.SCHEDULER_LOCK):
                return 0
            for job in await job_store.fail_stalled(conn, self.settings.job_timeout):
                log.warning("job stalled", job_id=job["id"], charge_point_id=job["charge_point_id"])
            for rollout in await job_store.running_rollouts(conn):
                free = rollout["max_concurrent"] - rollout["active"]
                if free <= 0:
                    continue
                # Waiting chargers are skipped in SQL; failing ones are met in turn, a page a round.
                waits = rollout["offline_policy"] == OfflinePolicy.WAIT
                for job in await job_store.queued_jobs(conn, rollout["id"], waits,
                                                       free if waits else QUEUE_PAGE):
                    if free <= 0:
                        break
                    if not await self.commands.online(job["charge_point_id"]):
                        if not waits:
                            await job_store.set_state(conn, job["id"], JobState.FAILED, "offline")
                        continue
                    await job_store.set_state(conn, job["id"], JobState.REQUESTED, None)
                    started.append(job)
                    free -= 1
            await job_store.finish_done_rollouts(conn)
        await asyncio.gather(*(self._send(job) for job in started))
        return len(started)

    async def _send(self, job: asyncpg.Record) -> None:
        charge_point_id, job_id = job["charge_point_id"], job["id"]
        result: CommandResult
        if job["kind"] == JobKind.FIRMWARE:
            result = await self.commands.update_firmware(
                charge_point_id, job_id, FirmwareRequest.from_json(job["parameters"]))
        else:
            result = await self.commands.get_log(charge_point_id, job_id,
                                                 LogRequest.from_json(job["parameters"]))
        await self._answered(job, result)

    async def _answered(self, job: asyncpg.Record, result: CommandResult) -> None:
        from csms.domain.commands import Outcome

        job_id = job["id"]
        if result.outcome is Outcome.ACCEPTED and result.detail.get("accepted"):
            if result.detail.get("replaced"):
                await job_store.fail_replaced(self.pool, job["charge_point_id"], job["kind"],
                                              job_id)
            if result.detail.get("file_name"):
                await job_store.set_file_name(self.pool, job_id, result.detail["file_name"])
            return
        if result.outcome is Outcome.TIMEOUT:
            return  # it may have been taken: the stall timeout ends it if nothing comes
        if result.outcome is Outcome.OFFLINE and await self._policy(job) == OfflinePolicy.WAIT:
            await job_store.requeue(self.pool, job_id)
            return
        if result.outcome is Outcome.ACCEPTED:
            reason = str(result.detail.get("status"))  # the charger's word: Rejected, …
        elif result.outcome is Outcome.FAILED:
            reason = f"{result.detail.get('error')}: {result.detail.get('description')}"
        else:
            reason = result.outcome.value
        await job_store.set_state(self.pool, job_id, JobState.FAILED, reason)
        self._wake.set()

    async def _policy(self, job: asyncpg.Record) -> str:
        rollout = await job_store.get_rollout(self.pool, job["rollout_id"])
        return str(rollout["offline_policy"]) if rollout else OfflinePolicy.FAIL

    async def on_event(self, conn: asyncpg.Connection, event: Any) -> None:
        """A charger that boots may have jobs waiting for it: a round once its boot answer is
        out (a charger is asked nothing before it is accepted)."""
        if isinstance(event, ChargePointBooted):
            asyncio.get_running_loop().call_later(BOOT_GRACE, self._wake.set)

    async def schedule_forever(self) -> None:
        """Rounds every scheduler_interval, and at once when a job of ours ended."""
        while True:
            try:
                await self.schedule()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                if not outage.noted(exc):
                    log.warning("job scheduling failed", error=repr(exc))
            self._wake.clear()
            with contextlib.suppress(TimeoutError):  # asyncio.timeout: wait_for may swallow a stop
                async with asyncio.timeout(self.settings.scheduler_interval):
                    await self._wake.wait()

    # --- the chargers' status notifications -------------------------------------------------

    async def status(self, charge_point_id: str, kind: JobKind, request_id: int | None,
                     state: JobState | None, status: str) -> None:
        """A Firmware/Diagnostics/Log status notification: the job its requestId names (it must
        be this charger's), else the charger's latest job of that kind under way."""
        job = None
        if request_id is not None:
            job = await job_store.get_job(self.pool, request_id)
            if job is not None and (job["charge_point_id"], job["kind"]) != (charge_point_id,
                                                                               kind):
                log.warning("status for another charger's job", request_id=request_id,
                            kind=kind)
                return
        else:
            job = await job_store.latest_open_job(self.pool, charge_point_id, kind)
        if job is None or state is None:
            log.info("job status without a job", kind=kind, status=status, request_id=request_id)
            return
        row = await job_store.set_state(self.pool, job["id"], state, status)
        if row is not None:
            log.info("job status", job_id=job["id"], state=state, status=status)
            if state in FINAL:
                self._wake.set()  # its rollout has room for the next
