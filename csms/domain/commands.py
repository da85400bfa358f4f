"""The command service: the one way in for everything we ask of a charger, whatever OCPP version it speaks."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import asyncpg
import structlog
from ocpp.exceptions import OCPPError
from websockets.exceptions import ConnectionClosed

from csms.cluster.links import BadCommand, ChargerLink, ChargerOffline, NotSupported
from csms.domain.authorization import remote_start_refusal
from csms.domain.energy import intended
from csms.domain.energy.external_limits import Electrics
from csms.domain.energy.smart_charging import (
    ChargingProfile,
    Purpose,
    RateUnit,
    composite_from_dict,
    problem,
    profile_from_dict,
    remote_start_problem,
    to_dict,
)
from csms.domain.fleet import configuration
from csms.domain.fleet.certificates import CertificateUse
from csms.domain.fleet.device_model import DeviceModelCommands
from csms.domain.fleet.jobs import FirmwareRequest, LogRequest
from csms.domain.model import TokenType, parse_token_type
from csms.domain.reservations import ReservationService, held_for_another
from csms.domain.sessions import SessionService
from csms.security.certificate_authority import hash_data
from csms.security.credentials import hash_password
from csms.security.masking import mask_payload
from csms.storage import store
from csms.storage.energy import energy_store, profile_store
from csms.storage.fleet import certificate_store, configuration_store

if TYPE_CHECKING:  # the relay finishes its own calls with finish_in_flight below
    from csms.cluster.relay import Relay
    from csms.domain.energy.load_manager import LoadManager
    from csms.domain.events import EventBus

log = structlog.get_logger(__name__)


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    OFFLINE = "offline"  # charger not connected, or the connection dropped mid-call
    TIMEOUT = "timeout"  # the charger did not answer in time
    FAILED = "failed"  # the charger answered with a CALLERROR
    NOT_FOUND = "not_found"  # no such charge point, EVSE or session
    BUSY = "busy"  # the EVSE already has a session
    TOKEN_REFUSED = "token_refused"  # our tokens table holds the token as blocked, expired, invalid
    NOT_SUPPORTED = "not_supported"  # the charger's protocol (or the charger) has no such operation
    INVALID = "invalid"  # a raw command its charger's OCPP version does not have, or malformed


@dataclass(frozen=True)
class CommandResult:
    outcome: Outcome
    detail: dict[str, Any] = field(default_factory=dict)
    session_id: str | None = None

    @property
    def accepted(self) -> bool:
        return self.outcome is Outcome.ACCEPTED


# Charger answers that mean "done or will be done".
_POSITIVE = {"Accepted", "Unlocked", "Scheduled"}


async def _ask(charge_point_id: str, what: str, call: Any) -> CommandResult:
    """Await one call to the charger and turn whatever happens into an outcome."""
    try:
        answer = await call
    except TimeoutError:
        result = CommandResult(Outcome.TIMEOUT)
    except (ConnectionClosed, ChargerOffline):
        result = CommandResult(Outcome.OFFLINE)
    except NotSupported:
        result = CommandResult(Outcome.NOT_SUPPORTED)
    except OCPPError as error:
        result = CommandResult(Outcome.FAILED, {"error": error.code,
                                                "description": error.description})
    else:
        if isinstance(answer, dict):
            result = CommandResult(Outcome.ACCEPTED, answer)
        elif answer == "NotSupported":  # the charger's own answer (2.0.1 device model)
            result = CommandResult(Outcome.NOT_SUPPORTED, {"status": answer})
        else:
            outcome = Outcome.ACCEPTED if answer in _POSITIVE else Outcome.REJECTED
            result = CommandResult(outcome, {"status": answer})
    log.info("command", charge_point_id=charge_point_id, command=what, outcome=result.outcome,
             **result.detail)
    return result


async def finish_in_flight(tasks: set[asyncio.Task[Any]], grace: float) -> None:
    """On shutdown, let commands under way reach their end, so their outcome is recorded and
    answered, before connections close; what outlasts `grace` is cancelled."""
    if tasks:
        log.info("finishing commands in flight", count=len(tasks))
        _, late = await asyncio.wait(set(tasks), timeout=grace)
        for task in late:
            task.cancel()


class CommandService(DeviceModelCommands):
    # Whether chargers can reach us over TLS (ocpp.tls_cert): set where the app is wired. No
    # charger is raised to a profile that would lock it out.
    tls_available = False
    # Where a 2.0.1 charger is moved to on an upgrade (A05): ocpp.public_tls_url, network_interface.
    public_tls_url = ""
    network_interface = "Wired0"
    # An EVSE's voltage and phases (W to A), set where the app is wired (ChargerLimits).
    electrics: Callable[[str, int], Awaitable[Electrics]] | None = None

    def __init__(self, pool: asyncpg.Pool, relay: Relay,
                 sessions: SessionService, reservations: ReservationService) -> None:
        self.pool = pool
        self.relay = relay
        self.sessions = sessions
        self.reservations = reservations
        # Set where the app is wired: caps are published as events and shared by the load manager.
        self.events: EventBus | None = None
        self.load_manager: LoadManager | None = None

    @property
    def grace(self) -> float:
        """How long a command may still take: the charger's call timeout, and a margin."""
        return self.relay.timeout

    async def online(self, charge_point_id: str) -> bool:
        """Connected to a live node, this one or another."""
        return await self.relay.link(charge_point_id) is not None

    async def resolve_evse(self, evse_id: str) -> tuple[str, int] | None:
        """A roaming EvseID (e.g. DE*ABC*E0001*1) → (charge point id, EVSE number)."""
        evse = await store.get_evse_by_evse_id(self.pool, evse_id)
        return (evse["charge_point_id"], evse["evse_number"]) if evse else None

    async def _evse_and_link(self, charge_point_id: str, evse_number: int
                             ) -> tuple[asyncpg.Record, ChargerLink] | CommandResult:
        """The EVSE and its charger's live link, or the outcome that says why not."""
        evse = await store.get_evse(self.pool, charge_point_id, evse_number)
        if evse is None:
            return CommandResult(Outcome.NOT_FOUND, {"reason": "unknown EVSE"})
        link = await self.relay.link(charge_point_id)
        if link is None:
            return CommandResult(Outcome.OFFLINE)
        return evse, link

    async def _token_type(self, token_uid: str, given: TokenType | None) -> TokenType:
        """As the caller (a roaming partner) says, else as our tokens table says; a token
        known to nobody is one made up here (OCPP 2.0.1 'Central')."""
        if given is not None:
            return given
        row = await store.get_token(self.pool, token_uid)
        return (parse_token_type(row["type"]) if row is not None else None) or TokenType.CENTRAL

    async def token_refusal(self, token_uid: str,
                            requester: str | None = None) -> CommandResult | None:
        """The answer to a remote start or reservation for a token our own table refuses, before
        anything reaches the charger; None when the token may go on (or is not ours to judge)."""
        status = await remote_start_refusal(self.pool, token_uid, requester)
        if status is None:
            return None
        log.info("token refused for a remote command", token_status=status.value)
        return CommandResult(Outcome.TOKEN_REFUSED, {"reason": f"token is {status.value}",
                                                     "token_status": status.value})

    async def start_session(self, charge_point_id: str, evse_number: int, token_uid: str,
                            attributes: dict[str, Any] | None = None,
                            token_type: TokenType | None = None,
                            requester: str | None = None,
                            profile: ChargingProfile | None = None) -> CommandResult:
        """Remote start; the session exists at once (pending) and keeps `attributes` for life.
        `requester`: the roaming partner asking, whose own tokens it vouches for itself.
        `profile`: a Tx profile for the transaction (checked before anything is sent), kept as
        the charger's once it accepts the start."""
        reason = remote_start_problem(profile) if profile is not None else None
        if reason:
            return CommandResult(Outcome.INVALID, {"reason": reason})
        refused = await self.token_refusal(token_uid, requester)
        if refused is not None:
            return refused
        found = await self._evse_and_link(charge_point_id, evse_number)
        if isinstance(found, CommandResult):
            return found
        if refused := await self.not_accepted(charge_point_id):
            return refused
        evse, link = found
        # Held for another token (here, or as one of the EVSEs a reservation for any EVSE of
        # the charger needs): the charger would refuse it too.
        held_by = await held_for_another(self.pool, charge_point_id, evse["id"], token_uid)
        if held_by is not None:
            return CommandResult(Outcome.BUSY, {"reason": held_by})
        # The charger decides whether its EVSE is free: a session we still hold open there may
        # have ended unheard of (a new transaction supersedes it).
        held = await store.active_session_on_evse(self.pool, evse["id"]) is not None
        session_id, remote_start_id = await self.sessions.create_pending(
            charge_point_id, evse, token_uid, attributes or {}
        )
        result = await _ask(charge_point_id, "remote_start",
                            link.remote_start(evse_number, token_uid, remote_start_id,
                                              await self._token_type(token_uid, token_type),
                                              to_dict(profile) if profile else None))
        if profile is not None and result.outcome in (Outcome.ACCEPTED, Outcome.TIMEOUT):
            await profile_store.answered(self.pool, charge_point_id, evse_number, profile,
                                         "Accepted" if result.accepted else "Pending",
                                         "with the remote start")
        if result.outcome not in (Outcome.ACCEPTED, Outcome.TIMEOUT):
            # A charger that timed out may still start: the session stays pending to match it
            # (until ocpp.remote_start_window, then it expires).
            await self.sessions.fail_pending(session_id, f"remote start {result.outcome}")
        if result.outcome is Outcome.REJECTED and held:
            result = CommandResult(Outcome.BUSY, result.detail)
        return CommandResult(result.outcome, result.detail, session_id)

    async def stop_session(self, session_id: str) -> CommandResult:
        session = await store.get_session(self.pool, session_id)
        if session is None:
            return CommandResult(Outcome.NOT_FOUND, {"reason": "unknown session"})
        if session["status"] != "active" or session["transaction_id"] is None:
            return CommandResult(Outcome.REJECTED, {"reason": f"session is {session['status']}"},
                                 session_id)
        link = await self.relay.link(session["charge_point_id"])
        if link is None:
            return CommandResult(Outcome.OFFLINE, session_id=session_id)
        if refused := await self.not_accepted(session["charge_point_id"]):
            return refused
        result = await _ask(session["charge_point_id"], "remote_stop",
                            link.remote_stop(session["transaction_id"]))
        return CommandResult(result.outcome, result.detail, session_id)

    async def reserve(self, charge_point_id: str, evse_number: int | None, token_uid: str,
                      expires_at: datetime, attributes: dict[str, Any] | None = None,
                      token_type: TokenType | None = None,
                      connector_type: str | None = None,
                      requester: str | None = None) -> CommandResult:
        """ReserveNow; detail["reservation_id"] names the reservation whatever the outcome.
        evse_number None: any EVSE of the charger (of `connector_type`, when given).
        A token our table refuses is refused as for a start (`requester`: as there)."""
        if refused := await self.token_refusal(token_uid, requester):
            return refused
        if evse_number is None:
            if await store.get_charge_point(self.pool, charge_point_id) is None:
                return CommandResult(Outcome.NOT_FOUND, {"reason": "unknown charge point"})
            link = await self.relay.link(charge_point_id)
            if link is None:
                return CommandResult(Outcome.OFFLINE)
            evse_pk = None
        else:
            found = await self._evse_and_link(charge_point_id, evse_number)
            if isinstance(found, CommandResult):
                return found
            evse, link = found
            evse_pk = evse["id"]
        reservation_id = await self.reservations.create(charge_point_id, evse_pk, token_uid,
                                                        expires_at, attributes or {},
                                                        connector_type)
        result = await _ask(charge_point_id, "reserve_now", link.reserve_now(
            evse_number, token_uid, reservation_id, expires_at,
            await self._token_type(token_uid, token_type), connector_type,
            await store.token_group(self.pool, token_uid)))
        # A timeout may still have reserved: it stays "requested" until it expires.
        if result.outcome is not Outcome.TIMEOUT:
            await self.reservations.answered(reservation_id, result.accepted)
        return CommandResult(result.outcome, {**result.detail, "reservation_id": reservation_id})

    async def cancel_reservation(self, reservation_id: int) -> CommandResult:
        reservation = await store.get_reservation(self.pool, reservation_id)
        if reservation is None:
            return CommandResult(Outcome.NOT_FOUND, {"reason": "unknown reservation"})
        if reservation["status"] not in ("active", "requested"):
            return CommandResult(Outcome.REJECTED, {"reason": f"reservation is {reservation['status']}"})
        link = await self.relay.link(reservation["charge_point_id"])
        if link is None:
            return CommandResult(Outcome.OFFLINE)
        result = await _ask(reservation["charge_point_id"], "cancel_reservation",
                            link.cancel_reservation(reservation_id))
        # Rejected: the charger holds no such reservation any more; over either way.
        if result.outcome in (Outcome.ACCEPTED, Outcome.REJECTED):
            await self.reservations.end(reservation_id, "cancelled")
            return CommandResult(Outcome.ACCEPTED, result.detail)
        return result

    async def _with_link(self, charge_point_id: str, what: str, call: Any) -> CommandResult:
        link = await self.relay.link(charge_point_id)
        if link is None:
            exists = await store.get_charge_point(self.pool, charge_point_id) is not None
            return CommandResult(Outcome.OFFLINE if exists else Outcome.NOT_FOUND)
        return await _ask(charge_point_id, what, call(link))

    async def unlock(self, charge_point_id: str, evse_number: int) -> CommandResult:
        return await self._with_link(charge_point_id, "unlock",
                                     lambda link: link.unlock(evse_number))

    async def reset(self, charge_point_id: str, hard: bool = False) -> CommandResult:
        return await self._with_link(charge_point_id, "reset", lambda link: link.reset(hard))

    async def change_availability(self, charge_point_id: str, evse_number: int,
                                  operative: bool,
                                  connector_number: int | None = None) -> CommandResult:
        """evse_number 0: the whole charge point; connector_number: one connector of the EVSE.
        Accepted with detail status "Scheduled": the charger changes once its transaction ends.
        The EVSE's state follows from the StatusNotifications the charger sends."""
        return await self._with_link(
            charge_point_id, "change_availability",
            lambda link: link.change_availability(evse_number, operative, connector_number))

    async def trigger(self, charge_point_id: str, message: str,
                      evse_number: int | None = None) -> CommandResult:
        return await self._with_link(charge_point_id, "trigger",
                                     lambda link: link.trigger(message, evse_number))

    async def get_configuration(self, charge_point_id: str, keys: list[str]) -> CommandResult:
        """Asked of the charger (in batches of what it takes), every result kept."""
        result = await self._with_link(charge_point_id, "get_configuration",
                                       lambda link: link.get_configuration(keys))
        if not result.accepted:
            return result
        entries = [configuration.from_plain(e) for e in result.detail.get("entries", [])]
        await configuration_store.save(self.pool, charge_point_id, entries)
        return CommandResult(Outcome.ACCEPTED, configuration.view(entries))

    async def change_configuration(self, charge_point_id: str, key: str,
                                   value: str) -> CommandResult:
        """A password goes the password's way, so its hash is stored when the charger takes it."""
        if key in configuration.PASSWORD_KEYS:
            return await self.set_password(charge_point_id, value)
        result = await self._with_link(charge_point_id, "change_configuration",
                                       lambda link: link.change_configuration(key, value))
        status = result.detail.get("status")
        if isinstance(status, str):
            await configuration_store.save(self.pool, charge_point_id,
                                           [configuration.changed(key, value, status)])
        if result.accepted or status == "RebootRequired":
            await self._raise_profile(charge_point_id, key, value)
        return result

    async def set_configuration(self, charge_point_id: str,
                                values: dict[str, str]) -> CommandResult:
        """Several settings at once (a password goes alone, by change_configuration); detail:
        the charger's status by key; accepted when it took them all."""
        result = await self._with_link(charge_point_id, "set_configuration",
                                       lambda link: link.set_configuration(values))
        if not result.accepted:
            return result
        statuses = {str(k): str(v) for k, v in result.detail.items()}
        await configuration_store.save(self.pool, charge_point_id, [
            configuration.changed(key, values.get(key, ""), status)
            for key, status in statuses.items()])
        for key, status in statuses.items():
            if status in configuration.TAKEN:
                await self._raise_profile(charge_point_id, key, values.get(key, ""))
        taken = all(status in configuration.TAKEN for status in statuses.values())
        return CommandResult(Outcome.ACCEPTED if taken else Outcome.REJECTED,
                             {"results": statuses})

    async def stored_configuration(self, charge_point_id: str) -> dict[str, Any] | None:
        """The charger's configuration as it last told us; None for an unknown charger."""
        if await store.get_charge_point(self.pool, charge_point_id) is None:
            return None
        return configuration.view(await configuration_store.load(self.pool, charge_point_id))

    async def _raise_profile(self, charge_point_id: str, key: str, value: str) -> None:
        if key in configuration.PROFILE_KEYS and value.isdigit() and 0 <= int(value) <= 3:
            await store.raise_security_profile(self.pool, charge_point_id, int(value))

    async def set_password(self, charge_point_id: str, password: str) -> CommandResult:
        """A new Basic auth password: the charger takes it first, then we store its hash, so
        neither side is ever left with a password the other does not know."""
        result = await self._with_link(charge_point_id, "set_password",
                                       lambda link: link.set_password(password))
        if result.accepted:
            await store.set_password_hash(self.pool, charge_point_id, hash_password(password))
        return result

    async def not_accepted(self, charge_point_id: str) -> CommandResult | None:
        """Remote start and stop are not for a charger we answered Pending or Rejected (1.6
        §4.2, 2.0.1 B02): refused before anything is sent; configuring it goes on."""
        row = await store.get_charge_point(self.pool, charge_point_id)
        status = row["boot_status"] if row is not None else None
        if status in ("Pending", "Rejected"):
            return CommandResult(Outcome.REJECTED,
                                 {"reason": f"charger registration is {status.lower()}"})
        return None

    async def clear_cache(self, charge_point_id: str) -> CommandResult:
        return await self._with_link(charge_point_id, "clear_cache",
                                     lambda link: link.clear_cache())

    async def data_transfer(self, charge_point_id: str, vendor_id: str,
                            message_id: str | None = None, data: str | None = None
                            ) -> CommandResult:
        """DataTransfer to the charger: its status (Accepted, Rejected, UnknownVendorId,
        UnknownMessageId) and its data."""
        result = await self._with_link(
            charge_point_id, "data_transfer",
            lambda link: link.data_transfer(vendor_id, message_id, data))
        status = result.detail.get("status")
        if result.accepted and status != "Accepted":
            return CommandResult(Outcome.REJECTED, result.detail)
        return result

    async def raw_command(self, charge_point_id: str, action: str,
                          payload: dict[str, Any]) -> CommandResult:
        """A generic command: any CSMS-to-charger action of the charger's OCPP version with its raw
        payload. detail: {"status", "response"} as answered (its secrets masked), or {"callError":
        {code, description}}; the password and security profile it changed count as on the typed
        path. NOT_FOUND: the charger is connected to no node."""
        link = await self.relay.link(charge_point_id)
        if link is None:
            return CommandResult(Outcome.NOT_FOUND, {"reason": f"{charge_point_id} is not connected"})
        try:
            answer = await link.raw_call(action, payload)
        except BadCommand as bad:
            return CommandResult(Outcome.INVALID, {"reason": str(bad)})
        except TimeoutError:
            result = CommandResult(Outcome.TIMEOUT)
        except (ConnectionClosed, ChargerOffline):
            result = CommandResult(Outcome.OFFLINE)
        except OCPPError as error:
            result = CommandResult(Outcome.FAILED, {"callError": {
                "code": error.code, "description": error.description}})
        else:
            response = answer.get("response") or {}
            password = answer.get("password")
            if isinstance(password, str):
                await store.set_password_hash(self.pool, charge_point_id, hash_password(password))
            await configuration_store.save(self.pool, charge_point_id, [
                configuration.from_plain(e) for e in answer.get("configuration") or []])
            profile = answer.get("security_profile")
            if isinstance(profile, int):
                await store.raise_security_profile(self.pool, charge_point_id, profile)
            status = response.get("status")
            result = CommandResult(Outcome.ACCEPTED, {
                "status": status if isinstance(status, str) else None,
                "response": mask_payload(response)})
        log.info("command", charge_point_id=charge_point_id, command=action,
                 outcome=result.outcome, status=result.detail.get("status"))
        return result

    async def update_firmware(self, charge_point_id: str, request_id: int,
                              request: FirmwareRequest) -> CommandResult:
        """Sent for a job (csms/domain/fleet/jobs.py), whose id is the request's."""
        return await self._with_link(charge_point_id, "update_firmware",
                                     lambda link: link.update_firmware(
                                         request_id, request.location, request.retrieve_at,
                                         request.install_at, request.retries,
                                         request.retry_interval, request.signing_certificate,
                                         request.signature))

    async def get_log(self, charge_point_id: str, request_id: int,
                      request: LogRequest) -> CommandResult:
        return await self._with_link(charge_point_id, "get_log",
                                     lambda link: link.get_log(
                                         request_id, request.log_type.value, request.location,
                                         request.oldest, request.latest, request.retries,
                                         request.retry_interval))

    # --- certificates and security profiles (csms/domain/fleet/certificates.py) --------------------

    async def install_certificate(self, charge_point_id: str, use: CertificateUse,
                                  certificate_pem: str) -> CommandResult:
        """A root certificate for the charger to trust (InstallCertificate); kept as installed
        once it accepts."""
        try:
            hashed = hash_data(certificate_pem)
        except ValueError:
            return CommandResult(Outcome.REJECTED, {"reason": "not a PEM certificate"})
        result = await self._with_link(charge_point_id, "install_certificate",
                                       lambda link: link.install_certificate(use.value,
                                                                             certificate_pem))
        if result.accepted:
            await certificate_store.add_installed(self.pool, charge_point_id, use.value, hashed)
        return result

    async def installed_certificates(self, charge_point_id: str,
                                     uses: list[CertificateUse]) -> CommandResult:
        """GetInstalledCertificateIds: what the charger reports is what we keep for it."""
        result = await self._with_link(charge_point_id, "installed_certificates",
                                       lambda link: link.installed_certificates(
                                           [use.value for use in uses]))
        if result.accepted and "certificates" in result.detail:
            asked = uses or [use for use in CertificateUse
                             if use not in (CertificateUse.CHARGING_STATION, CertificateUse.V2G)]
            async with self.pool.acquire() as conn, conn.transaction():
                await certificate_store.replace_installed(conn, charge_point_id,
                                                          [use.value for use in asked],
                                                          result.detail["certificates"])
        return result

    async def delete_certificate(self, charge_point_id: str,
                                 hashed: dict[str, str]) -> CommandResult:
        result = await self._with_link(charge_point_id, "delete_certificate",
                                       lambda link: link.delete_certificate(hashed))
        if result.accepted or result.detail.get("status") == "NotFound":
            await certificate_store.remove_installed(self.pool, charge_point_id, hashed)
        return result

    async def upgrade_security_profile(self, charge_point_id: str, profile: int,
                                       reset: bool = True) -> CommandResult:
        """Raise the charger's security profile (1.6 whitepaper / 2.0.1 A05): the charger takes
        it, we then require it (profile 2: TLS only; 3: with its client certificate) and reset
        it so it reconnects that way. Never lowered: a profile only goes up."""
        charge_point = await store.get_charge_point(self.pool, charge_point_id)
        if charge_point is None:
            return CommandResult(Outcome.NOT_FOUND)
        if profile >= 2 and not self.tls_available:
            return CommandResult(Outcome.REJECTED, {
                "reason": "profiles 2 and 3 need TLS: set ocpp.tls_cert first"})
        if profile <= charge_point["security_profile"]:
            return CommandResult(Outcome.REJECTED, {
                "reason": f"security profile is {charge_point['security_profile']}: "
                          "it can only be raised"})
        try:
            result = await self._with_link(charge_point_id, "set_security_profile",
                                           lambda link: link.set_security_profile(
                                               profile, self.public_tls_url, self.network_interface))
        except BadCommand as bad:  # e.g. a 2.0.1 charger and no URL to move it to
            return CommandResult(Outcome.REJECTED, {"reason": str(bad)})
        if not result.accepted:
            return result
        await store.raise_security_profile(self.pool, charge_point_id, profile)
        if not reset:
            return result
        restarted = await self.reset(charge_point_id, hard=False)
        return CommandResult(result.outcome, {**result.detail, "reset": restarted.outcome.value})

    async def renew_certificate(self, charge_point_id: str,
                                use: CertificateUse = CertificateUse.CHARGING_STATION
                                ) -> CommandResult:
        """Ask the charger for a new CSR (A02); what it sends is signed as any SignCertificate."""
        return await self._with_link(charge_point_id, "renew_certificate",
                                     lambda link: link.renew_certificate(use.value))

    # --- charging profiles (1.6 Smart Charging, 2.0.1 block K) ------------------------------

    async def set_charging_profile(self, charge_point_id: str, evse: int,
                                   profile: ChargingProfile) -> CommandResult:
        """Send a profile to a charger's EVSE (0: the whole charger); kept with its answer."""
        reason = problem(profile) or ("the EVSE must be 0 or more" if evse < 0 else None)
        if reason:
            return CommandResult(Outcome.INVALID, {"reason": reason})
        result = await self._with_link(
            charge_point_id, "set_charging_profile",
            lambda link: link.set_charging_profile(evse, to_dict(profile)))
        status = {Outcome.ACCEPTED: "Accepted", Outcome.REJECTED: "Rejected",
                  Outcome.TIMEOUT: "Pending"}.get(result.outcome)
        if status:
            await profile_store.answered(self.pool, charge_point_id, evse, profile, status,
                                         result.detail.get("status"))
        return result

    async def clear_charging_profile(self, charge_point_id: str, profile_id: int | None = None,
                                     evse: int | None = None, purpose: Purpose | None = None,
                                     stack_level: int | None = None) -> CommandResult:
        """Clear the profiles matching every criterion given (none: all). The charger answers
        Unknown when it holds none such: either way we keep none."""
        result = await self._with_link(
            charge_point_id, "clear_charging_profile",
            lambda link: link.clear_charging_profile(profile_id, evse,
                                                     purpose.value if purpose else None,
                                                     stack_level))
        if result.outcome in (Outcome.ACCEPTED, Outcome.REJECTED):
            forgotten = await profile_store.cleared(self.pool, charge_point_id, profile_id, evse,
                                                    purpose, stack_level)
            return CommandResult(result.outcome, {**result.detail, "forgotten": forgotten})
        return result

    async def charging_profiles(self, charge_point_id: str,
                                evse: int | None = None) -> list[dict[str, Any]]:
        """The profiles we sent the charger and what it answered (no call to the charger)."""
        return await profile_store.shown(self.pool, charge_point_id, evse)

    async def composite_schedule(self, charge_point_id: str, evse: int, duration: int,
                                 unit: RateUnit | None = None) -> CommandResult:
        """What the charger will allow on an EVSE (0: the whole charger) for `duration` seconds,
        as it computes it: detail {"status", "schedule"} (a CompositeSchedule's JSON form)."""
        if evse < 0 or duration <= 0:
            return CommandResult(Outcome.INVALID, {"reason": "evse must be 0 or more and "
                                                             "duration positive"})
        result = await self._with_link(
            charge_point_id, "get_composite_schedule",
            lambda link: link.get_composite_schedule(evse, duration,
                                                     unit.value if unit else None))
        if result.accepted and result.detail.get("status") != "Accepted":
            return CommandResult(Outcome.REJECTED, result.detail)
        if result.accepted and result.detail.get("schedule"):
            return CommandResult(result.outcome, {
                **result.detail, **await self._compared(charge_point_id, evse,
                                                        result.detail["schedule"])})
        return result

    async def _compared(self, charge_point_id: str, evse: int,
                        reported: dict[str, Any]) -> dict[str, Any]:
        """What we intend the EVSE to draw over the reported schedule's span (the profiles the
        charger accepted from us, the load manager's allowance) and where the charger's
        composite differs by more than 0.1 A: {"intended", "mismatch": [...]}; logged."""
        schedule = composite_from_dict(reported)
        held = [intended.Held(row["evse"], profile_from_dict(row["profile"]))
                for row in await profile_store.listed(self.pool, charge_point_id)
                if row["status"] == "Accepted"]
        allowance = await energy_store.allowed(self.pool, charge_point_id, evse) if evse else None
        electrics = (await self.electrics(charge_point_id, evse) if self.electrics
                     else Electrics())
        ours = intended.intended(held, evse, schedule.starts_at or datetime.now(UTC),
                                 schedule.duration or 86400, schedule.unit, allowance, electrics)
        # W compare with a tolerance of 0.1 A too.
        tolerance = intended.TOLERANCE * (1 if schedule.unit is RateUnit.AMPERES
                                          else electrics.voltage * electrics.phases)
        found = intended.mismatches(schedule, ours, tolerance)
        if found:
            log.warning("composite schedule differs from what we intend",
                        charge_point_id=charge_point_id, evse=evse,
                        mismatch=[asdict(m) for m in found])
        return {"intended": to_dict(ours), "mismatch": [asdict(m) for m in found]}

    async def get_charging_profiles(self, charge_point_id: str, evse: int | None = None,
                                    purpose: Purpose | None = None,
                                    stack_level: int | None = None,
                                    sources: list[str] | None = None,
                                    ids: list[int] | None = None) -> CommandResult:
        """The profiles the charger holds matching every criterion given, as it reports them
        (2.0.1 K09): detail {"status" (Accepted, NoProfiles), "reported_by": "charger",
        "profiles": [{"evse", "source", "profile" (or "external": a limit set by others)}]}.
        A charger whose protocol cannot tell (1.6) is answered from what we hold as accepted,
        "reported_by": "csms"."""
        result = await self._with_link(
            charge_point_id, "get_charging_profiles",
            lambda link: link.get_charging_profiles(evse, purpose.value if purpose else None,
                                                    stack_level, sources, ids))
        if result.outcome is Outcome.ACCEPTED:
            return CommandResult(Outcome.ACCEPTED, {**result.detail, "reported_by": "charger"})
        if result.outcome is not Outcome.NOT_SUPPORTED:
            return result
        rows = [row for row in await profile_store.listed(self.pool, charge_point_id, evse)
                if row["status"] == "Accepted"
                and (purpose is None or row["purpose"] == purpose.value)
                and (stack_level is None or row["stack_level"] == stack_level)
                and (not ids or row["profile_id"] in ids)]
        if sources and "CSO" not in sources:  # everything we hold is ours (the CSO's)
            rows = []
        return CommandResult(Outcome.ACCEPTED, {
            "status": "Accepted" if rows else "NoProfiles", "reported_by": "csms",
            "profiles": [{"evse": row["evse"], "source": "CSO", "profile": row["profile"]}
                         for row in rows]})

    # --- caps on an EVSE, shared by the load manager (csms/domain/energy/load_manager.py) ------

    async def set_evse_cap(self, charge_point_id: str, evse: int, source: str,
                           max_amps: Decimal | float | None, min_amps: Decimal | float | None = None,
                           detail: dict[str, Any] | None = None,
                           until: datetime | None = None) -> CommandResult:
        """Limit an EVSE (0: every EVSE of the charger) for a source (grid:EMS, ev, emsp, …), A
        per phase: stored with its EvseCapChanged in one transaction; the load manager then
        re-allocates the site. The charger's answer to the Tx profile that follows (Accepted,
        Rejected; TIMEOUT when unknown), or ACCEPTED when nothing had to change (no session)."""
        high = Decimal(str(max_amps)) if max_amps is not None else None
        low = Decimal(str(min_amps)) if min_amps is not None else None
        if evse < 0 or not source or (high is not None and high < 0) or (low is not None and low < 0):
            return CommandResult(Outcome.INVALID, {"reason": "evse, source and amps must be valid "
                                                             "(evse 0 or more, amps not negative)"})
        return await self._cap_changed(charge_point_id, evse, source, lambda conn: energy_store.set_cap(
            conn, charge_point_id, evse, source, max_amps=high, min_amps=low, detail=detail,
            until=until))

    async def clear_evse_cap(self, charge_point_id: str, evse: int, source: str) -> CommandResult:
        """Forget a source's cap on an EVSE; the site is re-allocated as for set_evse_cap."""
        return await self._cap_changed(charge_point_id, evse, source, lambda conn: energy_store.clear_cap(
            conn, charge_point_id, evse, source))

    async def _cap_changed(self, charge_point_id: str, evse: int, source: str,
                           change: Any) -> CommandResult:
        from csms.domain.events import EvseCapChanged

        if await store.get_charge_point(self.pool, charge_point_id) is None:
            return CommandResult(Outcome.NOT_FOUND, {"reason": "unknown charge point"})
        async with self.pool.acquire() as conn, conn.transaction():
            await change(conn)
            if self.events is not None:
                await self.events.publish(conn, EvseCapChanged(charge_point_id, evse, source))
        if self.load_manager is None:
            return CommandResult(Outcome.ACCEPTED, {"status": "Accepted"})
        return await self.load_manager.changed(charge_point_id, evse, self.grace * 2)
