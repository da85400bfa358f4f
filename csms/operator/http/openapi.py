"""The OpenAPI 3.0 description of the admin API, served at /api/v1/openapi.json."""

from __future__ import annotations

from functools import cache
from typing import Any

from csms.domain.model import SessionStatus
from csms.operator.http import paging
from csms.operator.http.fleet import commands_api
from csms.operator.http.schemas import (
    INTEGER,
    MAYBE_INTEGER,
    MAYBE_TEXT,
    OUTBOX_STATUSES,
    SCHEMAS,
    TEXT,
    enum,
    ref,
    resource,
)

_OBJECT = {"type": "object", "additionalProperties": True}  # free-form (a route not yet described)
_ERROR = ref("Error")
_COMMAND = ref("CommandResult")


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _path_param(name: str, kind: str = "string") -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": kind}}


def _query(name: str, kind: str = "string", many: bool = False,
           values: list[str] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": kind}
    if values is not None:
        schema["enum"] = list(values)
    if many:
        schema = {"type": "array", "items": schema}
    return {"name": name, "in": "query", "required": False, "schema": schema}


def _body(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:  # OpenAPI 3.0 wants a non-empty list or none at all
        schema["required"] = required
    return {"required": bool(required),
            "content": {"application/json": {"schema": schema}}}


def _read(summary: str, schema: dict[str, Any], params: list[dict[str, Any]]) -> dict[str, Any]:
    return {"summary": summary, "parameters": params,
            "responses": {"200": _json(schema), "401": _json(_ERROR, "No or wrong token"),
                          "404": _json(_ERROR, "Not found")}}


def _list(summary: str, item: str, params: list[dict[str, Any]]) -> dict[str, Any]:
    """A list route: a page of `item`s (csms/operator/http/paging.py), 400 for a bad page."""
    operation = _read(summary, paging.schema(ref(item)), params + paging.parameters())
    operation["responses"]["400"] = _json(_ERROR, "Bad request (limit, offset, a filter)")
    return operation


def _command(summary: str, params: list[dict[str, Any]],
             body: dict[str, Any] | None = None) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "parameters": params,
        "responses": {
            "200": _json(_COMMAND, "The charger accepted"),
            "400": _json(_ERROR, "Bad request"),
            "401": _json(_ERROR, "No or wrong token"),
            "404": _json(_COMMAND, "Unknown charge point, EVSE or session"),
            "409": _json(_COMMAND, "Rejected by the charger, the EVSE is busy, "
                                   "(remote start) our tokens table holds the token as blocked, "
                                   "expired or invalid, or the charger's protocol does not "
                                   "support it (not_supported)"),
            "502": _json(_COMMAND, "The charger answered with a CALLERROR"),
            "503": _json(_COMMAND, "The charger is offline"),
            "504": _json(_COMMAND, "The charger did not answer in time"),
        },
    }
    if body is not None:
        operation["requestBody"] = body
    return operation


def _with_refusals(paths: dict[str, Any]) -> dict[str, Any]:
    """The answers any operation may give before its handler runs, and the role it needs
    (x-required-role, from csms/operator/http/team/access.py; public: no security)."""
    from csms.operator.http.team.access import required

    for path, item in paths.items():
        for method, operation in item.items():
            if method == "servers":  # a path's own server, not an operation
                continue
            # the probes and metrics name their own server: their path is the server's root
            canonical = path if "servers" in item else "/api/v1" + path
            role = required(method.upper(), canonical)
            responses = operation["responses"]
            responses.setdefault("429", {
                **_json(_ERROR, "Too many wrong tokens from this address"),
                "headers": {"Retry-After": {"description": "Seconds until it may try again",
                                            "schema": {"type": "integer"}}}})
            if role is None:
                operation["security"] = []
            else:
                operation["x-required-role"] = role.label
                responses.setdefault("403", _json(
                    _ERROR, f"The caller's role is below {role.label}; or, with the console's "
                            "cookie, a change not in JSON or not from the console's origin"))
            if "requestBody" in operation:
                responses.setdefault("415", _json(_ERROR, "The body is not application/json"))
    return paths


def _jobs_paths() -> dict[str, Any]:
    from csms.operator.http.fleet.jobs_api import openapi_paths  # it imports this module's helpers

    return openapi_paths()


@cache
def openapi_document() -> dict[str, Any]:
    cp = _path_param("cp")
    evse = _path_param("evse", "integer")
    session = _path_param("id")
    uid = _path_param("uid")
    return {
        "openapi": "3.0.3",
        "info": {"title": "CSMS admin API", "version": "1"},
        "servers": [{"url": "/api/v1"}],
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
                       "schemas": SCHEMAS},
        "security": [{"bearer": []}],
        "paths": _with_refusals({
            "/charge-points": {
                "get": _list("Charge points with connection state and their EVSEs' statuses",
                             "ChargePointListed", []),
                "post": {
                    "summary": "Register or update a charge point and its EVSEs",
                    "requestBody": _body({
                        "id": {"type": "string"},
                        "password": {"type": "string"},
                        "registration": {"type": "string",
                                         "enum": ["accepted", "pending", "rejected"]},
                        "evses": {"type": "object", "additionalProperties": {"type": "string"},
                                  "description": "EVSE number → roaming EvseID"},
                        "security_profile": {"type": "integer", "enum": [0, 1, 2, 3],
                                             "description": "0: connects without credentials"},
                    }, ["id"]),
                    "responses": {"201": _json(ref("ChargePoint"), "Registered"),
                                  "400": _json(_ERROR, "Bad request"),
                                  "409": _json(_ERROR, "EvseID already used")},
                },
            },
            "/charge-points/{cp}": {"get": _read("One charge point with its EVSEs",
                                                 ref("ChargePoint"), [cp])},
            "/charge-points/{cp}/evses": {"get": _list("EVSEs and connectors", "Evse", [cp])},
            "/charge-points/{cp}/reports": {"get": _list(
                "Stored charger reports (DataTransfer, SecurityEventNotification, …), newest "
                "first", "Report", [cp, _query("kind")])},
            "/security-events": {"get": _list(
                "SecurityEventNotifications of all chargers (or one), newest first",
                "SecurityEvent", [_query("charge_point")])},
            "/charge-points/{cp}/reset": {"post": _command(
                "Reset", [cp], _body({"hard": {"type": "boolean"}}, []))},
            "/charge-points/{cp}/availability": {"post": _command(
                "Change availability of an EVSE (0: the whole charge point) or of one of its "
                "connectors; detail.status Scheduled: once its transaction ends", [cp],
                _body({"evse": {"type": "integer"}, "connector": {"type": "integer"},
                       "operative": {"type": "boolean"}}, ["operative"]))},
            "/charge-points/{cp}/trigger": {"post": _command(
                "Ask the charger to send a message", [cp],
                _body({"message": {"type": "string"}, "evse": {"type": "integer"}},
                      ["message"]))},
            "/charge-points/{cp}/configuration": {
                "get": _command("Read configuration keys (2.0.1: Component.Variable)",
                                [cp, _query("key", many=True)]),
                "post": _command("Change one configuration key (key, value), or several (values: "
                                 "key to value; detail.results: the charger's status by key)",
                                 [cp], _body(
                    {"key": {"type": "string"}, "value": {"type": "string"},
                     "values": {"type": "object",
                                "additionalProperties": {"type": "string"}}}, [])),
            },
            "/charge-points/{cp}/evses/{evse}/start": {"post": _command(
                "Start a session remotely", [cp, evse],
                _body({"token": {"type": "string"}, "profile": {
                    "type": "object", "description": "optional: a Tx profile (purpose Tx, no "
                    "transaction_id) the charger applies to the transaction it starts; the "
                    "form of POST /charge-points/{cp}/charging-profiles"}}, ["token"]))},
            "/charge-points/{cp}/password": {"post": _command(
                "Set the charger's Basic auth password: pushed to it, stored once it accepted",
                [cp], _body({"password": {"type": "string"}}, ["password"]))},
            "/charge-points/{cp}/evses/{evse}/unlock": {"post": _command(
                "Unlock the connector", [cp, evse])},
            "/charge-points/{cp}/evses/{evse}/reserve": {"post": _command(
                "Reserve the EVSE for a token (detail.reservation_id names it)", [cp, evse],
                _body({"token": {"type": "string"}, "minutes": {"type": "integer"}}, ["token"]))},
            "/charge-points/{cp}/registration": {"post": {
                "summary": "Set the registration policy: its next BootNotification is answered "
                           "so (Pending and Rejected with `interval` seconds to the next); set "
                           "to accepted, a charger told otherwise is asked to boot again",
                "parameters": [cp],
                "requestBody": _body({
                    "registration": {"type": "string",
                                     "enum": ["accepted", "pending", "rejected"]},
                    "interval": {"type": "integer", "minimum": 1},
                }, ["registration"]),
                "responses": {"200": _json(resource({
                    "registration": enum(["accepted", "pending", "rejected"]),
                    "interval": MAYBE_INTEGER, "boot_triggered": MAYBE_TEXT}),
                    "Stored (boot_triggered: the trigger's outcome, if one was sent)"),
                              "400": _json(_ERROR, "Bad request"),
                              "404": _json(_ERROR, "Unknown charge point")},
            }},
            "/reservations/{id}/cancel": {"post": _command(
                "Cancel a reservation", [_path_param("id", "integer")])},
            "/sessions": {"get": _list("Sessions, newest first", "Session", [
                _query("status", values=[s.value for s in SessionStatus]),
                _query("charge_point"), _query("evse", "integer")])},
            "/sessions/{id}": {"get": _read("One session", ref("Session"), [session])},
            "/sessions/{id}/meter-values": {"get": _list("The session's meter samples, oldest "
                                                         "first", "MeterSample", [session])},
            "/sessions/{id}/stop": {"post": _command("Stop a session remotely", [session])},
            "/sessions/{id}/close": {"post": {
                "summary": "End a session the charger never will (replaced, memory wiped): at its "
                           "last known meter value, stop_reason closed_by_operator; CDRs go out",
                "parameters": [session],
                "responses": {"200": _json(ref("Session"), "The closed session"),
                              "401": _json(_ERROR, "No or wrong token"),
                              "404": _json(_ERROR, "Unknown session"),
                              "409": _json(_ERROR, "The session is not active")}}},
            "/tokens": {
                "get": _list("Tokens", "Token", []),
                "post": {
                    "summary": "Add or update a token",
                    "requestBody": _body({
                        "uid": {"type": "string"}, "type": {"type": "string"},
                        "status": {"type": "string",
                                   "enum": ["accepted", "blocked", "expired", "invalid"]},
                        "expires_at": {"type": "string", "format": "date-time"},
                        "group": {"type": "string", "nullable": True},
                    }, ["uid"]),
                    "responses": {"201": _json(ref("Token"), "Stored"),
                                  "400": _json(_ERROR, "Bad request")},
                },
            },
            "/tokens/{uid}": {"get": _read("One token", ref("Token"), [uid])},
            "/tokens/{uid}/block": {"post": _read("Block a token", ref("Token"), [uid])},
            "/tokens/{uid}/unblock": {"post": _read("Unblock a token", ref("Token"), [uid])},
            "/outbox": {"get": _list(
                "Roaming messages, newest first, with their delivery state and last error",
                "OutboxMessage", [_query("partner"), _query("status", values=OUTBOX_STATUSES)])},
            "/outbox/{id}/retry": {"post": _read("Retry a failed or waiting roaming message now",
                                                 resource({"id": INTEGER, "status": TEXT}),
                                                 [_path_param("id", "integer")])},
            "/partners": {"get": _list(
                "Roaming partners (Hubject, each OCPI party): registration, delivery state, outbox "
                "counts, the message waiting and its error, the last EVSE status and data pushes; "
                "an OCPI hub's parties (status, messages held) and each OCPI partner's token "
                "pulls",
                "Partner", [])},
            "/charge-points/{cp}/messages": {"get": _list(
                "The charger's latest OCPP frames seen by this node, oldest first (offset counts "
                "back from the newest)", "Frame", [cp])},
            "/events": {"get": {
                "summary": "Server-sent events: committed domain changes of all nodes (event "
                           "'domain'); with charge_point, that charger's OCPP frames ('frame'); "
                           "with session, its meter values",
                "parameters": [_query("charge_point"), _query("session")],
                "responses": {"200": {"description": "An endless event stream",
                                      "content": {"text/event-stream": {"schema": {
                                          "type": "string"}}}},
                              "400": _json(_ERROR, "Bad request"),
                              "401": _json(_ERROR, "No or wrong token")},
            }},
            "/login": {"post": {
                "summary": "The web console's login: a user's name and password (or api.token, "
                           "the bootstrap admin's) for a session in an HttpOnly cookie that the "
                           "API then accepts instead of the bearer header",
                "security": [],
                "requestBody": _body({"user": {"type": "string"},
                                      "password": {"type": "string"},
                                      "token": {"type": "string"}}, []),
                "responses": {"200": _json(resource({"status": TEXT}), "Logged in, cookie set"),
                              "400": _json(_ERROR, "Bad request"),
                              "401": _json(_ERROR, "Wrong user name, password or token"),
                              "503": _json(_ERROR, "Too many logins under way")},
            }},
            "/charge-points/{cp}/local-list": {"get": _read(
                "The charger's local authorization list: version, sync state, entries held",
                ref("LocalList"), [cp])},
            "/charge-points/{cp}/local-list/sync": {"post": {
                "summary": "Send the charger a full local list (by whichever node holds it)",
                "parameters": [cp],
                "responses": {"202": _json(ref("LocalList"),
                                           "Asked; the state shows when it is done"),
                              "401": _json(_ERROR, "No or wrong token"),
                              "404": _json(_ERROR, "Unknown charge point")}}},
            "/charge-points/{cp}/reserve": {"post": _command(
                "Reserve any EVSE of the charger for a token (of connector_type, when given): "
                "a session by the token (or its group) on any EVSE uses it", [cp],
                _body({"token": {"type": "string"}, "minutes": {"type": "integer"},
                       "connector_type": {"type": "string"}}, ["token"]))},
            "/tokens/{uid}/group": {"post": {
                "summary": "Put a token in a group (null: in none); tokens of a group may stop "
                           "each other's sessions and use each other's reservations",
                "parameters": [uid],
                "requestBody": _body({"group": {"type": "string", "nullable": True}}, ["group"]),
                "responses": {"200": _json(ref("Token"), "The token"),
                              "400": _json(_ERROR, "Bad request"),
                              "404": _json(_ERROR, "Unknown token")}}},
            "/logout": {"post": _read("End the console's login session on every node (and clear "
                                      "the cookie)", resource({"status": TEXT}), [])},
            **_probe_paths(),
            **_device_model_paths(cp),
            **commands_api.paths(cp, _command, _body, _json, _ERROR),
            **_jobs_paths(),
            **_certificate_paths(cp),
            **_profile_paths(cp),
            **_users_paths(),
            **_overview_paths(),
            **_allowance_paths(cp),
            **_allocation_paths(),
            **_site_limit_paths(cp, evse),
            **_tariff_paths(),
            **_cdr_paths(),
        }),
    }


