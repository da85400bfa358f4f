"""What an internet-facing deployment must not relax: start refused, WARNINGs, `csms check-config`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import structlog

from csms.app import App
from csms.config import ConfigError, Settings, load_settings
from csms.operator.command_line.cli import main
from csms.security.exposure import Severity, loopback, violations
from simulators.partners.hubject import SimulatedHubject
from tests import conftest
from tests.conftest import AppFactory
from tests.operators.test_cli import csms, one_line
from tests.support import ROOT, free_port, oicp_settings

GOOD_TOKEN = "0123456789abcdef0123456789abcdef"
LOCAL = '[ocpp]\nhost = "127.0.0.1"\n'


@pytest.mark.parametrize(("host", "expected"), [
    ("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("[::1]", True), ("localhost", True),
    ("LocalHost", True), ("0.0.0.0", False), ("::", False), ("", False), ("192.168.1.5", False),
    ("csms.example.com", False)])
def test_loopback(host: str, expected: bool) -> None:
    assert loopback(host) is expected


def test_the_shipped_config_starts() -> None:
    """`make run`: the checkout's config.toml (and the defaults) refuse nothing."""
    for settings in (load_settings(ROOT / "config.toml", environ={}), Settings()):
        assert settings.api.host == "127.0.0.1"
        assert [v for v in violations(settings) if v.severity is Severity.REFUSE] == []


@pytest.mark.parametrize(("toml", "code", "found"), [
    (LOCAL, 0, set()),
    ("", 1, {"warn ocpp.tls_cert"}),  # the shipped ocpp.host, 0.0.0.0, without TLS
    ('[ocpp]\nhost = "::"\ntls_cert = "c.pem"\ntls_key = "k.pem"\n', 0, set()),
    (LOCAL + '[api]\nhost = "0.0.0.0"\n', 1, {"refuse api.token"}),
    (LOCAL + '[api]\nhost = "::"\ntoken = "  "\n', 1, {"refuse api.token"}),
    (LOCAL + '[api]\nhost = "10.0.0.7"\ntoken = "fifteen-chars-x"\n', 1, {"refuse api.token"}),
    (LOCAL + f'[api]\nhost = "0.0.0.0"\ntoken = "{GOOD_TOKEN}"\n', 0, set()),
    (LOCAL + '[api]\nhost = "::1"\ntoken = ""\n', 0, set()),
    (LOCAL + '[oicp]\nenabled = true\nserver_cert = "s.crt"\nserver_key = "s.key"\n', 1,
     {"refuse oicp.client_ca"}),
    (LOCAL + '[oicp]\nenabled = true\nserver_cert = "s.crt"\nserver_key = "s.key"\n'
     'client_ca = "ca.crt"\n', 0, set()),
    (LOCAL + '[oicp]\nenabled = true\n', 1, {"refuse oicp.server_cert"}),
    (LOCAL + '[oicp]\nenabled = true\nallow_plain_http = true\nlisten_host = "127.0.0.1"\n'
     'base_url = "http://127.0.0.1:9500/api/oicp"\n', 0, set()),
    (LOCAL + '[oicp]\nenabled = true\nallow_plain_http = true\nbase_url = "http://hubject.example"\n',
     1, {"warn oicp.allow_plain_http", "warn oicp.base_url"}),
    (LOCAL.replace("[ocpp]", '[ocpp]\naccept_unknown_charge_points = true\nlenient_validation = "CP7:'
                   'MeterValues"\nmax_messages_per_second = 0\nmax_connections_per_ip = 0'), 1,
     {"warn ocpp.accept_unknown_charge_points", "warn ocpp.lenient_validation",
      "warn ocpp.max_messages_per_second", "warn ocpp.max_connections_per_ip"}),
    (LOCAL + '[ocpi]\nenabled = true\npublic_url = "http://ocpi.example.com"\n', 1,
     {"warn ocpi.public_url"}),
    (LOCAL + '[ocpi]\nenabled = true\npublic_url = "https://ocpi.example.com"\n', 0, set()),
])
def test_check_config(toml: str, code: int, found: set[str], tmp_path: Path,
                      monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    for name in [n for n in os.environ if n.startswith("CSMS_")]:
        monkeypatch.delenv(name)
    config = tmp_path / "csms.toml"
    config.write_text(toml)
    assert main(["check-config", "--config", str(config)]) == code
    lines = capsys.readouterr().out.splitlines()
    if not found:
        assert lines == ["no violations: nothing an internet-facing deployment must keep is relaxed"]
        return
    assert {" ".join(line.split(": ", 2)[:2]) for line in lines} == found
    assert all(line.count(": ") >= 2 and "; " in line for line in lines)  # what is wrong; what to do
    assert GOOD_TOKEN not in "".join(lines)


def test_check_config_of_a_bad_file_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[api]\nhots = "0.0.0.0"\n')
    line = one_line(csms("check-config", "--config", str(bad)), 2)
    assert line == "configuration error: unknown setting api.hots (did you mean api.host?)"


@pytest.mark.parametrize(("env", "refused"), [
    ({"CSMS_API_HOST": "0.0.0.0"}, "api.token: the shipped or an empty admin token"),
    ({"CSMS_API_HOST": "0.0.0.0", "CSMS_API_TOKEN": ""}, "api.token: the shipped or an empty"),
    ({"CSMS_API_HOST": "::", "CSMS_API_TOKEN": "letmein"}, "api.token: an admin token shorter than 16"),
    ({"CSMS_OICP_ENABLED": "true", "CSMS_OICP_SERVER_CERT": "s.crt", "CSMS_OICP_SERVER_KEY": "s.key",
      "CSMS_OICP_LISTEN_HOST": "127.0.0.1"}, "oicp.client_ca: OICP server TLS without a client CA"),
])
def test_run_refuses_to_start(env: dict[str, str], refused: str) -> None:
    """Refused before any database is touched: one line, exit 2 (an unreachable database, exit 1,
    would mean it went on)."""
    nobody = f"postgresql://postgres@127.0.0.1:{free_port()}/csms"
    line = one_line(csms("run", CSMS_DATABASE_URL=nobody, CSMS_OCPP_HOST="127.0.0.1", **env), 2)
    assert line.startswith(f"configuration error: {refused}")


async def test_a_relaxation_is_a_warning_at_start(make_app: AppFactory, hubject: SimulatedHubject) -> None:
    with structlog.testing.capture_logs() as logs:
        await make_app(oicp=oicp_settings(hubject))  # plain HTTP on loopback: a local run
        await make_app(oicp=oicp_settings(hubject, listen_host="0.0.0.0"))
    warned = [e for e in logs if e["log_level"] == "warning" and e["event"] == "security relaxed"]
    assert [e["setting"] for e in warned] == ["oicp.allow_plain_http"]
    assert "0.0.0.0" in warned[0]["problem"] and warned[0]["remedy"]


async def test_an_app_refuses_to_start_before_it_listens(db_url: str) -> None:
    """Whoever starts an App (not only `csms run`) gets the same refusal, before any server listens."""
    settings = conftest.test_settings()
    settings.api.host = "0.0.0.0"  # with the suite's 10-character token
    app = await App.open(settings, url=db_url)
    try:
        with pytest.raises(ConfigError, match="api.token: an admin token shorter than 16"):
            await app.start()
        assert app.api._site is None and app.ocpp._server is None  # nothing listened
    finally:
        await app.pool.close()
