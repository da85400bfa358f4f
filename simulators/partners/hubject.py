"""A stand-in for Hubject: takes the CPO-bound OICP operations, validates them against Hubject's schema."""

from __future__ import annotations

import asyncio
import json
import re
import ssl
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from jsonschema import Draft4Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from simulators.specs import oicp_openapi, oicp_pricing_swagger


@dataclass(frozen=True)
class Operation:
    operation_id: str
    template: str
    pattern: re.Pattern[str]
    validator: Draft4Validator


def _registry() -> Registry:
    return Registry().with_resource(
        "urn:oicp", Resource.from_contents(oicp_openapi(), default_specification=DRAFT4))


def schema_validator(name: str) -> Draft4Validator:
    """A validator for one of Hubject's components.schemas, e.g. eRoamingAcknowledgment."""
    return Draft4Validator({"$ref": f"urn:oicp#/components/schemas/{name}"}, registry=_registry())


def load_operations() -> list[Operation]:
    """Every POST of Hubject's OpenAPI description, with a validator for its request body."""
    document, registry = oicp_openapi(), _registry()
    operations = []
    for template, item in document["paths"].items():
        post = item.get("post")
        if not post or "requestBody" not in post:
            continue
        schema = post["requestBody"]["content"]["application/json"]["schema"]
        if "$ref" in schema:
            schema = {"$ref": "urn:oicp" + schema["$ref"]}
        else:  # an inline schema (charging notifications' oneOf) whose $refs point into the file
            schema = json.loads(json.dumps(schema).replace('"#/components', '"urn:oicp#/components'))
        regex = "^" + re.sub(r"\\{[^/]+?\\}", "([^/]+)", re.escape(template)) + "$"
        operations.append(Operation(post["operationId"], template, re.compile(regex),
                                    Draft4Validator(schema, registry=registry)))
    return operations


def load_swagger_operations(prefix: str = "/api/oicp") -> list[Operation]:
    """Every POST of Hubject's Swagger 2.0 file of the dynamic pricing service (whose paths carry
    /api/oicp), with a validator for its body parameter."""
    document = oicp_pricing_swagger()
    registry = Registry().with_resource(
        "urn:swagger", Resource.from_contents(document, default_specification=DRAFT4))
    operations = []
    for template, item in document["paths"].items():
        post = item.get("post") or {}
        body = next((p for p in post.get("parameters", []) if p.get("in") == "body"), None)
        if body is None:
            continue
        path = template.removeprefix(prefix)
        regex = "^" + re.sub(r"\\{[^/]+?\\}", "([^/]+)", re.escape(path)) + "$"
        operations.append(Operation(post["operationId"], path, re.compile(regex), Draft4Validator(
            {"$ref": "urn:swagger" + body["schema"]["$ref"]}, registry=registry)))
    return operations


@dataclass
class Received:
    operation: str
    path: str
    body: Any
    errors: list[str] = field(default_factory=list)
    ok: bool = False  # answered with a positive acknowledgement


def acknowledgement(result: bool, code: str, description: str = "") -> dict[str, Any]:
    status: dict[str, Any] = {"Code": code}
    if description:
        status["Description"] = description[:200]
    return {"Result": result, "StatusCode": status}


