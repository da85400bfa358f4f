"""No OCPI request to an address a caller chose: versions URLs, quoted answers, Token A, response_url."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import structlog

from bridge import outbox
from bridge.ocpi import transport
from bridge.ocpi.client import outcome
from bridge.ocpi.control.commands import RESULT_ATTEMPTS, response_url_refusal
from bridge.ocpi.handshake import partners
from bridge.ocpi.handshake.credentials import CredentialsError
from bridge.ocpi.handshake.partners import Partner, Party
from csms.app import App
from csms.config import OcpiSettings
from simulators.partners.emsp import SimulatedEmsp
from tests.conftest import AppFactory
from tests.ocpi.test_ocpi_sessions import setup
from tests.roaming.test_egress import Recorder
from tests.support import eventually, issue_token, ocpi_settings

SECRET = "INTERNAL-ONLY-3b9f"


@pytest.fixture
async def recorder() -> AsyncIterator[Recorder]:
    server = await Recorder(body=json.dumps({"secret": SECRET})).start()
    yield server
    await server.stop()


def credentials_url(app: App) -> str:
    return app.settings.ocpi.public_url + "/ocpi/2.2.1/credentials"


async def with_token_a(app: App, emsp: SimulatedEmsp) -> str:
    token_a = transport.new_token()
    await issue_token(app, token_a, emsp)
    return token_a


async def post_credentials(app: App, emsp: SimulatedEmsp, token_a: str,
                           url: str) -> tuple[int, Any]:
    status, _, answer = await emsp.call("POST", credentials_url(app),
                                        {**emsp._credentials("t0k3n"), "url": url}, token=token_a)
    return status, answer


async def test_versions_url_on_loopback_is_refused(make_app: AppFactory, emsp: SimulatedEmsp,
                                                   recorder: Recorder) -> None:
    app = await make_app(ocpi=ocpi_settings(allow_private_addresses=False))
    assert app.ocpi is not None
    token_a = await with_token_a(app, emsp)
    for host in ("127.0.0.1", "localhost"):  # by address, and by a name resolving to it
        status, answer = await post_credentials(app, emsp, token_a,
                                                recorder.url("/ocpi/versions", host=host))
        assert answer["status_code"] == 3001, answer
        assert "loopback" in answer["status_message"]
    # Nor when we register with a partner (csms ocpi register).
    with pytest.raises(CredentialsError) as refused:
        await app.ocpi.registrar.register_with(recorder.url("/ocpi/versions"), "whatever",
                                               parties=[Party("NL", "EMX")])
    assert "loopback" in str(refused.value)
    assert recorder.hits == []  # not a single request reached it
    assert await partners.all_registered(app.pool) == []


async def test_errors_never_quote_the_answer(make_app: AppFactory, emsp: SimulatedEmsp,
                                             recorder: Recorder) -> None:
    app = await make_app(ocpi=ocpi_settings())
    assert app.ocpi is not None
    token_a = await with_token_a(app, emsp)
    for status in (200, 500):
        recorder.status = status
        _, answer = await post_credentials(app, emsp, token_a, recorder.url("/ocpi/versions"))
        assert answer["status_code"] == 3001
        assert f"HTTP {status}, not an OCPI answer" in answer["status_message"]
        assert SECRET not in json.dumps(answer)
    with pytest.raises(CredentialsError) as refused:
        await app.ocpi.registrar.register_with(recorder.url("/ocpi/versions"), "whatever",
                                               parties=[Party("NL", "EMX")])
    assert SECRET not in str(refused.value)
    assert len(recorder.hits) == 3
    # Nor in what the outbox records of a refused push.
    for answer in (SECRET, {"secret": SECRET}, {"status_code": SECRET}):
        delivery = outcome(400, answer)
        assert not delivery.ok and SECRET not in str(delivery.error)


async def test_token_a_is_void_after_three_failed_exchanges(
        make_app: AppFactory, emsp: SimulatedEmsp, recorder: Recorder) -> None:
    app = await make_app(ocpi=ocpi_settings())
    token_a = await with_token_a(app, emsp)
    recorder.status = 404
    for _ in range(partners.TOKEN_A_TRIES):
        status, answer = await post_credentials(app, emsp, token_a, recorder.url("/ocpi/versions"))
        assert answer["status_code"] == 3001
    status, answer = await post_credentials(app, emsp, token_a, emsp.versions_url)
    assert (status, answer["status_code"]) == (401, 2000)  # spent, even for a proper attempt
    assert len(recorder.hits) == partners.TOKEN_A_TRIES  # no more requests than tries
    assert (await emsp.call("GET", app.settings.ocpi.public_url + "/ocpi/versions",
                            token=token_a))[0] == 401
    assert await partners.all_registered(app.pool) == []


def _partner(versions_url: str, *endpoints: str) -> Partner:
    return Partner(1, "sim", "registered", "t", "base64", versions_url, "2.2.1",
                   [{"identifier": "commands", "role": "SENDER", "url": url} for url in endpoints],
                   [])


PARTNER = _partner("https://emsp.example/ocpi/versions", "https://api.EMSP.example./ocpi/commands")


@pytest.mark.parametrize(("url", "settings", "refused"), [
    ("https://emsp.example/result/1", {}, None),
    ("https://api.emsp.example:8443/other/path", {}, None),  # host, not port or path
    ("http://emsp.example/result/1", {}, None),
    ("https://evil.example/result/1", {}, "must be on the host of one of your endpoints"),
    ("https://emsp.example.evil.example/r", {}, "must be on the host of one of your endpoints"),
    ("https://evil.example/r", {"response_url_hosts": "cb.example, EVIL.example"}, None),
    ("https://127.0.0.1/r", {}, "must be on the host of one of your endpoints"),
    ("ftp://emsp.example/r", {}, "must be an http(s) URL"),
    ("https://emsp.example:99999/r", {}, "is not a URL"),
    ("emsp.example/r", {}, "must be an http(s) URL"),
])
def test_response_url_rule(url: str, settings: dict[str, Any], refused: str | None) -> None:
    assert response_url_refusal(url, PARTNER, OcpiSettings(**settings)) == refused


def test_response_url_rule_on_a_private_partner() -> None:
    """A partner whose endpoints are on private addresses gets no result there, unless allowed."""
    partner = _partner("http://10.0.0.5/ocpi/versions")
    assert response_url_refusal("http://10.0.0.5/r", partner, OcpiSettings()) == \
        "is a private address"
    assert response_url_refusal("http://10.0.0.5/r", partner,
                                OcpiSettings(allow_private_addresses=True)) is None


UNLOCK = {"location_id": "berlin-hub", "evse_uid": "CP1-1", "connector_id": "1"}


async def command(emsp: SimulatedEmsp, name: str, response_url: str) -> tuple[int, Any]:
    status, _, answer = await emsp.call("POST", f"{emsp.cpo_endpoint('commands')}/{name}",
                                        {"response_url": response_url, **UNLOCK},
                                        headers=emsp._routing())
    return status, answer


async def test_response_url_on_a_foreign_host_is_refused(make_app: AppFactory, emsp: SimulatedEmsp,
                                                         recorder: Recorder) -> None:
    with structlog.testing.capture_logs() as logs:
        app = await setup(make_app, emsp, ocpi=ocpi_settings(response_url_hosts="localhost"))
    assert [e["problem"] for e in logs if e["log_level"] == "warning"
            and e.get("setting") == "ocpi.response_url_hosts"] == [  # said at start
        "commands' results, with the partner's token, may be POSTed to hosts other than the "
        "partner's own (localhost)"]
    for foreign in (recorder.url("/result/1", host="127.0.0.2"),
                    recorder.url("/result/1", host="partner.invalid")):
        status, answer = await command(emsp, "UNLOCK_CONNECTOR", foreign)
        assert (status, answer["status_code"]) == (400, 2001), answer
        assert "response_url must be on the host of one of your endpoints" in \
            answer["status_message"]
    assert await outbox.list_messages(app.pool, None, None, operation="POST commands") == []
    # A host named in ocpi.response_url_hosts is taken.
    status, answer = await command(emsp, "UNLOCK_CONNECTOR",
                                   recorder.url("/result/2", host="localhost"))
    assert (status, answer["data"]["result"]) == (200, "ACCEPTED")
    await eventually(lambda: _hit(recorder, "/result/2"))
    assert recorder.hits == ["/result/2"]


async def _hit(recorder: Recorder, path: str) -> bool:
    return path in recorder.hits


async def test_a_result_answered_401_is_given_up(make_app: AppFactory, emsp: SimulatedEmsp,
                                                 recorder: Recorder) -> None:
    app = await setup(make_app, emsp)
    recorder.status = 401
    # On the partner's host (127.0.0.1), another port: a target that refuses our token.
    status, answer = await command(emsp, "UNLOCK_CONNECTOR", recorder.url("/result/3"))
    assert (status, answer["data"]["result"]) == (200, "ACCEPTED")  # CP1 is not connected

    async def given_up() -> Any:
        failed = await outbox.list_messages(app.pool, None, "failed", operation="POST commands")
        return failed[0] if failed else None
    message = await eventually(given_up)
    assert message["attempts"] == RESULT_ATTEMPTS
    assert message["last_error"].startswith(f"given up after {RESULT_ATTEMPTS} attempts: HTTP 401")
    assert recorder.hits == ["/result/3"] * RESULT_ATTEMPTS
