"""What an internet-facing deployment must not relax: one table, read at start and by `csms check-config`."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

import structlog

from csms.config import ConfigError, Settings
from csms.security.clients import networks

log = structlog.get_logger(__name__)

SHIPPED_TOKEN = "change-me"
# An admin token guards everything; on a public bind it is guessed online. 16 characters is the
# floor (`openssl rand -hex 8`, 64 bits); a word a person picks is shorter or in a dictionary.
MIN_PUBLIC_TOKEN_LENGTH = 16


class Severity(StrEnum):
    REFUSE = "refuse"  # the process refuses to start
    WARN = "warn"  # a relaxation: start logs a WARNING


def loopback(host: str) -> bool:
    """Only this machine reaches it. An empty host is every interface; a name other than
    localhost may resolve anywhere."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def public(host: str) -> bool:
    return not loopback(host)


def plain_http_elsewhere(url: str) -> bool:
    """An http:// URL to another machine: what goes over it goes in clear."""
    parts = urlsplit(url)
    return parts.scheme == "http" and not loopback(parts.hostname or "")


@dataclass(frozen=True)
class Check:
    """One rule: `problem` and `remedy` may name settings' values as {s.section.key}."""
    setting: str
    severity: Severity
    violated: Callable[[Settings], bool]
    problem: str
    remedy: str


@dataclass(frozen=True)
class Violation:
    setting: str
    severity: Severity
    problem: str
    remedy: str

    def line(self) -> str:
        return f"{self.severity}: {self.setting}: {self.problem}; {self.remedy}"


REFUSE, WARN = Severity.REFUSE, Severity.WARN
_TOKEN_FIX = ('set api.token to a random secret (openssl rand -hex 32), or bind the API to loopback '
              '(api.host = "127.0.0.1") behind a proxy of your own')

