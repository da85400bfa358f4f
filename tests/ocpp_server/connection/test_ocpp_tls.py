"""TLS on the OCPP port: 1.2 or newer only, and the four cipher suites OCPP requires each working."""

from __future__ import annotations

import asyncio
import ssl

import pytest
import structlog

from csms.app import App
from tests.conftest import AppFactory
from tests.pki import Pki
from tests.support import free_port

# OCPP 1.6 security whitepaper / 2.0.1 A00: the CSMS supports all four (TLS 1.2 names in OpenSSL's).
OCPP_SUITES = {
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
}


async def tls_app(make_app: AppFactory, pki: Pki) -> App:
    """An RSA certificate and an EC one, as an operator sets up for all four suites."""
    return await make_app(tls_cert=pki["server.crt"], tls_key=pki["server.key"],
                          tls_second_cert=pki["server-ec.crt"],
                          tls_second_key=pki["server-ec.key"])


async def handshake(app: App, context: ssl.SSLContext,
                    port: int | None = None) -> tuple[str, str]:
    """(cipher, protocol) the server agreed to, or the TLS error raised."""
    _, writer = await asyncio.wait_for(asyncio.open_connection(
        "127.0.0.1", port or app.ocpp.port, ssl=context, server_hostname="localhost"), 10)
    try:
        cipher, protocol, _ = writer.get_extra_info("cipher")
        return cipher, protocol
    finally:
        writer.close()


def client(pki: Pki, cipher: str | None = None,
           version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=pki["ca.crt"])
    context.minimum_version = context.maximum_version = version
    if cipher:
        context.set_ciphers(cipher)
    return context


@pytest.mark.parametrize("suite", list(OCPP_SUITES))
async def test_each_ocpp_suite(make_app: AppFactory, pki: Pki, suite: str) -> None:
    app = await tls_app(make_app, pki)
    assert await handshake(app, client(pki, OCPP_SUITES[suite])) == (OCPP_SUITES[suite], "TLSv1.2")


async def test_tls_13_too(make_app: AppFactory, pki: Pki) -> None:
    app = await tls_app(make_app, pki)
    _, protocol = await handshake(app, client(pki, version=ssl.TLSVersion.TLSv1_3))
    assert protocol == "TLSv1.3"


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the old versions, on purpose
@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_1, ssl.TLSVersion.TLSv1],
                         ids=["TLSv1.1", "TLSv1.0"])
async def test_older_tls_refused(make_app: AppFactory, pki: Pki, version: ssl.TLSVersion) -> None:
    app = await tls_app(make_app, pki)
    # A client that does speak it (OpenSSL's security level 0 lets it offer the old version; it
    # gets through to a server that allows it): ours says no, with an alert or a reset.
    context = client(pki, "DEFAULT:@SECLEVEL=0", version)
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        await handshake(app, context)


async def test_a_plain_port_beside_tls_is_warned(make_app: AppFactory, pki: Pki) -> None:
    with structlog.testing.capture_logs() as logs:
        app = await make_app(tls_cert=pki["server.crt"], tls_key=pki["server.key"],
                             tls_port=free_port())
    assert app.ocpp.tls_port != app.ocpp.port
    warned = [e for e in logs if e["log_level"] == "warning" and e.get("setting") == "ocpp.tls_port"]
    assert len(warned) == 1 and "unencrypted" in warned[0]["problem"]
    # The plain port is plain, the TLS port TLS.
    _, protocol = await handshake(app, client(pki), port=app.ocpp.tls_port)
    assert protocol == "TLSv1.2"
    with pytest.raises(OSError):  # an HTTP server does not speak TLS: an SSL error or a reset
        await handshake(app, client(pki))
