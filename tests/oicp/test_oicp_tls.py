"""Hubject's mutual TLS, both ways: our client certificate on pushes, Hubject's required on its calls."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from bridge import outbox
from csms.config import ConfigError
from simulators.partners.hubject import SimulatedHubject
from tests.conftest import AppFactory
from tests.oicp.test_oicp_roaming import _async, cpo_url, remote_start_body
from tests.pki import Pki, client_context, server_context
from tests.support import eventually, oicp_settings


@pytest.fixture
async def tls_hubject(pki: Pki) -> AsyncIterator[SimulatedHubject]:
    stand_in = SimulatedHubject(server_ssl=server_context(pki), client_ssl=client_context(pki, "hubject"))
    await stand_in.start()
    yield stand_in
    await stand_in.stop()


def tls_settings(pki: Pki, hubject: SimulatedHubject, client: str | None = "cpo") -> dict[str, str | bool]:
    return {**oicp_settings(hubject), "allow_plain_http": False, "ca_file": pki["ca.crt"],
            "client_cert": pki[f"{client}.crt"] if client else "",
            "client_key": pki[f"{client}.key"] if client else "",
            "server_cert": pki["server.crt"], "server_key": pki["server.key"],
            "client_ca": pki["ca.crt"]}


async def test_pushes_present_our_client_certificate(make_app: AppFactory, pki: Pki,
                                                     tls_hubject: SimulatedHubject) -> None:
    assert tls_hubject.base_url.startswith("https://")
    app = await make_app(oicp=tls_settings(pki, tls_hubject))
    assert app.oicp is not None
    await app.oicp.push_all_statuses()
    await eventually(lambda: _async(tls_hubject.accepted()))
    assert tls_hubject.client_names == {"cpo"}


async def test_no_client_certificate_no_delivery(make_app: AppFactory, pki: Pki,
                                                 tls_hubject: SimulatedHubject) -> None:
    app = await make_app(oicp=tls_settings(pki, tls_hubject, client=None))
    assert app.oicp is not None
    await app.oicp.push_all_statuses()

    async def failed_attempt() -> bool:
        [message] = await outbox.list_messages(app.pool, "hubject", "pending")
        return message["attempts"] > 0 and bool(message["last_error"])
    await eventually(failed_attempt)  # kept, retried: delivered once a certificate is configured
    assert tls_hubject.received == []


async def test_hubject_must_present_a_certificate_we_trust(make_app: AppFactory, pki: Pki,
                                                           tls_hubject: SimulatedHubject) -> None:
    app = await make_app(oicp=tls_settings(pki, tls_hubject))
    url = cpo_url(app).replace("http://", "https://")
    answer = await tls_hubject.remote_start(url, remote_start_body("DE*ABC*E9999*1"))
    assert answer["StatusCode"]["Code"] == "603"  # reached us: unknown EVSE

    for name in (None, "intruder"):
        tls_hubject.client_ssl = client_context(pki, name)
        with pytest.raises(aiohttp.ClientError):
            await tls_hubject.remote_start(url, remote_start_body())
    with pytest.raises(aiohttp.ClientError):  # plain HTTP is not served at all
        await SimulatedHubject().remote_start(cpo_url(app), remote_start_body())


async def test_plain_http_only_when_allowed(make_app: AppFactory, hubject: SimulatedHubject) -> None:
    for overrides in ({"allow_plain_http": False},
                      {"allow_plain_http": False, "base_url": "https://hubject.example"}):
        with pytest.raises(ConfigError, match="allow_plain_http"):
            await make_app(oicp={**oicp_settings(hubject), **overrides})


async def test_a_server_certificate_without_client_ca_is_refused(
        make_app: AppFactory, pki: Pki, tls_hubject: SimulatedHubject) -> None:
    """Without the CA, no client certificate would be asked for: anyone could start a session."""
    with pytest.raises(ConfigError, match="oicp.client_ca is required"):
        await make_app(oicp={**tls_settings(pki, tls_hubject), "client_ca": ""})
