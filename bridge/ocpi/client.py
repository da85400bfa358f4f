"""HTTP to OCPI partners: tokens and correlation headers on the way out, envelopes on the way back."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import structlog
from aiohttp.abc import AbstractResolver

from bridge import egress
from bridge.ocpi.transport import (
    SUCCESS,
    UNKNOWN_LOCATION,
    authorization_header,
    hub_busy,
    routing_headers,
)
from bridge.ocpi.versions import dialects
from bridge.ocpi.versions.dialects import Dialect
from bridge.outbox import Delivery, Replacement, unanswered
from csms.config import OcpiSettings

log = structlog.get_logger(__name__)


class OcpiError(Exception):
    """A partner could not be used: unreachable, or an answer that is not a successful envelope."""


class OcpiClient:
    """Every request to a partner goes out here, to public addresses only (bridge/egress.py)
    unless ocpi.allow_private_addresses. `resolver` replaces the name service, its filter
    included (tests wrap egress.PublicResolver to give one name a stand-in's address); URLs
    naming an address are judged whatever the resolver."""

    def __init__(self, settings: OcpiSettings, resolver: AbstractResolver | None = None) -> None:
        self.settings = settings
        self._http: aiohttp.ClientSession | None = None
        self._names = resolver
        self._resolver: AbstractResolver | None = None

    async def start(self) -> None:
        if self.settings.allow_private_addresses:  # a relaxation: csms.security.exposure warns at start
            self._resolver = self._names or aiohttp.DefaultResolver()
            middlewares: tuple[Any, ...] = ()
        else:
            self._resolver = self._names or egress.PublicResolver(aiohttp.DefaultResolver())
            middlewares = (egress.public_only,)
        self._http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(resolver=self._resolver), middlewares=middlewares,
            timeout=aiohttp.ClientTimeout(total=self.settings.request_timeout))

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.close()
        if self._resolver is not None:
            await self._resolver.close()

    def routing(self, to: tuple[str, str] | None, open_route: bool = False) -> dict[str, str]:
        """Routing headers, for functional modules only (not versions, credentials or
        hubclientinfo): from us to `to`; with open_route and no `to`, from us only (an Open
        Routing Request: the hub finds the receiver, transport_and_format Message Routing)."""
        return routing_headers((self.settings.country_code, self.settings.party_id), to) \
            if to is not None or open_route else {}

    async def request(self, method: str, url: str, token: str, token_format: str,
                      body: Any = None, to: tuple[str, str] | None = None,
                      open_route: bool = False) -> tuple[int, Any]:
        assert self._http is not None, "client not started"
        request_id = str(uuid.uuid4())
        headers = {"Authorization": authorization_header(token, token_format),
                   "X-Request-ID": request_id, "X-Correlation-ID": request_id,
                   **self.routing(to, open_route)}
        async with self._http.request(method, url, json=body, headers=headers) as response:
            try:
                answer = await response.json(content_type=None)
            except ValueError:
                answer = None
            return response.status, answer

    async def call(self, method: str, url: str, token: str, token_format: str,
                   body: Any = None) -> Any:
        """A request whose answer must be a successful envelope; its data, or OcpiError."""
        try:
            status, answer = await self.request(method, url, token, token_format, body)
        except (aiohttp.ClientError, TimeoutError) as exc:
            # The details (refused, TLS, DNS) are for our log, not for whoever chose the URL.
            log.info("ocpi request unanswered", url=url, error=repr(exc))
            raise OcpiError(f"{url}: {unreachable(exc)}") from None
        if status != 200 or not isinstance(answer, dict) or answer.get("status_code") != SUCCESS:
            # In our words only: whoever chose the URL must learn nothing of what answered there.
            raise Refused(f"{url}: HTTP {status}, {not_success(answer)}", status)
        return answer.get("data")

    async def page(self, url: str, token: str, token_format: str,
                   to: tuple[str, str] | None = None) -> tuple[list[Any], dict[str, str]]:
        """One page of a partner's paged list (GET): its objects and the response headers,
        names in lower case (link, x-total-count, x-limit), or OcpiError. Redirects are not
        followed: the caller decides which pages it asks for (bridge/ocpi/token_pull.py)."""
        assert self._http is not None, "client not started"
        request_id = str(uuid.uuid4())
        headers = {"Authorization": authorization_header(token, token_format),
                   "X-Request-ID": request_id, "X-Correlation-ID": request_id, **self.routing(to)}
        try:
            async with self._http.get(url, headers=headers, allow_redirects=False) as response:
                try:
                    answer = await response.json(content_type=None)
                except ValueError:
                    answer = None
                # Header names are case-insensitive (RFC 9110): lowered; a repeated one, its first.
                status = response.status
                got: dict[str, str] = {}
                for name, value in response.headers.items():
                    got.setdefault(name.lower(), value)
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.info("ocpi request unanswered", url=url, error=repr(exc))
            raise OcpiError(f"{url}: {unreachable(exc)}") from None
        if status != 200 or not isinstance(answer, dict) or answer.get("status_code") != SUCCESS:
            raise OcpiError(f"{url}: HTTP {status}, {not_success(answer)}")
        data = answer.get("data", [])
        if not isinstance(data, list):
            raise OcpiError(f"{url}: the answer's data is not a list")
        return data, got

    async def endpoints(self, versions_url: str, token: str, token_format: str,
                        wanted: str | None = None) -> tuple[Dialect, list[dict[str, Any]]]:
        """Follow a partner's versions URL to the endpoints of the newest version we both speak
        (or of `wanted`, the version whose credentials endpoint it called): (dialect, endpoints)."""
        try:
            versions = await self.call("GET", versions_url, token, token_format)
        except Refused as refused:
            if refused.http_status != 401 or token_format == "plain":
                raise
            # A 2.1.1 party takes the token as it is, not base64-encoded (2.1.1 transport_and_
            # format, Request format): which it is we learn from the versions it offers.
            versions = await self.call("GET", versions_url, token, "plain")
        offered = {str(v.get("version")): v.get("url") for v in versions or []
                   if isinstance(v, dict) and isinstance(v.get("url"), str)}
        if wanted is not None:
            dialect = dialects.by_version(wanted) if wanted in offered else None
        else:
            dialect = dialects.newest_common(offered)
        if dialect is None:
            theirs = ", ".join(sorted(offered)) or "none"
            ours = wanted or " or ".join(dialects.VERSIONS)
            raise UnsupportedVersion(f"{versions_url} offers OCPI {theirs}, not {ours}")
        url = str(offered[dialect.version])
        details = await self.call("GET", url, token, dialect.header_format(token_format))
        if not isinstance(details, dict) or not isinstance(details.get("endpoints"), list):
            raise OcpiError(f"{url}: no endpoints in the version details")
        return dialect, dialect.endpoints(details["endpoints"])

    async def deliver(self, method: str, url: str, token: str, token_format: str, body: Any,
                      to: tuple[str, str] | None,
                      whole: Callable[[], Awaitable[Replacement | None]] | None = None) -> Delivery:
        """One outbox message: delivered, worth a retry, or refused for good. A PATCH about an
        object the partner does not know is replaced by `whole`, the PUT of the whole object."""
        try:
            status, answer = await self.request(method, url, token, token_format, body, to)
        except (aiohttp.ClientError, TimeoutError) as exc:
            refused = egress.refused(exc)
            if refused is not None:  # for good: the address will not become public
                return Delivery(False, error=str(refused))
            return unanswered(exc)
        delivery = outcome(status, answer)
        if not delivery.ok and whole is not None and unknown_object(status, answer):
            replacement = await whole()
            if replacement is not None:
                return Delivery(False, error=delivery.error, http_status=delivery.http_status,
                                replacement=replacement)
        return delivery


def unreachable(exc: BaseException) -> str:
    """Why a request got no answer, in our words (not the address's own)."""
    refused = egress.refused(exc)
    if refused is not None:
        return str(refused)
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    return "cannot be reached"


def not_success(answer: Any) -> str:
    """What is wrong with an answer that is not a successful envelope, without quoting it."""
    if not isinstance(answer, dict):
        return "not an OCPI answer"
    code = answer.get("status_code")
    return f"OCPI status_code {code}" if isinstance(code, int) and not isinstance(code, bool) \
        else "not an OCPI answer"


class Refused(OcpiError):
    """The partner answered, but not with a successful envelope."""

    def __init__(self, message: str, http_status: int) -> None:
        super().__init__(message)
        self.http_status = http_status


class UnsupportedVersion(OcpiError):
    """The partner speaks no OCPI version we do."""


def unknown_object(http_status: int, answer: Any) -> bool:
    """The partner does not know the object addressed: HTTP 404, or OCPI 2003 Unknown Location
    (OCPI 2.2.1 status_codes: a request must address an existing resource, else 404)."""
    return http_status == 404 or (isinstance(answer, dict)
                                  and answer.get("status_code") == UNKNOWN_LOCATION)


def outcome(http_status: int, answer: Any) -> Delivery:
    """An HTTP status and OCPI envelope → what the outbox does next."""
    code = answer.get("status_code") if isinstance(answer, dict) else None
    code = code if isinstance(code, int) else None  # only a number of theirs is repeated
    if http_status >= 500 or http_status in (401, 408, 429) or (
            isinstance(code, int) and (3000 <= code < 4000 or hub_busy(code))):
        # 401: the partner may be rotating credentials; its server error may pass; a hub's
        # receiver that timed out or is not connected may be back later.
        return Delivery(False, retry=True, error=f"HTTP {http_status} {code}",
                        http_status=http_status)
    if http_status == 200 and code == SUCCESS:
        return Delivery(True)
    # The envelope's status_message is the partner's note for our operator; anything else it
    # answered is not quoted.
    message = answer.get("status_message", "") if isinstance(code, int) else not_success(answer)
    message = message[:200] if isinstance(message, str) else ""
    return Delivery(False, error=f"HTTP {http_status} {code} {message}".strip(),
                    http_status=http_status)
