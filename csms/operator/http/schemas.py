"""The admin API's resources as OpenAPI component schemas, held to real answers by a test."""

from __future__ import annotations

from typing import Any

from csms.domain.model import EvseStatus, SessionStatus
from csms.operator.http.team.access import ROLE_NAMES

OUTBOX_STATUSES = ["pending", "delivered", "failed"]
HUB_CLIENT_STATUSES = ["CONNECTED", "OFFLINE", "PLANNED", "SUSPENDED"]  # OCPI ConnectionStatus
TOKEN_STATUSES = ["accepted", "blocked", "expired", "invalid"]
JOB_KINDS = ["firmware", "log"]
JOB_STATES = ["queued", "requested", "downloading", "downloaded", "installing", "installed",
              "uploading", "uploaded", "failed"]
OUTCOMES = ["accepted", "rejected", "offline", "timeout", "failed", "not_found", "busy",
            "token_refused", "not_supported", "invalid"]
ROLES = list(ROLE_NAMES)

TEXT: dict[str, Any] = {"type": "string"}
MAYBE_TEXT: dict[str, Any] = {"type": "string", "nullable": True}
INTEGER: dict[str, Any] = {"type": "integer"}
MAYBE_INTEGER: dict[str, Any] = {"type": "integer", "nullable": True}
NUMBER: dict[str, Any] = {"type": "number"}
MAYBE_NUMBER: dict[str, Any] = {"type": "number", "nullable": True}
FLAG: dict[str, Any] = {"type": "boolean"}
MAYBE_FLAG: dict[str, Any] = {"type": "boolean", "nullable": True}
TIME: dict[str, Any] = {"type": "string", "format": "date-time"}
MAYBE_TIME: dict[str, Any] = {"type": "string", "format": "date-time", "nullable": True}
ANY_OBJECT: dict[str, Any] = {"type": "object", "additionalProperties": True}
MAYBE_OBJECT: dict[str, Any] = {"type": "object", "additionalProperties": True, "nullable": True}


def ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def enum(values: list[str], nullable: bool = False) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "enum": list(values)}
    if nullable:
        schema["nullable"] = True
    return schema


def resource(properties: dict[str, Any], description: str = "", optional: tuple[str, ...] = (),
             more: bool = False) -> dict[str, Any]:
    """Every property is in every answer unless `optional`; no others unless `more`."""
    schema: dict[str, Any] = {"type": "object", "properties": properties,
                              "required": [name for name in properties if name not in optional],
                              "additionalProperties": more}
    if description:
        schema["description"] = description
    return schema


EVSE_STATUS = enum([s.value for s in EvseStatus])
_ADDRESS = {"component": TEXT, "component_instance": MAYBE_TEXT, "evse_id": MAYBE_INTEGER,
            "connector_id": MAYBE_INTEGER, "variable": TEXT, "variable_instance": MAYBE_TEXT}
_CHARGE_POINT = {
    "id": TEXT, "registration": enum(["accepted", "pending", "rejected"]),
    "protocol": enum(["ocpp1.6", "ocpp2.0.1"], nullable=True), "vendor": MAYBE_TEXT,
    "model": MAYBE_TEXT, "serial_number": MAYBE_TEXT, "firmware_version": MAYBE_TEXT,
    "boot_status": MAYBE_TEXT, "status": EVSE_STATUS, "error_code": MAYBE_TEXT,
    "connected": FLAG, "connected_at": MAYBE_TIME, "last_seen": MAYBE_TIME,
    "last_boot": MAYBE_TIME, "created_at": TIME, "site_id": MAYBE_TEXT,
    "security_profile": {"type": "integer", "enum": [0, 1, 2, 3]}, "node_id": MAYBE_TEXT,
    "registration_interval": MAYBE_INTEGER}
_JOB = {"id": INTEGER, "charge_point_id": TEXT, "kind": enum(JOB_KINDS),
        "state": enum(JOB_STATES), "parameters": ANY_OBJECT, "last_status": MAYBE_TEXT,
        "file_name": MAYBE_TEXT, "rollout_id": MAYBE_INTEGER, "not_before": TIME,
        "created_at": TIME, "requested_at": MAYBE_TIME, "updated_at": TIME,
        "finished_at": MAYBE_TIME}
_DEVICE_REQUEST = {"request_id": INTEGER, "kind": TEXT, "status": TEXT, "parts": INTEGER,
                   "requested_at": TIME, "completed_at": MAYBE_TIME}
