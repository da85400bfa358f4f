"""Tariffs as Hubject pricing products, EVSE pricing and push plans: pure, table-driven, schema-checked."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bridge.oicp import pricing
from csms.domain.billing.cost import Reading, session_cost
from csms.domain.billing.tariffs import ALL, candidates, resolve
from simulators.partners.hubject import load_operations, load_swagger_operations
from tests.support import ROOT

TODAY = date(2026, 3, 2)  # a Monday
DEMO_TARIFFS = ROOT / "simulators" / "demo" / "tariffs.json"
DEMO = json.loads(DEMO_TARIFFS.read_text())[0]


def energy(price: float, vat: float = 19.0, step: int = 1) -> dict[str, Any]:
    return {"type": "ENERGY", "price": price, "vat": vat, "step_size": step}


def tariff(*elements: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"id": "T", "currency": "EUR", "elements": list(elements), **extra}


def element(*components: dict[str, Any], **restrictions: Any) -> dict[str, Any]:
    return {"price_components": list(components), **({"restrictions": restrictions} if restrictions else {})}


FLAT = {"type": "FLAT", "price": 1.5, "step_size": 0}
TIME = {"type": "TIME", "price": 2.0, "step_size": 60}
PARKING = {"type": "PARKING_TIME", "price": 6.0, "step_size": 300}


def availability(record: dict[str, Any]) -> list[tuple[str, list[str]]]:
    return [(t["on"], [f"{p['begin']}-{p['end']}" for p in t["Periods"]])
            for t in record["ProductAvailabilityTimes"]]


EVERYDAY = [("Everyday", ["00:00-23:59"])]
H, KWH = "HOUR", "KILOWATT_HOUR"

CASES: list[tuple[str, dict[str, Any], list[tuple[str, str, float, list[tuple[str, list[str]]]]],
                  list[tuple[str, str, str, float]], list[str]]] = [
    # name, tariff, [(ProductID, unit, price, availability)], [(product, reference, unit, price)],
    # what each note (why something is left out) says
    ("flat rate", tariff(element(energy(0.39))), [("T", KWH, 0.39, EVERYDAY)], [], []),
    ("peak hours (the demo tariff)", {**DEMO, "id": "T"},
     [("T-1", KWH, 0.39, [("Everyday", ["00:00-17:00", "21:00-23:59"])]),
      ("T-2", KWH, 0.49, [("Everyday", ["17:00-21:00"])])], [], []),
    ("night across midnight", tariff(element(energy(0.25), start_time="22:00", end_time="06:00"),
                                     element(energy(0.45))),
     [("T-1", KWH, 0.25, [("Everyday", ["00:00-06:00", "22:00-23:59"])]),
      ("T-2", KWH, 0.45, [("Everyday", ["06:00-22:00"])])], [], []),
    ("weekend price", tariff(element(energy(0.30), day_of_week=["SATURDAY", "SUNDAY"]),
                             element(energy(0.40))),
     [("T-1", KWH, 0.40, [("Workdays", ["00:00-23:59"])]),
      ("T-2", KWH, 0.30, [("Weekend", ["00:00-23:59"])])], [], []),
    # A start fee is per session: never KILOWATT_HOUR (an EMP would read it as a price per kWh).
    ("start fee, parking, minimum and maximum",
     tariff(element(FLAT), element(energy(0.35)), element(PARKING),
            min_price={"excl_vat": 2.0, "incl_vat": 2.38}, max_price={"excl_vat": 40.0}),
     [("T", KWH, 0.35, EVERYDAY)],
     [("T", "START FEE", H, 1.5), ("T", "PARKING FEE", H, 6.0), ("T", "MINIMUM FEE", H, 2.0),
      ("T", "MAXIMUM FEE", H, 40.0)], ["PARKING_TIME is billed in steps of 300"]),
    ("start fee beside a time price", tariff(element(FLAT, {**TIME, "price": 3.0, "step_size": 1})),
     [("T", H, 3.0, EVERYDAY)], [("T", "START FEE", H, 1.5)], []),
    ("only a fixed fee", tariff(element(FLAT)),
     [("T", H, 0.0, EVERYDAY)], [("T", "FIXED FEE", H, 1.5)], []),
    ("only parking", tariff(element({**PARKING, "step_size": 1})),
     [("T", H, 0.0, EVERYDAY)], [("T", "PARKING FEE", H, 6.0)], []),
    ("a start fee at night only",
     tariff(element(FLAT, start_time="22:00", end_time="06:00"), element(energy(0.40))),
     [("T-1", KWH, 0.40, [("Everyday", ["00:00-06:00", "22:00-23:59"])]),
      ("T-2", KWH, 0.40, [("Everyday", ["06:00-22:00"])])], [("T-1", "START FEE", H, 1.5)], []),
    ("time-based, Mondays cheaper in the morning",
     tariff(element({**TIME, "price": 1.0}, day_of_week=["MONDAY"], start_time="06:00", end_time="12:00"),
            element({**TIME, "step_size": 1})),
     [("T-1", H, 2.0, [("Monday", ["00:00-06:00", "12:00-23:59"]), ("Tuesday", ["00:00-23:59"]),
                       ("Wednesday", ["00:00-23:59"]), ("Thursday", ["00:00-23:59"]),
                       ("Friday", ["00:00-23:59"]), ("Weekend", ["00:00-23:59"])]),
      ("T-2", H, 1.0, [("Monday", ["06:00-12:00"])])], [], ["TIME is billed in steps of 60"]),
    ("energy and time together: the time price is left out",
     tariff(element(energy(0.40), TIME)), [("T", KWH, 0.40, EVERYDAY)], [],
     ["T: its TIME price (2.0/h) is left out", "TIME is billed in steps of 60"]),
    ("a future element is not in force yet, a past one no more",
     tariff(element(energy(0.99), start_date="2026-04-01"), element(energy(0.11), end_date="2026-03-01"),
            element(energy(0.41))),
     [("T", KWH, 0.41, EVERYDAY)], [], []),
    ("reservation elements price no session: left out",
     tariff(element(energy(5.0), reservation="RESERVATION"), element(energy(0.41))),
     [("T", KWH, 0.41, EVERYDAY)], [],
     ["element 1 is left out: it prices reservations (RESERVATION)"]),
] + [
    (f"an element restricted by {key} is left out", tariff(element(energy(0.20), **{key: 10}),
                                                           element(energy(0.40))),
     [("T", KWH, 0.40, EVERYDAY)], [],
     [f"element 1 is left out: {key} cannot be expressed in a pricing product (it has no field for "
      f"the {why})"])
    for key, why in (("min_kwh", "energy charged"), ("max_kwh", "energy charged"),
                     ("min_current", "charging current"), ("max_current", "charging current"),
                     ("min_power", "charging power"), ("max_power", "charging power"),
                     ("min_duration", "session's duration"), ("max_duration", "session's duration"))
]


@pytest.mark.parametrize(("name", "tariff_", "expected", "references", "notes"), CASES,
                         ids=[c[0] for c in CASES])
def test_products(name: str, tariff_: dict[str, Any],
                  expected: list[tuple[str, str, float, list[tuple[str, list[str]]]]],
                  references: list[tuple[str, str, str, float]], notes: list[str]) -> None:
    products = pricing.pricing_products(tariff_, 22.0, TODAY)
    assert [(r["ProductID"], r["ReferenceUnit"], r["PricePerReferenceUnit"], availability(r))
            for r in products.records] == expected
    assert [(r["ProductID"], a["AdditionalReference"], a["AdditionalReferenceUnit"],
             a["PricePerAdditionalReferenceUnit"])
            for r in products.records for a in r.get("AdditionalReferences", [])] == references
    assert len(products.notes) == len(notes), products.notes
    assert all(want in note for want, note in zip(notes, products.notes, strict=True)), products.notes
    assert all(r["ProductPriceCurrency"] == "EUR" and r["MaximumProductChargingPower"] == 22.0
               for r in products.records)
    assert all(r["IsValid24hours"] == (availability(r) == EVERYDAY) for r in products.records)


def test_no_per_session_fee_is_ever_priced_per_kwh() -> None:
    """START, FIXED, MINIMUM and MAXIMUM FEE are per session: whatever the product's own unit,
    their unit is never KILOWATT_HOUR, which an EMP reads as a price per kWh."""
    for case in CASES:
        for record in pricing.pricing_products(case[1], 22.0, TODAY).records:
            for reference in record.get("AdditionalReferences", []):
                if reference["AdditionalReference"] in pricing.SESSION_FEES:
                    assert reference["AdditionalReferenceUnit"] == pricing.SESSION_FEE_UNIT != KWH


def test_the_console_list_says_what_each_fee_is_per_and_what_is_left_out() -> None:
    lines = pricing.describe(tariff(element(FLAT), element(energy(0.35)), element(PARKING),
                                    element(energy(0.1), max_power=11),
                                    min_price={"excl_vat": 2.0}), TODAY)
    assert lines[0] == ("product T: 0.35/KILOWATT_HOUR, start fee 1.5 per session, parking fee 6.0/HOUR, "
                        "minimum fee 2.0 per session (always)")
    assert lines[1].startswith("note: element 4 is left out: max_power cannot be expressed")


def test_a_long_tariff_id_still_makes_product_ids_of_50_characters() -> None:
    long_id = "X" * 60
    products = pricing.pricing_products({**DEMO, "id": long_id}, 22.0, TODAY)
    assert [len(i) for i in products.ids] == [50, 50] and len(set(products.ids)) == 2


@pytest.mark.parametrize(("local", "product"), [
    ("2026-03-02T16:59:00", "AC-STANDARD-1"), ("2026-03-02T17:00:00", "AC-STANDARD-2"),
    ("2026-03-02T20:59:59", "AC-STANDARD-2"), ("2026-03-02T21:00:00", "AC-STANDARD-1"),
    ("2026-07-05T18:30:00", "AC-STANDARD-2"),  # summer time: local wall clock still decides
])
def test_product_in_force_at_a_session_start(local: str, product: str) -> None:
    start = datetime.fromisoformat(local).replace(tzinfo=ZoneInfo("Europe/Berlin"))
    assert pricing.product_at(DEMO, start.astimezone(UTC), "Europe/Berlin") == product


@pytest.mark.parametrize("case", [c for c in CASES if not c[4]], ids=[c[0] for c in CASES if not c[4]])
def test_the_price_the_emp_sees_is_the_price_the_cdr_is_computed_with(
        case: tuple[str, dict[str, Any], Any, Any, list[str]]) -> None:
    """For every hour of a week: a 10-minute, 2 kWh session costs what its product says."""
    tariff_ = case[1]
    products = pricing.pricing_products(tariff_, 22.0, TODAY)
    by_id = {r["ProductID"]: r for r in products.records}
    for hour in range(0, 7 * 24):
        start = datetime(2026, 3, 2, tzinfo=UTC) + timedelta(hours=hour, minutes=5)
        stop = start + timedelta(minutes=10)
        cost = session_cost(tariff_, start, stop, [Reading(start, 0.0), Reading(stop, 2000.0)], "UTC")
        product = by_id[str(pricing.product_at(tariff_, start, "UTC"))]
        fees = {a["AdditionalReference"]: a["PricePerAdditionalReferenceUnit"]
                for a in product.get("AdditionalReferences", [])}
        volume = 2.0 if product["ReferenceUnit"] == "KILOWATT_HOUR" else 10 / 60
        expected = product["PricePerReferenceUnit"] * volume + fees.get("START FEE", 0.0) \
            + fees.get("FIXED FEE", 0.0)
        assert cost.total_cost.excl_vat == pytest.approx(expected), (case[0], start)


@cache
def validators() -> dict[str, list[Any]]:
    """Both of Hubject's schemas for each pricing operation: the OpenAPI 3.0 file and the
    dynamic pricing service's Swagger 2.0 file (which also checks lengths)."""
    found: dict[str, list[Any]] = {}
    operations = load_operations() + load_swagger_operations()
    for operation in operations:
        for path in (pricing.products_path("DE*ABC"), pricing.evse_pricing_path("DE*ABC")):
            if operation.pattern.match(path):
                found.setdefault(path, []).append(operation.validator)
    return found


