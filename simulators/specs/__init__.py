"""The partners' published specifications, shipped verbatim as package data, and what is derived from them."""

from __future__ import annotations

import json
import re
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any
from urllib.parse import urljoin

import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

# Copied unmodified (see the README.md in each folder); anything else is derived below, in memory.
OICP = files(__name__) / "oicp-2.3"
OICP_OPENAPI = OICP / "oicp-cpo-2.3-openapi-3.0.yaml"
# Hubject's Swagger 2.0 file of the dynamic pricing service: it also limits string lengths
# (ProductID at most 50), which the OpenAPI 3.0 file writes as `maximum` and so never checks.
OICP_PRICING_SWAGGER = OICP / "dynamic-pricing-api-docs-1.0.json"
OCPI = files(__name__) / "ocpi-2.2.1"
OCPI_OPENAPI = OCPI / "openapi"
OCPI_EXAMPLES = OCPI / "examples"


class SpecLoader(yaml.SafeLoader):
    """YAML read as OpenAPI means it: a date-time example stays a string, as in JSON."""


SpecLoader.yaml_implicit_resolvers = {
    first: [resolver for resolver in resolvers if resolver[0] != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


def load_yaml(resource: Traversable) -> dict[str, Any]:
    """A fresh copy of a YAML file of the package, the caller's to change."""
    return dict(yaml.load(resource.read_text(encoding="utf-8"), Loader=SpecLoader))  # noqa: S506


# --- OICP: Hubject's files, made compilable by validators that use JavaScript's unicode regexes ----------

# JavaScript's `u` flag refuses `\-` and `\,` outside a character class (Prism then silently skips the
# schema); without the backslash they mean the same in every dialect.
_UNICODE_UNSAFE = re.compile(r"\\([-,])\?")
NOTIFICATIONS = "/notificationmgmt/v11/charging-notifications"


def _fix_patterns(node: Any) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str):
                node[key] = _UNICODE_UNSAFE.sub(r"\1?", value)
            else:
                _fix_patterns(value)
    elif isinstance(node, list):
        for item in node:
            _fix_patterns(item)


def _fix_notification_types(document: dict[str, Any]) -> None:
    """Each charging notification variant shares the 4-value Type enum and allows any other property,
    so a Progress body also matches Start and fails `oneOf`. Hubject's text says each variant takes only
    its own type ("For this case only the notification type 'Start' can be chosen")."""
    body = document["paths"][NOTIFICATIONS]["post"]["requestBody"]["content"]["application/json"]["schema"]
    for variant in body["oneOf"]:
        name = variant["$ref"].rsplit("/", 1)[1]
        kind = name.removeprefix("eRoamingChargingNotification")
        document["components"]["schemas"][name]["properties"]["Type"] = {"type": "string", "enum": [kind]}


@cache
def oicp_openapi() -> dict[str, Any]:
    """Hubject's OICP 2.3 CPO OpenAPI description as a validator needs it (shared: do not change)."""
    document = load_yaml(OICP_OPENAPI)
    _fix_patterns(document)
    _fix_notification_types(document)
    return document


@cache
def oicp_pricing_swagger() -> dict[str, Any]:
    """Hubject's Swagger 2.0 file of the dynamic pricing service, patterns fixed (shared: do not change)."""
    document = json.loads(OICP_PRICING_SWAGGER.read_text(encoding="utf-8"))
    _fix_patterns(document)
    return dict(document)


# --- OCPI: standalone JSON Schemas of the objects, bundled from the multi-file OpenAPI description ----------

# Identifies the description's files for $ref resolution; never fetched (.invalid is a reserved name).
_OCPI_BASE = "https://ocpi.invalid/2.2.1/openapi/"
# OCPI 2.2.1 types, DateTime: UTC only, the `Z` optional; "+00:00" is not allowed.
UTC_DATETIME = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z?$"


def _yaml_files(folder: Traversable, prefix: str = "") -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for entry in folder.iterdir():
        if entry.is_dir():
            found.update(_yaml_files(entry, f"{prefix}{entry.name}/"))
        elif entry.name.endswith(".yaml"):
            found[prefix + entry.name] = load_yaml(entry)
    return found


@cache
def _ocpi_description() -> tuple[Registry, dict[str, str]]:
    """Every file of the description by URI, and the URI of the file that defines each object
    at the top of a module (the shared/ files repeat some of the small types)."""
    documents = _yaml_files(OCPI_OPENAPI)
    registry: Registry = Registry().with_resources(
        (_OCPI_BASE + path, Resource.from_contents(document, default_specification=DRAFT202012))
        for path, document in documents.items())
    defined: dict[str, str] = {}
    # Deepest first, so that a module's own definition wins over a shared file's.
    for path, document in sorted(documents.items(), key=lambda item: item[0].count("/"), reverse=True):
        for name in document.get("components", {}).get("schemas", {}):
            defined[name] = f"{_OCPI_BASE}{path}#/components/schemas/{name}"
    return registry, defined


@cache
def ocpi_schema(name: str) -> dict[str, Any]:
    """The standalone JSON Schema (draft 2020-12) of an OCPI object, e.g. Location, EvsePatch,
    Credentials, OcpiResponse: its definition with every $ref bundled into $defs (shared: do not change)."""
    registry, defined = _ocpi_description()
    resolver = registry.resolver()
    defs: dict[str, Any] = {}
    origins: dict[str, str] = {}  # where each of $defs comes from

    def bundle(node: Any, base: str) -> Any:
        """`node`, found in the file `base`, with its $refs pointing into $defs."""
        if isinstance(node, list):
            return [bundle(item, base) for item in node]
        if not isinstance(node, dict):
            return node
        result = {key: bundle(value, base) for key, value in node.items() if key != "$ref"}
        if "$ref" in node:
            uri = urljoin(base, node["$ref"])
            key, target = uri.rsplit("/", 1)[-1], resolver.lookup(uri).contents
            if key not in origins:
                origins[key] = uri
                defs[key] = bundle(target, uri.partition("#")[0])
            elif origins[key] != uri and bundle(target, uri.partition("#")[0]) != defs[key]:
                raise ValueError(f"two different {key} in the OCPI description: {origins[key]}, {uri}")
            result["$ref"] = f"#/$defs/{key}"
        return result

    top = defined[name]
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": f"OCPI 2.2.1 {name}",
              **bundle(resolver.lookup(top).contents, top.partition("#")[0])}
    if "DateTime" in defs:
        defs["DateTime"] = {**defs["DateTime"], "pattern": UTC_DATETIME}
    if defs:
        schema["$defs"] = defs
    return schema
