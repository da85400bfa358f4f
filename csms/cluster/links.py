"""Charger links: what each OCPP adapter offers the command service, and those this process holds."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from csms.cluster.device_model_link import DeviceModelLink
from csms.domain.model import TokenType


class ChargerOffline(Exception):
    """The charger is not connected to any node (or its node went away mid-call)."""


class BadCommand(Exception):
    """A raw command the charger's OCPP version has no such action for, or whose payload does not
    fit the action's schema: nothing was sent."""


class NotSupported(Exception):
    """The charger's protocol has no such operation (e.g. the device model on OCPP 1.6)."""


class ChargerLink(DeviceModelLink, Protocol):
    """What each OCPP adapter offers the command service; answers are the charger's own status."""

    async def remote_start(self, evse_number: int, token_uid: str, remote_start_id: int,
                           token_type: TokenType, profile: dict[str, Any] | None = None) -> str:
        """profile: a Tx profile's JSON form for the transaction it starts (1.6 §5.16, 2.0.1
        F01/K05), checked by the command service."""
        ...
    async def remote_stop(self, transaction_id: str) -> str: ...
    async def unlock(self, evse_number: int) -> str: ...
    async def reserve_now(self, evse_number: int | None, token_uid: str, reservation_id: int,
                          expires_at: datetime, token_type: TokenType,
                          connector_type: str | None = None,
                          group: str | None = None) -> str: ...
    async def cancel_reservation(self, reservation_id: int) -> str: ...
    async def reset(self, hard: bool) -> str: ...
    async def change_availability(self, evse_number: int, operative: bool,
                                  connector_number: int | None = None) -> str: ...
    async def trigger(self, message: str, evse_number: int | None) -> str: ...
    async def get_configuration(self, keys: list[str]) -> dict[str, Any]: ...
    async def change_configuration(self, key: str, value: str) -> str: ...
    async def set_password(self, password: str) -> str: ...
    async def raw_call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Any CSMS-to-charger action of the charger's version, with its raw (camelCase) payload:
        {"response": the charger's payload, and the domain effects: "password",
        "security_profile"}; raises BadCommand before sending anything that does not fit."""
        ...
    async def clear_cache(self) -> str: ...
    async def set_configuration(self, values: dict[str, str]) -> dict[str, str]:
        """Several settings; the charger's status for each, by key."""
        ...
    async def data_transfer(self, vendor_id: str, message_id: str | None,
                            data: str | None) -> dict[str, Any]: ...
    # Firmware and logs (csms/domain/fleet/jobs.py): request_id is the job's id; the answer says
    # {"accepted", "status" (the charger's word), "replaced" (an earlier one cancelled), "file_name"}.
    async def update_firmware(self, request_id: int, location: str, retrieve_at: datetime,
                              install_at: datetime | None, retries: int | None,
                              retry_interval: int | None, signing_certificate: str | None,
                              signature: str | None) -> dict[str, Any]: ...
    async def get_log(self, request_id: int, log_type: str, location: str,
                      oldest: datetime | None, latest: datetime | None, retries: int | None,
                      retry_interval: int | None) -> dict[str, Any]: ...
    # Certificates (1.6 security whitepaper, 2.0.1 A and M): uses are CertificateUse values.
    async def install_certificate(self, use: str, certificate_pem: str) -> str: ...
    async def installed_certificates(self, uses: list[str]) -> dict[str, Any]: ...
    async def delete_certificate(self, hash_data: dict[str, str]) -> str: ...
    async def set_security_profile(self, profile: int, csms_url: str = "",
                                   interface: str = "Wired0") -> str:
        """1.6: the SecurityProfile key; 2.0.1 (A05): a network profile to csms_url (wss://, the
        URL chargers use) on that interface, put first. BadCommand: nothing sent (no URL)."""
        ...
    async def renew_certificate(self, use: str) -> str: ...
    # Charging profiles (csms/domain/energy/smart_charging.py): a profile in its JSON form (to_dict);
    # evse 0: the whole charger; purpose a Purpose value; the composite as {"status", "schedule"}.
    async def set_charging_profile(self, evse: int, profile: dict[str, Any]) -> str: ...
    async def clear_charging_profile(self, profile_id: int | None, evse: int | None,
                                     purpose: str | None, stack_level: int | None) -> str: ...
    async def get_composite_schedule(self, evse: int, duration: int,
                                     unit: str | None) -> dict[str, Any]: ...
    async def get_charging_profiles(self, evse: int | None, purpose: str | None,
                                    stack_level: int | None, sources: list[str] | None,
                                    ids: list[int] | None) -> dict[str, Any]:
        """The profiles the charger holds, as it reports them (2.0.1 K09); NotSupported: the
        protocol cannot ask (1.6)."""
        ...


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
