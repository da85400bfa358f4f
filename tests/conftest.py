"""Test fixtures: a real PostgreSQL (CSMS_TEST_DATABASE_URL or embedded), a database per test, the app."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from csms.app import App
from csms.config import Settings
from csms.logs import configure_logging
from csms.storage.database import migrate_url
from simulators.chargepoint import SimConfig, SimulatedChargePoint
from simulators.chargepoint16 import ChargePoint16
from simulators.chargepoint201 import ChargePoint201
from simulators.partners.emsp import SimulatedEmsp
from simulators.partners.hubject import SimulatedHubject
from tests.pki import Pki, make_pki
from tests.support import API_TOKEN, Api, ws_url


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    configure_logging("warning", "console")
    url = os.environ.get("CSMS_TEST_DATABASE_URL")
    if url:
        yield url
        return
    import pgserver  # only here: importing it warns where XDG_RUNTIME_DIR is unset

    # A server of this run's own (runs at once share nothing), stopped and deleted at its end.
    # pgserver widens permissions on every parent: keep its directory in a folder of its own.
    root = Path(tempfile.mkdtemp(prefix="csms-test-postgres-"))
    server = pgserver.get_server(root / "data", cleanup_mode="delete")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
        shutil.rmtree(root, ignore_errors=True)


async def admin(url: str, *statements: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def template_database(server_url: str) -> Iterator[str]:
    """One migrated database; each test gets a copy of it, which is fast."""
    name = f"csms_template_{os.getpid()}"
    asyncio.run(admin(server_url, f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}"))
    asyncio.run(migrate_url(with_database(server_url, name)))
    yield name
    asyncio.run(admin(server_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture
async def db_url(server_url: str, template_database: str) -> AsyncIterator[str]:
    name = f"csms_test_{uuid.uuid4().hex[:12]}"
    await admin(server_url, f"CREATE DATABASE {name} TEMPLATE {template_database}")
    yield with_database(server_url, name)
    await admin(server_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_settings(**ocpp: Any) -> Settings:
    settings = Settings()
    settings.ocpp.host = settings.api.host = "127.0.0.1"
    settings.ocpp.port = settings.api.port = 0
    settings.ocpp.call_timeout = 5
    settings.api.token = API_TOKEN
    settings.database.pool_min_size = 1
    settings.ocpp.local_lists = False  # its calls after each boot: only where a test asks
    for key, value in ocpp.items():
        setattr(settings.ocpp, key, value)
    return settings


AppFactory = Callable[..., Awaitable[App]]


@pytest.fixture
async def make_app(db_url: str) -> AsyncIterator[AppFactory]:
    """Start apps on the test database; all are stopped at the end."""
    started: list[App] = []

    async def factory(ocpp_port: int = 0, oicp: dict[str, Any] | None = None,
                      ocpi: dict[str, Any] | None = None, node_id: str = "",
                      api: dict[str, Any] | None = None, **ocpp: Any) -> App:
        settings = test_settings(**ocpp)
        settings.ocpp.port = ocpp_port
        settings.cluster.node_id = node_id
        for key, value in (oicp or {}).items():
            setattr(settings.oicp, key, value)
        for key, value in (ocpi or {}).items():
            setattr(settings.ocpi, key, value)
        for key, value in (api or {}).items():
            setattr(settings.api, key, value)
        app = await App.open(settings, url=db_url)
        await app.start()
        started.append(app)
        return app

    yield factory
    for app in started:
        if not app.pool.is_closing():
            await app.stop()


@pytest.fixture
async def app(make_app: AppFactory) -> App:
    return await make_app()


@pytest.fixture
async def api(app: App) -> AsyncIterator[Api]:
    client = Api(f"http://127.0.0.1:{app.api.port}/api/v1")
    yield client
    await client.http.close()




@pytest.fixture
async def hubject() -> AsyncIterator[SimulatedHubject]:
    stand_in = SimulatedHubject()
    await stand_in.start()
    yield stand_in
    await stand_in.stop()


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
async def emsp() -> AsyncIterator[SimulatedEmsp]:
    stand_in = SimulatedEmsp()
    await stand_in.start()
    yield stand_in
    await stand_in.stop()


SimFactory = Callable[..., SimulatedChargePoint]


@pytest.fixture(params=["1.6", "2.0.1"])
async def sims(request: pytest.FixtureRequest) -> AsyncIterator[SimFactory]:
    """Builds simulated chargers of the test's OCPP version; all are stopped at the end."""
    made: list[SimulatedChargePoint] = []

    def factory(app: App, charge_point_id: str = "CP1", **options: Any) -> SimulatedChargePoint:
        options.setdefault("meter_interval", 0.2)
        config = SimConfig(charge_point_id=charge_point_id, url=ws_url(app), **options)
        sim = ChargePoint16(config) if request.param == "1.6" else ChargePoint201(config)
        made.append(sim)
        return sim

    factory.protocol = request.param  # type: ignore[attr-defined]
    yield factory
    for sim in made:
        await sim.stop()
