"""Hubject's mutual TLS, both ways: our client certificate on pushes, Hubject's required on its calls."""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from bridge import outbox
from csms.config import ConfigError
from simulators.hubject import SimulatedHubject
from tests.conftest import AppFactory
from tests.support import eventually, oicp_settings
from tests.test_oicp_roaming import _async, cpo_url, remote_start_body


@dataclass(frozen=True)
class Pki:
    folder: Path

    def __getitem__(self, name: str) -> str:
        return str(self.folder / name)


def _openssl(folder: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)


def _issue(folder: Path, name: str, ca: str, *extensions: str) -> None:
    _openssl(folder, "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
             "-out", f"{name}.csr", "-subj", f"/CN={name}")
    ext = folder / f"{name}.ext"
    ext.write_text("\n".join(extensions) + "\n")
    _openssl(folder, "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
             "-CAcreateserial", "-days", "2", "-out", f"{name}.crt", "-extfile", str(ext))


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A CA with a server certificate for 127.0.0.1 and client certificates; a rogue CA too."""
    folder = tmp_path_factory.mktemp("pki")
    for ca in ("ca", "rogue-ca"):
        _openssl(folder, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{ca}.key",
                 "-out", f"{ca}.crt", "-days", "2", "-subj", f"/CN={ca}")
    server = ("subjectAltName = IP:127.0.0.1, DNS:localhost", "extendedKeyUsage = serverAuth")
    client = ("extendedKeyUsage = clientAuth",)
    _issue(folder, "server", "ca", *server)
    _issue(folder, "cpo", "ca", *client)
    _issue(folder, "hubject", "ca", *client)
    _issue(folder, "intruder", "rogue-ca", *client)
    return Pki(folder)


def server_context(pki: Pki) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki["server.crt"], pki["server.key"])
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(pki["ca.crt"])
    return context


def client_context(pki: Pki, name: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=pki["ca.crt"])
    if name:
        context.load_cert_chain(pki[f"{name}.crt"], pki[f"{name}.key"])
    return context


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
