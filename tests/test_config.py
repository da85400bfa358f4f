"""Settings: the documented config.toml, and environment overrides."""

from pathlib import Path

import pytest

from csms.config import ConfigError, Settings, load_settings, reference

ROOT = Path(__file__).resolve().parent.parent


def test_config_toml_documents_exactly_the_defaults() -> None:
    assert load_settings(ROOT / "config.toml", environ={}) == Settings()


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


def test_unknown_keys_in_the_file_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[ocpp]\nprot = 1\n")
    with pytest.raises(ConfigError, match="ocpp.prot"):
        load_settings(path, environ={})


def test_demo_config_loads() -> None:
    settings = load_settings(Path(__file__).resolve().parents[1] / "simulators" / "demo" / "config.toml")
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
