"""A stand-in for an OCPI 2.2.1 eMSP: registers both ways, takes pushes, checks them against the schemas."""

from __future__ import annotations

import asyncio
import base64
import copy
import re
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web
from jsonschema import Draft202012Validator

from simulators.partners.ocpi_listener import OcpiListener
from simulators.specs import ocpi_schema

VERSION = "2.2.1"


@cache
def validator(name: str) -> Draft202012Validator:
    """A validator for an OCPI object, e.g. Location, EvsePatch, Credentials."""
    return Draft202012Validator(ocpi_schema(name))


def problems(name: str, data: Any) -> list[str]:
    return [f"{name} {'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator(name).iter_errors(data)]


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def envelope(data: Any = None, status_code: int = 1000, message: str = "") -> dict[str, Any]:
    body: dict[str, Any] = {"status_code": status_code, "timestamp": now()}
    if data is not None:
        body["data"] = data
    if message:
        body["status_message"] = message
    return body


@dataclass
class Received:
    method: str
    path: str
    body: Any
    headers: dict[str, str]
    errors: list[str] = field(default_factory=list)
    at: float = field(default_factory=time.monotonic)  # when it arrived (monotonic seconds)
    answered: int = 200  # the HTTP status it got
    query: dict[str, str] = field(default_factory=dict)


# Receiver paths: the schema of a PUT (or POST) body there, and of a PATCH.
_PARTY = r"[A-Z]{2}/[A-Z0-9]{3}"
_RECEIVERS = [
    (re.compile(rf"^/locations/{_PARTY}/[^/]+$"), "Location", "LocationPatch"),
    (re.compile(rf"^/locations/{_PARTY}/[^/]+/[^/]+$"), "EVSE", "EvsePatch"),
    (re.compile(rf"^/locations/{_PARTY}/[^/]+/[^/]+/[^/]+$"), "Connector", "ConnectorPatch"),
    (re.compile(rf"^/sessions/{_PARTY}/[^/]+$"), "Session", "SessionPatch"),
    (re.compile(rf"^/tariffs/{_PARTY}/[^/]+$"), "Tariff", None),
    (re.compile(r"^/cdrs$"), "CDR", None),
    (re.compile(r"^/commands/result/[^/]+$"), "CommandResult", None),
    # Where the CPO posts the results of our ChargingProfiles requests (we choose: kind/id).
    (re.compile(r"^/chargingprofiles/result/set/[^/]+$"), "ChargingProfileResult", None),
    (re.compile(r"^/chargingprofiles/result/active/[^/]+$"), "ActiveChargingProfileResult", None),
    (re.compile(r"^/chargingprofiles/result/clear/[^/]+$"), "ClearProfileResult", None),
]


def caller_token(request: web.Request) -> str | None:
    """The token of an OCPI request's Authorization header, base64 (2.2.1) or as it is."""
    header = request.headers.get("Authorization", "")
    if not header.startswith("Token "):
        return None
    raw = header[6:]
    try:
        return base64.b64decode(raw, validate=True).decode()
    except ValueError:
        return raw


class SimulatedEmsp(OcpiListener):
    @staticmethod
    def problems(name: str, data: Any) -> list[str]:
        """What this version's description finds wrong with an object."""
        return problems(name, data)

    def __init__(self, country_code: str = "NL", party_id: str = "EMS") -> None:
        self.country_code = country_code
        self.party_id = party_id
        self.token_a = secrets.token_urlsafe(16)  # what we hand the CPO to register with us
        self.our_token: str | None = None  # the CPO presents this to us once registered
        self.cpo_token: str | None = None  # we present this to the CPO
        self.cpo_versions_url: str | None = None
        self.cpo_endpoints: list[dict[str, Any]] = []
        self.received: list[Received] = []
        self.answers: list[tuple[str, list[str]]] = []  # our requests to the CPO, with problems
        self.down = False  # while True every request gets HTTP 503
        self.refused: list[Received] = []  # the requests answered 503 while down, to see retries
        self.version = VERSION  # the version its versions endpoint offers
        self.also_offers: list[dict[str, str]] = []  # more versions listed there (served elsewhere)
        self.modules = [("credentials", "RECEIVER"), ("locations", "RECEIVER"),
                        ("sessions", "RECEIVER"), ("cdrs", "RECEIVER"), ("tariffs", "RECEIVER"),
                        ("tokens", "SENDER"), ("commands", "SENDER")]
        self.plain_tokens = False  # send our token unencoded (older peers)
        self.callback_seen_token: str | None = None  # token the CPO's registration let us use
        self.tokens: dict[str, dict[str, Any]] = {}  # our drivers' tokens, by uid
        # Our Tokens Sender (the CPO pulls from it): the tokens it lists, by uid: those we pushed
        # (as last pushed) and those only listed (list_token). Others (token() alone) we keep
        # for real-time authorization only. Also how many a page holds at most (its X-Limit),
        # the GETs it was sent, and where its Link headers point (None: here; a test sets
        # another base to see the CPO not follow it).
        self.listed: dict[str, dict[str, Any]] = {}
        self.page_size = 50
        self.pulls: list[Received] = []
        self.link_base: str | None = None
        self.pull_delay = 0.0  # seconds each page takes to answer (a slow eMSP)
        # The CPO's Locations, Sessions and Tariffs as pushed and patched, by path
        # ("locations/DE/ABC/site-1"); a PATCH on an object not held here is refused.
        self.objects: dict[str, dict[str, Any]] = {}
        self.cdrs: dict[str, dict[str, Any]] = {}  # the CDRs received, by id (credits too)
        self.allowed = "ALLOWED"  # how we answer real-time authorizations of known tokens
        # The shape of those answers' data: "object" as the spec says, "list" as some peers
        # send it (a one-element list), "unreadable" for nonsense.
        self.authorization_shape = "object"
        self.on_receive: Callable[[Received], None] | None = None  # e.g. print each request

    @property
    def invalid(self) -> list[Received]:
        return [r for r in self.received if r.errors]

    def of(self, method: str, prefix: str = "") -> list[Received]:
        return [r for r in self.received if r.method == method and r.path.startswith(prefix)
                and not r.errors]


    # --- what the CPO calls ---------------------------------------------------------------

    def _credentials(self, token: str) -> dict[str, Any]:
        return {"token": token, "url": self.versions_url, "roles": [{
            "role": "EMSP", "country_code": self.country_code, "party_id": self.party_id,
            "business_details": {"name": "Simulated eMSP"}}]}

    async def _handle(self, request: web.Request) -> web.Response:
        token = caller_token(request)
        path = "/" + request.match_info["tail"]
        body = await request.json() if request.can_read_body else None
        received = Received(request.method, path.removeprefix(f"/{VERSION}"), body,
                            dict(request.headers), query=dict(request.query))
        if request.method == "GET" and received.path.rstrip("/") == "/tokens":
            return await self._token_list(received, token)  # kept apart: received holds pushes
        if self.down:
            self.refused.append(received)
            return web.Response(status=503, text="eMSP is down")
        self.received.append(received)
        if self.on_receive is not None:
            self.on_receive(received)
        if token not in (self.token_a, self.our_token) or token is None:
            received.errors.append("unknown token")
            return web.json_response(envelope(None, 2000, "unknown token"), status=401)
        if path == "/versions":
            return web.json_response(envelope([{"version": self.version,
                                                "url": f"{self.url}/ocpi/{VERSION}"},
                                               *self.also_offers]))
        if path == f"/{VERSION}":
            return web.json_response(envelope({"version": VERSION, "endpoints": [
                {"identifier": m, "role": r, "url": f"{self.url}/ocpi/{VERSION}/{m}"}
                for m, r in self.modules]}))
        if path == f"/{VERSION}/credentials" and request.method == "POST":
            return await self._registered_by_cpo(received)
        if received.path.startswith("/tokens/") and received.path.endswith("/authorize"):
            return self._authorize(received)
        if path == f"/{VERSION}/credentials" and request.method == "DELETE":
            self.our_token = self.cpo_token = None  # the CPO unregistered
            return web.json_response(envelope())
        return self._receive(received)

    async def _registered_by_cpo(self, received: Received) -> web.Response:
        """The CPO registers with us: before answering, call it back with its new token."""
        received.errors += self.problems("Credentials", received.body)
        if received.errors:
            return web.json_response(envelope(None, 2001, "; ".join(received.errors)), status=400)
        cpo = received.body
        # The spec lets the server use the client's token before answering: it must work now.
        async with aiohttp.ClientSession() as http:
            async with http.get(cpo["url"], headers=self._headers(cpo["token"])) as response:
                versions = await response.json()
            if response.status == 200:
                self.callback_seen_token = cpo["token"]
                details_url = next(v["url"] for v in versions["data"]
                                   if v["version"] == self.version)
                async with http.get(details_url, headers=self._headers(cpo["token"])) as response:
                    self.cpo_endpoints = (await response.json())["data"]["endpoints"]
        self.cpo_token, self.cpo_versions_url = cpo["token"], cpo["url"]
        self.our_token = secrets.token_urlsafe(16)
        self.token_a = "spent-" + secrets.token_urlsafe(8)
        return web.json_response(envelope(self._credentials(self.our_token)))

    def _authorize(self, received: Received) -> web.Response:
        """Real-time authorization (tokens sender): known tokens get our verdict, others 2004."""
        uid = received.path.split("/")[2]
        if received.body is not None:
            received.errors += problems("LocationReferences", received.body)
        # We know a token by its uid and type (RFID when the type is left out, 12.1.4.1.1).
        token_type = received.query.get("type", "RFID")
        if token_type not in ("AD_HOC_USER", "APP_USER", "OTHER", "RFID"):
            received.errors.append(f"type {token_type!r} is not a TokenType")
        token = self.tokens.get(uid)
        if token is None or token["type"] != token_type:
            return web.json_response(envelope(None, 2004, "unknown token"), status=404)
        info = {"allowed": self.allowed, "token": token,
                "authorization_reference": f"auth-{secrets.token_hex(4)}"}
        assert not problems("AuthorizationInfo", info)
        data: Any = {"object": info, "list": [info], "unreadable": "yes"}[self.authorization_shape]
        return web.json_response(envelope(data))

    def _check_headers(self, received: Received, request_ids: bool, functional: bool) -> None:
        """The request ids (2.2.1 transport_and_format), routing headers on a functional module,
        and a to-party that is us, else an error on `received`."""
        names = (("X-Request-ID", "X-Correlation-ID") if request_ids else ()) + (
            ("OCPI-from-country-code", "OCPI-from-party-id", "OCPI-to-country-code",
             "OCPI-to-party-id") if functional else ())
        for name in names:
            if name not in received.headers:
                received.errors.append(f"missing header {name}")
        if received.headers.get("OCPI-to-party-id") not in (None, self.party_id):
            received.errors.append("routed to another party")

    async def _token_list(self, received: Received, token: str | None,
                          request_ids: bool = True) -> web.Response:
        """Our Tokens Sender's GET (OCPI 2.2.1 Tokens, Sender Interface): the listed tokens
        with last_updated in [date_from, date_to), oldest first, paged by offset and limit
        (at most page_size) with Link, X-Total-Count and X-Limit (transport_and_format,
        Pagination); the request's parameters and headers checked."""
        self.pulls.append(received)
        if self.on_receive is not None:
            self.on_receive(received)
        await asyncio.sleep(self.pull_delay)
        if self.down:
            received.answered = 503
            return web.Response(status=503, text="eMSP is down")
        if token != self.our_token or token is None:
            received.errors.append("unknown token")
            received.answered = 401
            return web.json_response(envelope(None, 2000, "unknown token"), status=401)
        query = received.query
        for name in sorted(set(query) - {"date_from", "date_to", "offset", "limit"}):
            received.errors.append(f"unknown parameter {name}")
        numbers: dict[str, int] = {}
        for name, default in (("offset", 0), ("limit", self.page_size)):
            text = query.get(name, str(default))
            if not text.isdigit():
                received.errors.append(f"{name} {text!r} is not a whole number")
            numbers[name] = int(text) if text.isdigit() else default
        moments: dict[str, datetime] = {}
        for name in ("date_from", "date_to"):
            if name in query:
                try:
                    at = datetime.fromisoformat(query[name].removesuffix("Z"))
                except ValueError:
                    received.errors.append(f"{name} {query[name]!r} is not a DateTime")
                    continue
                if at.tzinfo is not None and at.utcoffset():
                    received.errors.append(f"{name} must be UTC")
                moments[name] = at.replace(tzinfo=UTC)
        self._check_headers(received, request_ids, functional=False)
        if received.errors:
            received.answered = 400
            return web.json_response(envelope(None, 2001, "; ".join(received.errors)), status=400)

        def stamp(item: dict[str, Any]) -> datetime:
            return datetime.fromisoformat(item["last_updated"].removesuffix("Z")).replace(tzinfo=UTC)
        matching = sorted((t for t in self.listed.values()
                           if ("date_from" not in moments or stamp(t) >= moments["date_from"])
                           and ("date_to" not in moments or stamp(t) < moments["date_to"])),
                          key=lambda t: (stamp(t), t["uid"]))
        offset, limit = numbers["offset"], min(numbers["limit"] or self.page_size, self.page_size)
        page = matching[offset:offset + limit]
        headers = {"X-Total-Count": str(len(matching)), "X-Limit": str(self.page_size)}
        if offset + limit < len(matching):
            following = {**query, "offset": str(offset + limit), "limit": str(limit)}
            base = self.link_base or f"{self.url}/ocpi/{VERSION}"
            headers["Link"] = f'<{base}/tokens?{urlencode(following)}>; rel="next"'
        return web.json_response(envelope(copy.deepcopy(page)), headers=headers)

    def _receive(self, received: Received) -> web.Response:
        """Our receiver interfaces: check the body against the object's schema."""
        path = received.path
        for pattern, full, patch in _RECEIVERS:
            if pattern.match(path):
                schema = patch if received.method == "PATCH" else full
                if received.method == "DELETE":
                    if received.body is not None:
                        received.errors.append("a DELETE carries no body")
                elif schema is None:
                    received.errors.append(f"{received.method} is not for this receiver")
                else:
                    received.errors += problems(schema, received.body)
                    if schema == "CDR" and not received.errors:
                        received.errors += self._cdr_problems(received.body)
                break
        else:
            received.errors.append(f"no receiver for {received.method} {path}")
        functional = not path.startswith("/commands/result/")
        self._check_headers(received, True, functional)
        if received.errors:
            received.answered = 400
            return web.json_response(envelope(None, 2001, "; ".join(received.errors)), status=400)
        return self._store(received)

    def _cdr_problems(self, cdr: dict[str, Any]) -> list[str]:
        """OCPI 2.2.1 mod_cdrs beyond the schema: a normal CDR's id is at most 36 characters; a
        CDR is never replaced; a credit CDR (credit true) names, in credit_reference_id, a CDR we
        hold and have not seen credited, carries its data with the costs negated."""
        found = []
        held = self.cdrs.get(cdr["id"])
        if held is not None and held != cdr:
            found.append(f"CDR {cdr['id']} was sent before: a CDR is never replaced")
        reference = cdr.get("credit_reference_id")
        if not cdr.get("credit"):
            if len(cdr["id"]) > 36:
                found.append(f"a CDR's id is at most 36 characters: {cdr['id']}")
            if reference is not None:
                found.append("credit_reference_id without credit: true")
            return found
        original = self.cdrs.get(reference or "")
        if original is None:
            return [*found, f"credit CDR {cdr['id']} credits {reference!r}: no CDR we hold"]
        if original.get("credit"):
            found.append(f"credit CDR {cdr['id']} credits the credit CDR {reference}")
        if any(c.get("credit") and c.get("credit_reference_id") == reference
               and c["id"] != cdr["id"] for c in self.cdrs.values()):
            found.append(f"CDR {reference} is credited twice")
        for name in ("total_cost", "total_energy_cost", "total_time_cost", "total_parking_cost",
                      "total_fixed_cost", "total_reservation_cost"):
            for part in ("excl_vat", "incl_vat"):
                value = (original.get(name) or {}).get(part)
                if value is not None and (cdr.get(name) or {}).get(part) != -value:
                    found.append(f"credit CDR {cdr['id']}: {name}.{part} is not {-value}")
        for name in ("session_id", "total_energy", "total_time", "charging_periods",
                      "cdr_token", "currency"):
            if cdr.get(name) != original.get(name):
                found.append(f"credit CDR {cdr['id']}: {name} differs from the CDR it credits")
        return found

    def location(self, location_id: str, country_code: str = "DE",
                 party_id: str = "ABC") -> dict[str, Any] | None:
        """A Location as we hold it now."""
        return self.objects.get(f"locations/{country_code}/{party_id}/{location_id}")

    def _store(self, received: Received) -> web.Response:
        """Keep what was pushed, as a real eMSP does. A PATCH (or the PUT of an EVSE or Connector)
        on an object we do not hold is answered as OCPI 2.2.1 says: a request that addresses an
        existing resource gets no HTTP error (status_codes), so one that does not gets HTTP 404,
        with OCPI status 2003 Unknown Location for Locations, EVSEs and Connectors."""
        parts = received.path.strip("/").split("/")
        if parts[0] == "cdrs" and received.method == "POST":
            self.cdrs[received.body["id"]] = copy.deepcopy(received.body)
        if parts[0] not in ("locations", "sessions", "tariffs"):
            return web.json_response(envelope())
        key = "/".join(parts[:4])  # the module's top object: a Location, Session or Tariff
        if received.method == "DELETE":
            self.objects.pop(key, None)
            return web.json_response(envelope())
        if received.method == "PUT" and len(parts) == 4:
            self.objects[key] = copy.deepcopy(received.body)  # the request stays as it came
            return web.json_response(envelope())
        # An EVSE within the Location, a Connector within the EVSE.
        parent, target = None, self.objects.get(key)
        for child, (items, name) in zip(parts[4:], (("evses", "uid"), ("connectors", "id")),
                                        strict=False):
            parent, target = target, next((item for item in (target or {}).get(items, [])
                                           if item.get(name) == child), None)
        if received.method == "PATCH" and target is not None:
            target.update(copy.deepcopy(received.body))
            return web.json_response(envelope())
        if received.method == "PUT" and parent is not None:
            items = "evses" if len(parts) == 5 else "connectors"
            name = "uid" if len(parts) == 5 else "id"
            parent[items] = [i for i in parent.get(items, []) if i.get(name) != parts[-1]] \
                + [copy.deepcopy(received.body)]
            return web.json_response(envelope())
        received.answered = 404
        if parts[0] == "locations":
            return web.json_response(envelope(None, 2003, "unknown location"), status=404)
        return web.json_response(envelope(None, 2000, f"unknown {parts[0][:-1]}"), status=404)

    # --- what we call on the CPO ------------------------------------------------------------

    def _headers(self, token: str) -> dict[str, str]:
        encoded = token if self.plain_tokens else base64.b64encode(token.encode()).decode()
        request_id = str(uuid.uuid4())
        return {"Authorization": f"Token {encoded}", "X-Request-ID": request_id,
                "X-Correlation-ID": request_id}

    async def call(self, method: str, url: str, body: Any = None, token: str | None = None,
                   schema: str | None = None, raw: bytes | None = None,
                   headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any], Any]:
        """A request to the CPO: (HTTP status, response headers, envelope); the envelope and, with
        `schema`, each object in its data are checked and the problems kept in `answers`."""
        token = token if token is not None else (self.cpo_token or "")
        async with aiohttp.ClientSession() as http, http.request(
                method, url, json=body if raw is None else None, data=raw,
                headers={**self._headers(token), **(headers or {})}) as response:
            answer = await response.json(content_type=None)
            found = problems("OcpiResponse", answer)
            data = answer.get("data") if isinstance(answer, dict) else None
            if schema and data is not None:
                for item in data if isinstance(data, list) else [data]:
                    found += problems(schema, item)
            self.answers.append((f"{method} {url}", found))
            return response.status, dict(response.headers), answer

    @property
    def bad_answers(self) -> list[tuple[str, list[str]]]:
        return [a for a in self.answers if a[1]]

    async def register_with(self, cpo_versions_url: str, cpo_token_a: str) -> dict[str, Any]:
        """We register with the CPO using the Token A it issued."""
        _, _, versions = await self.call("GET", cpo_versions_url, token=cpo_token_a)
        details_url = next(v["url"] for v in versions["data"] if v["version"] == VERSION)
        _, _, details = await self.call("GET", details_url, token=cpo_token_a,
                                        schema="VersionDetails")
        credentials_url = next(e["url"] for e in details["data"]["endpoints"]
                               if e["identifier"] == "credentials")
        self.our_token = secrets.token_urlsafe(16)
        status, _, answer = await self.call("POST", credentials_url, self._credentials(self.our_token),
                                            token=cpo_token_a, schema="Credentials")
        if status == 200 and answer.get("status_code") == 1000:
            self.cpo_token = answer["data"]["token"]
            self.cpo_versions_url = cpo_versions_url
            self.cpo_endpoints = details["data"]["endpoints"]
        return answer

    def cpo_endpoint(self, identifier: str) -> str:
        return next(e["url"] for e in self.cpo_endpoints if e["identifier"] == identifier)

    # --- our drivers and their commands -----------------------------------------------------

    def token(self, uid: str, whitelist: str = "ALWAYS", valid: bool = True,
              token_type: str = "RFID") -> dict[str, Any]:
        token = {"country_code": self.country_code, "party_id": self.party_id, "uid": uid,
                 "type": token_type, "contract_id": f"{self.country_code}-{self.party_id}-C{uid[:8]}",
                 "issuer": "Simulated eMSP", "valid": valid, "whitelist": whitelist,
                 "last_updated": now()}
        assert not problems("Token", token)
        self.tokens[uid] = token
        return token

    def list_token(self, uid: str, whitelist: str = "ALWAYS", valid: bool = True,
                   token_type: str = "RFID", last_updated: str | None = None) -> dict[str, Any]:
        """A token of ours, listed on our Tokens Sender for the CPO to pull (and known for
        real-time authorization); last_updated: when it changed, else now."""
        token = self.token(uid, whitelist, valid, token_type)
        if last_updated is not None:
            token["last_updated"] = last_updated
        self.listed[uid] = token
        return token

    async def push_token(self, token: dict[str, Any]) -> tuple[int, Any]:
        self.listed[token["uid"]] = token  # shared with the CPO: listed as pushed
        url = f"{self.cpo_endpoint('tokens')}/{token['country_code']}/{token['party_id']}/{token['uid']}"
        status, _, answer = await self.call("PUT", url, token, headers=self._routing())
        return status, answer

    def _routing(self) -> dict[str, str]:
        return {"OCPI-from-country-code": self.country_code, "OCPI-from-party-id": self.party_id,
                "OCPI-to-country-code": "DE", "OCPI-to-party-id": "ABC"}

    async def command(self, name: str, body: dict[str, Any]) -> tuple[str, Any]:
        """Send a command; (the result id to look for, the CommandResponse envelope)."""
        result_id = secrets.token_hex(6)
        body = {"response_url": f"{self.url}/ocpi/{VERSION}/commands/result/{result_id}", **body}
        assert not problems({"START_SESSION": "StartSession", "STOP_SESSION": "StopSession",
                             "RESERVE_NOW": "ReserveNow", "CANCEL_RESERVATION": "CancelReservation",
                             "UNLOCK_CONNECTOR": "UnlockConnector"}.get(name, "StartSession"), body) \
            or name not in ("START_SESSION", "STOP_SESSION", "RESERVE_NOW", "CANCEL_RESERVATION",
                            "UNLOCK_CONNECTOR")
        _, _, answer = await self.call("POST", f"{self.cpo_endpoint('commands')}/{name}", body,
                                       schema="CommandResponse", headers=self._routing())
        return result_id, answer

    def result(self, result_id: str) -> dict[str, Any] | None:
        found = self.of("POST", f"/commands/result/{result_id}")
        return found[-1].body if found else None

    # --- smart charging: our ChargingProfiles on the CPO's sessions -------------------------

    def _profile_result_url(self, kind: str) -> tuple[str, str]:
        result_id = secrets.token_hex(6)
        return result_id, f"{self.url}/ocpi/{VERSION}/chargingprofiles/result/{kind}/{result_id}"

    def _profiles_url(self, session_id: str) -> str:
        return f"{self.cpo_endpoint('chargingprofiles')}/{session_id}"

    async def set_profile(self, session_id: str, charging_profile: dict[str, Any] | None = None,
                          body: Any = None) -> tuple[str, Any]:
        """PUT a SetChargingProfile (or, to see it refused, any `body`); (result id, envelope)."""
        result_id, url = self._profile_result_url("set")
        if body is None:
            body = {"charging_profile": charging_profile, "response_url": url}
            assert not problems("SetChargingProfile", body), problems("SetChargingProfile", body)
        _, _, answer = await self.call("PUT", self._profiles_url(session_id), body,
                                       schema="ChargingProfileResponse", headers=self._routing())
        return result_id, answer

    async def active_profile(self, session_id: str, duration: int | str = 900,
                             response_url: str | None = None) -> tuple[str, Any]:
        """GET the ActiveChargingProfile; (result id, envelope)."""
        result_id, url = self._profile_result_url("active")
        query = urlencode({"duration": duration,
                           "response_url": url if response_url is None else response_url})
        _, _, answer = await self.call("GET", f"{self._profiles_url(session_id)}?{query}",
                                       schema="ChargingProfileResponse", headers=self._routing())
        return result_id, answer

    async def clear_profile(self, session_id: str,
                            response_url: str | None = None) -> tuple[str, Any]:
        """DELETE our ChargingProfile; (result id, envelope)."""
        result_id, url = self._profile_result_url("clear")
        query = urlencode({"response_url": url if response_url is None else response_url})
        _, _, answer = await self.call("DELETE", f"{self._profiles_url(session_id)}?{query}",
                                       schema="ChargingProfileResponse", headers=self._routing())
        return result_id, answer

    def profile_results(self, result_id: str) -> list[dict[str, Any]]:
        """Every valid result the CPO posted for one of our ChargingProfiles requests."""
        return [r.body for r in self.received if r.method == "POST" and not r.errors
                and r.path.startswith("/chargingprofiles/result/")
                and r.path.endswith(f"/{result_id}")]
