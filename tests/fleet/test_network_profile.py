"""The 2.0.1 network profile slot and priority a security profile upgrade writes (A05, B09, B10)."""

from __future__ import annotations

import pytest
from ocpp.charge_point import snake_to_camel_case
from ocpp.messages import Call, validate_payload

from csms.ocpp.translations.network_profile import connection_data, next_slot, prioritized
from simulators.network_profiles import NetworkProfiles


@pytest.mark.parametrize(("priority", "slot", "after"), [
    ("1", 2, "2,1"),          # one slot in use: the next one, the old kept as fallback
    ("0", 1, "1,0"),          # slots counted from 0
    ("1,2", 2, "2,1"),        # a fallback slot listed: reused, never the one in use
    ("2,1,3", 3, "3,2,1"),
    ("3, 1", 1, "1,3"),       # spaces as some firmware writes them
    ("", 1, "1"),             # nothing said: slot 1
    (None, 1, "1"),
    ("x", 1, "1"),
])
def test_slot_and_priority(priority: str | None, slot: int, after: str) -> None:
    assert next_slot(priority) == slot
    assert prioritized(slot, priority) == after


async def test_connection_data_fits_the_schema() -> None:
    data = connection_data("wss://csms.example.com/ocpp", 2, "Wired0", 30)
    payload = snake_to_camel_case({"configuration_slot": 2, "connection_data": data})
    await validate_payload(Call(unique_id="1", action="SetNetworkProfile", payload=payload),
                           "2.0.1")
    assert payload["connectionData"]["ocppCsmsUrl"] == "wss://csms.example.com/ocpp"


WSS = {"ocpp_csms_url": "wss://csms.example.com/ocpp", "ocpp_version": "OCPP20",
       "ocpp_transport": "JSON", "security_profile": 2}


@pytest.mark.parametrize(("slot", "data", "certificate", "status"), [
    (2, WSS, False, "Accepted"),
    (1, WSS, False, "Rejected"),                                  # the slot in use
    (9, WSS, False, "Rejected"),                                  # a slot it does not have
    (2, {**WSS, "security_profile": 0}, False, "Rejected"),       # lower than now
    (2, {**WSS, "ocpp_csms_url": "ws://csms.example.com"}, False, "Rejected"),  # TLS for 2
    (2, {**WSS, "security_profile": 3}, False, "Rejected"),       # 3 without its certificate
    (2, {**WSS, "security_profile": 3}, True, "Accepted"),
    (2, {**WSS, "ocpp_version": "OCPP16"}, False, "Rejected"),
])
def test_simulated_station_checks_a_profile(slot: int, data: dict[str, object], certificate: bool,
                                            status: str) -> None:
    profiles = NetworkProfiles("ws://127.0.0.1:9000/ocpp", 1)
    assert profiles.set(slot, data, 1, certificate) == status


def test_simulated_station_priority() -> None:
    profiles = NetworkProfiles("ws://127.0.0.1:9000/ocpp", 1)
    assert not profiles.reorder("2,1")  # slot 2 holds nothing yet
    assert profiles.set(2, WSS, 1, False) == "Accepted"
    assert not profiles.reorder("2,2") and not profiles.reorder("2,x")
    assert profiles.reorder("2,1") and profiles.value() == "2,1"
    assert profiles.first()["ocpp_csms_url"] == WSS["ocpp_csms_url"]
