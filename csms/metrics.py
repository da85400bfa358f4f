"""Prometheus metrics: counters kept as things happen, gauges read from the system when scraped."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import asyncpg
from aiohttp import web
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Kept per process, which is one node: Prometheus adds the nodes up.
OCPP_MESSAGES = Counter(
    "csms_ocpp_messages", "Calls from chargers, by action and result (accepted or the CALLERROR code)",
    ["protocol", "action", "result"])
CHARGER_CALLS = Histogram(
    "csms_charger_call_seconds", "Calls from the CSMS to a charger until the answer, by action and result",
    ["action", "result"], buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
ENERGY = Counter("csms_energy_delivered_wh", "Energy of the sessions that ended on this node (Wh)")
ROAMING_REQUESTS = Histogram(
    "csms_roaming_request_seconds", "Requests to roaming partners until the answer, by operation and result",
    ["partner", "operation", "result"], buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
ROAMING_ERRORS = Counter(
    "csms_roaming_request_errors", "Requests to roaming partners that failed or were refused",
    ["partner", "operation"])

# A charger names the action: only the ones we route become a label, so a hostile one cannot
# grow the label set without bound.
OTHER_ACTION = "other"

_message_children: dict[tuple[str, str, str], Any] = {}


def count_message(protocol: str, action: str, result: str) -> None:
    """One call from a charger; the hot path, so the labelled child is looked up once."""
    key = (protocol, action, result)
    child = _message_children.get(key)
    if child is None:
        child = _message_children[key] = OCPP_MESSAGES.labels(protocol, action, result)
    child.inc()


T = TypeVar("T")


async def timed_call(action: str, call: Awaitable[T]) -> T:
    """A call to a charger, observed whatever its outcome."""
    started = time.perf_counter()
    result = "error"  # a CALLERROR, or the connection closed
    try:
        answer = await call
        if answer is not None:  # None: a CALLERROR the caller chose to suppress
            result = "answered"
        return answer
    except TimeoutError:
        result = "timeout"
        raise
    finally:
        CHARGER_CALLS.labels(action, result).observe(time.perf_counter() - started)


@contextmanager
def roaming_request(partner: str, operation: str) -> Iterator[Callable[[bool], None]]:
    """Times one request to a partner; the caller says whether the partner accepted it.
    An exception counts as an error."""
    started = time.perf_counter()
    outcome: list[bool] = []
    try:
        yield outcome.append
    except BaseException:
        outcome[:] = [False]
        raise
    finally:
        ok = bool(outcome) and outcome[-1]
        ROAMING_REQUESTS.labels(partner, operation, "ok" if ok else "error").observe(
            time.perf_counter() - started)
        if not ok:
            ROAMING_ERRORS.labels(partner, operation).inc()


class _Fetched(Collector):
    """Families read before the scrape is rendered (a collector itself cannot await)."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self.families = list(families)

    def collect(self) -> Iterable[Metric]:
        return self.families


def _gauge(name: str, documentation: str, labels: list[str] | None = None) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=labels)


async def _database_families(pool: asyncpg.Pool) -> list[Metric]:
    """Cluster-wide facts: every node reports the same value (take the max across nodes)."""
    active = _gauge("csms_active_sessions", "Sessions in progress, all nodes")
    pending = _gauge("csms_outbox_pending", "Roaming messages waiting for delivery", ["partner"])
    oldest = _gauge("csms_outbox_oldest_pending_seconds",
                    "Age of the oldest roaming message waiting for delivery", ["partner"])
    failed = _gauge("csms_outbox_failed", "Roaming messages a partner refused for good", ["partner"])
    held = _gauge("csms_outbox_held", "Of the pending messages, those held for a party its OCPI hub "
                  "says is not connected", ["partner"])
    async with pool.acquire() as conn:
        active.add_metric([], await conn.fetchval(
            "SELECT count(*) FROM sessions WHERE status = 'active'"))
        for row in await conn.fetch(
                """SELECT partner, count(*) FILTER (WHERE status = 'pending') AS pending,
                          count(*) FILTER (WHERE status = 'failed') AS failed,
                          count(*) FILTER (WHERE status = 'pending' AND held) AS held,
                          extract(epoch FROM now() - min(created_at) FILTER (WHERE status = 'pending'))
                              AS oldest
                   FROM outbox WHERE status IN ('pending', 'failed') GROUP BY partner"""):
            pending.add_metric([row["partner"]], row["pending"])
            failed.add_metric([row["partner"]], row["failed"])
            oldest.add_metric([row["partner"]], float(row["oldest"] or 0))
            held.add_metric([row["partner"]], row["held"])
    return [active, pending, oldest, failed, held]


async def exposition(pool: asyncpg.Pool, connected: Callable[[], dict[str, int]]) -> bytes:
    """The whole scrape: this process's counters, its chargers and pool, and the database's state."""
    chargers = _gauge("csms_connected_chargers", "Chargers connected to this node", ["protocol"])
    # Both versions always, zero included: an alert on a drop needs a series to watch.
    for protocol, count in sorted({"ocpp1.6": 0, "ocpp2.0.1": 0, **connected()}.items()):
        chargers.add_metric([protocol], count)
    pool_size = _gauge("csms_database_pool_connections", "Database pool connections", ["state"])
    idle = pool.get_idle_size()
    pool_size.add_metric(["in_use"], pool.get_size() - idle)
    pool_size.add_metric(["idle"], idle)
    pool_size.add_metric(["max"], pool.get_max_size())
    up = _gauge("csms_database_up", "1 when the database answered this scrape")
    families: list[Metric] = [chargers, pool_size, up]
    try:
        families += await asyncio.wait_for(_database_families(pool), 5)
        up.add_metric([], 1)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
        up.add_metric([], 0)  # the rest of the scrape still tells what this node sees
    fetched = CollectorRegistry(auto_describe=False)
    fetched.register(_Fetched(families))
    return generate_latest(REGISTRY) + generate_latest(fetched)


def serve(app: web.Application, pool: asyncpg.Pool, connected: Callable[[], dict[str, int]]) -> None:
    """GET /metrics on the admin API's server, behind its token (Prometheus sends it as a bearer)."""
    async def metrics(request: web.Request) -> web.Response:
        return web.Response(body=await exposition(pool, connected),
                            headers={"Content-Type": CONTENT_TYPE})
    app.router.add_get("/metrics", metrics)


# The site load manager (csms/domain/energy/load_manager.py): only the node managing a site
# reports it, so the series is whole across nodes without taking a max.
SITE_LIMIT = Gauge("csms_site_limit_amps", "A site's grid limit in force, per phase", ["site", "phase"])
SITE_ALLOWED = Gauge("csms_site_allowed_amps",
                     "What a site's EVSEs may draw now, summed per phase (never above the limit)",
                     ["site", "phase"])


def site_allocation(site: str, limit: Iterable[Any], allowed: dict[int, Any]) -> None:
    for phase, amps in zip((1, 2, 3), limit, strict=True):
        SITE_LIMIT.labels(site, f"L{phase}").set(float(amps))
        SITE_ALLOWED.labels(site, f"L{phase}").set(float(allowed[phase]))


def forget_site(site: str) -> None:
    """Another node manages the site now: its series is that node's."""
    for phase in ("L1", "L2", "L3"):
        for gauge in (SITE_LIMIT, SITE_ALLOWED):
            with contextlib.suppress(KeyError):
                gauge.remove(site, phase)
