"""The OCPI credentials handshake, both ways: tokens A, B and C, registration, rotation, unregistering."""

from __future__ import annotations

from typing import Any

import asyncpg
import structlog

from bridge.ocpi.client import OcpiClient, OcpiError, UnsupportedVersion
from bridge.ocpi.handshake import partners
from bridge.ocpi.handshake.partners import Partner, Party, PartyError
from bridge.ocpi.transport import (
    CLIENT_API_UNUSABLE,
    INVALID_PARAMETERS,
    NO_MATCHING_ENDPOINTS,
    UNSUPPORTED_VERSION,
    VERSION,
    new_token,
)
from csms.config import OcpiSettings

log = structlog.get_logger(__name__)

# What we serve, as (identifier, our role in it).
MODULES = [("credentials", "SENDER"), ("credentials", "RECEIVER"), ("locations", "SENDER"),
           ("sessions", "SENDER"), ("cdrs", "SENDER"), ("tariffs", "SENDER"),
           ("tokens", "RECEIVER"), ("commands", "RECEIVER"), ("chargingprofiles", "RECEIVER"),
           ("hubclientinfo", "RECEIVER")]
PUSHED = ("locations", "tariffs")  # what a partner gets all of when it registers


class CredentialsError(Exception):
    def __init__(self, status_code: int, message: str, http_status: int = 200) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.http_status = http_status


def base_url(settings: OcpiSettings) -> str:
    return settings.public_url.rstrip("/") + "/ocpi"


def versions(settings: OcpiSettings) -> list[dict[str, str]]:
    return [{"version": VERSION, "url": f"{base_url(settings)}/{VERSION}"}]


def version_details(settings: OcpiSettings) -> dict[str, Any]:
    return {"version": VERSION, "endpoints": [
        {"identifier": identifier, "role": role, "url": f"{base_url(settings)}/{VERSION}/{identifier}"}
        for identifier, role in MODULES]}


def our_credentials(settings: OcpiSettings, token: str) -> dict[str, Any]:
    return {"token": token, "url": f"{base_url(settings)}/versions", "roles": [{
        "role": "CPO", "country_code": settings.country_code, "party_id": settings.party_id,
        "business_details": {"name": settings.business_name or settings.party_id},
    }]}


def read_credentials(body: Any) -> tuple[str, str, list[dict[str, Any]]]:
    """A partner's Credentials object → (token, versions url, roles); 2001 when unusable."""
    if not isinstance(body, dict):
        raise CredentialsError(INVALID_PARAMETERS, "body must be a Credentials object")
    token, url, roles = body.get("token"), body.get("url"), body.get("roles")
    if not isinstance(token, str) or not 0 < len(token) <= 64 or not token.isprintable() \
            or " " in token:
        raise CredentialsError(INVALID_PARAMETERS, "token must be 1 to 64 printable characters")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise CredentialsError(INVALID_PARAMETERS, "url must be the versions URL")
    if not isinstance(roles, list) or not roles or not all(
            isinstance(r, dict) and isinstance(r.get("country_code"), str)
            and isinstance(r.get("party_id"), str) and isinstance(r.get("role"), str)
            for r in roles):
        raise CredentialsError(INVALID_PARAMETERS, "roles must list role, country_code, party_id")
    return token, url, roles


def our_party(settings: OcpiSettings) -> Party:
    return Party(settings.country_code.upper(), settings.party_id.upper())


def check_roles(partner: Partner, roles: list[dict[str, Any]], ours: Party) -> None:
    """The roles of a partner's credentials claim only parties it is bound to, and never ours."""
    claimed = [f"{r['role']}:{r['country_code']}*{r['party_id']}" for r in roles if ours.covers(r)]
    if claimed:
        raise CredentialsError(INVALID_PARAMETERS, f"roles {', '.join(claimed)}: that party is ours",
                               http_status=400)
    unbound = partner.unbound(roles)
    if unbound:
        bound = ", ".join(str(p) for p in partner.parties) or "none"
        raise CredentialsError(INVALID_PARAMETERS, f"roles {', '.join(unbound)} are not among the "
                               f"parties bound to these credentials ({bound})", http_status=400)


