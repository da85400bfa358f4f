"""A stand-in for an OCPI 2.2.1 hub: a CPO and eMSP stand-ins behind it, routing checked throughout."""

from __future__ import annotations

import asyncio
import base64
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from simulators.partners.emsp import (
    VERSION,
    Received,
    SimulatedEmsp,
    caller_token,
    envelope,
    now,
    problems,
)
from simulators.partners.ocpi_listener import OcpiListener

ROUTING = ("OCPI-from-country-code", "OCPI-from-party-id", "OCPI-to-country-code",
           "OCPI-to-party-id")
# What the hub offers: receivers for the CPO's pushes, senders for its questions, and the
# eMSPs' side of commands, tokens and charging profiles; ClientInfo as sender.
MODULES = [("credentials", "SENDER"), ("credentials", "RECEIVER"), ("locations", "RECEIVER"),
           ("sessions", "RECEIVER"), ("cdrs", "RECEIVER"), ("tariffs", "RECEIVER"),
           ("tokens", "SENDER"), ("tokens", "RECEIVER"), ("commands", "SENDER"),
           ("commands", "RECEIVER"), ("chargingprofiles", "RECEIVER"),
           ("hubclientinfo", "SENDER")]
_BROADCAST = ("locations", "tariffs")  # what a CPO pushes to every connected eMSP


@dataclass
class Client:
    """An eMSP behind the hub: its party, the token each side presents, its endpoints."""

    party: tuple[str, str]
    token_a: str
    ours: str | None = None  # what it presents to us
    theirs: str | None = None  # what we present to it
    endpoints: dict[str, str] = field(default_factory=dict)
    status: str = "PLANNED"  # until it registers with us
    told: str = "PLANNED"  # the status the CPO was last told
    role: str = "EMSP"



def _auth(token: str) -> dict[str, str]:
    request_id = str(uuid.uuid4())
    return {"Authorization": "Token " + base64.b64encode(token.encode()).decode(),
            "X-Request-ID": request_id, "X-Correlation-ID": request_id}