_API_TOKEN = {"id": INTEGER, "name": TEXT, "user": MAYBE_TEXT, "role": enum(ROLES),
              "prefix": TEXT, "created_by": TEXT, "created_at": TIME, "expires_at": MAYBE_TIME,
              "revoked_at": MAYBE_TIME, "last_used_at": MAYBE_TIME}

SCHEMAS: dict[str, dict[str, Any]] = {
    "Error": resource({"error": TEXT}, "A refusal: its reason in one line"),
    "CommandResult": resource(
        {"outcome": enum(OUTCOMES), "detail": ANY_OBJECT,
         "session_id": {"type": "string", "format": "uuid"}},
        "A command's outcome and what the charger said (detail)", optional=("session_id",)),
    "Connector": resource({"connector_number": INTEGER, "status": EVSE_STATUS,
                           "ocpp_status": MAYBE_TEXT, "error_code": MAYBE_TEXT,
                           "status_at": MAYBE_TIME}),
    "Evse": resource({
        "evse_number": INTEGER, "evse_id": MAYBE_TEXT, "status": EVSE_STATUS,
        "ocpp_status": MAYBE_TEXT, "error_code": MAYBE_TEXT, "status_at": MAYBE_TIME,
        "created_at": TIME, "retired_at": MAYBE_TIME, "updated_at": TIME,
        "connectors": {"type": "array", "items": ref("Connector")}},
        "An EVSE (evse_id: its roaming EvseID) and its connectors"),
    "EvseStatus": resource({"evse_number": INTEGER, "evse_id": MAYBE_TEXT,
                            "status": EVSE_STATUS}, "An EVSE's status in a fleet listing"),
    "ChargePointListed": resource(
        {**_CHARGE_POINT, "evses": {"type": "array", "items": ref("EvseStatus")}},
        "A charge point in the fleet's list, its EVSEs' statuses"),
    "ChargePoint": resource(
        {**_CHARGE_POINT, "live": FLAG, "evses": {"type": "array", "items": ref("Evse")}},
        "One charge point (live: held by a node now) with its EVSEs and connectors"),
    "Session": resource({
        "id": {"type": "string", "format": "uuid"}, "charge_point_id": TEXT,
        "evse_number": INTEGER, "evse_id": MAYBE_TEXT, "connector_number": MAYBE_INTEGER,
        "transaction_id": MAYBE_TEXT, "token_uid": MAYBE_TEXT,
        "status": enum([s.value for s in SessionStatus]), "remote": FLAG,
        "remote_start_id": MAYBE_INTEGER, "authorization_status": MAYBE_TEXT,
        "requested_at": MAYBE_TIME, "started_at": MAYBE_TIME, "stopped_at": MAYBE_TIME,
        "charging_started_at": MAYBE_TIME, "meter_start_wh": MAYBE_NUMBER,
        "meter_stop_wh": MAYBE_NUMBER, "energy_wh": MAYBE_NUMBER, "stop_reason": MAYBE_TEXT,
        "last_seq_no": MAYBE_INTEGER, "attributes": ANY_OBJECT, "created_at": TIME,
        "updated_at": TIME},
        "A charging session (energy_wh: charged so far; attributes: roaming ids and cost)"),
    "MeterSample": resource({"sampled_at": TIME, "measurand": TEXT, "value": NUMBER,
                             "unit": MAYBE_TEXT, "context": MAYBE_TEXT, "phase": MAYBE_TEXT,
                             "location": MAYBE_TEXT}),
    "Token": resource({
        "uid": TEXT, "type": TEXT, "status": enum(TOKEN_STATUSES), "expires_at": MAYBE_TIME,
        "group_id": MAYBE_TEXT, "owner": MAYBE_TEXT, "country_code": TEXT, "party_id": TEXT,
        "realtime": FLAG, "attributes": ANY_OBJECT, "created_at": TIME, "updated_at": TIME},
        "An authorization token: ours (owner null) or a roaming partner's"),
    "OutboxMessage": resource({
        "id": INTEGER, "partner": TEXT, "operation": TEXT, "path": TEXT,
        "status": enum(OUTBOX_STATUSES), "attempts": INTEGER, "next_attempt_at": TIME,
        "last_error": MAYBE_TEXT, "error_words": MAYBE_TEXT, "created_at": TIME,
        "delivered_at": MAYBE_TIME, "body": ANY_OBJECT,
        "addressee": MAYBE_TEXT, "held": FLAG},
        "A roaming message and its delivery state (the last error also in words); addressee: the "
        "party behind an OCPI hub it is for, held: waiting until the hub says that party is "
        "connected"),
    "Partner": resource({
        "partner": TEXT, "kind": enum(["oicp", "ocpi"]), "name": TEXT, "registration": TEXT,
        "parties": {"type": "array", "items": TEXT}, "versions_url": MAYBE_TEXT,
        "version": MAYBE_TEXT, "state": enum(["ok", "retrying", "idle"]),
        "outbox": resource({status: INTEGER for status in OUTBOX_STATUSES}),
        "waiting": MAYBE_OBJECT, "last_failed": MAYBE_OBJECT,
        "last_delivered_at": MAYBE_TIME,
        "hub_clients": {"type": "array", "nullable": True, "items": resource({
            "party": TEXT, "role": TEXT, "status": enum(HUB_CLIENT_STATUSES),
            "last_updated": TIME, "held": INTEGER})},
        "token_pull": {**resource({
            "last_full_at": MAYBE_TIME, "last_incremental_at": MAYBE_TIME, "next_due_at": TIME,
            "tokens": MAYBE_INTEGER, "last_error": MAYBE_TEXT, "error_words": MAYBE_TEXT,
            "failures": INTEGER}), "nullable": True}},
        "A roaming partner (Hubject, an OCPI party) and its deliveries; more: last_<kind>_push "
        "(the newest message of each push). An OCPI party's hub_clients (a hub's, else null): "
        "the parties it fronts ('CC*PID'), their ConnectionStatus and the messages held for "
        "each; token_pull (null before the first): its token list's pulls — when the last full "
        "one and the last incremental one since began, the next due, the tokens the last stored, "
        "the last one's error (also in words) and failures in a row",
        optional=("parties", "versions_url", "version", "hub_clients", "token_pull"),
        more=True),
    "Frame": resource({"at": TIME, "charge_point_id": TEXT, "direction": enum(["in", "out"]),
                       "frame": TEXT}, "An OCPP frame as seen on the wire (secrets masked)"),
    "Report": resource({"kind": TEXT, "payload": ANY_OBJECT, "received_at": TIME},
                       "A charger's report (DataTransfer, SecurityEventNotification, …)"),
    "SecurityEvent": resource({"charge_point_id": TEXT, "received_at": TIME, "type": TEXT},
                              "A SecurityEventNotification's fields, its charger's id",
                              more=True),
    "DeviceVariable": resource({**_ADDRESS, "attributes": {"type": "array", "items": ANY_OBJECT},
                                "characteristics": MAYBE_OBJECT, "updated_at": TIME}),
    "DeviceRequest": resource(_DEVICE_REQUEST,
                              "A request answered in parts (status: requested, receiving, "
                              "complete, or the charger's refusal)"),
    "DeviceRequestData": resource({**_DEVICE_REQUEST, "data": TEXT},
                                  "One such request with its data (customer information)"),
    "Monitor": resource({"id": INTEGER, **_ADDRESS, "type": TEXT, "value": NUMBER,
                         "severity": INTEGER, "transaction": FLAG, "updated_at": TIME}),
    "DeviceEvent": resource({"event_id": INTEGER, **_ADDRESS, "occurred_at": TIME,
                             "trigger": TEXT, "notification_type": MAYBE_TEXT,
                             "actual_value": MAYBE_TEXT, "cleared": MAYBE_FLAG,
                             "received_at": TIME},
                            "A NotifyEvent's event; more: its optional fields", more=True),
    "DisplayMessage": resource({
        "message_id": INTEGER, "priority": TEXT, "state": MAYBE_TEXT, "content": TEXT,
        "format": MAYBE_TEXT, "language": MAYBE_TEXT, "evse_id": MAYBE_INTEGER,
        "starts_at": MAYBE_TIME, "ends_at": MAYBE_TIME, "transaction_id": MAYBE_TEXT,
        "updated_at": TIME}),
    "Certificate": resource({
        "certificate_type": TEXT, "hash_algorithm": enum(["SHA256", "SHA384", "SHA512"]),
        "issuer_name_hash": TEXT, "issuer_key_hash": TEXT, "serial_number": TEXT,
        "updated_at": TIME}, "A certificate the charger holds, by its hash data"),
    "ChargingProfileSent": resource({
        "evse": INTEGER, "status": TEXT, "detail": MAYBE_TEXT, "updated_at": TIME,
        "profile": ANY_OBJECT},
        "A charging profile sent and the charger's answer (status Accepted, Rejected, or "
        "Pending: no answer came)"),
    "Allowance": resource({"evse": INTEGER, "amps": {"type": "number", "nullable": True}},
                          "What the load manager allows an EVSE now (A per phase; null: not managed)"),
    "Job": resource(_JOB, "A firmware update or log upload and how far it came"),
    "Rollout": resource({
        "id": INTEGER, "max_concurrent": INTEGER, "offline_policy": enum(["wait", "fail"]),
        "status": enum(["running", "finished"]), "created_at": TIME, "finished_at": MAYBE_TIME,
        "jobs": INTEGER, "queued": INTEGER, "active": INTEGER, "succeeded": INTEGER,
        "failed": INTEGER, "items": {"type": "array", "items": ref("Job")}},
        "A rollout: counts of its jobs by state, and its jobs"),
    "User": resource({"id": INTEGER, "name": TEXT, "role": enum(ROLES), "created_at": TIME,
                      "disabled_at": MAYBE_TIME, "password_changed_at": TIME}),
    "ApiToken": resource(_API_TOKEN, "An API token (its hash is kept, never the token)"),
    "ApiTokenCreated": resource({**_API_TOKEN, "token": TEXT},
                                "A new API token: `token` is shown this once"),
    "AuditRow": resource({
        "id": INTEGER, "at": TIME, "actor": TEXT,
        "actor_kind": enum(["user", "token", "config", "cli", "anonymous"]),
        "via": enum(["api", "console", "cli"]), "client": MAYBE_TEXT, "resource": TEXT,
        "action": TEXT, "target": MAYBE_TEXT, "parameters": ANY_OBJECT,
        "outcome": MAYBE_INTEGER, "result": MAYBE_TEXT},
        "A change or command: who, when, what (secrets masked), its answer (outcome: the "
        "HTTP status; null: under way)"),
    "Me": resource({"name": TEXT, "kind": TEXT, "via": TEXT, "role": enum(ROLES),
                    "allowed": {"type": "array", "items": TEXT}},
                   "The caller, their role and the routes it may call"),
    "Tariff": resource({
        "id": TEXT, "currency": TEXT, "valid_from": TIME,
        "tariff": {**ANY_OBJECT, "required": ["id", "currency", "elements"],
                   "description": "the OCPI 2.2.1 Tariff as stored (country_code, party_id, "
                                  "last_updated are filled in for partners)"},
        "assignments": {"type": "array", "items": resource({"provider_id": TEXT,
                                                            "evse_id": TEXT})}},
        "A tariff's current version (valid_from: since when) and the assignments in force "
        "naming it (provider_id, evse_id '*': every EMP, every EVSE)"),
    "Cdr": resource({
        "id": TEXT, "protocol": enum(["ocpi", "oicp"]), "partner": TEXT,
        "session_id": MAYBE_TEXT, "credit": FLAG, "credit_reference_id": MAYBE_TEXT,
        "reissue_of": MAYBE_TEXT, "total_cost": MAYBE_OBJECT, "currency": MAYBE_TEXT,
        "created_at": TIME,
        "delivery": {**enum(OUTBOX_STATUSES, nullable=True), "enum": [*OUTBOX_STATUSES, None]},
        "delivered_at": MAYBE_TIME,
        "body": {**ANY_OBJECT, "description": "the CDR as sent (OCPI CDR, OICP "
                                              "ChargeDetailRecord)"}},
        "A CDR we sent, kept as sent: credit (a credit CDR) and credit_reference_id (the CDR "
        "it credits), reissue_of (the CDR a corrected one replaces); total_cost an OCPI Price "
        "(OICP: null); delivery: its outbox message's state"),
    "TariffAssignment": resource(
        {"provider_id": TEXT, "evse_id": TEXT, "tariff_id": TEXT},
        "Which tariff prices an EVSE ('*': every EVSE) for an EMP ('*': every EMP)"),
    "LocalList": resource({"charge_point_id": TEXT, "version": INTEGER, "state": TEXT,
                           "supported": MAYBE_FLAG, "entries": INTEGER, "full_requested": FLAG,
                           "synced_at": MAYBE_TIME, "detail": MAYBE_TEXT},
                          "A charger's local authorization list: version, sync state, entries "
                          "held"),
}
