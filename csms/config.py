"""Settings: config.toml with defaults, overridden by CSMS_<SECTION>_<KEY> environment variables."""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Annotated, Any, get_args, get_type_hints
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# Constraints on single settings, declared on the fields below (Annotated[type, constraint, …]).


@dataclass(frozen=True)
class OneOf:
    """One of a few spellings; any case is taken and stored as written here (the protocol's)."""
    values: tuple[str, ...]

    def check(self, value: Any, section: Any) -> Any:
        for allowed in self.values:
            if value.lower() == allowed.lower():
                return allowed
        raise ValueError("expected one of " + ", ".join(self.values))


@dataclass(frozen=True)
class Between:
    """A number within bounds; `at_least_field` names a sibling setting it may not go below."""
    low: float | None = None
    high: float | None = None
    above: float | None = None
    at_least_field: str = ""

    def check(self, value: Any, section: Any) -> Any:
        if self.low is not None and value < self.low:
            raise ValueError(f"expected at least {self.low:g}")
        if self.at_least_field and value < getattr(section, self.at_least_field):
            raise ValueError(f"expected at least {self.at_least_field} "
                             f"({getattr(section, self.at_least_field):g})")
        if self.above is not None and value <= self.above:
            raise ValueError(f"expected more than {self.above:g}")
        if self.high is not None and value > self.high:
            raise ValueError(f"expected at most {self.high:g}")
        return value


@dataclass(frozen=True)
class TimeZone:
    """An IANA time zone name (Europe/Berlin)."""

    def check(self, value: Any, section: Any) -> Any:
        try:
            ZoneInfo(value)
        except (ValueError, ZoneInfoNotFoundError):
            raise ValueError("expected an IANA time zone name, e.g. Europe/Berlin") from None
        return value


@dataclass(frozen=True)
class Url:
    """Empty, or a URL of one of these schemes, with a host unless the scheme lets it go without
    (libpq's: `postgresql:///csms?host=/run/postgresql`, a unix socket, as the embedded one's)."""
    schemes: tuple[str, ...]
    host_required: bool = True

    def check(self, value: Any, section: Any) -> Any:
        if value:
            parts = urlsplit(value)
            if parts.scheme not in self.schemes or (self.host_required and not parts.hostname):
                raise ValueError(f"expected a {'/'.join(self.schemes)} URL")
            try:
                parts.port  # noqa: B018 (raises on a port that is not a number or out of range)
            except ValueError as exc:
                raise ValueError(f"bad port in URL: {exc}") from None
        return value


@dataclass(frozen=True)
class Matches:
    """Text of a fixed form (a regular expression), described for the error line."""
    pattern: str
    described: str

    def check(self, value: Any, section: Any) -> Any:
        if not re.fullmatch(self.pattern, value):
            raise ValueError(f"expected {self.described}")
        return value


@dataclass(frozen=True)
class FilePath:
    """A path; relative ones resolve against the config file's folder (or the current one)."""

    def check(self, value: Any, section: Any) -> Any:
        return value


@dataclass(frozen=True)
class Networks:
    """Comma-separated IP addresses or networks (10.0.0.5, 10.1.0.0/16, ::1)."""

    def check(self, value: Any, section: Any) -> Any:
        for part in value.split(","):
            if part.strip():
                try:
                    ipaddress.ip_network(part.strip(), strict=False)
                except ValueError:
                    raise ValueError(f"{part.strip()!r} is not an IP address or network") from None
        return value


PORT = Between(0, 65535)  # 0: any free port
POSITIVE = Between(above=0)
NOT_NEGATIVE = Between(0)
PATH = FilePath()


@dataclass
class DatabaseSettings:
    url: Annotated[str, Url(("postgresql", "postgres"), host_required=False)] = ""
    data_dir: Annotated[str, PATH] = "var/pgdata"
    pool_min_size: Annotated[int, Between(1)] = 2
    pool_max_size: Annotated[int, Between(at_least_field="pool_min_size")] = 10


# OCPP 2.0.1 OCPPInterfaceEnumType: what a charger connects through.
NETWORK_INTERFACES = tuple(f"{kind}{n}" for kind in ("Wired", "Wireless") for n in range(4))