def errors(path: str, body: dict[str, Any]) -> list[str]:
    checks = validators()[path]
    assert len(checks) == 2
    return [e.message for validator in checks for e in validator.iter_errors(body)]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_every_pricing_body_is_valid_for_hubject(
        case: tuple[str, dict[str, Any], Any, Any, list[str]]) -> None:
    products = pricing.pricing_products(case[1], 22.0, TODAY)
    default = pricing.default_price(products, "EUR").as_meta()
    for action in ("fullLoad", "insert", "update", "delete"):
        for provider in (ALL, "DE-8EO", "DE*8EO"):
            body = pricing.push_pricing_products("DE*ABC", "ABC Charging", provider, action, default,
                                                 products.records)
            assert errors(pricing.products_path("DE*ABC"), body) == []
        body = pricing.push_evse_pricing(action, [
            pricing.evse_pricing_record("DE*ABC*E0001*1", ALL, products.ids),
            pricing.evse_pricing_record("DE*ABC*E0001*2", "DE-8EO", products.ids)])
        assert errors(pricing.evse_pricing_path("DE*ABC"), body) == []


def test_the_schemas_do_refuse_bad_bodies() -> None:
    """The checks above can fail: a 51-character ProductID and a bad ProviderID are refused."""
    products = pricing.pricing_products({**DEMO, "id": "T"}, 22.0, TODAY)
    record = {**products.records[0], "ProductID": "P" * 51}
    body = pricing.push_pricing_products("DE*ABC", "", "not an EMP", "update",
                                         pricing.default_price(products, "EUR").as_meta(), [record])
    assert len(errors(pricing.products_path("DE*ABC"), body)) >= 2