def _users_paths() -> dict[str, Any]:
    from csms.operator.http.team.users_api import openapi_paths  # it imports this module's helpers
    return openapi_paths()


# The probes and the metrics sit at the server's root, outside /api/v1 (load balancers, orchestrators
# and Prometheus expect them there): each path names its own server.
ROOT_SERVERS = [{"url": "/", "description": "the admin API's server itself, outside /api/v1"}]


def _probe_paths() -> dict[str, Any]:
    status = {"type": "object", "properties": {"status": {"type": "string"}}}
    unready = {"type": "object", "properties": {
        "status": {"type": "string", "enum": ["unavailable"]},
        "database": {"type": "string", "description": "why the database did not answer"},
        "pending_migrations": {"type": "array", "items": {"type": "string"}}}}
    return {
        "/healthz": {"servers": ROOT_SERVERS, "get": {
            "summary": "Liveness: the process answers (no token needed)", "security": [],
            "responses": {"200": _json({**status, "example": {"status": "ok"}}, "Alive")}}},
        "/readyz": {"servers": ROOT_SERVERS, "get": {
            "summary": "Readiness: the database answers and holds every migration this code "
                       "needs (no token needed)", "security": [],
            "responses": {"200": _json({**status, "example": {"status": "ready"}}, "Ready"),
                          "503": _json(unready, "Not ready: the database is unreachable or "
                                                "migrations are pending")}}},
        "/metrics": {"servers": ROOT_SERVERS, "get": {
            "summary": "Prometheus metrics (text exposition format 0.0.4), behind the bearer "
                       "token like the API (Prometheus sends it as `authorization`)",
            "responses": {"200": {"description": "The metrics", "content": {
                              "text/plain": {"schema": {"type": "string"}}}},
                          "401": _json(_ERROR, "No or wrong token")}}},
    }


