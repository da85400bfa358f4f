"""The OCPI 2.1.1 description the tests validate by: read from the specification's own tables, it
accepts the specification's examples and refuses objects that break a table."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from simulators.specs.ocpi211 import OCPI_211, Invalid, description, parse, validate, validate_patch


def examples(module: str) -> list[dict[str, Any]]:
    """The objects of a module's ```json examples (fragments and non-JSON ones left out)."""
    text = (OCPI_211 / module).read_text(encoding="utf-8")
    found = []
    for block in re.findall(r"```json\n(.*?)```", text, re.S):
        try:
            data = json.loads(block)
        except json.JSONDecodeError:
            continue  # PATCH fragments, and the CDR example's trailing comma (README: known defects)
        if isinstance(data, dict) and "id" in data:
            found.append(data)
    return found


LOCATION = examples("mod_locations.md")[0]


def test_the_tables_are_read_as_written() -> None:
    d = description()
    location = {f.name: f for f in d.classes["Location"]}
    assert (location["type"].type, location["type"].cardinality) == ("LocationType", "1")
    assert (location["address"].type, location["address"].length) == ("string", 45)
    assert not {"country_code", "party_id", "publish", "parking_type"} & set(location)
    connector = {f.name: f for f in d.classes["Connector"]}
    assert (connector["tariff_id"].length, connector["tariff_id"].cardinality) == (36, "?")
    assert "tariff_ids" not in connector and "max_voltage" not in connector
    assert {f.name: f.cardinality for f in d.classes["CDR"]}["stop_date_time"] == "1"
    assert {f.name: f.type for f in d.classes["Session"]}["total_cost"] == "number"
    assert d.enums["SessionStatus"] == {"ACTIVE", "COMPLETED", "INVALID", "PENDING"}
    assert d.enums["AuthMethod"] == {"AUTH_REQUEST", "WHITELIST"}
    assert d.enums["CdrDimensionType"] == {"ENERGY", "FLAT", "MAX_CURRENT", "MIN_CURRENT",
                                           "PARKING_TIME", "TIME"}
    assert "NOT_AVAILABLE" not in d.enums["Status"] and len(d.enums["Status"]) == 9
    # Regexes from the descriptions, also where a field says "same syntax as" another.
    hours = {f.name: f.pattern for f in d.classes["RegularHours"]}
    assert hours["period_begin"] == hours["period_end"] == "[0-2][0-9]:[0-5][0-9]"
    # A Choice group: regular_hours or twentyfourseven.
    choice = {f.name: f.choice for f in d.classes["Hours"]}
    assert choice["regular_hours"] == choice["twentyfourseven"] is not None
    assert choice["exceptional_openings"] is None


@pytest.mark.parametrize(("name", "module"), [
    ("Location", "mod_locations.md"), ("Session", "mod_sessions.md"), ("Tariff", "mod_tariffs.md")])
def test_the_specifications_examples_are_accepted(name: str, module: str) -> None:
    found = examples(module)
    assert found
    for example in found:
        validate(name, example)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for key in parents:
            node = node[int(key)] if key.isdigit() else node[key]
        if value is _DELETE:
            del node[last]
        else:
            node[last] = value
    return change


_DELETE = object()


@pytest.mark.parametrize(("change", "reason"), [
    (_set("address", _DELETE), "address: required (1)"),
    (_set("type", "ON_ROAD"), "'ON_ROAD' is not a LocationType"),
    (_set("address", "x" * 46), "address: 46 characters, at most 45"),
    (_set("city", "Köln"), "only printable ASCII"),
    (_set("country_code", "BE"), "country_code: no such field in Location"),
    (_set("publish", True), "publish: no such field"),
    (_set("evses.0.status", "NOT_AVAILABLE"), "is not a Status"),
    (_set("evses.0.connectors", []), "connectors: at least one (+)"),
    (_set("evses.0.connectors.0.tariff_ids", ["11"]), "tariff_ids: no such field in Connector"),
    (_set("evses.0.connectors.0.voltage", "220"), "'220' is not an int"),
    (_set("evses.0.connectors.0.tariff_id", "t" * 37), "37 characters, at most 36"),
    (_set("evses.0.capabilities", "RESERVABLE"), "a list (*)"),
    (_set("coordinates.latitude", "51.0476"), r"does not match -?[0-9]{1,2}\.[0-9]{6}"),
    (_set("last_updated", "2015-06-29T20:39:09+00:00"), "is not a UTC DateTime"),
    (_set("opening_times", {"twentyfourseven": True, "regular_hours": []}), "exactly one of"),
    (_set("opening_times", {"regular_hours": [
        {"weekday": 1, "period_begin": "8:00", "period_end": "20:00"}]}), "does not match"),
    (_set("operator", "BeCharged"), "a BusinessDetails is an object"),
])
def test_a_location_breaking_a_table_is_refused(change: Callable[[dict[str, Any]], None],
                                                reason: str) -> None:
    validate("Location", LOCATION)
    location = copy.deepcopy(LOCATION)
    change(location)
    with pytest.raises(Invalid) as refused:
        validate("Location", location)
    assert reason in str(refused.value)


