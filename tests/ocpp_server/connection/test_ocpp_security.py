"""Charger security profiles: Basic auth, TLS + Basic auth, TLS with the charger's own client certificate."""

from __future__ import annotations

import ssl
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidHandshake, InvalidStatus

from csms.app import App
from csms.domain.charge_points import register
from tests.conftest import AppFactory, SimFactory
from tests.pki import Pki, client_context


def wss(app: App) -> str:
    return f"wss://127.0.0.1:{app.ocpp.port}/ocpp"


async def tls_app(make_app: AppFactory, pki: Pki) -> App:
    app = await make_app(tls_cert=pki["server.crt"], tls_key=pki["server.key"],
                         tls_client_ca=pki["ca.crt"])
    await register(app.pool, "CP2", "secret-pass-2", {1: None}, security_profile=2)
    await register(app.pool, "CP3", None, {1: None}, security_profile=3)
    return app


async def refusal(url: str, context: ssl.SSLContext | None = None, **headers: str) -> Any:
    """The HTTP status a handshake is refused with, or the TLS error that stopped it."""
    try:
        async with connect(url, subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                           additional_headers=headers, ssl=context, open_timeout=5):
            return None
    except InvalidStatus as refused:
        return refused.response.status_code
    except (ssl.SSLError, OSError, InvalidHandshake) as failed:
        return type(failed).__name__


async def test_profile_2_password_over_tls(make_app: AppFactory, pki: Pki, sims: SimFactory) -> None:
    app = await tls_app(make_app, pki)
    sim = sims(app, "CP2", password="secret-pass-2", tls=client_context(pki, None))
    sim.config.url = wss(app)
    await sim.start()
    assert sim.boot_status == "Accepted"
    assert await refusal(f"{wss(app)}/CP2", client_context(pki, None)) == 401  # no password
    assert await refusal(f"ws://127.0.0.1:{app.ocpp.port}/ocpp/CP2") is not None  # no TLS


async def test_profile_3_client_certificate(make_app: AppFactory, pki: Pki, sims: SimFactory) -> None:
    app = await tls_app(make_app, pki)
    sim = sims(app, "CP3", tls=client_context(pki, "CP3"))
    sim.config.url = wss(app)
    await sim.start()  # no password: the certificate is the credential
    assert sim.boot_status == "Accepted"
    assert await refusal(f"{wss(app)}/CP3", client_context(pki, None)) == 401  # no certificate
    # Another charger's valid certificate does not open this charger's door, nor any other's.
    assert await refusal(f"{wss(app)}/CP3", client_context(pki, "CP9")) == 403
    assert await refusal(f"{wss(app)}/CP2", client_context(pki, "CP9")) == 403
    # A certificate from a CA we do not trust fails the TLS handshake.
    assert await refusal(f"{wss(app)}/CP3", client_context(pki, "intruder")) is not None


async def test_profile_needs_tls_on_the_server(make_app: AppFactory) -> None:
    app = await make_app()
    await register(app.pool, "CP2", "secret-pass-2", {1: None}, security_profile=2)
    url = f"ws://127.0.0.1:{app.ocpp.port}/ocpp/CP2"
    assert await refusal(url, Authorization="Basic Q1AyOnNlY3JldC1wYXNzLTI=") == 403


@pytest.mark.parametrize("profile", [0, 1, 2, 3])
async def test_profile_is_kept(make_app: AppFactory, profile: int) -> None:
    app = await make_app()
    await register(app.pool, "CPX", None, {1: None}, security_profile=profile)
    await register(app.pool, "CPX", None, {2: None})  # a later update keeps it
    assert await app.pool.fetchval("SELECT security_profile FROM charge_points WHERE id = 'CPX'") \
        == profile
