"""The OCPI credentials handshake with a simulated eMSP: both ways, rotation, unregistering, refusals."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.ocpi import transport
from bridge.ocpi.handshake import partners
from bridge.ocpi.handshake.credentials import CredentialsError, our_party
from bridge.ocpi.handshake.partners import Party
from csms.app import App
from simulators.partners.emsp import SimulatedEmsp
from tests.conftest import AppFactory
from tests.support import issue_token, ocpi_settings, parties_of


def versions_url(app: App) -> str:
    return app.settings.ocpi.public_url + "/ocpi/versions"


def credentials_url(app: App) -> str:
    return app.settings.ocpi.public_url + "/ocpi/2.2.1/credentials"


async def ocpi_app(make_app: AppFactory, **overrides: Any) -> App:
    app = await make_app(ocpi=ocpi_settings(**overrides))
    assert app.ocpi is not None
    return app


async def test_we_register_with_the_emsp(make_app: AppFactory, emsp: SimulatedEmsp) -> None:
    app = await ocpi_app(make_app)
    assert app.ocpi is not None
    partner = await app.ocpi.registrar.register_with(emsp.versions_url, emsp.token_a, "sim",
                                                     parties=parties_of(emsp))
    assert partner.status == "registered" and partner.emsp_party() == ("NL", "EMS")
    assert partner.their_token == emsp.our_token  # Token C, not the spent Token A
    # During its POST the eMSP called us back with our new token, and it worked.
    assert emsp.callback_seen_token == emsp.cpo_token is not None
    status, _, answer = await emsp.call("GET", versions_url(app))
    assert (status, answer["status_code"]) == (200, 1000)
    assert emsp.invalid == [] and emsp.bad_answers == []


async def test_emsp_registers_with_us_and_token_a_is_spent(make_app: AppFactory,
                                                           emsp: SimulatedEmsp) -> None:
    app = await ocpi_app(make_app)
    token_a = transport.new_token()
    await issue_token(app, token_a, emsp)
    answer = await emsp.register_with(versions_url(app), token_a)
    assert answer["status_code"] == 1000, answer
    assert answer["data"]["roles"][0] == {"role": "CPO", "country_code": "DE", "party_id": "ABC",
                                          "business_details": {"name": "ABC Charging"}}
    assert answer["timestamp"].endswith("Z")
    [partner] = await partners.all_registered(app.pool)
    assert partner.their_token == emsp.our_token and partner.version == "2.2.1"

    status, _, _ = await emsp.call("GET", versions_url(app), token=token_a)
    assert status == 401  # Token A is spent
    status, _, answer = await emsp.call("GET", versions_url(app))
    assert (status, answer["status_code"]) == (200, 1000)
    emsp.plain_tokens = True  # accepted unencoded too
    status, _, _ = await emsp.call("GET", versions_url(app))
    assert status == 200
    status, _, answer = await emsp.call("GET", credentials_url(app), schema="Credentials")
    assert answer["data"]["token"] == emsp.cpo_token  # the credentials it holds for us
    # A second POST with the registered token: already registered.
    status, _, answer = await emsp.call("POST", credentials_url(app),
                                        emsp._credentials(emsp.our_token or ""))
    assert status == 405
    assert emsp.bad_answers == []


async def test_rotation_and_unregistering(make_app: AppFactory, emsp: SimulatedEmsp) -> None:
    app = await ocpi_app(make_app)
    token_a = transport.new_token()
    await issue_token(app, token_a, emsp)
    await emsp.register_with(versions_url(app), token_a)
    old = emsp.cpo_token

    emsp.our_token = "rotated-" + transport.new_token()[:20]
    status, _, answer = await emsp.call("PUT", credentials_url(app),
                                        emsp._credentials(emsp.our_token), schema="Credentials")
    assert (status, answer["status_code"]) == (200, 1000)
    emsp.cpo_token = answer["data"]["token"]
    assert emsp.cpo_token != old
    assert (await emsp.call("GET", versions_url(app), token=old))[0] == 401
    assert (await emsp.call("GET", versions_url(app)))[0] == 200
    [partner] = await partners.all_registered(app.pool)
    assert partner.their_token == emsp.our_token  # we call them with their new token

    status, _, answer = await emsp.call("DELETE", credentials_url(app))
    assert (status, answer["status_code"]) == (200, 1000)
    assert (await emsp.call("GET", versions_url(app)))[0] == 401
    assert await partners.all_registered(app.pool) == []
    assert emsp.bad_answers == []


async def test_we_unregister(make_app: AppFactory, emsp: SimulatedEmsp) -> None:
    app = await ocpi_app(make_app)
    assert app.ocpi is not None
    partner = await app.ocpi.registrar.register_with(emsp.versions_url, emsp.token_a,
                                                     parties=parties_of(emsp))
    await app.ocpi.registrar.unregister_with(partner)
    assert emsp.of("DELETE", "/credentials") and emsp.our_token is None
    assert await partners.all_registered(app.pool) == []


async def test_refusals(make_app: AppFactory, emsp: SimulatedEmsp) -> None:
    app = await ocpi_app(make_app)
    assert app.ocpi is not None
    token_a = transport.new_token()
    await issue_token(app, token_a, emsp)

    assert (await emsp.call("GET", versions_url(app), token="nobody"))[0] == 401
    assert (await emsp.call("GET", versions_url(app), token=""))[0] == 401
    # Token A opens registration only.
    assert (await emsp.call("GET", app.settings.ocpi.public_url + "/ocpi/2.2.1/locations",
                            token=token_a))[0] == 401
    status, _, answer = await emsp.call("POST", credentials_url(app), raw=b"{no json",
                                        token=token_a, headers={"Content-Type": "application/json"})
    assert (status, answer["status_code"]) == (400, 2001)
    other = transport.new_token()  # each failed exchange spends a try of its Token A
    await partners.issue_token_a(app.pool, other, "sim2", "base64", [Party("NL", "EMT")],
                                 our_party(app.settings.ocpi))
    status, _, answer = await emsp.call("POST", credentials_url(app), {"token": "x"}, token=other)
    assert answer["status_code"] == 2001
    unreachable = {**emsp._credentials("t0k3n"), "url": "http://127.0.0.1:9/ocpi/versions"}
    status, _, answer = await emsp.call("POST", credentials_url(app), unreachable, token=token_a)
    assert answer["status_code"] == 3001
    assert await partners.all_registered(app.pool) == []  # nothing half-registered
    # ... and the Token A still works for a proper attempt (its third and last: test_ocpi_ssrf.py).
    assert (await emsp.register_with(versions_url(app), token_a))["status_code"] == 1000

    with pytest.raises(CredentialsError) as refused:  # the other way: an unusable partner
        await app.ocpi.registrar.register_with("http://127.0.0.1:9/versions", "whatever",
                                                   parties=parties_of(emsp))
    assert refused.value.status_code == 3001
    assert emsp.bad_answers == []


async def test_unusable_partners(make_app: AppFactory, emsp: SimulatedEmsp) -> None:
    app = await ocpi_app(make_app)
    assert app.ocpi is not None
    for version in ("2.0", "3.0"):  # older than we speak, or unknown: refused, saying why
        emsp.version = version
        with pytest.raises(CredentialsError) as refused:
            await app.ocpi.registrar.register_with(emsp.versions_url, emsp.token_a,
                                                   parties=parties_of(emsp))
        assert refused.value.status_code == 3002
        assert f"offers OCPI {version}, not 2.2.1 or 2.1.1" in str(refused.value)
    emsp.version = "2.2.1"
    emsp.modules = [("locations", "RECEIVER")]  # no credentials module
    with pytest.raises(CredentialsError) as refused:
        await app.ocpi.registrar.register_with(emsp.versions_url, emsp.token_a, parties=parties_of(emsp))
    assert refused.value.status_code == 3003
    assert await partners.all_registered(app.pool) == []
