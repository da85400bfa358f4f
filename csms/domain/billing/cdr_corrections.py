"""Correcting a CDR once sent, purely: its credit CDR and the id of a corrected one (OCPI 2.2.1)."""

from __future__ import annotations

import copy
from typing import Any

# OCPI 2.2.1 mod_cdrs, "Credit CDRs": the credit has an id of its own, "the id of the original
# CDR with something appended like for example: -C"; CDR.id is CiString(39) for that reason.
CREDIT_SUFFIX = "-C"
# ... but a normal (non-credit) CDR's id is at most 36 characters (mod_cdrs, CDR object, id), and
# a session's id, the first CDR's, already is 36: a corrected CDR is named by the session's id
# without its hyphens (32) and "-R1" to "-R99".
MAX_REISSUES = 99
# Every Price of a CDR: a credit states each negated ("the values in the total_cost field SHALL
# contain the negative amounts of the original CDR"; its parts too, so they still add up).
# Volumes (total_energy, total_time, total_parking_time, charging periods) stay as they were.
COSTS = ("total_cost", "total_fixed_cost", "total_energy_cost", "total_time_cost",
         "total_parking_cost", "total_reservation_cost")
OICP_HAS_NO_CREDIT = ("OICP has no credit CDRs: Hubject accepts one CDR per session; "
                      "settle the correction with the EMP directly")


class UnknownCdr(LookupError):
    """No CDR of ours has this id."""


class CorrectionRefused(ValueError):
    """A CDR that cannot be credited (or reissued): the reason, for the operator."""


def credit_id(cdr_id: str) -> str:
    return cdr_id + CREDIT_SUFFIX


def reissue_id(session_id: str, n: int) -> str:
    """The n-th corrected CDR of a session (at most 36 characters, as a normal CDR's id)."""
    if not 1 <= n <= MAX_REISSUES:
        raise CorrectionRefused(f"a session's CDR is reissued at most {MAX_REISSUES} times")
    return f"{session_id.replace('-', '')}-R{n}"


def negated(price: dict[str, Any]) -> dict[str, Any]:
    """A Price with its amounts negated (0 stays 0, not -0)."""
    return {key: (-value if isinstance(value, int | float) and value else value)
            for key, value in price.items()}


def credit_cdr(cdr: dict[str, Any], last_updated: str) -> dict[str, Any]:
    """The credit CDR of a CDR: all its data, its own id, `credit` true, `credit_reference_id`
    the original's id, every cost negated, `last_updated` when the credit is made."""
    if cdr.get("credit"):
        raise CorrectionRefused(f"{cdr['id']} is a credit CDR: it cannot be credited")
    credit = copy.deepcopy(cdr)
    credit.update(id=credit_id(cdr["id"]), credit=True, credit_reference_id=cdr["id"],
                  last_updated=last_updated)
    for field in COSTS:
        if isinstance(cdr.get(field), dict):
            credit[field] = negated(cdr[field])
    return credit


def refusal(protocol: str, credit: bool, credited_by: str | None) -> str | None:
    """Why a kept CDR cannot be credited now, or None."""
    if protocol == "oicp":
        return OICP_HAS_NO_CREDIT
    if credit:
        return "a credit CDR cannot be credited"
    if credited_by is not None:
        return f"already credited by {credited_by}"
    return None