class SimulatedHub(OcpiListener):
    """Forwards between the CPO that registers with it and the eMSP stand-ins it fronts (each
    registers with it as if it were the CPO). Every request and answer of a functional module
    must carry the routing headers, the CPO's to- headers must name a connected client (or the
    hub, for a broadcast push; none, for an Open Routing authorization), and a client may speak
    for its own party only: any breach is recorded in `violations`."""

    def __init__(self, clients: list[SimulatedEmsp], country_code: str = "NL",
                 party_id: str = "HUB") -> None:
        self.party = (country_code, party_id)
        self.token_a = secrets.token_urlsafe(16)  # the CPO's registration with us
        self.our_token: str | None = None  # the CPO presents it
        self.cpo_token: str | None = None  # we present it to the CPO
        self.cpo_party: tuple[str, str] | None = None
        self.cpo_endpoints: dict[str, str] = {}
        self.clients = {(c.country_code, c.party_id): Client((c.country_code, c.party_id),
                                                             secrets.token_urlsafe(16))
                        for c in clients}
        self.received: list[Received] = []  # every request, from either side
        self.violations: list[str] = []
        self.not_connected: list[Received] = []  # answered 4003: the receiver is not connected
        self._results: dict[str, tuple[tuple[str, str], str]] = {}  # our response_url id → (party, theirs)
        self.registered = asyncio.Event()  # set once the CPO has registered with us


    async def connect(self, emsp: SimulatedEmsp) -> None:
        """The eMSP registers with us (the Token A we issued it) and we tell the CPO."""
        client = self.clients[(emsp.country_code, emsp.party_id)]
        answer = await emsp.register_with(self.versions_url, client.token_a)
        assert answer["status_code"] == 1000, answer
        await self.set_status(client.party, "CONNECTED")

    # --- ClientInfo ----------------------------------------------------------------------

    def client_info(self, client: Client) -> dict[str, Any]:
        info = {"country_code": client.party[0], "party_id": client.party[1],
                "role": client.role, "status": client.status, "last_updated": now()}
        assert not problems("ClientInfo", info), problems("ClientInfo", info)
        return info

    async def set_status(self, party: tuple[str, str], status: str,
                         tell: bool = True) -> tuple[int, Any]:
        """A client's connection changes: the CPO is told (PUT ClientInfo, no routing headers),
        unless not `tell` (a hub slow to say so: requests meanwhile are answered 4003)."""
        client = self.clients[party]
        client.status = status
        if not tell:
            return 200, None
        answer = await self.call_cpo("PUT", f"{self.cpo_endpoints['hubclientinfo']}/{party[0]}/"
                                   f"{party[1]}", self.client_info(client))
        client.told = status  # once the CPO has it (a request under way may still arrive)
        return answer

    async def call_cpo(self, method: str, url: str, body: Any = None,
                       headers: dict[str, str] | None = None) -> tuple[int, Any]:
        assert self.cpo_token is not None, "the CPO has not registered with us"
        async with aiohttp.ClientSession() as http, http.request(
                method, url, json=body, headers={**_auth(self.cpo_token), **(headers or {})}) \
                as response:
            if "/hubclientinfo" in url and any(name in response.headers for name in ROUTING):
                self.violations.append(f"routing headers on the answer to {method} {url}")
            return response.status, await response.json(content_type=None)

    # --- requests -----------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        token = caller_token(request)
        path = "/" + request.match_info["tail"]
        body = await request.json() if request.can_read_body else None
        received = Received(request.method, path.removeprefix(f"/{VERSION}"), body,
                            dict(request.headers), query=dict(request.query))
        self.received.append(received)
        client = next((c for c in self.clients.values() if token in (c.token_a, c.ours)), None)
        from_cpo = token is not None and token in (self.token_a, self.our_token)
        if client is None and not from_cpo:
            return web.json_response(envelope(None, 2000, "unknown token"), status=401)
        if path == "/versions":
            return web.json_response(envelope([{"version": VERSION,
                                                "url": f"{self.url}/ocpi/{VERSION}"}]))
        if path == f"/{VERSION}":
            return web.json_response(envelope({"version": VERSION, "endpoints": [
                {"identifier": m, "role": r, "url": f"{self.url}/ocpi/{VERSION}/{m}"}
                for m, r in MODULES]}))
        module = received.path.strip("/").split("/")[0]
        if module == "credentials" and request.method == "POST":
            return await (self._cpo_registers(received) if from_cpo
                          else self._client_registers(received, client))
        if module in ("credentials", "hubclientinfo"):
            if any(name in request.headers for name in ROUTING):
                self.violations.append(f"routing headers on {request.method} {path}")
            if module == "hubclientinfo" and request.method == "GET":
                return web.json_response(envelope([self.client_info(c)
                                                   for c in self.clients.values()]))
            return web.json_response(envelope())
        sender = self._party_of(request, "from")
        if from_cpo:
            if sender != self.cpo_party:
                self.violations.append(f"{request.method} {path}: from {sender}, not the CPO")
                return web.json_response(envelope(None, 2001, "from- headers"), status=400)
            return await self._from_cpo(request, received, module)
        assert client is not None
        if sender != client.party:
            self.violations.append(f"{request.method} {path}: {client.party} sent as {sender}")
            return web.json_response(envelope(None, 2001, "from- headers"), status=400)
        return await self._to_cpo(request, received, module, client)

    def _party_of(self, request: web.Request, prefix: str) -> tuple[str, str] | None:
        country = request.headers.get(f"OCPI-{prefix}-country-code")
        party = request.headers.get(f"OCPI-{prefix}-party-id")
        return None if country is None or party is None else (country.upper(), party.upper())

    async def _from_cpo(self, request: web.Request, received: Received,
                        module: str) -> web.Response:
        receiver = self._party_of(request, "to")
        if receiver is None:  # an Open Routing Request: the hub finds the token's eMSP
            if not (module == "tokens" and received.path.endswith("/authorize")):
                self.violations.append(f"{request.method} {received.path}: no to- headers")
                return web.json_response(envelope(None, 4001, "no receiver"))
            for client in self.clients.values():
                if client.status == "CONNECTED":
                    status, answer = await self._forward(request, received, client, module)
                    if status == 200 and answer.get("status_code") == 1000:
                        return self._answer(status, answer, client.party, self.cpo_party)
            return self._answer(404, envelope(None, 2004, "unknown token"), self.party,
                                self.cpo_party)
        if receiver == self.party and request.method == "GET" and module == "tokens":
            return await self._get_all(received, module)
        if receiver == self.party:  # a broadcast push
            if module not in _BROADCAST or request.method == "GET":
                self.violations.append(f"{request.method} {received.path}: broadcast")
            for client in self.clients.values():
                if client.status == "CONNECTED":
                    await self._forward(request, received, client, module, sender=self.party)
            return self._answer(200, envelope(), self.party, self.cpo_party)
        addressed = self.clients.get(receiver)
        if addressed is None:
            self.violations.append(f"{request.method} {received.path}: to unknown {receiver}")
            return self._answer(200, envelope(None, 4001, "unknown receiver"), self.party,
                                self.cpo_party)
        client = addressed
        if client.status != "CONNECTED":
            self.not_connected.append(received)
            if client.told != "CONNECTED":  # the CPO knew: it should not have sent it
                self.violations.append(f"{request.method} {received.path}: to {receiver}, "
                                       f"{client.status}")
            return self._answer(200, envelope(None, 4003, "receiver not connected"), self.party,
                                self.cpo_party)
        if module == "results":  # an answer to a command or profile request we forwarded
            party, url = self._results[received.path.split("/")[-1]]
            if party != receiver:
                self.violations.append(f"result for {party} sent to {receiver}")
            status, answer = await self._send(request.method, url, received.body, client,
                                              dict(request.headers))
        else:
            status, answer = await self._forward(request, received, client, module)
        return self._answer(status, answer, receiver, self.cpo_party)

    async def _to_cpo(self, request: web.Request, received: Received, module: str,
                      client: Client) -> web.Response:
        receiver = self._party_of(request, "to")
        if receiver not in (None, self.cpo_party, self.party):
            self.violations.append(f"{client.party} addressed {receiver}")
            return web.json_response(envelope(None, 4001, "unknown receiver"))
        broadcast = receiver == self.party  # to every CPO: ours is the only one
        rest = received.path.strip("/").split("/", 1)[1:]
        url = "/".join([self.cpo_endpoints[module], *rest])
        body, query = received.body, dict(received.query)
        # Answers come back through us: response_url becomes ours, for this client.
        for holder in (body, query):
            if isinstance(holder, dict) and isinstance(holder.get("response_url"), str):
                result_id = secrets.token_hex(6)
                self._results[result_id] = (client.party, holder["response_url"])
                holder["response_url"] = f"{self.url}/ocpi/{VERSION}/results/{result_id}"
        if query:
            url += "?" + urlencode(query)
        assert self.cpo_party is not None
        # A broadcast goes on from us (transport_and_format Broadcast Push); else from the client.
        origin = self.party if broadcast else client.party
        headers = {"OCPI-from-country-code": origin[0], "OCPI-from-party-id": origin[1],
                   "OCPI-to-country-code": self.cpo_party[0],
                   "OCPI-to-party-id": self.cpo_party[1]}
        status, answer, answered = await self._request(request.method, url, body,
                                                       self.cpo_token or "", headers)
        self._check_answer(f"CPO {request.method} {received.path}", answered, origin,
                           self.cpo_party)
        if broadcast:
            return self._answer(200, envelope(), self.party, client.party)
        return self._answer(status, answer, self.cpo_party, client.party)

    async def _get_all(self, received: Received, module: str) -> web.Response:
        """A GET All via the hub (transport_and_format "GET All via Hubs"): every CONNECTED
        client's Sender list combined (each walked page by page), paged again by us."""
        query = {k: v for k, v in received.query.items() if k in ("date_from", "date_to")}
        combined: list[Any] = []
        assert self.cpo_party is not None
        for client in self.clients.values():
            base = client.endpoints.get(module)
            if client.status != "CONNECTED" or base is None:
                continue
            offset = 0
            while True:
                url = f"{base}?{urlencode({**query, 'offset': offset})}"
                status, answer, headers = await self._request(
                    "GET", url, None, client.theirs or "",
                    {"X-Request-ID": secrets.token_hex(8), "X-Correlation-ID": secrets.token_hex(8),
                     "OCPI-from-country-code": self.cpo_party[0],
                     "OCPI-from-party-id": self.cpo_party[1],
                     "OCPI-to-country-code": client.party[0],
                     "OCPI-to-party-id": client.party[1]})
                data = answer.get("data") or [] if status == 200 else []
                combined.extend(data)
                offset += len(data)
                if not data or offset >= int(headers.get("X-Total-Count", "0")):
                    break
        combined.sort(key=lambda item: (str(item.get("last_updated")), str(item.get("uid"))))
        offset = int(received.query.get("offset", "0") or 0)
        limit = min(int(received.query.get("limit", "100") or 100), 100)
        headers = {"X-Total-Count": str(len(combined)), "X-Limit": "100",
                   "OCPI-from-country-code": self.party[0], "OCPI-from-party-id": self.party[1],
                   "OCPI-to-country-code": self.cpo_party[0],
                   "OCPI-to-party-id": self.cpo_party[1]}
        if offset + limit < len(combined):
            following = {**received.query, "offset": str(offset + limit), "limit": str(limit)}
            headers["Link"] = (f'<{self.url}/ocpi/{VERSION}/{module}?{urlencode(following)}>; '
                               'rel="next"')
        return web.json_response(envelope(combined[offset:offset + limit]), headers=headers)

    async def _forward(self, request: web.Request, received: Received, client: Client,
                       module: str, sender: tuple[str, str] | None = None) -> tuple[int, Any]:
        """The CPO's request on to a client, addressed to it; from the CPO (or us, broadcasting)."""
        base = client.endpoints.get(module)
        if base is None:
            return 200, envelope(None, 4001, f"{client.party} has no {module}")
        rest = received.path.strip("/").split("/", 1)[1:]
        url = "/".join([base, *rest])
        if received.query:
            url += "?" + urlencode(received.query)
        origin = sender or self.cpo_party
        assert origin is not None
        headers = {"OCPI-from-country-code": origin[0], "OCPI-from-party-id": origin[1]}
        return await self._send(request.method, url, received.body, client, headers)

    async def _send(self, method: str, url: str, body: Any, client: Client,
                    headers: dict[str, str]) -> tuple[int, Any]:
        routing = {name: headers[name] for name in ROUTING[:2] if name in headers}
        routing |= {"OCPI-to-country-code": client.party[0], "OCPI-to-party-id": client.party[1]}
        status, answer, _ = await self._request(method, url, body, client.theirs or "", routing)
        return status, answer

    async def _request(self, method: str, url: str, body: Any, token: str,
                       headers: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        async with aiohttp.ClientSession() as http, http.request(
                method, url, json=None if method in ("GET", "DELETE") else body,
                headers={**_auth(token), **headers}) as response:
            return (response.status, await response.json(content_type=None),
                    dict(response.headers))

    def _check_answer(self, what: str, headers: dict[str, str], to: tuple[str, str] | None,
                      sender: tuple[str, str] | None) -> None:
        """The CPO's answer carries the routing headers, back to the asking party."""
        got = tuple((headers.get(a), headers.get(b)) for a, b in (ROUTING[2:], ROUTING[:2]))
        wanted = (to, sender)
        if tuple(None if g == (None, None) else (str(g[0]).upper(), str(g[1]).upper())
                 for g in got) != wanted:
            self.violations.append(f"{what}: answer routed {got}, not {wanted}")

    def _answer(self, status: int, answer: Any, sender: tuple[str, str] | None,
                receiver: tuple[str, str] | None) -> web.Response:
        headers = {}
        if sender is not None and receiver is not None:
            headers = {"OCPI-from-country-code": sender[0], "OCPI-from-party-id": sender[1],
                       "OCPI-to-country-code": receiver[0], "OCPI-to-party-id": receiver[1]}
        return web.json_response(answer, status=status, headers=headers)

    # --- registration -------------------------------------------------------------------

    def _credentials(self, token: str, party: tuple[str, str], role: str,
                     name: str) -> dict[str, Any]:
        return {"token": token, "url": self.versions_url, "roles": [{
            "role": role, "country_code": party[0], "party_id": party[1],
            "business_details": {"name": name}}]}

    async def _endpoints(self, versions_url: str, token: str) -> dict[str, str]:
        async with aiohttp.ClientSession() as http:
            async with http.get(versions_url, headers=_auth(token)) as response:
                versions = (await response.json())["data"]
            url = next(v["url"] for v in versions if v["version"] == VERSION)
            async with http.get(url, headers=_auth(token)) as response:
                details = (await response.json())["data"]["endpoints"]
        return {e["identifier"]: e["url"].rstrip("/") for e in details}

    async def _cpo_registers(self, received: Received) -> web.Response:
        received.errors += problems("Credentials", received.body)
        if received.errors:
            return web.json_response(envelope(None, 2001, "; ".join(received.errors)), status=400)
        cpo = received.body
        self.cpo_endpoints = await self._endpoints(cpo["url"], cpo["token"])
        role = cpo["roles"][0]
        self.cpo_token, self.cpo_party = cpo["token"], (role["country_code"], role["party_id"])
        self.our_token = secrets.token_urlsafe(16)
        self.token_a = "spent-" + secrets.token_urlsafe(8)
        self.registered.set()
        return web.json_response(envelope(self._credentials(self.our_token, self.party, "HUB",
                                                            "Simulated hub")))

    async def _client_registers(self, received: Received, client: Client | None) -> web.Response:
        assert client is not None
        received.errors += problems("Credentials", received.body)
        if received.errors or client.token_a == "":
            return web.json_response(envelope(None, 2001, "; ".join(received.errors)), status=400)
        emsp = received.body
        client.endpoints = await self._endpoints(emsp["url"], emsp["token"])
        client.theirs, client.ours, client.token_a = emsp["token"], secrets.token_urlsafe(16), ""
        # To the eMSP we are "the CPO": it addresses the CPO behind us by the CPO's party.
        assert self.cpo_party is not None, "register the CPO first"
        return web.json_response(envelope(self._credentials(client.ours, self.cpo_party, "CPO",
                                                            "CPO via simulated hub")))