@pytest.mark.parametrize(("name", "change", "reason"), [
    ("Session", _set("status", "RESERVATION"), "'RESERVATION' is not a SessionStatus"),
    ("Session", _set("auth_method", "COMMAND"), "'COMMAND' is not a AuthMethod"),
    ("Session", _set("total_cost", {"excl_vat": 2.5}), "is not a number"),
    ("Session", _set("start_date_time", "2015-06-29T22:39:09Z"), "no such field in Session"),
    ("Session", _set("auth_id", "x" * 37), "at most 36"),
    ("Session", _set("location.evses.0.connectors.0.standard", "NEMA_5_20"),
     "is not a ConnectorType"),
    ("Tariff", _set("elements.0.price_components.0.vat", 19), "vat: no such field"),
    ("Tariff", _set("elements.0.price_components.0.type", "MAX_POWER"),
     "is not a TariffDimensionType"),
    ("Tariff", _set("elements.0.restrictions", {"max_current": 16}), "max_current: no such field"),
    ("Tariff", _set("elements", []), "at least one (+)"),
    ("Tariff", _set("elements.0.price_components.0.step_size", 1.5), "is not an int"),
])
def test_sessions_and_tariffs_breaking_a_table_are_refused(
        name: str, change: Callable[[dict[str, Any]], None], reason: str) -> None:
    module = {"Session": "mod_sessions.md", "Tariff": "mod_tariffs.md"}[name]
    data = copy.deepcopy(examples(module)[0])
    validate(name, data)
    change(data)
    with pytest.raises(Invalid) as refused:
        validate(name, data)
    assert reason in str(refused.value)


def test_a_cdr_breaking_a_table_is_refused() -> None:
    session = examples("mod_sessions.md")[1]
    cdr = {"id": "12345", "start_date_time": "2015-06-29T21:39:09Z",
           "stop_date_time": "2015-06-29T23:37:32Z", "auth_id": "DE8ACC12E46L89",
           "auth_method": "WHITELIST", "location": session["location"], "currency": "EUR",
           "charging_periods": [{"start_date_time": "2015-06-29T21:39:09Z",
                                 "dimensions": [{"type": "TIME", "volume": 1.973}]}],
           "total_cost": 4.00, "total_energy": 15.342, "total_time": 1.973,
           "last_updated": "2015-06-29T22:01:13Z"}
    validate("CDR", cdr)
    for change, reason in [
            (_set("stop_date_time", _DELETE), "stop_date_time: required"),
            (_set("charging_periods", []), "at least one (+)"),
            (_set("charging_periods.0.dimensions.0.type", "MAX_POWER"),
             "is not a CdrDimensionType"),
            (_set("charging_periods.0.tariff_id", "12"), "tariff_id: no such field"),
            (_set("cdr_location", {}), "cdr_location: no such field")]:
        wrong = copy.deepcopy(cdr)
        change(wrong)
        with pytest.raises(Invalid, match=re.escape(reason)):
            validate("CDR", wrong)


def test_a_table_is_the_only_source() -> None:
    """The same parser on an edited table says what the edited table says."""
    text = (OCPI_211 / "mod_locations.md").read_text(encoding="utf-8").replace(
        "| address                                      | [string](types.md#15-string-type)(45) ",
        "| address                                      | [string](types.md#15-string-type)(50) ")
    edited = parse({"types.md": (OCPI_211 / "types.md").read_text(encoding="utf-8"),
                    "mod_locations.md": text})
    location = copy.deepcopy(LOCATION) | {"address": "x" * 50}
    assert edited.errors("Location", location) == []
    assert description().errors("Location", location) != []


def test_patches_take_any_fields_each_as_its_table_says() -> None:
    validate_patch("Session", {"kwh": 15, "last_updated": "2015-06-29T22:39:09Z"})  # mod_sessions 2.2.3
    validate_patch("EVSE", {"status": "CHARGING", "last_updated": "2015-06-29T22:39:09Z"})
    validate_patch("Connector", {"tariff_id": "12", "last_updated": "2015-06-29T22:39:09Z"})
    for name, patch, reason in [
            ("Session", {"total_cost": {"excl_vat": 2.5}}, "is not a number"),
            ("Session", {"end_date_time": "2015-06-29T22:39:09Z"}, "no such field in Session"),
            ("EVSE", {"status": "NOT_AVAILABLE"}, "is not a Status"),
            ("Connector", {"tariff_ids": ["12"]}, "no such field in Connector")]:
        with pytest.raises(Invalid, match=re.escape(reason)):
            validate_patch(name, patch)
