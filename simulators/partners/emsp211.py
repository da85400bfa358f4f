"""A stand-in for an OCPI 2.1.1 eMSP: registers both ways, takes pushes, checks them against the spec."""

from __future__ import annotations

import base64
import re
import secrets
from functools import cache
from typing import Any

from aiohttp import web

from simulators.partners.emsp import Received, SimulatedEmsp, envelope, now
from simulators.specs.ocpi211 import MODULES, OCPI_211, Description, parse

VERSION = "2.1.1"
# Besides the object modules the validator ships with: the handshake's and the eMSP's own.
_MORE = ("credentials.md", "version_information_endpoint.md", "mod_tokens.md", "mod_commands.md")
# Headings the validator's reader does not take as they are written (no section number, or
# "object" in lower case); read as if they were, the text itself unchanged.
_UNNUMBERED = re.compile(r"^(#{2,4}) (Version|Endpoint|VersionNumber) (\*class\*|\*enum\*)$", re.M)
_MODULE_ID = re.compile(r"\*\*Module Identifier: `(\w+)`\*\*")


@cache
def description() -> Description:
    """The 2.1.1 description of everything an eMSP meets: objects, credentials, tokens, commands."""
    texts = {name: (OCPI_211 / name).read_text(encoding="utf-8") for name in MODULES + _MORE}
    read = {name: _UNNUMBERED.sub(r"\1 0 \2 \3", text).replace(
        "### 2.1 Credentials object", "### 2.1 Credentials Object") for name, text in texts.items()}
    found = parse(read)
    # ModuleID's table names modules by their chapter; each chapter states its identifier.
    modules = frozenset(m for text in texts.values() for m in _MODULE_ID.findall(text))
    return Description(found.classes, {**found.enums, "ModuleID": modules})


def problems(name: str, data: Any) -> list[str]:
    return [f"2.1.1 {problem}" for problem in description().errors(name, data)]


def patch_problems(name: str, data: Any) -> list[str]:
    """A PATCH: only the fields it has, each as the object's table types it (transport PATCH)."""
    return [f"2.1.1 {problem}" for problem in description().patch_errors(name, data)]


_PARTY = r"[A-Z]{2}/[A-Z0-9]{3}"
_RECEIVERS = [
    (re.compile(rf"^/locations/{_PARTY}/[^/]+$"), "Location"),
    (re.compile(rf"^/locations/{_PARTY}/[^/]+/[^/]+$"), "EVSE"),
    (re.compile(rf"^/locations/{_PARTY}/[^/]+/[^/]+/[^/]+$"), "Connector"),
    (re.compile(rf"^/sessions/{_PARTY}/[^/]+$"), "Session"),
    (re.compile(rf"^/tariffs/{_PARTY}/[^/]+$"), "Tariff"),
    (re.compile(r"^/cdrs$"), "CDR"),
    (re.compile(r"^/commands/result/[^/]+$"), "CommandResponse"),
]
# Only 2.2.1 has these (transport_and_format 4.1 there); a 2.1.1 party never sees them.
_NEWER_HEADERS = ("OCPI-from-country-code", "OCPI-from-party-id", "OCPI-to-country-code",
                  "OCPI-to-party-id")