@dataclass
class OcppSettings:
    host: str = "0.0.0.0"
    port: Annotated[int, PORT] = 9000
    path: Annotated[str, Matches(r"/\S*", "a path starting with /")] = "/ocpp"
    accept_unknown_charge_points: bool = False
    boot_status: Annotated[str, OneOf(("Accepted", "Pending", "Rejected"))] = "Accepted"
    heartbeat_interval: Annotated[int, Between(1)] = 300
    meter_value_interval: Annotated[int, NOT_NEGATIVE] = 900
    call_timeout: Annotated[float, POSITIVE] = 30.0
    remote_start_window: Annotated[float, POSITIVE] = 120.0
    max_message_size: Annotated[int, Between(1024)] = 65536
    compression: bool = False
    tls_cert: Annotated[str, PATH] = ""
    tls_key: Annotated[str, PATH] = ""
    tls_client_ca: Annotated[str, PATH] = ""
    handshake_timeout: Annotated[float, NOT_NEGATIVE] = 30.0
    ping_interval: Annotated[float, NOT_NEGATIVE] = 60.0
    ping_timeout: Annotated[float, NOT_NEGATIVE] = 30.0
    max_messages_per_second: Annotated[float, NOT_NEGATIVE] = 20.0
    max_connections_per_ip: Annotated[int, NOT_NEGATIVE] = 1000
    max_pending_password_checks: Annotated[int, Between(1)] = 128
    auth_failures_per_charger: Annotated[int, NOT_NEGATIVE] = 5
    auth_failures_per_address: Annotated[int, NOT_NEGATIVE] = 50
    allow_unauthenticated: bool = False
    lenient_validation: str = ""
    local_lists: bool = True
    local_list_retry: Annotated[float, POSITIVE] = 60.0
    cost_updated_interval: Annotated[float, NOT_NEGATIVE] = 60.0
    known_vendors: str = ""
    tls_port: Annotated[int, PORT] = 0
    tls_second_cert: Annotated[str, PATH] = ""
    tls_second_key: Annotated[str, PATH] = ""
    ca_cert: Annotated[str, PATH] = ""
    ca_key: Annotated[str, PATH] = ""
    cpo_name: str = ""
    certificate_days: Annotated[int, Between(1)] = 365
    sign_v2g_certificates: bool = False
    public_tls_url: Annotated[str, Url(("wss",))] = ""
    network_interface: Annotated[str, OneOf(NETWORK_INTERFACES)] = "Wired0"


@dataclass
class ApiSettings:
    host: str = "127.0.0.1"  # a public bind needs a real token (csms/security/exposure.py)
    port: Annotated[int, PORT] = 8080
    token: str = "change-me"
    login_attempts: Annotated[int, Between(1)] = 5
    trusted_proxies: Annotated[str, Networks()] = ""
    session_lifetime: Annotated[float, POSITIVE] = 28800.0
    session_idle: Annotated[float, NOT_NEGATIVE] = 3600.0


@dataclass
class OicpSettings:
    enabled: bool = False
    base_url: Annotated[str, Url(("http", "https"))] = "https://service-qa.hubject.com/api/oicp"
    # OICP 2.3 OperatorIDType
    operator_id: Annotated[str, Matches(r"[A-Za-z]{2}\*?[A-Za-z0-9]{3}|\+?[0-9]{1,3}\*[0-9]{3}",
                                        "an OICP operator id, e.g. DE*ABC")] = "DE*ABC"
    operator_name: str = ""
    client_cert: Annotated[str, PATH] = ""
    client_key: Annotated[str, PATH] = ""
    ca_file: Annotated[str, PATH] = ""
    allow_plain_http: bool = False
    listen_host: str = "0.0.0.0"
    listen_port: Annotated[int, PORT] = 9443
    server_cert: Annotated[str, PATH] = ""
    server_key: Annotated[str, PATH] = ""
    client_ca: Annotated[str, PATH] = ""
    time_zone: Annotated[str, TimeZone()] = "UTC"
    progress_interval: Annotated[float, NOT_NEGATIVE] = 300.0
    reservation_minutes: Annotated[int, Between(1)] = 15
    full_load_interval: Annotated[float, NOT_NEGATIVE] = 86400.0
    authorize_timeout: Annotated[float, POSITIVE] = 8.0
    authorize_reuse_window: Annotated[float, NOT_NEGATIVE] = 300.0
    authorization_cache_ttl: Annotated[float, NOT_NEGATIVE] = 86400.0
    request_timeout: Annotated[float, POSITIVE] = 10.0
    retry_base_delay: Annotated[float, POSITIVE] = 1.0
    retry_max_delay: Annotated[float, Between(at_least_field="retry_base_delay")] = 300.0


