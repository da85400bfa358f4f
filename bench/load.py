"""The load generator: raw OCPP 1.6 chargers over WebSockets in worker processes, timing every call."""

from __future__ import annotations

import asyncio
import gc
import json
import random
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

# Enough descriptors for a 50,000-charger fleet; a root process may raise its hard limit.
OPEN_FILES = 200_000


def more_open_files() -> int:
    """The open-file limit raised as far as allowed (a root process: to OPEN_FILES); the limit."""
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (OPEN_FILES, OPEN_FILES))
    except (ValueError, OSError):  # not root: take what the hard limit allows
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


@dataclass(frozen=True)
class Job:
    """What one worker process does, to its share of the chargers."""

    scenario: str  # "saturation", "fleet", "boot" or "cluster"
    url: str  # ws://host:port/ocpp
    charge_point_ids: list[str]
    start_at: float  # time.time() at which every worker begins, so they load the server together
    seconds: float = 10.0
    local_host: str = "127.0.0.1"  # a source address of its own: ~28,000 ports each
    heartbeat_interval: float = 300.0
    meter_interval: float = 900.0
    charging_share: float = 0.5  # the part of a fleet in a session
    ramp: float = 0.0  # seconds to connect everyone before `seconds` of measuring
    reconnect_jitter: float = 5.0  # cluster: a dropped charger waits up to this long to reconnect


@dataclass
class Outcome:
    calls: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    sent_at: list[float] = field(default_factory=list)  # fleet: time.time() of each timed call
    connect_ms: list[float] = field(default_factory=list)
    boot_ms: list[float] = field(default_factory=list)
    all_booted_s: float = 0.0  # from start_at until the last of this worker's chargers booted
    failures: list[str] = field(default_factory=list)
    # cluster: (time.time() the connection dropped, time.time() booted again through the balancer)
    reconnects: list[tuple[float, float]] = field(default_factory=list)
    retries: int = 0  # cluster: first connections that failed and were tried again
    # fleet and cluster: (time.time(), ms) of this load process's own stalls over STALL_MS, and
    # of its collector's passes over COLLECTION_MS: a pause here is the harness's, not the server's
    stalls: list[tuple[float, float]] = field(default_factory=list)
    collections: list[tuple[float, float]] = field(default_factory=list)
    cpu_s: float = 0.0  # saturation: this load process's own CPU while measured

    def add(self, part: Outcome) -> None:
        """A worker's outcome, added to this one (the run's total)."""
        self.calls += part.calls
        self.latencies_ms += part.latencies_ms
        self.sent_at += part.sent_at
        self.connect_ms += part.connect_ms
        self.boot_ms += part.boot_ms
        self.all_booted_s = max(self.all_booted_s, part.all_booted_s)
        self.failures += part.failures
        self.reconnects += part.reconnects
        self.retries += part.retries
        self.stalls += part.stalls
        self.collections += part.collections
        self.cpu_s += part.cpu_s


STALL_MS = 50.0
COLLECTION_MS = 10.0


async def _watch_stalls(outcome: Outcome, until: float, step: float = 0.05) -> None:
    """How late this process's event loop wakes a sleeper: every charger it drives waits as long."""
    while time.time() < until:
        asleep = time.perf_counter()
        await asyncio.sleep(step)
        late_ms = (time.perf_counter() - asleep - step) * 1000
        if late_ms > STALL_MS:
            outcome.stalls.append((time.time(), round(late_ms, 1)))


