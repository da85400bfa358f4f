"""Settings: the documented config.toml, and environment overrides."""

from pathlib import Path

import pytest

from csms.config import ConfigError, Settings, load_settings, reference
from tests.support import ROOT


def test_config_toml_documents_exactly_the_defaults() -> None:
    defaults = Settings()
    defaults.database.data_dir = str(ROOT / "var" / "pgdata")  # relative to the file's folder
    assert load_settings(ROOT / "config.toml", environ={}) == defaults


def test_environment_overrides_file() -> None:
    settings = load_settings(ROOT / "config.toml", environ={
        "CSMS_OCPP_PORT": "9100",
        "CSMS_DATABASE_URL": "postgresql://u@h/db",
        "CSMS_OCPP_ACCEPT_UNKNOWN_CHARGE_POINTS": "true",
        "CSMS_OCPP_CALL_TIMEOUT": "2.5",
    })
    assert settings.ocpp.port == 9100
    assert settings.database.url == "postgresql://u@h/db"
    assert settings.ocpp.accept_unknown_charge_points is True
    assert settings.ocpp.call_timeout == 2.5


@pytest.mark.parametrize(("env", "message"), [
    ({"CSMS_OCPP_PORT": "nine"}, "CSMS_OCPP_PORT"),
    ({"CSMS_OCPP_ACCEPT_UNKNOWN_CHARGE_POINTS": "perhaps"}, "boolean"),
])
def test_bad_environment_values_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(None, environ=env)


@pytest.mark.parametrize(("text", "message"), [
    ("[ocpp]\nprot = 1\n", r"unknown setting ocpp.prot \(did you mean ocpp.port\?\)"),
    ("[databse]\nurl = \"\"\n", r"unknown section \[databse\] \(did you mean \[database\]\?\)"),
    ("[ocpp]\nport = 1\nhost = 0.0.0.0\n", r"c.toml: malformed TOML: .*line 3"),
    ('[log]\nlevel = "verbose"\n', "log.level = 'verbose': expected one of debug, info"),
    ('[ocpp]\nhost = 5\n', "ocpp.host: expected a string"),
])
def test_bad_files_are_named(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_settings(path, environ={})


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=f"config file {tmp_path}/nowhere.toml does not exist"):
        load_settings(tmp_path / "nowhere.toml", environ={})