@dataclass
class OcpiSettings:
    enabled: bool = False
    country_code: Annotated[str, Matches("[A-Z]{2}", "an ISO 3166-1 alpha-2 code, e.g. DE")] = "DE"
    party_id: Annotated[str, Matches("[A-Z0-9]{3}", "3 capital letters or digits, e.g. ABC")] = "ABC"
    business_name: str = ""
    listen_host: str = "0.0.0.0"
    listen_port: Annotated[int, PORT] = 9444
    public_url: Annotated[str, Url(("http", "https"))] = "http://localhost:9444"
    currency: Annotated[str, Matches("[A-Z]{3}", "an ISO 4217 code, e.g. EUR")] = "EUR"
    request_timeout: Annotated[float, POSITIVE] = 10.0
    retry_base_delay: Annotated[float, POSITIVE] = 1.0
    retry_max_delay: Annotated[float, Between(at_least_field="retry_base_delay")] = 300.0
    allow_private_addresses: bool = False
    response_url_hosts: str = ""
    # An eMSP's charging profile: a lower period applies this many seconds before it begins.
    profile_lead: Annotated[float, POSITIVE] = 60.0
    # Seconds between incremental pulls of each eMSP's token list (bridge/ocpi/token_pull.py).
    token_pull_interval: Annotated[float, POSITIVE] = 3600.0


@dataclass
class ClusterSettings:
    node_id: str = ""
    lease: Annotated[float, POSITIVE] = 15.0


@dataclass
class EnergySettings:
    """The site load manager (csms/domain/energy/load_manager.py)."""
    interval: Annotated[float, POSITIVE] = 3.0  # seconds between re-evaluations of a site
    # A site's lease among nodes, renewed every interval: at least that long.
    lease: Annotated[float, Between(above=0, at_least_field="interval")] = 15.0
    draw_change_amps: Annotated[float, POSITIVE] = 2.0  # a draw change that re-allocates at once
    draw_max_age: Annotated[float, POSITIVE] = 300.0  # older measured draws are not used
    margin: Annotated[float, Between(0)] = 2.0  # A above its draw a session keeps to ramp up


@dataclass
class JobSettings:
    max_concurrent: Annotated[int, Between(1)] = 10
    offline_policy: Annotated[str, OneOf(("wait", "fail"))] = "wait"
    job_timeout: Annotated[float, POSITIVE] = 7200.0
    scheduler_interval: Annotated[float, POSITIVE] = 5.0


@dataclass
class ProcessSettings:
    """How the process runs (csms/runtime.py)."""
    event_loop: Annotated[str, OneOf(("asyncio", "uvloop"))] = "asyncio"
    stall_warning: Annotated[float, NOT_NEGATIVE] = 0.25


@dataclass
class LogSettings:
    level: Annotated[str, OneOf(("debug", "info", "warning", "error"))] = "info"
    format: Annotated[str, OneOf(("auto", "console", "json"))] = "auto"


@dataclass
class Settings:
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    ocpp: OcppSettings = field(default_factory=OcppSettings)
    api: ApiSettings = field(default_factory=ApiSettings)
    oicp: OicpSettings = field(default_factory=OicpSettings)
    ocpi: OcpiSettings = field(default_factory=OcpiSettings)
    cluster: ClusterSettings = field(default_factory=ClusterSettings)
    log: LogSettings = field(default_factory=LogSettings)
    jobs: JobSettings = field(default_factory=JobSettings)
    energy: EnergySettings = field(default_factory=EnergySettings)
    process: ProcessSettings = field(default_factory=ProcessSettings)


def lenient_actions(settings: OcppSettings, charge_point_id: str) -> set[str]:
    """The actions whose schema validation is skipped for one charger ("CP1:MeterValues, …")."""
    found = set()
    for entry in settings.lenient_validation.split(","):
        charger, _, action = entry.strip().partition(":")
        if charger == charge_point_id and action:
            found.add(action.strip())
    return found


