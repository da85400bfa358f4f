"""The way to any charger's link: in this process, or on the node holding it, over LISTEN/NOTIFY."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

import asyncpg
import structlog
from ocpp.exceptions import InternalError, OCPPError
from websockets.exceptions import ConnectionClosed

from csms.cluster.device_model_link import RelayedDeviceModel
from csms.cluster.links import BadCommand, ChargerLink, ChargerOffline, Connections, NotSupported
from csms.cluster.nodes import NodeRegistry
from csms.domain.commands import finish_in_flight
from csms.domain.model import TokenType
from csms.storage.notifications import Listener

log = structlog.get_logger(__name__)

CHANNEL = "csms_relay"
# PostgreSQL refuses NOTIFY payloads from 8000 bytes; longer answers go through a table.
MAX_PAYLOAD = 4000
METHODS = frozenset(name for name in dir(ChargerLink) if not name.startswith("_"))


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    raise TypeError(f"cannot relay {type(value).__name__}")


def _decode(value: dict[str, Any]) -> Any:
    return datetime.fromisoformat(value["$datetime"]) if "$datetime" in value else value


def ocpp_error(code: str, description: str) -> OCPPError:
    """The CALLERROR a charger sent to the other node, as the same exception here."""
    for kind in OCPPError.__subclasses__():
        if getattr(kind, "code", None) == code:
            return kind(description=description)
    return InternalError(description=f"{code}: {description}")


class RemoteLink(RelayedDeviceModel):
    """A charger held by another node; each call travels there and its answer comes back."""

    def __init__(self, relay: Relay, node_id: str, charge_point_id: str) -> None:
        self.relay = relay
        self.node_id = node_id
        self.charge_point_id = charge_point_id

    async def _call(self, method: str, *args: Any) -> Any:
        return await self.relay.call(self.node_id, self.charge_point_id, method, list(args))

    async def remote_start(self, evse_number: int, token_uid: str, remote_start_id: int,
                           token_type: TokenType, profile: dict[str, Any] | None = None) -> str:
        return str(await self._call("remote_start", evse_number, token_uid, remote_start_id,
                                    token_type, profile))

    async def remote_stop(self, transaction_id: str) -> str:
        return str(await self._call("remote_stop", transaction_id))

    async def unlock(self, evse_number: int) -> str:
        return str(await self._call("unlock", evse_number))

    async def reserve_now(self, evse_number: int | None, token_uid: str, reservation_id: int,
                          expires_at: datetime, token_type: TokenType,
                          connector_type: str | None = None, group: str | None = None) -> str:
        return str(await self._call("reserve_now", evse_number, token_uid, reservation_id,
                                    expires_at, token_type, connector_type, group))

    async def cancel_reservation(self, reservation_id: int) -> str:
        return str(await self._call("cancel_reservation", reservation_id))

    async def reset(self, hard: bool) -> str:
        return str(await self._call("reset", hard))

    async def change_availability(self, evse_number: int, operative: bool,
                                  connector_number: int | None = None) -> str:
        return str(await self._call("change_availability", evse_number, operative,
                                    connector_number))

    async def trigger(self, message: str, evse_number: int | None) -> str:
        return str(await self._call("trigger", message, evse_number))

    async def get_configuration(self, keys: list[str]) -> dict[str, Any]:
        return dict(await self._call("get_configuration", keys))

    async def change_configuration(self, key: str, value: str) -> str:
        return str(await self._call("change_configuration", key, value))

    async def set_password(self, password: str) -> str:
        return str(await self._call("set_password", password))

    async def raw_call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return dict(await self._call("raw_call", action, payload))

    async def clear_cache(self) -> str:
        return str(await self._call("clear_cache"))

    async def set_configuration(self, values: dict[str, str]) -> dict[str, str]:
        return dict(await self._call("set_configuration", values))

    async def data_transfer(self, vendor_id: str, message_id: str | None,
                            data: str | None) -> dict[str, Any]:
        return dict(await self._call("data_transfer", vendor_id, message_id, data))

    async def update_firmware(self, request_id: int, location: str, retrieve_at: datetime,
                              install_at: datetime | None, retries: int | None,
                              retry_interval: int | None, signing_certificate: str | None,
                              signature: str | None) -> dict[str, Any]:
        return dict(await self._call("update_firmware", request_id, location, retrieve_at,
                                     install_at, retries, retry_interval, signing_certificate,
                                     signature))

    async def get_log(self, request_id: int, log_type: str, location: str,
                      oldest: datetime | None, latest: datetime | None, retries: int | None,
                      retry_interval: int | None) -> dict[str, Any]:
        return dict(await self._call("get_log", request_id, log_type, location, oldest, latest,
                                     retries, retry_interval))

    async def install_certificate(self, use: str, certificate_pem: str) -> str:
        return str(await self._call("install_certificate", use, certificate_pem))

    async def installed_certificates(self, uses: list[str]) -> dict[str, Any]:
        return dict(await self._call("installed_certificates", uses))

    async def delete_certificate(self, hash_data: dict[str, str]) -> str:
        return str(await self._call("delete_certificate", hash_data))

    async def set_security_profile(self, profile: int, csms_url: str = "",
                                   interface: str = "Wired0") -> str:
        return str(await self._call("set_security_profile", profile, csms_url, interface))

    async def renew_certificate(self, use: str) -> str:
        return str(await self._call("renew_certificate", use))

    async def set_charging_profile(self, evse: int, profile: dict[str, Any]) -> str:
        return str(await self._call("set_charging_profile", evse, profile))

    async def clear_charging_profile(self, profile_id: int | None, evse: int | None,
                                     purpose: str | None, stack_level: int | None) -> str:
        return str(await self._call("clear_charging_profile", profile_id, evse, purpose,
                                    stack_level))

    async def get_composite_schedule(self, evse: int, duration: int,
                                     unit: str | None) -> dict[str, Any]:
        return dict(await self._call("get_composite_schedule", evse, duration, unit))

    async def get_charging_profiles(self, evse: int | None, purpose: str | None,
                                    stack_level: int | None, sources: list[str] | None,
                                    ids: list[int] | None) -> dict[str, Any]:
        return dict(await self._call("get_charging_profiles", evse, purpose, stack_level,
                                     sources, ids))


class Relay:
    """Commands find their charger wherever it is connected.

    The registry names the node holding the charger. A call for another node is a NOTIFY on one
    channel that every node listens to; the holder runs it on its link and NOTIFYs the answer
    back. A holder that dies mid-call leaves the caller to time out, as a silent charger would.
    """

    def __init__(self, pool: asyncpg.Pool, listener: Listener, registry: NodeRegistry,
                 connections: Connections, call_timeout: float) -> None:
        self.pool = pool
        self.listener = listener
        self.registry = registry
        self.connections = connections
        self.node_id = registry.node_id
        # The holder waits call_timeout for its charger; allow for the two NOTIFYs on top.
        self.timeout = call_timeout + 5.0
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        # Set by the OCPP server: closes this node's connection of a charger now held elsewhere.
        self.on_release: Callable[[str], Coroutine[Any, Any, None]] | None = None

    async def start(self) -> None:
        await self.listener.subscribe(CHANNEL, self._received)

    async def stop(self) -> None:
        """Take no more calls; finish those under way while our chargers are still connected."""
        self.listener.unsubscribe(CHANNEL, self._received)
        await finish_in_flight(self._tasks, self.timeout)

    async def link(self, charge_point_id: str) -> ChargerLink | None:
        """The charger's link, local or remote; None when no live node holds it."""
        local = self.connections.get(charge_point_id)
        if local is not None:
            # Ours: had the charger moved to another node, that node would have released it.
            return local
        holder = await self.registry.holder(charge_point_id)
        if holder is None or holder == self.node_id:
            return None
        return RemoteLink(self, holder, charge_point_id)

    async def release(self, node_id: str, charge_point_id: str) -> None:
        """The charger connected here while `node_id` still counted it as its own: that node
        closes its stale connection, as one node does with a connection replaced by a newer."""
        await self._notify({"kind": "release", "to": node_id, "charge_point_id": charge_point_id})

    async def _notify(self, message: dict[str, Any]) -> None:
        await self.pool.execute("SELECT pg_notify($1, $2)", CHANNEL,
                                json.dumps(message, default=_encode))

    async def call(self, node_id: str, charge_point_id: str, method: str, args: list[Any]) -> Any:
        request_id = uuid.uuid4().hex
        answered = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = answered
        try:
            await self._notify({"kind": "call", "id": request_id, "to": node_id,
                                "from": self.node_id, "charge_point_id": charge_point_id,
                                "method": method, "args": args})
            reply = await asyncio.wait_for(answered, self.timeout)
        finally:
            self._waiting.pop(request_id, None)
        if "stored" in reply:
            reply = await self._fetch_stored(reply["stored"])
        error = reply.get("error")
        if error == "offline":
            raise ChargerOffline(charge_point_id)
        if error == "not_supported":
            raise NotSupported(method)
        if error == "timeout":
            raise TimeoutError(f"{charge_point_id} did not answer {method}")
        if error == "callerror":
            raise ocpp_error(reply["code"], reply["description"])
        if error == "bad":
            raise BadCommand(reply["reason"])
        return reply["answer"]

    async def _fetch_stored(self, reply_id: str) -> dict[str, Any]:
        answer = await self.pool.fetchval(
            "DELETE FROM relay_replies WHERE id = $1 RETURNING answer", uuid.UUID(reply_id))
        # Answers whose caller had given up before they came are never fetched.
        await self.pool.execute(
            "DELETE FROM relay_replies WHERE created_at < now() - interval '10 minutes'")
        return dict(answer) if answer else {"error": "timeout"}

    def _received(self, payload: str) -> None:
        try:
            message = json.loads(payload, object_hook=_decode)
        except ValueError:
            log.warning("unreadable relay message", payload=payload[:200])
            return
        if message.get("to") != self.node_id:
            return
        if message.get("kind") == "reply":
            answered = self._waiting.get(message.get("id", ""))
            if answered is not None and not answered.done():
                answered.set_result(message)
        elif message.get("kind") == "call":
            self._spawn(self._serve(message))
        elif message.get("kind") == "release" and self.on_release is not None:
            self._spawn(self.on_release(message["charge_point_id"]))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, call: dict[str, Any]) -> None:
        """Run another node's call on our link to the charger and send the outcome back."""
        reply = await self._run(call["charge_point_id"], call["method"], call["args"])
        reply.update(kind="reply", id=call["id"], to=call["from"])
        encoded = json.dumps(reply, default=_encode)
        try:
            if len(encoded.encode()) > MAX_PAYLOAD:
                reply_id = uuid.uuid4()
                await self.pool.execute("INSERT INTO relay_replies (id, answer) VALUES ($1, $2)",
                                        reply_id, reply)
                encoded = json.dumps({"kind": "reply", "id": call["id"], "to": call["from"],
                                      "stored": str(reply_id)})
            await self.pool.execute("SELECT pg_notify($1, $2)", CHANNEL, encoded)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("relay answer lost", method=call["method"], error=repr(exc))

    async def _run(self, charge_point_id: str, method: str, args: list[Any]) -> dict[str, Any]:
        link = self.connections.get(charge_point_id)
        if link is None or method not in METHODS:
            return {"error": "offline"}
        try:
            return {"answer": await getattr(link, method)(*args)}
        except TimeoutError:
            return {"error": "timeout"}
        except (ConnectionClosed, ChargerOffline):
            return {"error": "offline"}
        except NotSupported:
            return {"error": "not_supported"}
        except BadCommand as bad:
            return {"error": "bad", "reason": str(bad)}
        except OCPPError as error:
            return {"error": "callerror", "code": getattr(error, "code", "InternalError"),
                    "description": error.description}
        except Exception as exc:  # a bug here must still answer, or the caller waits it out
            log.exception("relayed call failed", charge_point_id=charge_point_id, method=method)
            return {"error": "callerror", "code": "InternalError", "description": repr(exc)}