A = {"ProductID": "A", "PricePerReferenceUnit": 1.0}
B = {"ProductID": "B", "PricePerReferenceUnit": 2.0}
META = {"#default": {"PricingDefaultPrice": 1.0}}


@pytest.mark.parametrize(("sent", "wanted", "pending", "expected"), [
    ({}, {"A": A}, False, ("insert", [A])),
    ({"A": A}, {"A": {**A, "PricePerReferenceUnit": 3.0}}, False,
     ("update", [{**A, "PricePerReferenceUnit": 3.0}])),
    ({"A": A, "B": B}, {"A": A}, False, ("delete", [B])),
    ({"A": A}, {"A": A}, False, None),
    ({"A": A}, {"A": A}, True, None),  # nothing changed: a waiting push stays as it is
    ({"A": A}, {"B": B}, False, ("fullLoad", [B])),  # two kinds of change
    ({"A": A}, {"A": A, "B": B}, True, ("fullLoad", [A, B])),  # replaces the waiting push
    ({**META, "A": A}, {"#default": {"PricingDefaultPrice": 2.0}, "A": A}, False, ("fullLoad", [A])),
])
def test_plan(sent: dict[str, Any], wanted: dict[str, Any], pending: bool, expected: Any) -> None:
    assert pricing.plan(sent, wanted, pending) == expected


