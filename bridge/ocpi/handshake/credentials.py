"""The OCPI credentials handshake, both ways: tokens A, B and C, registration, rotation, unregistering."""

from __future__ import annotations

from typing import Any

import asyncpg
import structlog

from bridge import outbox
from bridge.ocpi.client import OcpiClient, OcpiError, UnsupportedVersion
from bridge.ocpi.handshake import partners
from bridge.ocpi.handshake.objects import CredentialsError
from bridge.ocpi.handshake.partners import Partner, Party, PartyError
from bridge.ocpi.transport import (
    CLIENT_API_UNUSABLE,
    INVALID_PARAMETERS,
    NO_MATCHING_ENDPOINTS,
    UNSUPPORTED_VERSION,
    new_token,
)
from bridge.ocpi.versions import dialects
from bridge.ocpi.versions.dialects import V221, Dialect
from csms.config import OcpiSettings

log = structlog.get_logger(__name__)

PUSHED = ("locations", "tariffs")  # what a partner gets all of when it registers
MODULES = list(V221.modules)  # what we serve in 2.2.1, as (identifier, our role in it)


def base_url(settings: OcpiSettings) -> str:
    return settings.public_url.rstrip("/") + "/ocpi"


def versions(settings: OcpiSettings) -> list[dict[str, str]]:
    """Every version we speak, newest first: the partner picks (or we do, registering with it)."""
    return [{"version": d.version, "url": f"{base_url(settings)}/{d.version}"}
            for d in dialects.DIALECTS]


def version_details(settings: OcpiSettings, dialect: Dialect = V221) -> dict[str, Any]:
    url = f"{base_url(settings)}/{dialect.version}"
    if not dialect.endpoint_roles:  # 2.1.1 Endpoint: identifier and url only
        modules = dict.fromkeys(identifier for identifier, _ in dialect.modules)
        return {"version": dialect.version, "endpoints": [
            {"identifier": identifier, "url": f"{url}/{identifier}"} for identifier in modules]}
    return {"version": dialect.version, "endpoints": [
        {"identifier": identifier, "role": role, "url": f"{url}/{identifier}"}
        for identifier, role in dialect.modules]}


def our_credentials(settings: OcpiSettings, token: str,
                    dialect: Dialect = V221) -> dict[str, Any]:
    return dialect.credentials(token, f"{base_url(settings)}/versions", settings.country_code,
                               settings.party_id, settings.business_name or settings.party_id)


def read_credentials(body: Any, dialect: Dialect = V221) -> tuple[str, str, list[dict[str, Any]]]:
    """A partner's Credentials object → (token, versions url, roles); 2001 when unusable."""
    return dialect.read_credentials(body)


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

    async def _their_endpoints(self, url: str, token: str, token_format: str,
                               wanted: str | None = None) -> tuple[Dialect, list[dict[str, Any]]]:
        try:
            dialect, endpoints = await self.client.endpoints(url, token, token_format, wanted)
        except UnsupportedVersion as exc:
            raise CredentialsError(UNSUPPORTED_VERSION, str(exc)) from None
        except OcpiError as exc:
            raise CredentialsError(CLIENT_API_UNUSABLE, f"cannot use your API: {exc}") from None
        if not any(e.get("identifier") == "credentials" for e in endpoints if isinstance(e, dict)):
            raise CredentialsError(NO_MATCHING_ENDPOINTS, "no credentials endpoint offered")
        return dialect, endpoints

    async def accept(self, partner: Partner, body: Any, rotating: bool,
                     dialect: Dialect = V221) -> dict[str, Any]:
        """Their POST (with Token A) or PUT on the credentials of `dialect`'s version: fetch
        their endpoints of that version (the version a POST registers, a PUT switches to:
        credentials 1.2, 1.3 in 2.1.1 and 2.2.1), hand out a new token."""
        token, url, roles = read_credentials(body, dialect)
        check_roles(partner, roles, our_party(self.settings))  # before any request to them
        dialect, endpoints = await self._their_endpoints(
            url, token, dialect.header_format(partner.token_format), dialect.version)
        ours = new_token()
        switched = partner.version is not None and partner.version != dialect.version
        async with self.pool.acquire() as conn, conn.transaction():
            if switched:
                # Locations and Tariffs still queued are in the old version's form: the full
                # push that follows sends them all again in the new one.
                await outbox.discard_pending_paths(conn, partner.outbox_name,
                                                   tuple(f"{module}|" for module in PUSHED))
            # A new partner gets every Location and Tariff; so does one whose receivers moved,
            # or that changed version. Its token list is pulled in full, as again when
            # its Tokens Sender moved.
            await partners.registered(conn, partner.id, their_token=token, our_token=ours,
                                      versions_url=url, version=dialect.version,
                                      endpoints=endpoints, roles=roles,
                                      full_push=not rotating or switched or receivers_moved(
                                          partner.endpoints, endpoints),
                                      full_pull=not rotating or switched or tokens_sender_moved(
                                          partner.endpoints, endpoints))
        log.info("ocpi credentials rotated" if rotating else "ocpi partner registered",
                 partner=partner.id, version=dialect.version,
                 roles=[f"{r['country_code']}*{r['party_id']}" for r in roles])
        return our_credentials(self.settings, ours, dialect)

    async def register_with(self, versions_url: str, token_a: str, name: str = "",
                            token_format: str = "base64", *, parties: list[Party]) -> Partner:
        """We register with a partner that gave us its Token A, for the parties the operator
        confirmed: the roles its credentials answer claims must be among them."""
        if not parties:
            raise PartyError("name the partner's parties (--party COUNTRY*PARTY)")
        dialect, endpoints = await self._their_endpoints(versions_url, token_a, token_format)
        credentials_url = next(str(e["url"]) for e in endpoints if e.get("identifier") == "credentials")
        ours = new_token()
        # Our token is valid before we send it: the partner may call us back before answering.
        partner_id = await partners.start_registration(self.pool, name, versions_url, token_a, ours,
                                                       token_format, parties,
                                                       our_party(self.settings))
        try:
            answer = await self.client.call("POST", credentials_url, token_a,
                                            dialect.header_format(token_format),
                                            our_credentials(self.settings, ours, dialect))
            token, url, roles = read_credentials(answer, dialect)
            pending = await partners.get(self.pool, partner_id)
            assert pending is not None
            check_roles(pending, roles, our_party(self.settings))
            dialect, endpoints = await self._their_endpoints(
                url, token, dialect.header_format(token_format), dialect.version)
        except (OcpiError, CredentialsError):
            await partners.forget(self.pool, partner_id)
            raise
        partner = await partners.registered(
            self.pool, partner_id, their_token=token, our_token=None, versions_url=url,
            version=dialect.version, endpoints=endpoints, roles=roles, full_push=True,
            full_pull=True)
        log.info("registered with ocpi partner", partner=partner_id, url=versions_url,
                 version=dialect.version)
        return partner

    async def unregister_with(self, partner: Partner) -> None:
        """We end it: DELETE on their credentials, then forget their token."""
        url = partner.endpoint("credentials", "SENDER") or next(
            (str(e["url"]) for e in partner.endpoints if e.get("identifier") == "credentials"), None)
        if url and partner.their_token:
            try:
                await self.client.call("DELETE", url, partner.their_token,
                                       dialects.of(partner).header_format(partner.token_format))
            except OcpiError as exc:
                log.warning("partner did not take the unregistration", partner=partner.id,
                            error=str(exc))
        await partners.unregister(self.pool, partner.id)