def _allocation_paths() -> dict[str, Any]:
    from csms.operator.http.energy.allocation_api import openapi_paths  # it imports this module's helpers
    return openapi_paths()


def _cdr_paths() -> dict[str, Any]:
    from csms.operator.http.cdrs_api import openapi_paths  # it imports this module's helpers
    return openapi_paths()


def _tariff_paths() -> dict[str, Any]:
    from csms.operator.http.tariffs_api import openapi_paths  # it imports this module's helpers
    return openapi_paths()


def _site_limit_paths(cp: dict[str, Any], evse: dict[str, Any]) -> dict[str, Any]:
    from csms.operator.http.energy.site_limits_api import openapi_paths  # it imports this module's helpers
    return openapi_paths(cp, evse)


def _profile_paths(cp: dict[str, Any]) -> dict[str, Any]:
    from csms.operator.http.energy.profiles_api import openapi_paths  # it imports this module's helpers
    return openapi_paths(cp)


def _overview_paths() -> dict[str, Any]:
    from csms.operator.http.overview_api import openapi_paths  # it imports this module's helpers
    return openapi_paths()


def _allowance_paths(cp: dict[str, Any]) -> dict[str, Any]:
    from csms.operator.http.energy.allowances_api import openapi_paths  # it imports this module's helpers
    return openapi_paths(cp)


