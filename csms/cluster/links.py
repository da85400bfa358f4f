"""Charger links: what each OCPP adapter offers the command service, and those this process holds."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from csms.domain.model import TokenType


class ChargerOffline(Exception):
    """The charger is not connected to any node (or its node went away mid-call)."""


class ChargerLink(Protocol):
    """What each OCPP adapter offers the command service; answers are the charger's own status."""

    async def remote_start(self, evse_number: int, token_uid: str, remote_start_id: int,
                           token_type: TokenType) -> str: ...
    async def remote_stop(self, transaction_id: str) -> str: ...
    async def unlock(self, evse_number: int) -> str: ...
    async def reserve_now(self, evse_number: int, token_uid: str, reservation_id: int,
                          expires_at: datetime, token_type: TokenType) -> str: ...
    async def cancel_reservation(self, reservation_id: int) -> str: ...
    async def reset(self, hard: bool) -> str: ...
    async def change_availability(self, evse_number: int, operative: bool) -> str: ...
    async def trigger(self, message: str, evse_number: int | None) -> str: ...
    async def get_configuration(self, keys: list[str]) -> dict[str, Any]: ...
    async def change_configuration(self, key: str, value: str) -> str: ...
    async def set_password(self, password: str) -> str: ...
    # Certificates (1.6 security whitepaper, 2.0.1 A and M): uses are CertificateUse values.
    async def install_certificate(self, use: str, certificate_pem: str) -> str: ...
    async def installed_certificates(self, uses: list[str]) -> dict[str, Any]: ...
    async def delete_certificate(self, hash_data: dict[str, str]) -> str: ...
    async def set_security_profile(self, profile: int) -> str: ...
    async def renew_certificate(self, use: str) -> str: ...


class Connections:
    """The live charger links held by this process."""

    def __init__(self) -> None:
        self._links: dict[str, ChargerLink] = {}

    def get(self, charge_point_id: str) -> ChargerLink | None:
        return self._links.get(charge_point_id)

    def put(self, charge_point_id: str, link: ChargerLink) -> ChargerLink | None:
        previous = self._links.get(charge_point_id)
        self._links[charge_point_id] = link
        return previous

    def remove(self, charge_point_id: str, link: ChargerLink) -> bool:
        """Forget the link unless a newer connection has replaced it; True when removed."""
        if self._links.get(charge_point_id) is link:
            del self._links[charge_point_id]
            return True
        return False

    def ids(self) -> list[str]:
        return list(self._links)

    def by_protocol(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for link in self._links.values():
            protocol = getattr(link, "protocol", "unknown")  # an adapter knows its OCPP version
            counts[protocol] = counts.get(protocol, 0) + 1
        return counts

    def __len__(self) -> int:
        return len(self._links)

    def __contains__(self, charge_point_id: object) -> bool:
        return charge_point_id in self._links
