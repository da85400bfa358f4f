"""eRoamingAuthorizeStart/Stop (v2.1): the request bodies and Hubject's answers as our authorization."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from bridge.oicp.client import RETRYABLE_CODES
from csms.domain.model import Authorization, AuthorizationStatus

START = "AuthorizeStart"
STOP = "AuthorizeStop"

# Hubject could not decide (its own trouble): a cached answer may stand in. Not 310 "Partner did
# not respond": an EMP that cannot be reached "will be dealt with as if responding NotAuthorized"
# (OICP 2.3 eRoamingAuthorizeStart, option B), so Hubject did decide, and gives no SessionID.
UNDECIDED_CODES = RETRYABLE_CODES - {"310"}
# Refusals that say nothing about the card: they do not replace an earlier answer for it.
NOT_ABOUT_THE_CARD = frozenset({"310"})

# Hubject's UID: 8, 14 or 20 upper-case hex digits. Other tokens cannot be Hubject RFID cards.
_UID = re.compile(r"^([0-9A-F]{8}|[0-9A-F]{14}|[0-9A-F]{20})$")


def start_path(operator_id: str) -> str:
    return f"/charging/v21/operators/{quote(operator_id, safe='*')}/authorize/start"


def stop_path(operator_id: str) -> str:
    return f"/charging/v21/operators/{quote(operator_id, safe='*')}/authorize/stop"


def rfid_identification(token_uid: str) -> dict[str, Any] | None:
    """The OICP Identification of an RFID card, or None when the token is no valid UID."""
    uid = token_uid.upper()
    return {"RFIDMifareFamilyIdentification": {"UID": uid}} if _UID.match(uid) else None


def start_body(operator_id: str, identification: dict[str, Any], evse_id: str | None,
               cpo_session_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"OperatorID": operator_id, "Identification": identification}
    if evse_id:
        body["EvseID"] = evse_id
    if cpo_session_id:
        body["CPOPartnerSessionID"] = cpo_session_id
    return body


def stop_body(operator_id: str, oicp: dict[str, Any], identification: dict[str, Any],
              cpo_session_id: str) -> dict[str, Any]:
    body: dict[str, Any] = {"OperatorID": operator_id, "SessionID": oicp["SessionID"],
                            "Identification": identification,
                            "CPOPartnerSessionID": cpo_session_id}
    for key in ("EvseID", "EMPPartnerSessionID"):
        if oicp.get(key):
            body[key] = oicp[key]
    return body


def read_answer(answer: Any, identification: dict[str, Any],
                evse_id: str | None = None) -> Authorization | None:
    """Hubject's eRoamingAuthorizationStart/Stop as our answer; None when Hubject could not
    decide (its own trouble, or an answer we cannot read), so a cached answer may stand in."""
    if not isinstance(answer, dict):
        return None
    status = answer.get("AuthorizationStatus")
    code = str((answer.get("StatusCode") or {}).get("Code", ""))
    if status == "Authorized":
        oicp: dict[str, Any] = {"Identification": identification}
        for key in ("SessionID", "ProviderID", "EMPPartnerSessionID",
                    "AuthorizationStopIdentifications"):
            if answer.get(key):
                oicp[key] = answer[key]
        if evse_id:
            oicp["EvseID"] = evse_id
        return Authorization(AuthorizationStatus.ACCEPTED, {"oicp": oicp})
    if code in UNDECIDED_CODES or status != "NotAuthorized":
        return None
    return Authorization(AuthorizationStatus.INVALID)


def status_code(answer: Any) -> str | None:
    """The StatusCode of Hubject's answer, e.g. 102 for a UID no EMP knows."""
    code = (answer.get("StatusCode") or {}).get("Code") if isinstance(answer, dict) else None
    return str(code) if code is not None else None


def may_stop(oicp: dict[str, Any], identification: dict[str, Any]) -> bool:
    """Whether the EMP already named this card among those allowed to stop the session."""
    allowed = oicp.get("AuthorizationStopIdentifications") or []
    return identification == oicp.get("Identification") or identification in allowed