def _device_model_paths(cp: dict[str, Any]) -> dict[str, Any]:
    """The device model's routes (OCPP 2.0.1; other chargers answer not_supported)."""
    text, number, flag = {"type": "string"}, {"type": "integer"}, {"type": "boolean"}
    where: dict[str, Any] = {"type": "object", "required": ["component"], "properties": {
        "component": text, "component_instance": text, "evse_id": number,
        "connector_id": number, "variable": text, "variable_instance": text}}
    attribute = {"type": "string", "enum": ["Actual", "Target", "MinSet", "MaxSet"]}
    many = {"type": "array", "items": where}
    ids = {"type": "array", "items": number}
    request_id = _path_param("request_id", "integer")
    return {
        "/charge-points/{cp}/device-model": {"get": _list(
            "The charger's inventory: variables with attributes and characteristics",
            "DeviceVariable", [cp, _query("component"), _query("variable"),
                               _query("evse", "integer")])},
        "/charge-points/{cp}/device-model/report": {"post": _command(
            "Ask for a base report (FullInventory, ConfigurationInventory, SummaryInventory) or a "
            "report by criteria and variables; its parts fill the inventory (detail.request_id)",
            [cp], _body({"base": {"type": "string", "enum": ["FullInventory",
                                                             "ConfigurationInventory",
                                                             "SummaryInventory"]},
                         "criteria": {"type": "array", "items": {
                             "type": "string",
                             "enum": ["Active", "Available", "Enabled", "Problem"]}},
                         "variables": many}, []))},
        "/charge-points/{cp}/device-model/requests": {"get": _list(
            "Requests answered in parts (reports, monitoring reports, display messages, "
            "customer information) and how far they came, newest first", "DeviceRequest",
            [cp, _query("kind")])},
        "/charge-points/{cp}/device-model/requests/{request_id}": {"get": _read(
            "One such request (customer information: its data)", ref("DeviceRequestData"),
            [cp, request_id])},
        "/charge-points/{cp}/device-model/variables/get": {"post": _command(
            "Read variables from the charger (kept in the inventory)", [cp],
            _body({"variables": {"type": "array", "items": {**where, "properties": {
                **where["properties"], "attribute_type": attribute}}}}, ["variables"]))},
        "/charge-points/{cp}/device-model/variables/set": {"post": _command(
            "Write variables (accepted values kept in the inventory)", [cp],
            _body({"variables": {"type": "array", "items": {
                **where, "required": ["component", "variable", "value"], "properties": {
                    **where["properties"], "attribute_type": attribute, "value": text}}}},
                  ["variables"]))},
        "/charge-points/{cp}/monitors": {
            "get": _list("The charger's monitors as reported or set", "Monitor",
                         [cp, _query("component")]),
            "post": _command("Set monitors (SetVariableMonitoring)", [cp], _body(
                {"monitors": {"type": "array", "items": {**where, "properties": {
                    **where["properties"], "id": number, "type": text,
                    "value": {"type": "number"}, "severity": number, "transaction": flag}}}},
                ["monitors"])),
        },
        "/charge-points/{cp}/monitors/clear": {"post": _command(
            "Clear monitors by id", [cp], _body({"ids": ids}, ["ids"]))},
        "/charge-points/{cp}/monitors/report": {"post": _command(
            "Ask for a monitoring report (its parts fill the monitors)", [cp], _body(
                {"criteria": {"type": "array", "items": {
                    "type": "string", "enum": ["ThresholdMonitoring", "DeltaMonitoring",
                                               "PeriodicMonitoring"]}},
                 "variables": many}, []))},
        "/charge-points/{cp}/monitoring/base": {"post": _command(
            "Set the monitoring base", [cp], _body({"base": {
                "type": "string", "enum": ["All", "FactoryDefault", "HardWiredOnly"]}},
                ["base"]))},
        "/charge-points/{cp}/monitoring/level": {"post": _command(
            "Set the monitoring level (0 danger … 9 debug)", [cp],
            _body({"severity": number}, ["severity"]))},
        "/charge-points/{cp}/device-events": {"get": _list(
            "Events the charger notified (NotifyEvent), newest first", "DeviceEvent",
            [cp, _query("component")])},
        "/charge-points/{cp}/display-messages": {
            "get": _list("Display messages as set or reported", "DisplayMessage", [cp]),
            "post": _command("Set a display message", [cp], _body({
                "id": number, "content": text, "priority": text, "format": text,
                "language": text, "state": text, "evse_id": number, "transaction_id": text,
                "starts_at": text, "ends_at": text}, ["id", "content"])),
        },
        "/charge-points/{cp}/display-messages/report": {"post": _command(
            "Ask the charger for its display messages", [cp],
            _body({"ids": ids, "priority": text, "state": text}, []))},
        "/charge-points/{cp}/display-messages/{id}/clear": {"post": _command(
            "Clear a display message", [cp, _path_param("id", "integer")])},
        "/charge-points/{cp}/customer-information": {"post": _command(
            "Report and/or clear what the charger holds of a customer (detail.request_id; "
            "the data assembles under device-model/requests/{request_id})", [cp],
            _body({"identifier": text, "token": text, "report": flag, "clear": flag}, []))},
    }


