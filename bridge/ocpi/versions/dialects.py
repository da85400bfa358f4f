"""What differs between the OCPI versions we speak (2.2.1, 2.1.1), and which one a partner speaks."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bridge.ocpi.handshake.objects import credentials_221, read_credentials_221
from bridge.ocpi.v211.commands import command_221, response_211
from bridge.ocpi.v211.credentials import credentials_211, read_credentials_211
from bridge.ocpi.v211.tokens import patch_221, token_211, token_221
from bridge.ocpi.versions.forms import Forms, Forms211, Forms221

if TYPE_CHECKING:
    from bridge.ocpi.handshake.partners import Partner

Credentials = Callable[[str, str, str, str, str], dict[str, Any]]
ReadCredentials = Callable[[Any], tuple[str, str, list[dict[str, Any]]]]
# A command object as received → the 2.2.1 form we carry out (command, body, sender's party).
CommandIn = Callable[[str, dict[str, Any], str, str], dict[str, Any]]
Answer = Callable[[dict[str, Any]], dict[str, Any]]


def _same_command(command: str, body: dict[str, Any], country_code: str,
                  party_id: str) -> dict[str, Any]:
    return body


def _same(answer: dict[str, Any]) -> dict[str, Any]:
    return answer


def _same_token(body: Any, country_code: str, party_id: str) -> Any:
    return body


def _same_patch(patch: Any, now: str) -> Any:
    return patch


@dataclass(frozen=True)
class Dialect:
    version: str
    # What we serve in this version, as (identifier, our role).
    modules: tuple[tuple[str, str], ...]
    # Do version details name each endpoint's role (2.2.1), or only its module (2.1.1)?
    endpoint_roles: bool
    # Routing headers (OCPI-from/to-*) on functional modules: 2.2.1 only (transport 4.1).
    routing_headers: bool
    # The Authorization token's encoding: base64 from 2.2.1 on; 2.1.1's is the token as is.
    # None: the partner's own setting (`--plain`), as some 2.2.1 peers still want it unencoded.
    token_format: str | None
    # The commands an eMSP may send us in this version (mod_commands CommandType).
    commands: frozenset[str]
    credentials: Credentials
    read_credentials: ReadCredentials
    # Commands in: as 2.2.1 carries them out; answers out: a 2.2.1 CommandResponse or
    # CommandResult in this version's form.
    command_in: CommandIn
    command_answer: Answer
    # Tokens pushed to us → the 2.2.1 Token our store keeps (body, its URL's country and party);
    # a PATCH likewise (patch, now); and a stored token as this version shows it.
    token_in: Callable[[Any, str, str], Any]
    token_patch_in: Callable[[Any, str], Any]
    token_out: Answer
    forms: Forms  # our Locations, Tariffs, Sessions and CDRs in this version
    # Does an eMSP's AuthorizationInfo name the token it allows (2.2.1), or not (2.1.1
    # mod_tokens 3.1: allowed, location, info only)?
    authorization_names_token: bool = True
    # Credit CDRs (credit, credit_reference_id) came with 2.2 (2.1.1 mod_cdrs has neither).
    credit_cdrs: bool = True
    # 2.1.1 endpoints name no role: the role an eMSP's module plays towards us, a CPO.
    their_roles: dict[str, str] = field(default_factory=dict)

    def prefix(self) -> str:
        return f"/ocpi/{self.version}"

    def header_format(self, partner_format: str) -> str:
        return self.token_format or partner_format

    def endpoints(self, found: Iterable[Any]) -> list[dict[str, Any]]:
        """A partner's version details endpoints as we keep them: each with its role (a 2.1.1
        module's role is the one an eMSP's plays; one we do not know of keeps none)."""
        kept = [dict(e) for e in found if isinstance(e, dict)]
        if not self.endpoint_roles:
            for endpoint in kept:
                role = self.their_roles.get(str(endpoint.get("identifier")))
                if role is not None:
                    endpoint["role"] = role
        return kept


V221 = Dialect(
    version="2.2.1",
    modules=(("credentials", "SENDER"), ("credentials", "RECEIVER"), ("locations", "SENDER"),
             ("sessions", "SENDER"), ("cdrs", "SENDER"), ("tariffs", "SENDER"),
             ("tokens", "RECEIVER"), ("commands", "RECEIVER"), ("chargingprofiles", "RECEIVER"),
             ("hubclientinfo", "RECEIVER")),
    endpoint_roles=True, routing_headers=True, token_format=None,
    commands=frozenset({"START_SESSION", "STOP_SESSION", "RESERVE_NOW", "CANCEL_RESERVATION",
                        "UNLOCK_CONNECTOR"}),
    credentials=credentials_221, read_credentials=read_credentials_221,
    command_in=_same_command, command_answer=_same,
    token_in=_same_token, token_patch_in=_same_patch, token_out=_same, forms=Forms221())

V211 = Dialect(
    version="2.1.1",
    # No charging profiles in 2.1.1 (the module came with 2.2); credentials serve both ways.
    modules=(("credentials", "RECEIVER"), ("locations", "SENDER"), ("sessions", "SENDER"),
             ("cdrs", "SENDER"), ("tariffs", "SENDER"), ("tokens", "RECEIVER"),
             ("commands", "RECEIVER")),
    endpoint_roles=False, routing_headers=False, token_format="plain",
    # mod_commands 4.2: no CANCEL_RESERVATION before 2.2.
    commands=frozenset({"START_SESSION", "STOP_SESSION", "RESERVE_NOW", "UNLOCK_CONNECTOR"}),
    credentials=credentials_211, read_credentials=read_credentials_211,
    command_in=command_221, command_answer=response_211,
    token_in=token_221, token_patch_in=patch_221, token_out=token_211, forms=Forms211(),
    credit_cdrs=False,
    authorization_names_token=False,
    # An eMSP's 2.1.1 interfaces: it receives Locations, Sessions, CDRs and Tariffs, gives
    # Tokens (and answers authorize requests), and receives command results (at response_url).
    their_roles={"credentials": "RECEIVER", "locations": "RECEIVER", "sessions": "RECEIVER",
                 "cdrs": "RECEIVER", "tariffs": "RECEIVER", "tokens": "SENDER",
                 "commands": "RECEIVER"})

DIALECTS = (V221, V211)  # newest first: the order of preference
VERSIONS = tuple(d.version for d in DIALECTS)


class UnknownVersion(ValueError):
    """A version we do not speak."""


def by_version(version: str | None) -> Dialect:
    if version is None:
        return V221
    for dialect in DIALECTS:
        if dialect.version == version:
            return dialect
    raise UnknownVersion(f"OCPI {version} is not one we speak ({', '.join(VERSIONS)})")


def of(partner: Partner) -> Dialect:
    """The dialect a partner registered with (a partner not yet registered: the newest)."""
    return by_version(partner.version)


def newest_common(theirs: Iterable[str]) -> Dialect | None:
    """Version negotiation (version_information_endpoint): the newest version both speak."""
    offered = set(theirs)
    return next((d for d in DIALECTS if d.version in offered), None)
