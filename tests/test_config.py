"""Settings: the documented config.toml, and environment overrides."""

from pathlib import Path

import pytest

from csms.config import ConfigError, Settings, load_settings

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