ASSIGNED = {("*", "E1"): "EVSE-1", ("DE-8EO", "*"): "DEAL", ("*", "*"): "DEFAULT",
            ("DE-8EO", "E2"): "DEAL-E2"}


@pytest.mark.parametrize(("evse", "site", "provider", "expected"), [
    ("E1", "SITE", ALL, ("EVSE-1", ALL)),      # this EVSE beats its site
    ("E3", "SITE", ALL, ("SITE", ALL)),        # the site beats the operator-wide default
    ("E3", "", ALL, ("DEFAULT", ALL)),
    ("E1", "SITE", "DE-8EO", ("DEAL", "DE-8EO")),  # an EMP's deal beats the EVSE's general price
    ("E2", "SITE", "DE-8EO", ("DEAL-E2", "DE-8EO")),
    ("E1", "SITE", "DE-ZZZ", ("EVSE-1", ALL)),  # an EMP without a deal pays what all pay
])
def test_which_tariff_an_evse_charges_by(evse: str, site: str, provider: str,
                                         expected: tuple[str, str]) -> None:
    known = {"EVSE-1", "DEAL", "DEFAULT", "DEAL-E2", "SITE"}
    assert resolve(ASSIGNED, evse, site, provider, known) == expected
    # A tariff that is gone is passed over for the next one down.
    rest = candidates(ASSIGNED, evse, site, provider)[1:]
    assert resolve(ASSIGNED, evse, site, provider, known - {expected[0]}) == (rest[0] if rest else None)