@pytest.mark.parametrize(("env", "message"), [
    ({"CSMS_OCPP_PROT": "9000"}, r"unknown environment variable CSMS_OCPP_PROT "
                                 r"\(did you mean CSMS_OCPP_PORT\?\)"),
    ({"CSMS_LOGLEVEL": "debug"}, r"CSMS_LOGLEVEL \(did you mean CSMS_LOG_LEVEL\?\)"),
    ({"CSMS_OCPP_BOOT_STATUS": "Acepted"}, "expected one of Accepted, Pending, Rejected"),
    ({"CSMS_LOG_LEVEL": "verbose"}, "CSMS_LOG_LEVEL = 'verbose': expected one of"),
    ({"CSMS_LOG_FORMAT": "xml"}, "expected one of auto, console, json"),
    ({"CSMS_OCPP_PORT": "-5"}, "CSMS_OCPP_PORT = -5: expected at least 0"),
    ({"CSMS_API_PORT": "65536"}, "CSMS_API_PORT = 65536: expected at most 65535"),
    ({"CSMS_OCPP_CALL_TIMEOUT": "0"}, "expected more than 0"),
    ({"CSMS_OCPP_HEARTBEAT_INTERVAL": "0"}, "expected at least 1"),
    ({"CSMS_DATABASE_POOL_MIN_SIZE": "20"}, r"pool_max_size = 10: expected at least pool_min_size"),
    ({"CSMS_OICP_RETRY_MAX_DELAY": "0.5"}, "expected at least retry_base_delay"),
    ({"CSMS_OICP_TIME_ZONE": "Europe/Berln"}, "expected an IANA time zone name"),
    ({"CSMS_DATABASE_URL": "mysql://db/x"}, "expected a postgresql/postgres URL"),
    ({"CSMS_OCPI_COUNTRY_CODE": "Germany"}, "expected an ISO 3166-1 alpha-2 code"),
    ({"CSMS_OICP_OPERATOR_ID": "DE-ABC-1"}, "expected an OICP operator id"),
    ({"CSMS_OCPP_PATH": "ocpp"}, "expected a path starting with /"),
    ({"CSMS_DATABASE_URL": "postgresql://u:secret@db:99999/x"}, r"u:\*\*\*@db:99999.*bad port"),
    ({"CSMS_API_TRUSTED_PROXIES": "10.0.0.1, proxy.local"}, "'proxy.local' is not an IP address"),
])
def test_bad_settings_are_refused_in_one_line(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as refused:
        load_settings(None, environ=env)
    assert "\n" not in str(refused.value) and "secret" not in str(refused.value)


def test_enumerations_take_any_case_and_store_the_protocol_spelling() -> None:
    settings = load_settings(None, environ={"CSMS_OCPP_BOOT_STATUS": "accepted",
                                            "CSMS_LOG_LEVEL": "WARNING"})
    assert (settings.ocpp.boot_status, settings.log.level) == ("Accepted", "warning")


@pytest.mark.parametrize("url", [
    "postgresql://postgres:@/csms?host=/tmp/pg/data",  # the embedded server's, a unix socket
    "postgresql:///csms",  # libpq's default socket
    "postgres://csms@db:5432/csms",
])
def test_postgresql_urls_without_a_host_are_libpqs_unix_sockets(url: str) -> None:
    assert load_settings(None, environ={"CSMS_DATABASE_URL": url}).database.url == url


def test_variables_that_are_not_settings_pass() -> None:
    load_settings(None, environ={"CSMS_CONFIG": "x.toml", "CSMS_TEST_DATABASE_URL": "postgresql://h/d",
                                 "CSMS_CHROMIUM": "/usr/bin/chromium"})


def test_relative_paths_resolve_against_the_files_folder(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "etc").mkdir()
    path = tmp_path / "etc" / "c.toml"
    path.write_text('[database]\ndata_dir = "pg"\n[ocpp]\ntls_cert = "tls/cert.pem"\n'
                    'tls_key = "/abs/key.pem"\n[oicp]\nca_file = "../ca.pem"\n')
    monkeypatch.chdir("/")
    settings = load_settings(path, environ={"CSMS_OICP_CLIENT_CERT": "here.pem"})
    assert settings.database.data_dir == str(tmp_path / "etc" / "pg")
    assert settings.ocpp.tls_cert == str(tmp_path / "etc" / "tls" / "cert.pem")
    assert settings.ocpp.tls_key == "/abs/key.pem"
    assert settings.oicp.ca_file == str(tmp_path / "etc" / ".." / "ca.pem")
    assert settings.oicp.client_cert == "/here.pem"  # from the environment: the current folder
    assert settings.ocpp.tls_client_ca == ""  # empty stays empty


def test_demo_config_loads() -> None:
    settings = load_settings(ROOT / "simulators" / "demo" / "config.toml")
    assert settings.oicp.enabled and settings.oicp.allow_plain_http
    assert settings.oicp.base_url == "http://127.0.0.1:9500"


def test_the_readme_carries_the_settings_reference_of_config_toml() -> None:
    readme = (ROOT / "README.md").read_text()
    documented = readme.split("<!-- settings: begin -->\n")[1].split("<!-- settings: end -->")[0]
    assert documented == reference((ROOT / "config.toml").read_text())


def test_settings_reference_rows() -> None:
    text = """
[api]
# Where the API listens.
host = "0.0.0.0"
port = 8080
# A token | with a pipe.
token = "x"
"""
    assert reference(text).splitlines() == [
        "**[api]**", "", "| setting | default | environment | meaning |", "|---|---|---|---|",
        '| `api.host`<br>`api.port` | `"0.0.0.0"`<br>`8080` | `CSMS_API_HOST`<br>`CSMS_API_PORT` '
        "| Where the API listens. |",
        '| `api.token` | `"x"` | `CSMS_API_TOKEN` | A token \\| with a pipe. |']
