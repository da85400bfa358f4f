"""Generic commands: the raw calls each OCPP version lets the CSMS send, and what their answers change."""

from __future__ import annotations

from typing import Any

from ocpp.charge_point import camel_to_snake_case

from csms.domain.fleet.configuration import PASSWORD_KEYS, PROFILE_KEYS, TAKEN, ConfigurationEntry, changed
from csms.ocpp.translations.configuration import entries_16, entries_201

# Every CSMS-to-charger action of each version (1.6: the core and its feature profiles, and the
# security whitepaper's; 2.0.1: part 2's messages sent by the CSMS).
CSMS_ACTIONS: dict[str, frozenset[str]] = {
    "ocpp1.6": frozenset({
        "CancelReservation", "ChangeAvailability", "ChangeConfiguration", "ClearCache",
        "ClearChargingProfile", "DataTransfer", "GetCompositeSchedule", "GetConfiguration",
        "GetDiagnostics", "GetLocalListVersion", "RemoteStartTransaction",
        "RemoteStopTransaction", "ReserveNow", "Reset", "SendLocalList", "SetChargingProfile",
        "TriggerMessage", "UnlockConnector", "UpdateFirmware",
        # 1.6 security whitepaper
        "CertificateSigned", "DeleteCertificate", "ExtendedTriggerMessage",
        "GetInstalledCertificateIds", "GetLog", "InstallCertificate", "SignedUpdateFirmware",
    }),
    "ocpp2.0.1": frozenset({
        "CancelReservation", "CertificateSigned", "ChangeAvailability", "ClearCache",
        "ClearChargingProfile", "ClearDisplayMessage", "ClearVariableMonitoring", "CostUpdated",
        "CustomerInformation", "DataTransfer", "DeleteCertificate", "GetBaseReport",
        "GetChargingProfiles", "GetCompositeSchedule", "GetDisplayMessages",
        "GetInstalledCertificateIds", "GetLocalListVersion", "GetLog", "GetMonitoringReport",
        "GetReport", "GetTransactionStatus", "GetVariables", "InstallCertificate",
        "PublishFirmware", "RequestStartTransaction", "RequestStopTransaction", "ReserveNow",
        "Reset", "SendLocalList", "SetChargingProfile", "SetDisplayMessage",
        "SetMonitoringBase", "SetMonitoringLevel", "SetNetworkProfile", "SetVariableMonitoring",
        "SetVariables", "TriggerMessage", "UnlockConnector", "UnpublishFirmware",
        "UpdateFirmware",
    }),
}

def _settings_taken(action: str, payload: dict[str, Any],
                    response: dict[str, Any]) -> dict[str, str]:
    """The settings a charger accepted, by neutral name: the 1.6 key, or 2.0.1's
    'Component.Variable' (of the default instance and Actual attribute only)."""
    if action == "ChangeConfiguration":
        if response.get("status") in TAKEN and isinstance(payload.get("key"), str):
            return {payload["key"]: str(payload.get("value"))}
        return {}
    if action != "SetVariables":
        return {}
    taken: dict[str, str] = {}
    results = response.get("setVariableResult") or []
    for item in payload.get("setVariableData") or []:
        component, variable = item.get("component") or {}, item.get("variable") or {}
        if item.get("attributeType", "Actual") != "Actual" or "instance" in variable:
            continue
        for result in results:
            if (result.get("component") == component and result.get("variable") == variable
                    and result.get("attributeType", "Actual") == "Actual"
                    and result.get("attributeStatus") in TAKEN):
                taken[f"{component.get('name')}.{variable.get('name')}"] = str(
                    item.get("attributeValue"))
    return taken


def effects(action: str, payload: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    """What a raw call the charger answered changes on our side, as on the typed path:
    {"password": the new Basic auth password it took} and {"security_profile": n}."""
    found: dict[str, Any] = {}
    for key, value in _settings_taken(action, payload, response).items():
        if key in PASSWORD_KEYS:
            found["password"] = value
        elif key in PROFILE_KEYS and value.isdigit() and 0 <= int(value) <= 3:
            found["security_profile"] = int(value)
    return found


def status_of(response: dict[str, Any]) -> str | None:
    """The charger's status in a response that has one (most have: a string, or 2.0.1's
    idTokenInfo-like objects are left out)."""
    status = response.get("status")
    return status if isinstance(status, str) else None


def _actual(item: dict[str, Any]) -> bool:
    """A 2.0.1 result of the default instance's Actual attribute: what our neutral key names."""
    return (item.get("attribute_type", "Actual") == "Actual"
            and "instance" not in (item.get("variable") or {}))


def configuration_entries(action: str, payload: dict[str, Any],
                          response: dict[str, Any]) -> list[ConfigurationEntry]:
    """The configuration results a raw call brought, kept as the typed path keeps them."""
    if action == "ChangeConfiguration" and isinstance(response.get("status"), str):
        return [changed(str(payload.get("key")), str(payload.get("value")), response["status"])]
    snake = camel_to_snake_case(response)
    if action == "GetConfiguration":
        return entries_16(snake.get("configuration_key"), snake.get("unknown_key"))
    if action == "GetVariables":
        return entries_201([r for r in snake.get("get_variable_result") or [] if _actual(r)])
    if action == "SetVariables":
        values = {f"{i['component'].get('name')}.{i['variable'].get('name')}":
                  str(i.get("attribute_value"))
                  for i in camel_to_snake_case(payload).get("set_variable_data") or []
                  if _actual(i)}
        return entries_201([r for r in snake.get("set_variable_result") or [] if _actual(r)],
                           values)
    return []
