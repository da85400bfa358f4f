"""eRoamingPushEvseStatus (v2.1): EVSE status updates and full loads, built as pure bodies."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from bridge.oicp.status import oicp_evse_status

OPERATION = "PushEvseStatus"


def status_path(operator_id: str) -> str:
    return f"/evsepush/v21/operators/{quote(operator_id, safe='*')}/status-records"


def push_evse_status(operator_id: str, operator_name: str, action: str,
                     records: list[tuple[str, str]]) -> dict[str, Any]:
    """(EvseID, domain status) pairs → the request body."""
    operator: dict[str, Any] = {"OperatorID": operator_id}
    if operator_name:
        operator["OperatorName"] = operator_name
    operator["EvseStatusRecord"] = [
        {"EvseID": evse_id, "EvseStatus": oicp_evse_status(status)} for evse_id, status in records
    ]
    return {"ActionType": action, "OperatorEvseStatus": operator}
