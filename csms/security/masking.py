"""Secrets in OCPP frames (passwords, PINs, keys) replaced by *** wherever a frame is shown or logged."""

from __future__ import annotations

import json
import logging
from typing import Any

MASK = "***"

# A frame without any of these (lower case) holds no secret: most frames cost one scan, no parse.
_HINTS = ("password", "authorizationkey", "secret", "simpin", "vpn", "exiresponse")
# Fields that are secret wherever they are: 2.0.1 SetNetworkProfile's APNType and VPNType, and
# Get15118EVCertificate's EXI answer, which carries the EV's (encrypted) contract private key.
# Compared without case and underscores: the library's snake_case payloads are masked alike.
_SECRET_FIELDS = frozenset({"apnpassword", "simpin", "password", "exiresponse"})
UNREADABLE = '"(a frame that is not JSON and may hold a secret: not shown)"'


def secret_name(name: Any) -> bool:
    """A configuration key (1.6) or variable (2.0.1) whose value is a secret: the security
    whitepaper's AuthorizationKey, 2.0.1 SecurityCtrlr.BasicAuthPassword, vendors' passwords."""
    if not isinstance(name, str):
        return False
    lowered = name.lower()
    return lowered == "authorizationkey" or "password" in lowered or "secret" in lowered


def _mask(value: Any) -> Any:
    return MASK if value is not None else None


def _plain(key: str) -> str:
    return key.replace("_", "").lower()


def _walk(data: Any) -> bool:
    """Masks in place; True if anything was masked."""
    masked = False
    if isinstance(data, list):
        for item in data:
            masked |= _walk(item)
        return masked
    if not isinstance(data, dict):
        return False
    # 1.6 ChangeConfiguration.req and GetConfiguration.conf's configurationKey entries.
    if "value" in data and secret_name(data.get("key")):
        data["value"] = _mask(data["value"])
        masked = True
    # 2.0.1 SetVariableData / GetVariableResult (attributeValue), NotifyReport's ReportData.
    variable = data.get("variable")
    if isinstance(variable, dict) and secret_name(variable.get("name")):
        for key in ("attributeValue", "attribute_value"):
            if key in data:
                data[key] = _mask(data[key])
                masked = True
        for key in ("variableAttribute", "variable_attribute"):
            for attribute in data.get(key) or ():
                if isinstance(attribute, dict) and "value" in attribute:
                    attribute["value"] = _mask(attribute["value"])
                    masked = True
    vpn = data.get("vpn")
    if isinstance(vpn, dict) and "key" in vpn:  # the VPN's shared secret
        vpn["key"] = _mask(vpn["key"])
        masked = True
    for key, value in data.items():
        if _plain(key) in _SECRET_FIELDS and isinstance(value, str):
            data[key] = MASK
            masked = True
        else:
            masked |= _walk(value)
    return masked


def mask_payload(data: Any) -> Any:
    """The same payload (dict or list, camelCase or snake_case), its secrets masked in place:
    for what a charger answered that is shown or logged (GetConfiguration, GetVariables)."""
    _walk(data)
    return data


def mask_frame(text: str) -> str:
    """The OCPP-J frame (CALL, CALLRESULT or CALLERROR text) with every secret's value replaced by
    ***; the very same text when it holds none. What goes to the charger is never this."""
    lowered = text.lower()
    if not any(hint in lowered for hint in _HINTS):
        return text
    try:
        frame = json.loads(text)
    except (ValueError, RecursionError):
        return UNREADABLE
    if not _walk(frame):
        return text
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":"))


class FrameMasking(logging.Filter):
    """For the ocpp library's logger: the frames and messages it logs, masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(_masked_arg(arg) for arg in record.args)
        return True


def _masked_arg(arg: Any) -> Any:
    if isinstance(arg, str):
        return mask_frame(arg)
    to_json = getattr(arg, "to_json", None)  # the library's Call, CallResult, CallError
    if callable(to_json):
        try:
            return mask_frame(to_json())
        except (TypeError, ValueError):
            return arg
    return arg


def install() -> None:
    """Mask what the ocpp library logs (frames at INFO, failed calls at ERROR), whatever the level."""
    library = logging.getLogger("ocpp")
    if not any(isinstance(f, FrameMasking) for f in library.filters):
        library.addFilter(FrameMasking())


# Request and command parameters whose value is a secret wherever it appears (compared as above).
_SECRET_PARAMETERS = ("password", "secret", "tokena", "privatekey", "apikey")


def mask_parameters(data: Any) -> Any:
    """A copy of an API request's or CLI command's parameters for the audit log: passwords,
    secrets, OCPI Tokens A and keys masked, and what `mask_payload` masks (a configuration key's
    secret value)."""
    copy = json.loads(json.dumps(data, default=str))

    def walk(item: Any) -> None:
        if isinstance(item, list):
            for value in item:
                walk(value)
        elif isinstance(item, dict):
            for key, value in item.items():
                if (isinstance(key, str) and not isinstance(value, bool)  # a flag: no secret
                        and any(hint in _plain(key) for hint in _SECRET_PARAMETERS)):
                    item[key] = _mask(value)
                else:
                    walk(value)

    walk(copy)
    return mask_payload(copy)