def _certificate_paths(cp: dict[str, Any]) -> dict[str, Any]:
    """Chargers' certificates and security profiles (csms/operator/http/fleet/certificates_api.py)."""
    hex_string = {"type": "string", "pattern": "^[0-9A-Fa-f]{1,128}$"}
    return {
        "/charge-points/{cp}/certificates": {
            "get": _list("Certificates the charger holds, as it last reported or accepted them",
                         "Certificate", [cp]),
            "post": _command("Install a root certificate on the charger (InstallCertificate)",
                             [cp], _body({"type": {"type": "string", "enum": [
                                 "csms_root", "manufacturer_root", "v2g_root", "mo_root"]},
                                 "certificate": {"type": "string"}}, ["type", "certificate"])),
        },
        "/charge-points/{cp}/certificates/refresh": {"post": _command(
            "Ask the charger which certificates it holds (GetInstalledCertificateIds) and keep "
            "its answer", [cp], _body({"types": {"type": "array", "items": {"type": "string"}}},
                                      []))},
        "/charge-points/{cp}/certificates/delete": {"post": _command(
            "Delete a certificate on the charger (DeleteCertificate)", [cp], _body({
                "hash_algorithm": {"type": "string", "enum": ["SHA256", "SHA384", "SHA512"]},
                "issuer_name_hash": hex_string, "issuer_key_hash": hex_string,
                "serial_number": hex_string},
                ["hash_algorithm", "issuer_name_hash", "issuer_key_hash", "serial_number"]))},
        "/charge-points/{cp}/certificates/renew": {"post": _command(
            "Ask the charger for a new CSR (A02); our CA signs it as any SignCertificate", [cp],
            _body({"type": {"type": "string", "enum": ["charging_station", "v2g"]}}, []))},
        "/charge-points/{cp}/security-profile": {"post": _command(
            "Raise the charger's security profile, then reset it: it is then admitted over TLS "
            "only (2), with its client certificate (3)", [cp],
            _body({"profile": {"type": "integer", "enum": [1, 2, 3]},
                   "reset": {"type": "boolean"}}, ["profile"]))},
    }