def _time_collections(outcome: Outcome, over_ms: float = COLLECTION_MS
                      ) -> Callable[[str, dict[str, int]], None]:
    """Each pass of this process's garbage collector over `over_ms`, as it ends; the callback
    (in gc.callbacks for the process's life)."""
    started: list[float] = []

    def timed(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[:] = [time.perf_counter()]
        elif started:
            took_ms = (time.perf_counter() - started.pop()) * 1000
            if took_ms > over_ms:
                outcome.collections.append((time.time(), round(took_ms, 1)))
    gc.callbacks.append(timed)
    return timed


def _now_z() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def meter_values(i: int, transaction_id: int | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = {"connectorId": 1, "meterValue": [{
        "timestamp": _now_z(), "sampledValue": [
            {"value": str(1000 + i), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
            {"value": "11000", "measurand": "Power.Active.Import", "unit": "W"}]}]}
    if transaction_id is not None:
        payload["transactionId"] = transaction_id
    return payload


def _answer(action: str, payload: dict[str, Any]) -> dict[str, Any]:
    """A firmware's answer to the server's call: it knows no configuration key (so it has no
    local list, say), and takes anything else."""
    if action == "GetConfiguration":
        return {"configurationKey": [], "unknownKey": payload.get("key") or []}
    return {"status": "Accepted"}


class Charger:
    """One connection; calls one at a time, as OCPP wants, each one timed."""

    def __init__(self, ws: ClientConnection, outcome: Outcome) -> None:
        self.ws = ws
        self.outcome = outcome
        self.n = 0

    async def call(self, action: str, payload: dict[str, Any]) -> Any:
        self.n += 1
        message_id = str(self.n)
        sent = time.perf_counter()
        await self.ws.send(json.dumps([2, message_id, action, payload]))
        while True:
            frame = json.loads(await self.ws.recv())
            if frame[0] == 2:  # a call from the server (e.g. a configuration): answered
                await self.ws.send(json.dumps([3, frame[1], _answer(frame[2], frame[3])]))
                continue
            if frame[1] == message_id:
                break
        self.outcome.latencies_ms.append((time.perf_counter() - sent) * 1000)
        self.outcome.sent_at.append(time.time())
        self.outcome.calls += 1
        if frame[0] != 3:
            self.outcome.failures.append(f"{action}: {frame[2]}")
        return frame[2] if frame[0] == 3 else None

    async def idle(self, until: float) -> None:
        """Between calls until time.time() reaches `until`: the server's calls answered (a remote
        start relayed from another node, say), a closed connection raised at once."""
        while (left := until - time.time()) > 0:
            try:
                # recv() may be cancelled without losing a frame (websockets' asyncio client)
                frame = json.loads(await asyncio.wait_for(self.ws.recv(), left))
            except TimeoutError:
                return
            if frame[0] == 2:
                await self.ws.send(json.dumps([3, frame[1], _answer(frame[2], frame[3])]))

    async def next_call(self, action: str) -> tuple[str, dict[str, Any]]:
        """Wait for the server's call of that action (others are accepted); its id and payload."""
        while True:
            frame = json.loads(await self.ws.recv())
            if frame[0] == 2 and frame[2] == action:
                return frame[1], frame[3]
            if frame[0] == 2:
                await self.ws.send(json.dumps([3, frame[1], _answer(frame[2], frame[3])]))


async def _open(job: Job, charge_point_id: str, outcome: Outcome) -> Charger:
    started = time.perf_counter()
    ws = await connect(f"{job.url}/{charge_point_id}", subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                       compression=None, open_timeout=120, ping_interval=None,
                       local_addr=(job.local_host, 0), max_size=None)
    outcome.connect_ms.append((time.perf_counter() - started) * 1000)
    return Charger(ws, outcome)


async def _boot(charger: Charger, outcome: Outcome) -> None:
    started = time.perf_counter()
    await charger.call("BootNotification", {"chargePointVendor": "Bench", "chargePointModel": "B"})
    outcome.boot_ms.append((time.perf_counter() - started) * 1000)


async def _saturate(job: Job, charge_point_id: str, outcome: Outcome, until: float) -> None:
    charger = await _open(job, charge_point_id, outcome)
    async with charger.ws:
        await _boot(charger, outcome)
        # Everyone connected and booted first: the figures are of the steady state.
        await asyncio.sleep(max(0.0, job.start_at + job.ramp - time.time()))
        measured = Outcome()
        charger.outcome = measured
        i = 0
        while time.time() < until:
            if i % 2:
                await charger.call("Heartbeat", {})
            else:
                await charger.call("MeterValues", meter_values(i))
            i += 1
        outcome.calls += measured.calls
        outcome.latencies_ms.extend(measured.latencies_ms)
        outcome.failures.extend(measured.failures)


async def _own_cpu(job: Job, outcome: Outcome) -> None:
    """This process's CPU time over the measured seconds: what driving the load costs a call."""
    await asyncio.sleep(max(0.0, job.start_at + job.ramp - time.time()))
    before = time.process_time()
    await asyncio.sleep(job.seconds)
    outcome.cpu_s = time.process_time() - before


async def _fleet_member(job: Job, charge_point_id: str, outcome: Outcome, until: float) -> None:
    """Heartbeats and, if charging, meter values at their real intervals, phases spread."""
    # Connections spread over most of the ramp: a boot storm is a scenario of its own.
    await asyncio.sleep(random.uniform(0, job.ramp * 0.7))
    charger = await _open(job, charge_point_id, outcome)
    async with charger.ws:
        setup = Outcome()
        charger.outcome = setup
        await charger.call("BootNotification", {"chargePointVendor": "Bench",
                                                "chargePointModel": "B"})
        await charger.call("StatusNotification", {"connectorId": 1, "errorCode": "NoError",
                                                  "status": "Available"})
        transaction_id = None
        if random.random() < job.charging_share:
            await charger.call("StatusNotification", {"connectorId": 1, "errorCode": "NoError",
                                                      "status": "Charging"})
            started = await charger.call("StartTransaction", {
                "connectorId": 1, "idTag": "BENCH", "meterStart": 0, "timestamp": _now_z()})
            transaction_id = started["transactionId"] if started else None
        outcome.all_booted_s = max(outcome.all_booted_s, time.time() - job.start_at)
        await asyncio.sleep(max(0.0, job.start_at + job.ramp - time.time()))
        charger.outcome = outcome  # from here on, every call counts
        beat = Beat.starting(job, transaction_id)
        while True:
            await asyncio.sleep(max(0.0, beat.wake(until) - time.time()))
            if time.time() >= until:
                return
            await beat.send_due(charger, job)


@dataclass
class Beat:
    """A steady charger's clock: when its next Heartbeat and (in a session) MeterValues are due,
    each first at a random point of its interval so the fleet's calls spread."""

    transaction_id: int | None
    next_heartbeat: float
    next_meter: float
    meters_sent: int = 0

    @classmethod
    def starting(cls, job: Job, transaction_id: int | None) -> Beat:
        now = time.time()
        return cls(transaction_id, now + random.uniform(0, job.heartbeat_interval),
                   now + random.uniform(0, job.meter_interval))

    def wake(self, until: float) -> float:
        return min(self.next_heartbeat, self.next_meter if self.transaction_id else until, until)

    async def send_due(self, charger: Charger, job: Job) -> None:
        if time.time() >= self.next_heartbeat:
            await charger.call("Heartbeat", {})
            self.next_heartbeat += job.heartbeat_interval
        if self.transaction_id and time.time() >= self.next_meter:
            self.meters_sent += 1
            await charger.call("MeterValues", meter_values(self.meters_sent, self.transaction_id))
            self.next_meter += job.meter_interval


async def _set_up(charger: Charger, charging: bool | int) -> int | None:
    """Boot and status; a new session if `charging` is True, the one going on if it is its id."""
    await charger.call("BootNotification", {"chargePointVendor": "Bench", "chargePointModel": "B"})
    await charger.call("StatusNotification", {"connectorId": 1, "errorCode": "NoError",
                                              "status": "Charging" if charging else "Available"})
    if charging is True:
        started = await charger.call("StartTransaction", {
            "connectorId": 1, "idTag": "BENCH", "meterStart": 0, "timestamp": _now_z()})
        return int(started["transactionId"]) if started else None
    return charging or None


async def _reconnect(job: Job, charge_point_id: str, transaction_id: int | None,
                     until: float) -> Charger | None:
    """Through the balancer again, as firmware does after a random wait; retried until it holds
    (None: not before the run's end)."""
    await asyncio.sleep(random.uniform(0, job.reconnect_jitter))
    while time.time() < until:
        try:
            charger = await _open(job, charge_point_id, Outcome())
            await _set_up(charger, transaction_id or False)
            return charger
        except (OSError, TimeoutError, ConnectionClosed, InvalidHandshake):
            await asyncio.sleep(1.0)
    return None


async def _cluster_member(job: Job, charge_point_id: str, outcome: Outcome, until: float) -> None:
    """A fleet member that notices a dropped connection at once and comes back through the
    balancer, its session going on (as a real charger's would)."""
    await asyncio.sleep(random.uniform(0, job.ramp * 0.7))
    charging = random.random() < job.charging_share
    while True:  # a refused or failed connection tried again, as firmware does
        if time.time() >= until:
            return
        try:
            charger = await _open(job, charge_point_id, outcome)
            charger.outcome = Outcome()  # the set-up is not the steady state
            transaction_id = await _set_up(charger, charging)
            break
        except (OSError, TimeoutError, ConnectionClosed, InvalidHandshake) as exc:
            outcome.retries += 1
            if outcome.retries <= 3:
                outcome.failures.append(f"connecting (tried again): {exc!r}")
            await asyncio.sleep(random.uniform(1.0, 5.0))
    outcome.all_booted_s = max(outcome.all_booted_s, time.time() - job.start_at)
    beat = Beat.starting(job, transaction_id)
    steady_from = job.start_at + job.ramp
    try:
        while time.time() < until:
            try:
                # Not woken at the steady state's start: all at once, they would time the load
                # generator's own burst.
                await charger.idle(beat.wake(until))
                if time.time() >= steady_from:
                    charger.outcome = outcome  # from here on, every call counts
                if time.time() >= until:
                    return
                await beat.send_due(charger, job)
            except (ConnectionClosed, OSError):
                dropped = time.time()
                again = await _reconnect(job, charge_point_id, transaction_id, until)
                if again is None:
                    return
                charger = again
                charger.outcome = outcome
                outcome.reconnects.append((dropped, time.time()))
    finally:
        await charger.ws.close()


async def _run(job: Job) -> Outcome:
    outcome = Outcome()
    await asyncio.sleep(max(0.0, job.start_at - time.time()))
    until = job.start_at + job.ramp + job.seconds
    if job.scenario == "saturation":
        work = [_saturate(job, cp, outcome, until) for cp in job.charge_point_ids]
        work.append(_own_cpu(job, outcome))
    elif job.scenario == "boot":
        async def boot(charge_point_id: str) -> None:
            charger = await _open(job, charge_point_id, outcome)
            await _boot(charger, outcome)
            outcome.all_booted_s = max(outcome.all_booted_s, time.time() - job.start_at)
            await charger.ws.close()
        work = [boot(cp) for cp in job.charge_point_ids]
    elif job.scenario == "cluster":
        work = [_cluster_member(job, cp, outcome, until) for cp in job.charge_point_ids]
    else:
        work = [_fleet_member(job, cp, outcome, until) for cp in job.charge_point_ids]
    if job.scenario in ("fleet", "cluster"):
        _time_collections(outcome)
        work.append(_watch_stalls(outcome, until))
    results = await asyncio.gather(*work, return_exceptions=True)
    outcome.failures.extend(repr(r) for r in results if isinstance(r, BaseException))
    return outcome


def run_job(job: Job) -> Outcome:
    """A worker process's entry point."""
    more_open_files()
    return asyncio.run(_run(job))
