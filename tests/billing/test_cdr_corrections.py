"""A credit CDR and a corrected CDR's id, purely (OCPI 2.2.1 mod_cdrs, Credit CDRs)."""

from __future__ import annotations

from typing import Any

import pytest

from csms.domain.billing.cdr_corrections import (
    MAX_REISSUES,
    OICP_HAS_NO_CREDIT,
    CorrectionRefused,
    credit_cdr,
    negated,
    refusal,
    reissue_id,
)

SESSION = "3f0c2b1e-8d7a-4c5b-9e6f-0a1b2c3d4e5f"


def cdr(**extra: Any) -> dict[str, Any]:
    return {"id": SESSION, "session_id": SESSION, "currency": "EUR", "total_energy": 7.5,
            "total_time": 0.5, "total_parking_time": 0.1,
            "charging_periods": [{"start_date_time": "2026-12-04T10:00:00Z",
                                  "dimensions": [{"type": "ENERGY", "volume": 7.5}]}],
            "total_cost": {"excl_vat": 3.5, "incl_vat": 4.165},
            "total_energy_cost": {"excl_vat": 3.0, "incl_vat": 3.57},
            "total_fixed_cost": {"excl_vat": 0.5, "incl_vat": 0.595},
            "last_updated": "2026-12-04T10:30:00Z", **extra}


@pytest.mark.parametrize(("field", "original", "credited"), [
    ("id", SESSION, SESSION + "-C"),
    ("credit", None, True),
    ("credit_reference_id", None, SESSION),
    ("total_cost", {"excl_vat": 3.5, "incl_vat": 4.165}, {"excl_vat": -3.5, "incl_vat": -4.165}),
    ("total_energy_cost", {"excl_vat": 3.0, "incl_vat": 3.57},
     {"excl_vat": -3.0, "incl_vat": -3.57}),
    ("total_fixed_cost", {"excl_vat": 0.5, "incl_vat": 0.595},
     {"excl_vat": -0.5, "incl_vat": -0.595}),
    ("total_time_cost", None, None),  # absent stays absent
    ("total_energy", 7.5, 7.5),  # volumes are what happened: unchanged
    ("total_time", 0.5, 0.5),
    ("total_parking_time", 0.1, 0.1),
    ("session_id", SESSION, SESSION),
    ("last_updated", "2026-12-04T10:30:00Z", "2026-12-05T08:00:00Z"),
])
def test_credit_cdr(field: str, original: Any, credited: Any) -> None:
    before = cdr()
    credit = credit_cdr(before, "2026-12-05T08:00:00Z")
    assert before.get(field) == original and credit.get(field) == credited
    assert credit["charging_periods"] == before["charging_periods"]
    assert before == cdr()  # the original is left as it was


def test_credit_id_fits_ocpi() -> None:
    assert len(credit_cdr(cdr(), "x")["id"]) <= 39  # CiString(39)
    reissued = cdr(id=reissue_id(SESSION, MAX_REISSUES))
    assert len(reissued["id"]) <= 36 and len(credit_cdr(reissued, "x")["id"]) <= 39


@pytest.mark.parametrize(("price", "expected"), [
    ({"excl_vat": 2.0}, {"excl_vat": -2.0}),
    ({"excl_vat": 0.0, "incl_vat": 0}, {"excl_vat": 0.0, "incl_vat": 0}),
    ({"excl_vat": -1.0, "incl_vat": -1.19}, {"excl_vat": 1.0, "incl_vat": 1.19}),
])
def test_negated(price: dict[str, Any], expected: dict[str, Any]) -> None:
    result = negated(price)
    assert result == expected
    assert all(str(v) != "-0.0" for v in result.values())


@pytest.mark.parametrize(("n", "expected"), [
    (1, SESSION.replace("-", "") + "-R1"),
    (12, SESSION.replace("-", "") + "-R12"),
    (0, None), (MAX_REISSUES + 1, None),
])
def test_reissue_id(n: int, expected: str | None) -> None:
    if expected is None:
        with pytest.raises(CorrectionRefused):
            reissue_id(SESSION, n)
    else:
        assert reissue_id(SESSION, n) == expected and len(expected) <= 36


def test_a_credit_is_not_credited() -> None:
    with pytest.raises(CorrectionRefused, match="is a credit CDR"):
        credit_cdr(credit_cdr(cdr(), "x"), "y")


@pytest.mark.parametrize(("protocol", "credit", "credited_by", "expected"), [
    ("ocpi", False, None, None),
    ("ocpi", True, None, "a credit CDR cannot be credited"),
    ("ocpi", False, SESSION + "-C", f"already credited by {SESSION}-C"),
    ("oicp", False, None, OICP_HAS_NO_CREDIT),
])
def test_refusal(protocol: str, credit: bool, credited_by: str | None,
                 expected: str | None) -> None:
    assert refusal(protocol, credit, credited_by) == expected