def receivers_moved(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> bool:
    """Did the receivers we push Locations and Tariffs to come, go or move?"""
    def receivers(endpoints: list[dict[str, Any]]) -> set[tuple[Any, Any]]:
        return {(e.get("identifier"), e.get("url")) for e in endpoints if isinstance(e, dict)
                and e.get("role") == "RECEIVER" and e.get("identifier") in PUSHED}
    return receivers(before) != receivers(after)


def tokens_sender_moved(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> bool:
    """Did the Tokens Sender we pull token lists from come, go or move?"""
    def sender(endpoints: list[dict[str, Any]]) -> set[Any]:
        return {e.get("url") for e in endpoints if isinstance(e, dict)
                and e.get("identifier") == "tokens" and e.get("role") == "SENDER"}
    return sender(before) != sender(after)


class Registrar:
    def __init__(self, pool: asyncpg.Pool, client: OcpiClient, settings: OcpiSettings) -> None:
        self.pool = pool
        self.client = client
        self.settings = settings

    async def _their_endpoints(self, url: str, token: str,
                               token_format: str) -> tuple[str, list[dict[str, Any]]]:
        try:
            version, endpoints = await self.client.endpoints(url, token, token_format)
        except UnsupportedVersion as exc:
            raise CredentialsError(UNSUPPORTED_VERSION, str(exc)) from None
        except OcpiError as exc:
            raise CredentialsError(CLIENT_API_UNUSABLE, f"cannot use your API: {exc}") from None
        if not any(e.get("identifier") == "credentials" for e in endpoints if isinstance(e, dict)):
            raise CredentialsError(NO_MATCHING_ENDPOINTS, "no credentials endpoint offered")
        return version, endpoints

    async def accept(self, partner: Partner, body: Any, rotating: bool) -> dict[str, Any]:
        """Their POST (with Token A) or PUT: fetch their endpoints, hand out a new token."""
        token, url, roles = read_credentials(body)
        check_roles(partner, roles, our_party(self.settings))  # before any request to them
        version, endpoints = await self._their_endpoints(url, token, partner.token_format)
        ours = new_token()
        # A new partner gets every Location and Tariff; so does one whose receivers moved. Its
        # token list is pulled in full, as again when its Tokens Sender moved.
        await partners.registered(self.pool, partner.id, their_token=token, our_token=ours,
                                  versions_url=url, version=version, endpoints=endpoints,
                                  roles=roles, full_push=not rotating or receivers_moved(
                                      partner.endpoints, endpoints),
                                  full_pull=not rotating or tokens_sender_moved(
                                      partner.endpoints, endpoints))
        log.info("ocpi credentials rotated" if rotating else "ocpi partner registered",
                 partner=partner.id, roles=[f"{r['country_code']}*{r['party_id']}" for r in roles])
        return our_credentials(self.settings, ours)

    async def register_with(self, versions_url: str, token_a: str, name: str = "",
                            token_format: str = "base64", *, parties: list[Party]) -> Partner:
        """We register with a partner that gave us its Token A, for the parties the operator
        confirmed: the roles its credentials answer claims must be among them."""
        if not parties:
            raise PartyError("name the partner's parties (--party COUNTRY*PARTY)")
        version, endpoints = await self._their_endpoints(versions_url, token_a, token_format)
        credentials_url = next(str(e["url"]) for e in endpoints if e.get("identifier") == "credentials")
        ours = new_token()
        # Our token is valid before we send it: the partner may call us back before answering.
        partner_id = await partners.start_registration(self.pool, name, versions_url, token_a, ours,
                                                       token_format, parties,
                                                       our_party(self.settings))
        try:
            answer = await self.client.call("POST", credentials_url, token_a, token_format,
                                            our_credentials(self.settings, ours))
            token, url, roles = read_credentials(answer)
            pending = await partners.get(self.pool, partner_id)
            assert pending is not None
            check_roles(pending, roles, our_party(self.settings))
            version, endpoints = await self._their_endpoints(url, token, token_format)
        except (OcpiError, CredentialsError):
            await partners.forget(self.pool, partner_id)
            raise
        partner = await partners.registered(
            self.pool, partner_id, their_token=token, our_token=None, versions_url=url,
            version=version, endpoints=endpoints, roles=roles, full_push=True, full_pull=True)
        log.info("registered with ocpi partner", partner=partner_id, url=versions_url)
        return partner

    async def unregister_with(self, partner: Partner) -> None:
        """We end it: DELETE on their credentials, then forget their token."""
        url = partner.endpoint("credentials", "SENDER") or next(
            (str(e["url"]) for e in partner.endpoints if e.get("identifier") == "credentials"), None)
        if url and partner.their_token:
            try:
                await self.client.call("DELETE", url, partner.their_token, partner.token_format)
            except OcpiError as exc:
                log.warning("partner did not take the unregistration", partner=partner.id,
                            error=str(exc))
        await partners.unregister(self.pool, partner.id)
