"""The vendored partner specifications: shipped as package data, and what is derived from them when loaded."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from simulators.specs import OCPI_EXAMPLES, ocpi_schema, oicp_openapi, oicp_pricing_swagger
from tests.support import ROOT

SPECS = ROOT / "simulators" / "specs"

# --- OICP: the patterns compile as JavaScript unicode regexes (what Prism/AJV use) -----------------------

# Outside a character class, `u` mode allows escaping only syntax characters and `/`, besides the
# character class escapes, control, hex, unicode, property and back references.
_ALLOWED_ESCAPES = set("^$\\.*+?()[]{}|/") | set("dDsSwWbBfnrtv0123456789cxupPk")
_CLASS = re.compile(r"\[(?:\\.|[^\]\\])*\]")


def _patterns(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [value for key, value in node.items() if key == "pattern" and isinstance(value, str)] + [
            found for key, value in node.items() if key != "pattern" for found in _patterns(value)]
    if isinstance(node, list):
        return [found for item in node for found in _patterns(item)]
    return []


@pytest.mark.parametrize("document", [oicp_openapi, oicp_pricing_swagger], ids=["openapi", "pricing"])
def test_oicp_patterns_are_unicode_safe(document: Any) -> None:
    patterns = _patterns(document())
    assert len(patterns) >= 5
    unsafe = {pattern for pattern in patterns
              if set(re.findall(r"\\(.)", _CLASS.sub("", pattern))) - _ALLOWED_ESCAPES}
    assert not unsafe
    for pattern in patterns:
        re.compile(pattern)


def test_each_charging_notification_takes_only_its_own_type() -> None:
    schemas = oicp_openapi()["components"]["schemas"]
    for kind in ("Start", "Progress", "End", "Error"):
        assert schemas[f"eRoamingChargingNotification{kind}"]["properties"]["Type"]["enum"] == [kind]


# --- OCPI: the derived JSON Schemas judge the official examples as the specification does ------------------

# Each official example that is a whole object, with its schema. Two are known to be defective upstream:
# location_put_example_add_evse (connector lacks max_voltage, max_amperage, last_updated) and
# tariff_put_example (no last_updated).
OFFICIAL = {
    "cdr_example.json": "CDR",
    **{f"credentials_example{n}.json": "Credentials" for n in ("", "2", "3", "4")},
    **{f"location_example{suffix}.json": "Location" for suffix in (
        "", "_parking_garage_opening_hours", "_uc2_destination_charger",
        "_uc3_destination_charger_not_published", "_uc4_limited_visibility", "_uc5_home_charge_point")},
    "location_patch_example_location.json": "LocationPatch",
    "location_patch_example_status.json": "EvsePatch",
    "location_patch_example_remove_evse.json": "EvsePatch",
    "location_patch_example_tariff.json": "ConnectorPatch",
    "session_example_1_simple_start.json": "Session",
    "session_example_2_short_finished.json": "Session",
    "session_patch_example_charging_period.json": "SessionPatch",
    "session_patch_example_total_cost.json": "SessionPatch",
    "token_example_1_app_user.json": "Token",
    "token_example_2_full_rfid.json": "Token",
    "token_put_example.json": "Token",
    "token_patch_example.json": "TokenPatch",
    **{f"transport_and_format_{name}_example.json": "OcpiResponse"
       for name in ("get_token", "get_token_list", "version_details", "version_info")},
    "version_details_example.json": "VersionDetails",
    "version_details_example2.json": "VersionDetails",
    "tariffrestriction_example_max_duration.json": "Tariff",
    "tariffrestriction_example_max_power.json": "Tariff",
}
DEFECTIVE = {"location_put_example_add_evse.json": "EVSE", "tariff_put_example.json": "Tariff"}


def example(name: str) -> Any:
    return json.loads((OCPI_EXAMPLES / name).read_text(encoding="utf-8"))


def errors(schema: str, payload: Any) -> list[str]:
    return [error.message for error in Draft202012Validator(ocpi_schema(schema)).iter_errors(payload)]


def tariffs() -> dict[str, str]:
    return {entry.name: "Tariff" for entry in OCPI_EXAMPLES.iterdir()
            if re.fullmatch(r"tariff_\d+_.*\.json", entry.name)}


@pytest.mark.parametrize("name", ["Location", "EVSE", "Connector", "LocationPatch", "EvsePatch",
                                  "ConnectorPatch", "Session", "SessionPatch", "CDR", "Tariff", "Token",
                                  "Credentials", "CommandResult", "OcpiResponse", "VersionDetails"])
def test_derived_schema_is_standalone(name: str) -> None:
    schema = ocpi_schema(name)
    Draft202012Validator.check_schema(schema)
    refs = re.findall(r'"\$ref": "([^"]*)"', json.dumps(schema))
    assert refs and all(ref.startswith("#/$defs/") and ref[8:] in schema["$defs"] for ref in refs)


def test_official_examples_get_the_specifications_verdicts() -> None:
    cases = {**OFFICIAL, **tariffs()}
    assert len(cases) >= 45
    for name, schema in cases.items():
        assert errors(schema, example(name)) == [], name
    for name, schema in DEFECTIVE.items():
        assert errors(schema, example(name)), name
    assert all(errors("Version", version) == [] for version in example("versions_info_example.json"))


@pytest.mark.parametrize(("schema", "name", "change", "why"), [
    ("Location", "location_example.json", {"last_updated": "2015-06-29T20:39:09+00:00"}, "does not match"),
    ("Location", "location_example.json", {"last_updated": "2015-06-29 20:39:09Z"}, "does not match"),
    ("Location", "location_example.json", {"name": None}, "is not of type"),
    ("Session", "session_example_1_simple_start.json", {"status": "RESERVED"}, "is not one of"),
    ("EvsePatch", "location_patch_example_status.json", {"status": "Faulted"}, "is not one of"),
    ("Credentials", "credentials_example.json", {"roles": None}, "is not of type"),
])
def test_derived_schemas_refuse(schema: str, name: str, change: dict[str, Any], why: str) -> None:
    assert errors(schema, example(name)) == []
    found = errors(schema, {**example(name), **change})
    assert found and any(why in message for message in found), found


@pytest.mark.parametrize("moment", ["2015-06-29T20:39:09", "2015-06-29T20:39:09.123Z"])
def test_utc_without_z_or_with_fractions_is_allowed(moment: str) -> None:
    assert errors("Location", {**example("location_example.json"), "last_updated": moment}) == []


# --- the repository carries everything: shipped as package data, nothing read from outside -----------------

def test_an_installed_package_carries_and_loads_its_specifications(tmp_path: Path) -> None:
    """Laid out as an installation would (setuptools' build_py, package data included) in a folder
    with nothing around it, the loaders work from there alone."""
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source)
    for package in ("csms", "bridge", "simulators"):
        shutil.copytree(ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    installed = tmp_path / "installed"
    subprocess.run([sys.executable, "-c", "from setuptools import setup; setup()", "-q", "build_py",
                    "-d", str(installed)], cwd=source, check=True, capture_output=True)
    shipped = {p.relative_to(installed / "simulators" / "specs")
               for p in (installed / "simulators" / "specs").rglob("*") if p.is_file()}
    vendored = {p.relative_to(SPECS) for p in SPECS.rglob("*")
                if p.is_file() and "__pycache__" not in p.parts}
    assert vendored and shipped == vendored
    check = ("import simulators.specs as s, sys; "
             "assert s.__file__.startswith(sys.argv[1]), s.__file__; "
             "s.oicp_openapi(); s.oicp_pricing_swagger(); "
             "[s.ocpi_schema(n) for n in ('Location', 'EvsePatch', 'CDR', 'OcpiResponse')]; "
             "print(len(list(s.OCPI_EXAMPLES.iterdir())))")
    run = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(installed)!r}); "
                          + check, str(installed)], cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert int(run.stdout) >= 59


# Spelled in pieces so that this file does not match itself.
FORBIDDEN = re.compile("|".join([r"\.\./" + "shared", "shared/" + "specs", "SPECS" + "_DIR", "/" + "work/"]))


def test_nothing_tracked_reads_outside_the_repository() -> None:
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True)
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    offending = []
    for name in listed.stdout.split("\0"):
        path = ROOT / name
        if not name or name.endswith(".md") or not path.is_file():
            continue
        text = path.read_bytes().decode("utf-8", "replace")
        offending += [f"{name}: {match.group(0)}" for match in FORBIDDEN.finditer(text)]
    assert not offending
