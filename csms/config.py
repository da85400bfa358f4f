"""Settings: config.toml with defaults, overridden by CSMS_<SECTION>_<KEY> environment variables."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, get_type_hints


@dataclass
class DatabaseSettings:
    url: str = ""
    data_dir: str = "var/pgdata"
    pool_min_size: int = 2
    pool_max_size: int = 10


@dataclass
class OcppSettings:
    host: str = "0.0.0.0"
    port: int = 9000
    path: str = "/ocpp"
    accept_unknown_charge_points: bool = False
    boot_status: str = "Accepted"
    heartbeat_interval: int = 300
    meter_value_interval: int = 900
    call_timeout: float = 30.0
    remote_start_window: float = 120.0
    max_message_size: int = 65536
    compression: bool = False
    tls_cert: str = ""
    tls_key: str = ""
    tls_client_ca: str = ""
    handshake_timeout: float = 30.0
    ping_interval: float = 60.0
    ping_timeout: float = 30.0
    max_messages_per_second: float = 20.0
    max_connections_per_ip: int = 1000
    lenient_validation: str = ""


@dataclass
class ApiSettings:
    host: str = "0.0.0.0"
    port: int = 8080
    token: str = "change-me"


@dataclass
class OicpSettings:
    enabled: bool = False
    base_url: str = "https://service-qa.hubject.com/api/oicp"
    operator_id: str = "DE*ABC"
    operator_name: str = ""
    client_cert: str = ""
    client_key: str = ""
    ca_file: str = ""
    allow_plain_http: bool = False
    listen_host: str = "0.0.0.0"
    listen_port: int = 9443
    server_cert: str = ""
    server_key: str = ""
    client_ca: str = ""
    time_zone: str = "UTC"
    progress_interval: float = 300.0
    reservation_minutes: int = 15
    full_load_interval: float = 86400.0
    authorize_timeout: float = 8.0
    authorize_reuse_window: float = 300.0
    authorization_cache_ttl: float = 86400.0
    request_timeout: float = 10.0
    retry_base_delay: float = 1.0
    retry_max_delay: float = 300.0


@dataclass
class OcpiSettings:
    enabled: bool = False
    country_code: str = "DE"
    party_id: str = "ABC"
    business_name: str = ""
    listen_host: str = "0.0.0.0"
    listen_port: int = 9444
    public_url: str = "http://localhost:9444"
    currency: str = "EUR"
    request_timeout: float = 10.0
    retry_base_delay: float = 1.0
    retry_max_delay: float = 300.0


@dataclass
class ClusterSettings:
    node_id: str = ""
    lease: float = 15.0


@dataclass
class LogSettings:
    level: str = "info"
    format: str = "auto"


@dataclass
class Settings:
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    ocpp: OcppSettings = field(default_factory=OcppSettings)
    api: ApiSettings = field(default_factory=ApiSettings)
    oicp: OicpSettings = field(default_factory=OicpSettings)
    ocpi: OcpiSettings = field(default_factory=OcpiSettings)
    cluster: ClusterSettings = field(default_factory=ClusterSettings)
    log: LogSettings = field(default_factory=LogSettings)


def lenient_actions(settings: OcppSettings, charge_point_id: str) -> set[str]:
    """The actions whose schema validation is skipped for one charger ("CP1:MeterValues, …")."""
    found = set()
    for entry in settings.lenient_validation.split(","):
        charger, _, action = entry.strip().partition(":")
        if charger == charge_point_id and action:
            found.add(action.strip())
    return found


class ConfigError(ValueError):
    """A setting in the file or the environment is unknown or has the wrong type."""


def _convert(raw: Any, kind: type, name: str) -> Any:
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lower() in ("1", "true", "yes", "on"):
            return True
        if isinstance(raw, str) and raw.strip().lower() in ("0", "false", "no", "off", ""):
            return False
        raise ConfigError(f"{name}: expected a boolean, got {raw!r}")
    try:
        return kind(raw)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name}: expected {kind.__name__}, got {raw!r}") from exc


def load_settings(path: str | Path | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Defaults, then the TOML file (if given and present), then the environment."""
    env = os.environ if environ is None else environ
    data: dict[str, Any] = {}
    if path is not None:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    settings = Settings()
    known_sections = {f.name for f in fields(settings)}
    for unknown in set(data) - known_sections:
        raise ConfigError(f"unknown section [{unknown}]")
    for section_field in fields(settings):
        section = getattr(settings, section_field.name)
        assert is_dataclass(section)
        hints = get_type_hints(type(section))
        file_values = data.get(section_field.name, {})
        for unknown in set(file_values) - set(hints):
            raise ConfigError(f"unknown setting {section_field.name}.{unknown}")
        for key, kind in hints.items():
            name = f"{section_field.name}.{key}"
            if key in file_values:
                setattr(section, key, _convert(file_values[key], kind, name))
            env_name = f"CSMS_{section_field.name}_{key}".upper()
            if env_name in env:
                setattr(section, key, _convert(env[env_name], kind, env_name))
    return settings


def reference(toml_text: str) -> str:
    """The README's configuration reference, in Markdown, from config.toml's comments: each
    section, then a row per key (keys that share one comment share a row)."""
    out: list[str] = []
    comment: list[str] = []
    rows: list[tuple[list[str], list[str], str]] = []
    section = ""

    def flush() -> None:
        if rows:
            out.extend(["", "| setting | default | environment | meaning |", "|---|---|---|---|"])
            for keys, defaults, meaning in rows:
                out.append("| " + " | ".join([
                    "<br>".join(f"`{section}.{k}`" for k in keys),
                    "<br>".join(f"`{d}`" for d in defaults),
                    "<br>".join(f"`CSMS_{section}_{k}`".upper() for k in keys),
                    meaning.replace("|", "\\|")]) + " |")
            rows.clear()

    for line in toml_text.splitlines():
        text = line.strip()
        if text.startswith("[") and text.endswith("]"):
            flush()
            section = text[1:-1]
            out.extend(["", f"**[{section}]**"])
            comment = []
        elif text.startswith("#"):
            comment.append(text.lstrip("#").strip())
        elif "=" in text:
            key, default = (part.strip() for part in text.split("=", 1))
            if comment or not rows:
                rows.append(([key], [default], " ".join(comment)))
            else:  # no comment of its own: it goes with the key above
                rows[-1][0].append(key)
                rows[-1][1].append(default)
            comment = []
        elif not text and comment and section and not rows:
            out.extend(["", " ".join(comment)])  # a section's introduction
            comment = []
    flush()
    return "\n".join(out).strip() + "\n"
