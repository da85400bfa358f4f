"""HTTP to Hubject: TLS client certificates, and turning each answer into a delivery outcome."""

from __future__ import annotations

import ssl
from typing import Any

import aiohttp

from bridge.outbox import Delivery, unanswered
from csms.config import ConfigError, OicpSettings

# Negative acknowledgements that are Hubject's trouble, not our data's: worth another try.
RETRYABLE_CODES = {"001", "002", "009", "021", "310", "320"}


def ssl_context(settings: OicpSettings) -> ssl.SSLContext | None:
    if settings.base_url.startswith("http://"):
        if not settings.allow_plain_http:
            raise ConfigError("oicp.base_url is plain http: set oicp.allow_plain_http for local runs")
        return None
    context = ssl.create_default_context(cafile=settings.ca_file or None)
    if settings.client_cert:
        context.load_cert_chain(settings.client_cert, settings.client_key or None)
    return context


def outcome(http_status: int, answer: Any) -> Delivery:
    """An HTTP status and parsed eRoamingAcknowledgement → delivered, retry, or refused."""
    if http_status >= 500 or http_status in (408, 429):
        return Delivery(False, retry=True, error=f"HTTP {http_status}", http_status=http_status)
    if http_status != 200 or not isinstance(answer, dict):
        return Delivery(False, error=f"HTTP {http_status}: {str(answer)[:300]}",
                        http_status=http_status)
    code = str((answer.get("StatusCode") or {}).get("Code", ""))
    if answer.get("Result") is True:
        return Delivery(True)
    description = (answer.get("StatusCode") or {}).get("Description", "")
    return Delivery(False, retry=code in RETRYABLE_CODES, error=f"{code} {description}".strip(),
                    http_status=http_status)


class HubjectClient:
    def __init__(self, settings: OicpSettings) -> None:
        self.settings = settings
        self.base_url = settings.base_url.rstrip("/")
        self._ssl = ssl_context(settings)
        self._http: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.settings.request_timeout),
            connector=aiohttp.TCPConnector(ssl=self._ssl if self._ssl is not None else False),
        )

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.close()

    async def post(self, path: str, body: dict[str, Any],
                   timeout: float | None = None) -> tuple[int, Any]:
        assert self._http is not None, "client not started"
        options: dict[str, Any] = {"timeout": aiohttp.ClientTimeout(total=timeout)} if timeout else {}
        async with self._http.post(self.base_url + path, json=body, **options) as response:
            try:
                answer = await response.json(content_type=None)
            except ValueError:
                answer = await response.text()
            return response.status, answer

    async def deliver(self, path: str, body: dict[str, Any]) -> Delivery:
        """One stored message to Hubject, and what became of it."""
        try:
            status, answer = await self.post(path, body)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return unanswered(exc)
        return outcome(status, answer)