class SimulatedHubject:
    def __init__(self, server_ssl: ssl.SSLContext | None = None,
                 client_ssl: ssl.SSLContext | None = None) -> None:
        """server_ssl: serve HTTPS (e.g. requiring the CPO's client certificate);
        client_ssl: what Hubject presents when it calls the CPO."""
        self.server_ssl = server_ssl
        self.client_ssl = client_ssl
        self.operations = load_operations()
        # Bodies of these paths must also pass the service's own Swagger file.
        self.also_checked = load_swagger_operations()
        self._acknowledgement = schema_validator("eRoamingAcknowledgment")
        self.answers: list[tuple[str, Any, list[str]]] = []  # what the CPO answered us, checked
        self.received: list[Received] = []
        self.client_names: set[str] = set()  # commonName of each client certificate seen
        self.on_receive: Callable[[Received], None] | None = None  # e.g. print each request
        self.down = False  # while True every request gets HTTP 503
        self.failures: list[str | tuple[str, str]] = []  # next requests: "500", "timeout", ("nack", code)
        self.failures_for: dict[str, list[str | tuple[str, str]]] = {}  # the same, per operation id
        self.delay = 0.0
        self.in_flight = 0
        self.max_in_flight = 0
        self.timeout_seconds = 30.0
        # RFID UIDs our EMPs know, with their ProviderID: AuthorizeStart answers Authorized for these.
        self.known_cards: dict[str, str] = {}
        self.stop_cards: set[str] = set()  # further UIDs an EMP lets stop any of its sessions
        # EMPs whose systems cannot be reached. "offline": their cards are in Hubject's
        # authentication data (eRoamingAuthenticationData), so Hubject authorizes them itself
        # (OICP 2.3 eRoamingAuthorizeStart, option A); "unreachable": none uploaded, so Hubject
        # deals with them as if they answered NotAuthorized (option B), code 310.
        self.offline_providers: set[str] = set()
        self.unreachable_providers: set[str] = set()
        # SessionID → (UID, ProviderID, authorized offline by Hubject) of each AuthorizeStart it
        # authorized: a session Hubject authorized offline stops only with the same medium.
        self.sessions: dict[str, tuple[str, str, bool]] = {}
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"{'https' if self.server_ssl else 'http'}://127.0.0.1:{self.port}"

    def accepted(self, operation: str | None = None) -> list[Received]:
        """Valid requests answered with a positive acknowledgement."""
        return [r for r in self.received if r.ok and (operation is None or r.operation == operation)]

    @property
    def invalid(self) -> list[Received]:
        return [r for r in self.received if r.errors]

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, ssl_context=self.server_ssl)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def _match(self, path: str) -> Operation | None:
        for operation in self.operations:
            if operation.pattern.match(path):
                return operation
        return None

    async def _handle(self, request: web.Request) -> web.Response:
        peer = request.transport.get_extra_info("peercert") if request.transport else None
        for entry in (peer or {}).get("subject", ()):
            self.client_names.update(value for key, value in entry if key == "commonName")
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self._answer(request)
        finally:
            self.in_flight -= 1

    async def _answer(self, request: web.Request) -> web.Response:
        operation = self._match(request.path)
        if operation is None:
            return web.json_response(acknowledgement(False, "022", "unknown operation"), status=404)
        try:
            body = await request.json()
        except ValueError:
            self.received.append(Received(operation.operation_id, request.path, None,
                                          ["body is not JSON"]))
            return web.json_response(acknowledgement(False, "022", "malformed JSON"), status=400)
        validators = [operation.validator] + [o.validator for o in self.also_checked
                                              if o.pattern.match(request.path)]
        errors = list(dict.fromkeys(f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
                                    for validator in validators for e in validator.iter_errors(body)))
        received = Received(operation.operation_id, request.path, body, errors)
        self.received.append(received)
        if self.on_receive is not None:
            self.on_receive(received)
        if self.delay:
            await asyncio.sleep(self.delay)
        if errors:
            return web.json_response(acknowledgement(False, "022", "; ".join(errors)), status=400)
        if self.down:
            return web.Response(status=503, text="Hubject is down")
        failures = self.failures_for.get(operation.operation_id) or self.failures
        if failures:
            failure = failures.pop(0)
            if failure == "timeout":
                await asyncio.sleep(self.timeout_seconds)
            if isinstance(failure, tuple):
                return web.json_response(acknowledgement(False, failure[1], "simulated refusal"))
            return web.Response(status=500, text="simulated failure")
        received.ok = True
        if operation.operation_id.startswith("eRoamingAuthorizeStart"):
            return web.json_response(self._authorization_start(body))
        if operation.operation_id.startswith("eRoamingAuthorizeStop"):
            return web.json_response(self._authorization_stop(body))
        return web.json_response(acknowledgement(True, "000"))

    def _uid(self, body: dict[str, Any]) -> str:
        card = body["Identification"].get("RFIDMifareFamilyIdentification") or {}
        return str(card.get("UID", ""))

    def _authorization_start(self, body: dict[str, Any]) -> dict[str, Any]:
        """eRoamingAuthorizationStart: a new SessionID for a card an EMP knows; Hubject's own
        answer for the cards of an EMP it cannot reach (see offline_providers)."""
        uid = self._uid(body)
        provider = self.known_cards.get(uid)
        ids: dict[str, Any] = {k: body[k] for k in ("CPOPartnerSessionID", "EMPPartnerSessionID")
                               if k in body}
        if provider in self.unreachable_providers:
            return {**ids, "AuthorizationStatus": "NotAuthorized",
                    "StatusCode": {"Code": "310", "Description": "Partner did not respond"}}
        if provider is None:
            return {**ids, "AuthorizationStatus": "NotAuthorized",
                    "StatusCode": {"Code": "102", "Description": "RFID Authentication failed"}}
        session_id = str(uuid.uuid4())
        offline = provider in self.offline_providers
        self.sessions[session_id] = (uid, provider, offline)
        if offline:  # no EMP to name an EMPPartnerSessionID or further cards that may stop it
            ids.pop("EMPPartnerSessionID", None)
        return {**ids, "SessionID": session_id, "ProviderID": provider,
                "AuthorizationStatus": "Authorized", "StatusCode": {"Code": "000"}}

    def _authorization_stop(self, body: dict[str, Any]) -> dict[str, Any]:
        uid = self._uid(body)
        session = self.sessions.get(body["SessionID"])
        if session is not None and session[2]:
            # "In case the charging session was originally authorized offline by the HBS, the
            # session MUST only be stopped with the same medium" (eRoamingAuthorizeStop).
            authorized = uid == session[0]
        else:
            authorized = uid in self.stop_cards or uid in self.known_cards
        return {"SessionID": body["SessionID"],
                "AuthorizationStatus": "Authorized" if authorized else "NotAuthorized",
                "StatusCode": {"Code": "000" if authorized else "102"}}

    # --- Hubject → CPO ------------------------------------------------------------------------

    async def send(self, cpo_url: str, path: str, body: Any, raw: bytes | None = None) -> Any:
        """POST to the CPO (as an EMP's request relayed by Hubject); the answer is checked
        against eRoamingAcknowledgment and returned."""
        connector = aiohttp.TCPConnector(ssl=self.client_ssl if self.client_ssl else False)
        async with aiohttp.ClientSession(connector=connector) as http, http.post(
                cpo_url.rstrip("/") + path, data=raw if raw is not None else None,
                json=body if raw is None else None,
                headers={"Content-Type": "application/json"}) as response:
            answer = await response.json(content_type=None)
        errors = [e.message for e in self._acknowledgement.iter_errors(answer)]
        if response.status != 200:
            errors.append(f"HTTP {response.status}")
        self.answers.append((path, answer, errors))
        return answer

    async def remote_start(self, cpo_url: str, body: dict[str, Any]) -> Any:
        provider = body.get("ProviderID", "DE-8EO")
        return await self.send(cpo_url, f"/api/oicp/charging/v21/providers/{provider}"
                                        "/authorize-remote/start", body)

    async def remote_stop(self, cpo_url: str, body: dict[str, Any]) -> Any:
        provider = body.get("ProviderID", "DE-8EO")
        return await self.send(cpo_url, f"/api/oicp/charging/v21/providers/{provider}"
                                        "/authorize-remote/stop", body)

    @property
    def bad_answers(self) -> list[tuple[str, Any, list[str]]]:
        return [answer for answer in self.answers if answer[2]]