def known_vendors(settings: OcppSettings) -> frozenset[str]:
    """The DataTransfer vendorIds we answer (comma-separated); any other gets UnknownVendorId."""
    return frozenset(v.strip() for v in settings.known_vendors.split(",") if v.strip())


class ConfigError(ValueError):
    """A setting in the file or the environment is unknown or has the wrong type."""


# CSMS_* variables that are not settings: the config file's name, and the test suite's own.
NOT_SETTINGS = frozenset({"CSMS_CONFIG", "CSMS_TEST_DATABASE_URL", "CSMS_CHROMIUM",
                          "CSMS_CONSOLE_SCREENSHOTS", "CSMS_FUZZ_SCALE"})


def _convert(raw: Any, kind: type, name: str) -> Any:
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lower() in ("1", "true", "yes", "on"):
            return True
        if isinstance(raw, str) and raw.strip().lower() in ("0", "false", "no", "off", ""):
            return False
        raise ConfigError(f"{name}: expected a boolean, got {raw!r}")
    if kind is str and not isinstance(raw, str):
        raise ConfigError(f"{name}: expected a string, got {raw!r}")
    try:
        return kind(raw)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name}: expected {kind.__name__}, got {raw!r}") from exc


def _unknown(what: str, name: str, known: Iterable[str]) -> ConfigError:
    """'unknown setting X (did you mean Y?)', Y the closest known name if any is close."""
    close = difflib.get_close_matches(name, list(known), n=1)
    return ConfigError(f"unknown {what} {name}" + (f" (did you mean {close[0]}?)" if close else ""))


def _read(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:  # its message names line and column
        raise ConfigError(f"{path}: malformed TOML: {exc}") from None


def masked(value: Any) -> Any:
    """A URL's password replaced by ***, so that an error line does not show it."""
    if isinstance(value, str) and "@" in value:
        parts = urlsplit(value)
        if parts.password:
            return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)
                                  ).geturl()
    return value


def load_settings(path: str | Path | None = None, environ: Mapping[str, str] | None = None,
                  ) -> Settings:
    """Defaults, then the TOML file (if given), then the environment; every value checked.
    Relative paths resolve against the file's folder (without a file, and from the
    environment, against the current one)."""
    env = os.environ if environ is None else environ
    data = _read(Path(path)) if path is not None else {}
    base = Path(path).resolve().parent if path is not None else Path.cwd()
    settings = Settings()
    sections = {f.name: getattr(settings, f.name) for f in fields(settings)}
    for unknown in sorted(set(data) - set(sections)):
        raise _unknown("section", f"[{unknown}]", (f"[{name}]" for name in sections))
    env_names: set[str] = set()
    given_as: dict[tuple[str, str], str] = {}  # where each value came from, for the error line
    for section_name, section in sections.items():
        hints = get_type_hints(type(section), include_extras=True)
        file_values = data[section_name] if isinstance(data.get(section_name), dict) else {}
        for unknown in sorted(set(file_values) - set(hints)):
            raise _unknown("setting", f"{section_name}.{unknown}",
                           (f"{section_name}.{key}" for key in hints))
        for key, hint in hints.items():
            kind, *constraints = get_args(hint) or (hint,)
            env_name = f"CSMS_{section_name}_{key}".upper()
            env_names.add(env_name)
            name, raw, folder = f"{section_name}.{key}", getattr(section, key), base
            if key in file_values:
                raw = file_values[key]
            if env_name in env:
                name, raw, folder = env_name, env[env_name], Path.cwd()
            value = _convert(raw, kind, name)
            if PATH in constraints and value:
                value = str(folder / value)  # an absolute value stays as it is
            setattr(section, key, value)
            given_as[section_name, key] = name
    for unknown in sorted(name for name in env if name.upper().startswith("CSMS_")
                          and name not in env_names and name not in NOT_SETTINGS):
        raise _unknown("environment variable", unknown, [*env_names, *NOT_SETTINGS])
    for section_name, section in sections.items():  # after loading: some compare siblings
        for key, hint in get_type_hints(type(section), include_extras=True).items():
            for constraint in get_args(hint)[1:]:
                try:
                    setattr(section, key, constraint.check(getattr(section, key), section))
                except ValueError as exc:
                    raise ConfigError(f"{given_as[section_name, key]} = "
                                      f"{masked(getattr(section, key))!r}: {exc}") from None
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
