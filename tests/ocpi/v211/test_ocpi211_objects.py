"""The OCPI 2.1.1 forms of Locations, Sessions, CDRs and Tariffs: built from the same domain objects
as the 2.2.1 forms, each valid by the 2.1.1 specification's tables (simulators/specs/ocpi211) while
the 2.2.1 form of the same object is valid by the 2.2.1 description, and what 2.1.1 cannot say."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import structlog
from jsonschema import Draft202012Validator
from structlog.testing import capture_logs

from bridge.ocpi import sessions as v221_sessions
from bridge.ocpi.publishing import locations as v221_locations
from bridge.ocpi.publishing.locations import EvseFacts, location_id
from bridge.ocpi.publishing.places import Priced
from bridge.ocpi.sessions import Place
from bridge.ocpi.v211 import cdrs, inexpressible, locations, sessions, tariffs
from bridge.ocpi.v211.inexpressible import CATALOGUE, Inexpressible, Losses
from csms.domain.billing.cost import Costing, Reading, costing
from csms.domain.billing.tariffs import check_tariff
from csms.domain.model import EvseStatus, SessionStatus
from csms.domain.sites import EvseDetails, Site
from simulators.specs import OCPI_EXAMPLES, ocpi_schema
from simulators.specs.ocpi211 import description, validate, validate_patch
from tests.oicp.test_oicp_evse_data import demo_site

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday
TOKEN = {"country_code": "NL", "party_id": "EMS", "uid": "04A1B2C3", "type": "RFID",
         "contract_id": "NL-EMS-C12345678-X"}
ENERGY = {"id": "AC-1", "currency": "EUR", "elements": [{"price_components": [
    {"type": "ENERGY", "price": 0.40, "vat": 19.0, "step_size": 1}]}]}
START_FEE = {"id": "START", "currency": "EUR", "elements": [
    {"price_components": [{"type": "FLAT", "price": 1.0, "step_size": 1}]},
    {"price_components": [{"type": "ENERGY", "price": 0.30, "step_size": 1}]},
    {"price_components": [{"type": "PARKING_TIME", "price": 6.0, "step_size": 300}]}]}
# Every element priced by current: nothing 2.1.1 can say.
BY_CURRENT = {"id": "AMPS", "currency": "EUR", "elements": [
    {"price_components": [{"type": "TIME", "price": 1.0, "step_size": 60}],
     "restrictions": {"max_current": 16}}]}


def v221(name: str, data: dict[str, Any]) -> None:
    errors = [e.message for e in Draft202012Validator(ocpi_schema(name)).iter_errors(data)]
    assert errors == [], errors


def v211(name: str, data: dict[str, Any]) -> None:
    assert description().errors(name, data) == []


def tariff_example(name: str) -> dict[str, Any]:
    """An official 2.2.1 example as the domain stores it (check_tariff drops its party)."""
    return check_tariff(json.loads((OCPI_EXAMPLES / name).read_text(encoding="utf-8")))


# --- Locations -----------------------------------------------------------------------------------

SITES = {
    "demo, AC and DC": demo_site(),
    "opening hours, on street": demo_site(
        open_24_hours=False, accessibility_location="OnStreet",
        opening_times=({"on": "Workdays", "begin": "07:00", "end": "22:00"},
                       {"on": "Saturday", "begin": "09:00", "end": "13:00"})),
    "accents": demo_site(name="Ladepark Köln-Süd", city="Köln", street="Bürgermeister-Müller-Straße",
                         house_number="112a", accessibility_location=""),
    "every plug": demo_site(evse=EvseDetails(plugs=tuple(v221_locations._PLUGS))),
}


@pytest.mark.parametrize("site", SITES.values(), ids=SITES.keys())
def test_a_location_from_the_same_site_and_evses(site: Site) -> None:
    evses = [EvseFacts("CP1-1", "DE*ABC*E0001*1", EvseStatus.CHARGING, False, T0),
             EvseFacts("CP1-2", "DE*ABC*E0001*2", EvseStatus.AVAILABLE, False, T0, "DC-DEAL")]
    losses = Losses()
    new = locations.location_object(site, evses, "ABC Charging", T0, losses)
    old = v221_locations.location_object(site, evses, "DE", "ABC", "ABC Charging", T0)
    v211("Location", new)
    v221("Location", old)
    assert description().errors("Location", old) != []  # the 2.2.1 form is no 2.1.1 Location
    assert new["id"] == old["id"] == location_id(site.id)
    assert new["type"] == old.get("parking_type", "UNKNOWN")
    for new_evse, old_evse in zip(new["evses"], old["evses"], strict=True):
        assert (new_evse["uid"], new_evse["status"]) == (old_evse["uid"], old_evse["status"])
        for new_c, old_c in zip(new_evse["connectors"], old_evse["connectors"], strict=True):
            assert new_c["id"] == old_c["id"]
            assert (new_c["voltage"], new_c["amperage"]) == (old_c["max_voltage"], old_c["max_amperage"])
            assert ([new_c["tariff_id"]] if "tariff_id" in new_c else None) == old_c.get("tariff_ids")
            assert new_c["standard"] == old_c["standard"] or "Connector.standard" in losses.keys()
    assert new["evses"][1]["connectors"][0]["tariff_id"] == "DC-DEAL"


def test_hours_are_one_choice() -> None:
    open_all_day = locations.location_object(SITES["demo, AC and DC"], [], "", T0)
    assert open_all_day["opening_times"] == {"twentyfourseven": True}
    hours = locations.location_object(SITES["opening hours, on street"], [], "", T0)["opening_times"]
    assert "twentyfourseven" not in hours
    assert {h["weekday"] for h in hours["regular_hours"]} == {1, 2, 3, 4, 5, 6}


@pytest.mark.parametrize("status", [*EvseStatus, "retired"])
def test_every_evse_status_is_a_2_1_1_status(status: str) -> None:
    site = demo_site()
    facts = EvseFacts("CP1-1", "DE*ABC*E0001*1", EvseStatus.AVAILABLE if status == "retired" else status,
                      status == "retired", T0)
    evse = locations.evse_object(site, facts)
    validate("EVSE", evse)
    assert evse["status"] == v221_locations.evse_object(site, facts)["status"]


def test_what_a_location_cannot_say_is_noted() -> None:
    losses = Losses()
    long_street = replace(SITES["accents"], street="Bürgermeister-Dr.-Hans-Müller-Straße am Rhein")
    location = locations.location_object(long_street, [
        EvseFacts("CP1-1", "DE*ABC*E0001*1", EvseStatus.AVAILABLE, False, T0)], "ABC", T0, losses)
    assert location["city"] == "Koln" and location["name"] == "Ladepark Koln-Sud"
    assert location["address"] == "Burgermeister-Dr.-Hans-Muller-Strasse am Rhei"[:45].rstrip()
    assert len(location["address"]) <= 45
    assert {"text.ascii", "text.length"} <= losses.keys()
    nema = locations.location_object(demo_site(evse=EvseDetails(plugs=("NEMA 5-20",))), [
        EvseFacts("CP1-1", "DE*ABC*E0001*1", EvseStatus.AVAILABLE, False, T0)], "", T0, losses)
    assert nema["evses"][0]["connectors"][0]["standard"] == "DOMESTIC_B"
    assert "Connector.standard" in losses.keys()
    assert all(str(loss) for loss in losses.items)  # every key is in the catalogue


# --- Sessions ------------------------------------------------------------------------------------

def priced(tariff: dict[str, Any] | None = ENERGY, site: Site | None = None) -> Priced:
    site = site or demo_site()
    details = site.details("DE*ABC*E0001*1")
    place = Place(site.id, "CP1-1", "DE*ABC*E0001*1", v221_locations.connectors(details, T0)[0], site)
    return Priced(place, tariff, str(tariff["currency"]) if tariff else "EUR", "Europe/Berlin")


def cost_of(tariff: dict[str, Any], hours: float = 2.0, kwh: float = 11.0,
            parked: float = 0.0) -> Costing:
    charged = T0 + timedelta(hours=hours - parked)
    readings = [Reading(T0, 0.0, 11000.0), Reading(charged, kwh * 1000, 11000.0)]
    if parked:
        readings.append(Reading(T0 + timedelta(hours=hours), kwh * 1000, 0.0))
    return costing(tariff, "EUR", T0, T0 + timedelta(hours=hours), readings, "Europe/Berlin")


def ocpi(auth_method: str = "WHITELIST") -> dict[str, Any]:
    return {"partner": 1, "token": TOKEN, "auth_method": auth_method,
            "authorization_reference": "REF-1"}


# domain status (or 2.1.1's RESERVED), its 2.2.1 word, the 2.1.1 word, what 2.1.1 cannot say
STATUSES = [
    (SessionStatus.PENDING, "PENDING", "PENDING", None),
    (SessionStatus.ACTIVE, "ACTIVE", "ACTIVE", None),
    (SessionStatus.COMPLETED, "COMPLETED", "COMPLETED", None),
    (SessionStatus.FAILED, "INVALID", "INVALID", None),
    (SessionStatus.EXPIRED, "INVALID", "INVALID", None),
    (SessionStatus.REJECTED, "INVALID", "INVALID", None),
    (sessions.RESERVED, "RESERVATION", "PENDING", "Session.status.RESERVATION"),
]


@pytest.mark.parametrize(("status", "word_221", "word_211", "lost"), STATUSES)
def test_a_session_in_both_versions(status: str, word_221: str, word_211: str,
                                    lost: str | None) -> None:
    place = priced()
    losses = Losses()
    new = sessions.session_object("s-1", ocpi(), place, T0, 1.5, status, T0, losses=losses)
    old = v221_sessions.session_object("DE", "ABC", "s-1", ocpi(), place.place, T0, 1.5, word_221,
                                       place.currency, T0)
    v211("Session", new)
    v221("Session", old)
    assert new["status"] == word_211
    assert (lost in losses.keys()) if lost else losses.items == []
    assert (new["id"], new["kwh"], new["currency"]) == (old["id"], old["kwh"], old["currency"])
    assert new["start_datetime"] == old["start_date_time"]
    assert new["auth_id"] == old["cdr_token"]["contract_id"]
    [evse] = new["location"]["evses"]
    [connector] = evse["connectors"]
    assert (new["location"]["id"], evse["uid"], connector["id"]) == (
        old["location_id"], old["evse_uid"], old["connector_id"])
    assert connector["tariff_id"] == "AC-1"  # the tariff the session is priced by
    assert evse["status"] == ("CHARGING" if status == SessionStatus.ACTIVE else "AVAILABLE")


@pytest.mark.parametrize(("method", "said", "lost"), [
    ("AUTH_REQUEST", "AUTH_REQUEST", False), ("WHITELIST", "WHITELIST", False),
    ("COMMAND", "AUTH_REQUEST", True)])
def test_auth_method(method: str, said: str, lost: bool) -> None:
    losses = Losses()
    new = sessions.session_object("s-1", ocpi(method), priced(), T0, 0, SessionStatus.ACTIVE, T0,
                                  losses=losses)
    assert new["auth_method"] == said
    assert ("auth_method.COMMAND" in losses.keys()) is lost


def test_a_running_session_with_its_cost_and_its_patch() -> None:
    cost = cost_of(START_FEE, hours=1.0, kwh=5.0)
    losses = Losses()
    session = sessions.session_object("s-1", ocpi(), priced(START_FEE), T0, 5.0,
                                      SessionStatus.ACTIVE, T0 + timedelta(hours=1), cost=cost,
                                      losses=losses)
    v211("Session", session)
    assert session["total_cost"] == cost.total_cost.excl_vat == 2.5
    kinds = {d["type"] for p in session["charging_periods"] for d in p["dimensions"]}
    assert "FLAT" in kinds and not kinds & {"MAX_POWER", "MIN_POWER"}
    assert {"CdrDimension.MAX_POWER", "CdrDimension.MIN_POWER"} <= losses.keys()
    patch = sessions.session_patch("s-1", 5.0, T0 + timedelta(hours=1), SessionStatus.COMPLETED,
                                   T0 + timedelta(hours=1), cost)
    old_patch = v221_sessions.session_patch(5.0, T0 + timedelta(hours=1), "COMPLETED",
                                            T0 + timedelta(hours=1), cost)
    validate_patch("Session", patch)
    v211("Session", session | patch)
    assert patch["total_cost"] == old_patch["total_cost"]["excl_vat"]
    assert patch["end_datetime"] == old_patch["end_date_time"]


def test_a_session_off_any_site_cannot_be_said() -> None:
    place = priced()
    off_site = replace(place, place=replace(place.place, site=None))
    losses = Losses()
    with pytest.raises(Inexpressible):
        sessions.session_object("s-1", ocpi(), off_site, T0, 0, SessionStatus.ACTIVE, T0,
                                losses=losses)
    with pytest.raises(Inexpressible):
        cdrs.cdr_object("s-1", ocpi(), off_site, T0, T0, cost_of(ENERGY), T0)
    assert "Session.place" in losses.keys()


# --- CDRs ----------------------------------------------------------------------------------------

CDR_CASES = {
    "energy": (ENERGY, dict(hours=2.0, kwh=11.0)),
    "start fee and parking": (START_FEE, dict(hours=3.0, kwh=20.0, parked=1.0)),
    "2.2.1 example: 0.25/kWh, start, parking": (
        tariff_example("tariff_10_025kwh_parking_start.json"), dict(hours=2.0, kwh=15.0, parked=0.5)),
    "free": (None, dict(hours=1.0, kwh=3.0)),
}


@pytest.mark.parametrize(("tariff", "session"), CDR_CASES.values(), ids=CDR_CASES.keys())
def test_a_cdr_in_both_versions_from_one_costing(tariff: dict[str, Any] | None,
                                                 session: dict[str, float]) -> None:
    place = priced(tariff)
    cost = cost_of(tariff or ENERGY, **session) if tariff else costing(
        None, "EUR", T0, T0 + timedelta(hours=1), [Reading(T0, 0.0), Reading(
            T0 + timedelta(hours=1), 3000.0)], "UTC")
    stop = T0 + timedelta(hours=session["hours"])
    new = cdrs.cdr_object("s-1", ocpi(), place, T0, stop, cost, stop)
    old = v221_sessions.cdr_object("DE", "ABC", "s-1", ocpi(), place.place, T0, stop, cost,
                                   place.tariff, place.currency, stop)
    v211("CDR", new)
    v221("CDR", old)
    assert description().errors("CDR", old) != []
    assert new["id"] == old["id"]
    assert new["stop_date_time"] == old["end_date_time"]
    assert new["total_cost"] == old["total_cost"]["excl_vat"]
    for key in ("total_energy", "total_time", "currency"):
        assert new[key] == old[key]
    assert new.get("total_parking_time") == old.get("total_parking_time")
    assert [t["id"] for t in new.get("tariffs", [])] == [t["id"] for t in old.get("tariffs", [])]
    assert [p["start_date_time"] for p in new["charging_periods"]] == [
        p["start_date_time"] for p in old["charging_periods"]]
    flat = [d for p in new["charging_periods"] for d in p["dimensions"] if d["type"] == "FLAT"]
    assert len(flat) == (1 if cost.total_fixed_cost is not None else 0)


def test_a_cdr_whose_tariff_2_1_1_cannot_say_keeps_its_cost() -> None:
    cost = cost_of(BY_CURRENT, hours=1.0)
    losses = Losses()
    cdr = cdrs.cdr_object("s-1", ocpi(), priced(BY_CURRENT), T0, T0 + timedelta(hours=1), cost, T0,
                          losses)
    v211("CDR", cdr)
    assert "tariffs" not in cdr and cdr["total_cost"] == cost.total_cost.excl_vat
    assert {"TariffRestrictions.max_current", "Tariff.elements"} <= losses.keys()


# --- Tariffs -------------------------------------------------------------------------------------

# the official 2.2.1 examples as domain tariffs: what 2.1.1 cannot say of each
TARIFF_EXAMPLES = {
    "tariff_1_simple_2hour.json": {"PriceComponent.vat"},
    "tariff_2_alt_text.json": {"PriceComponent.vat", "Tariff.type"},
    "tariff_3_alt_url.json": {"PriceComponent.vat", "Tariff.type"},
    "tariff_4_complex.json": {"PriceComponent.vat", "Tariff.type", "TariffRestrictions.max_current",
                              "TariffRestrictions.min_current"},
    "tariff_5_free_of_charge.json": set(),
    "tariff_6_025kwh_start_max_price.json": {"PriceComponent.vat", "Tariff.max_price",
                                             "Tariff.end_date_time"},
    "tariff_12_025kwh_min_price.json": {"PriceComponent.vat", "Tariff.min_price"},
    "tariff_14_step_size.json": set(),
    "tariff_15_reservation_5_euro_per_hour.json": {"PriceComponent.vat",
                                                   "TariffRestrictions.reservation"},
    "tariff_17_reservation_with_expire_fee.json": {"PriceComponent.vat",
                                                   "TariffRestrictions.reservation"},
}


@pytest.mark.parametrize(("example", "lost"), TARIFF_EXAMPLES.items(), ids=TARIFF_EXAMPLES.keys())
def test_a_tariff_in_both_versions(example: str, lost: set[str]) -> None:
    tariff = tariff_example(example)
    losses = Losses()
    new = tariffs.tariff_object(tariff, T0, losses)
    old = v221_sessions.tariff_object("DE", "ABC", tariff, T0)
    v211("Tariff", new)
    v221("Tariff", old)
    assert losses.keys() == lost
    assert (new["id"], new["currency"]) == (old["id"], old["currency"])
    kept = [e for e in old["elements"] if not {"min_current", "max_current", "reservation"}
            & set(e.get("restrictions") or {})]
    assert [[(c["type"], c["price"], c["step_size"]) for c in e["price_components"]]
            for e in new["elements"]] == [[(c["type"], c["price"], c["step_size"])
                                           for c in e["price_components"]] for e in kept]


def test_a_tariff_with_nothing_2_1_1_can_say() -> None:
    losses = Losses()
    with pytest.raises(Inexpressible):
        tariffs.tariff_object(BY_CURRENT, T0, losses)
    assert "Tariff.elements" in losses.keys()


def test_energy_mix_names_its_impact_source() -> None:
    tariff = dict(ENERGY, energy_mix={
        "is_green_energy": False, "energy_sources": [{"source": "SOLAR", "percentage": 40}],
        "environ_impact": [{"category": "CARBON_DIOXIDE", "amount": 372}],
        "supplier_name": "Stadtwerke Düsseldorf"})
    new = tariffs.tariff_object(tariff, T0)
    v211("Tariff", new)
    assert new["energy_mix"]["environ_impact"] == [{"source": "CARBON_DIOXIDE", "amount": 372}]


# --- what 2.1.1 cannot say -----------------------------------------------------------------------

@pytest.fixture
def info_logs() -> Iterator[None]:
    """INFO lines reach capture_logs, whatever level an application set up in this process."""
    wrapper = structlog.get_config()["wrapper_class"]
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.INFO))
    yield
    structlog.configure(wrapper_class=wrapper)


def test_each_case_is_logged_once(monkeypatch: pytest.MonkeyPatch, info_logs: None) -> None:
    """Once per case, whichever object meets it: not once per tariff, session or CDR."""
    # What this process logged before (e.g. an end-to-end test's tariff) is not this test's.
    monkeypatch.setattr(inexpressible, "_logged", set())
    with capture_logs() as logs:
        for tariff_id in ("once-1", "once-2"):
            losses = Losses()
            tariffs.tariff_object(tariff_example("tariff_12_025kwh_min_price.json") | {
                "id": tariff_id, "min_price": {"excl_vat": 0.123}}, T0, losses)
            inexpressible.log_once(losses)
            inexpressible.log_once(losses)
    assert sorted(e["what"] for e in logs) == ["PriceComponent.vat", "Tariff.min_price"]
    assert {e["where"] for e in logs} == {"Tariff 'once-1'"}
    assert all(e["decision"] == CATALOGUE[e["what"]] for e in logs)