class SimulatedEmsp211(SimulatedEmsp):
    """The 2.2.1 stand-in's memory and helpers, speaking 2.1.1: flat credentials, endpoints with
    no roles, tokens as they are (not base64), Tokens without a party, CommandResponses only."""

    @staticmethod
    def problems(name: str, data: Any) -> list[str]:
        return problems(name, data)

    def __init__(self, country_code: str = "NL", party_id: str = "EMS") -> None:
        super().__init__(country_code, party_id)
        self.version = VERSION
        self.modules = [("credentials", "RECEIVER"), ("locations", "RECEIVER"),
                        ("sessions", "RECEIVER"), ("cdrs", "RECEIVER"), ("tariffs", "RECEIVER"),
                        ("tokens", "SENDER"), ("commands", "RECEIVER")]
        self.plain_tokens = True
        self.encoded_tries: list[Received] = []  # versions asked for with a base64 token (401)

    def _credentials(self, token: str) -> dict[str, Any]:
        return {"token": token, "url": self.versions_url,
                "business_details": {"name": "Simulated 2.1.1 eMSP"},
                "party_id": self.party_id, "country_code": self.country_code}

    def _raw_token(self, request: web.Request) -> str | None:
        header = request.headers.get("Authorization", "")
        return header[6:] if header.startswith("Token ") else None

    async def _handle(self, request: web.Request) -> web.Response:
        token = self._raw_token(request)
        path = "/" + request.match_info["tail"]
        body = await request.json() if request.can_read_body else None
        received = Received(request.method, path.removeprefix(f"/{VERSION}"), body,
                            dict(request.headers), query=dict(request.query))
        if request.method == "GET" and received.path.rstrip("/") == "/tokens":
            # Our Tokens Sender: 2.1.1 tokens, asked for without 2.2's request ids.
            return await self._token_list(received, token, request_ids=False)
        if self.down:
            self.refused.append(received)
            return web.Response(status=503, text="eMSP is down")
        self.received.append(received)
        if self.on_receive is not None:
            self.on_receive(received)
        if token is None or token not in (self.token_a, self.our_token):
            encoded = {base64.b64encode(t.encode()).decode() for t in (self.token_a, self.our_token)
                       if t}
            if token in encoded and path == "/versions":
                # A caller that does not know our version yet may try 2.2.1's encoding first.
                self.received.remove(received)
                self.encoded_tries.append(received)
            else:
                received.errors.append("token base64-encoded: 2.1.1 sends it as it is"
                                       if token in encoded else "unknown token")
            return web.json_response(envelope(None, 2000, "unknown token"), status=401)
        if path == "/versions":
            return web.json_response(envelope([{"version": VERSION,
                                                "url": f"{self.url}/ocpi/{VERSION}"}]))
        if path == f"/{VERSION}":
            details = {"version": VERSION, "endpoints": [
                {"identifier": m, "url": f"{self.url}/ocpi/{VERSION}/{m}"}
                for m in dict.fromkeys(m for m, _ in self.modules)]}
            return web.json_response(envelope(details))
        if path == f"/{VERSION}/credentials" and request.method == "POST":
            return await self._registered_by_cpo(received)
        if path == f"/{VERSION}/credentials" and request.method == "DELETE":
            self.our_token = self.cpo_token = None
            return web.json_response(envelope())
        if received.path.startswith("/tokens/") and received.path.endswith("/authorize"):
            return self._authorize(received)
        return self._receive(received)

    def _authorize(self, received: Received) -> web.Response:
        uid = received.path.split("/")[2]
        if received.body is not None:
            received.errors += problems("LocationReferences", received.body)
        token_type = received.query.get("type", "RFID")
        if token_type not in description().enums["TokenType"]:
            received.errors.append(f"type {token_type!r} is not a 2.1.1 TokenType")
        token = self.tokens.get(uid)
        if token is None or token["type"] != token_type:
            return web.json_response(envelope(None, 2004, "unknown token"), status=404)
        info = {"allowed": self.allowed}
        assert not problems("AuthorizationInfo", info)
        return web.json_response(envelope(info))

    def _receive(self, received: Received) -> web.Response:
        path = received.path
        for pattern, name in _RECEIVERS:
            if pattern.match(path):
                if received.method == "PATCH":
                    received.errors += patch_problems(name, received.body)
                elif received.method == "DELETE":
                    if received.body is not None:
                        received.errors.append("a DELETE carries no body")
                else:
                    received.errors += problems(name, received.body)
                break
        else:
            received.errors.append(f"no receiver for {received.method} {path}")
        received.errors += [f"header {h} is not 2.1.1's" for h in _NEWER_HEADERS
                            if h in received.headers]
        if received.errors:
            received.answered = 400
            return web.json_response(envelope(None, 2001, "; ".join(received.errors)), status=400)
        return self._store(received)

    # --- what we call on the CPO ------------------------------------------------------------

    def _headers(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Token {token}"}

    async def register_with(self, cpo_versions_url: str, cpo_token_a: str) -> dict[str, Any]:
        """We register with the CPO in 2.1.1, using the Token A it issued."""
        _, _, versions = await self.call("GET", cpo_versions_url, token=cpo_token_a)
        details_url = next(v["url"] for v in versions["data"] if v["version"] == VERSION)
        _, _, details = await self.call("GET", details_url, token=cpo_token_a)
        self.answers[-1][1].extend(self._details_problems(details.get("data")))
        credentials_url = next(e["url"] for e in details["data"]["endpoints"]
                               if e["identifier"] == "credentials")
        self.our_token = secrets.token_urlsafe(16)
        status, _, answer = await self.call("POST", credentials_url,
                                            self._credentials(self.our_token), token=cpo_token_a)
        self.answers[-1][1].extend(problems("Credentials", answer.get("data")))
        if status == 200 and answer.get("status_code") == 1000:
            self.cpo_token = answer["data"]["token"]
            self.cpo_versions_url = cpo_versions_url
            self.cpo_endpoints = details["data"]["endpoints"]
        return answer

    @staticmethod
    def _details_problems(data: Any) -> list[str]:
        if not isinstance(data, dict) or data.get("version") != VERSION:
            return ["2.1.1 version details: not version 2.1.1"]
        return [p for endpoint in data.get("endpoints") or [None]
                for p in problems("Endpoint", endpoint)]

    def token(self, uid: str, whitelist: str = "ALWAYS", valid: bool = True,
              token_type: str = "RFID") -> dict[str, Any]:
        """One of our drivers' tokens, in 2.1.1's form (no party: the URL says it)."""
        token = {"uid": uid, "type": token_type, "auth_id": f"{self.country_code}-{self.party_id}"
                 f"-C{uid[:8]}", "issuer": "Simulated 2.1.1 eMSP", "valid": valid,
                 "whitelist": whitelist, "last_updated": now()}
        assert not problems("Token", token), problems("Token", token)
        self.tokens[uid] = token
        return token

    async def push_token(self, token: dict[str, Any]) -> tuple[int, Any]:
        url = f"{self.cpo_endpoint('tokens')}/{self.country_code}/{self.party_id}/{token['uid']}"
        status, _, answer = await self.call("PUT", url, token)
        return status, answer

    async def get_token(self, uid: str) -> tuple[int, Any]:
        url = f"{self.cpo_endpoint('tokens')}/{self.country_code}/{self.party_id}/{uid}"
        status, _, answer = await self.call("GET", url)
        if answer.get("data") is not None:
            self.answers[-1][1].extend(problems("Token", answer["data"]))
        return status, answer

    async def command(self, name: str, body: dict[str, Any]) -> tuple[str, Any]:
        """Send a 2.1.1 command; (the result id to look for, the CommandResponse envelope)."""
        result_id = secrets.token_hex(6)
        body = {"response_url": f"{self.url}/ocpi/{VERSION}/commands/result/{result_id}", **body}
        kind = {"START_SESSION": "StartSession", "STOP_SESSION": "StopSession",
                "RESERVE_NOW": "ReserveNow", "UNLOCK_CONNECTOR": "UnlockConnector"}.get(name)
        if kind is not None:
            assert not problems(kind, body), problems(kind, body)
        _, _, answer = await self.call("POST", f"{self.cpo_endpoint('commands')}/{name}", body)
        self.answers[-1][1].extend(problems("CommandResponse", answer.get("data")))
        return result_id, answer