# One entry per rule; adding a rule is adding an entry.
CHECKS: tuple[Check, ...] = (
    Check("api.token", REFUSE,
          lambda s: public(s.api.host) and s.api.token.strip() in ("", SHIPPED_TOKEN),
          "the shipped or an empty admin token on a public bind (api.host {s.api.host!r})", _TOKEN_FIX),
    Check("api.token", REFUSE,
          lambda s: (public(s.api.host) and s.api.token.strip() not in ("", SHIPPED_TOKEN)
                     and len(s.api.token) < MIN_PUBLIC_TOKEN_LENGTH),
          f"an admin token shorter than {MIN_PUBLIC_TOKEN_LENGTH} characters on a public bind "
          "(api.host {s.api.host!r})", _TOKEN_FIX),
    Check("api.trusted_proxies", WARN,
          lambda s: any(n.prefixlen == 0 for n in networks(s.api.trusted_proxies)),
          "api.trusted_proxies trusts every address: any client can name the address the login "
          "throttle counts (X-Forwarded-For)",
          "name only your reverse proxies' addresses"),
    Check("oicp.client_ca", REFUSE,
          lambda s: s.oicp.enabled and bool(s.oicp.server_cert) and not s.oicp.client_ca,
          "OICP server TLS without a client CA: anyone reaching oicp.listen_port could start sessions",
          "set oicp.client_ca to the CA that signs Hubject's client certificates (mutual TLS is how "
          "Hubject authenticates)"),
    Check("oicp.server_cert", REFUSE,
          lambda s: s.oicp.enabled and not s.oicp.server_cert and not s.oicp.allow_plain_http,
          "OICP enabled without a server certificate",
          "set oicp.server_cert, oicp.server_key and oicp.client_ca"),
    Check("oicp.allow_plain_http", WARN,
          lambda s: s.oicp.enabled and s.oicp.allow_plain_http and public(s.oicp.listen_host),
          "OICP may be served in plain HTTP, without client certificates, on a public bind "
          "(oicp.listen_host {s.oicp.listen_host!r})",
          "turn it off and set oicp.server_cert, oicp.server_key and oicp.client_ca (local runs only)"),
    Check("oicp.base_url", WARN,
          lambda s: s.oicp.enabled and s.oicp.allow_plain_http and plain_http_elsewhere(s.oicp.base_url),
          "requests to Hubject go in plain HTTP ({s.oicp.base_url})",
          "use Hubject's https URL and turn oicp.allow_plain_http off"),
    Check("ocpp.tls_cert", WARN,
          lambda s: public(s.ocpp.host) and not s.ocpp.tls_cert,
          "OCPP without TLS on a public bind (ocpp.host {s.ocpp.host!r}): chargers' Basic auth "
          "passwords travel in clear",
          "set ocpp.tls_cert and ocpp.tls_key (security profiles 2 and 3), or bind to loopback "
          "behind a TLS-terminating proxy"),
    Check("ocpp.tls_port", WARN, lambda s: bool(s.ocpp.tls_port) and bool(s.ocpp.tls_cert),
          "the OCPP port stays plain beside the TLS port (ocpp.tls_port {s.ocpp.tls_port}): profile "
          "0 and 1 chargers' Basic auth passwords cross the network unencrypted",
          "set ocpp.tls_port = 0 so that the one OCPP port is TLS"),
    Check("ocpp.tls_port", WARN, lambda s: bool(s.ocpp.tls_port) and not s.ocpp.tls_cert,
          "ocpp.tls_port is set but ocpp.tls_cert is not: no TLS port is opened",
          "set ocpp.tls_cert and ocpp.tls_key, or ocpp.tls_port = 0"),
    Check("ocpp.accept_unknown_charge_points", WARN, lambda s: s.ocpp.accept_unknown_charge_points,
          "any charger id may connect, registered or not",
          "turn it off and register chargers with `csms charge-points add`"),
    Check("ocpp.lenient_validation", WARN, lambda s: bool(s.ocpp.lenient_validation.strip()),
          "schema validation is skipped for some chargers' actions ({s.ocpp.lenient_validation})",
          "empty it once those chargers' firmware is fixed"),
    Check("ocpp.max_messages_per_second", WARN, lambda s: s.ocpp.max_messages_per_second == 0,
          "no limit on the calls a charger may send",
          "set a limit (20 is the default)"),
    Check("ocpp.allow_unauthenticated", WARN, lambda s: s.ocpp.allow_unauthenticated,
          "chargers registered without a password connect without credentials: anyone can "
          "connect as them and push them off",
          "give every charger a password (`csms charge-points add --password`), or register the "
          "few that have none with --no-password"),
    Check("ocpp.auth_failures_per_charger", WARN,
          lambda s: not s.ocpp.auth_failures_per_charger or not s.ocpp.auth_failures_per_address,
          "wrong charger passwords are not throttled (ocpp.auth_failures_per_charger "
          "{s.ocpp.auth_failures_per_charger}, ocpp.auth_failures_per_address "
          "{s.ocpp.auth_failures_per_address}): unlimited guessing and password-check load",
          "set both above 0 (5 and 50 are the defaults)"),
    Check("ocpp.handshake_timeout", WARN, lambda s: s.ocpp.handshake_timeout == 0,
          "WebSocket upgrades never time out: half-open ones pile up",
          "set a timeout (30 s is the default)"),
    Check("ocpp.max_connections_per_ip", WARN, lambda s: s.ocpp.max_connections_per_ip == 0,
          "no limit on the connections from one address",
          "set a limit above your largest NAT's chargers (1000 is the default)"),
    Check("ocpi.public_url", WARN,
          lambda s: s.ocpi.enabled and plain_http_elsewhere(s.ocpi.public_url),
          "OCPI partners reach us in plain HTTP ({s.ocpi.public_url}): their tokens travel in clear",
          "put a TLS-terminating proxy in front and announce its https:// URL"),
    Check("ocpi.allow_private_addresses", WARN,
          lambda s: s.ocpi.enabled and s.ocpi.allow_private_addresses,
          "requests to OCPI partners may reach loopback and private addresses: a partner's URL "
          "(versions, response_url) can reach this network",
          "turn it off unless your partners are on a private network of yours"),
    Check("ocpi.response_url_hosts", WARN,
          lambda s: s.ocpi.enabled and bool(s.ocpi.response_url_hosts.strip()),
          "commands' results, with the partner's token, may be POSTed to hosts other than the "
          "partner's own ({s.ocpi.response_url_hosts})",
          "empty it unless a partner's results must go to a host of its own elsewhere"),
)


def violations(settings: Settings, checks: tuple[Check, ...] = CHECKS) -> list[Violation]:
    return [Violation(c.setting, c.severity, c.problem.format(s=settings), c.remedy.format(s=settings))
            for c in checks if c.violated(settings)]


def refuse_to_start(settings: Settings) -> None:
    """A ConfigError (one line) naming every refused setting."""
    refused = [v for v in violations(settings) if v.severity is REFUSE]
    if refused:
        raise ConfigError(" | ".join(f"{v.setting}: {v.problem}; {v.remedy}" for v in refused))


def warn_relaxations(settings: Settings) -> list[Violation]:
    """A WARNING per relaxation in force, as a process starts."""
    relaxed = [v for v in violations(settings) if v.severity is WARN]
    for v in relaxed:
        log.warning("security relaxed", setting=v.setting, problem=v.problem, remedy=v.remedy)
    return relaxed
