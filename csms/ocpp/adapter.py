"""What both OCPP adapters share: the services they translate into, error hygiene, and background tasks."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import ocpp.messages
import structlog
from ocpp.charge_point import snake_to_camel_case
from ocpp.exceptions import InternalError, OCPPError, SecurityError
from ocpp.messages import Call, MessageType, unpack, validate_payload
from websockets.exceptions import ConnectionClosed

from csms import logs
from csms.cluster.links import BadCommand
from csms.config import OcppSettings, known_vendors, lenient_actions
from csms.domain.billing.session_costs import SessionCosts
from csms.domain.charge_points import ChargePointService
from csms.domain.energy.charger_limits import ChargerLimits
from csms.domain.energy.fallback import FallbackService
from csms.domain.fleet.certificates import CertificateService, CertificateUse
from csms.domain.fleet.jobs import JobService
from csms.domain.fleet.local_lists import LocalListService
from csms.domain.reservations import ReservationService
from csms.domain.sessions import SessionService
from csms.metrics import OTHER_ACTION, count_message, timed_call
from csms.ocpp.library import casing, dispatch, frames, routing, signatures, validation
from csms.ocpp.library.responses import ResponseQueue
from csms.ocpp.log_throttle import LogThrottle
from csms.ocpp.messages import message_log
from csms.ocpp.translations import generic
from csms.ocpp.translations.meter import format_timestamp
from csms.security import masking
from csms.security.certificate_authority import hash_data
from csms.storage.outage import outage

_log = structlog.get_logger("csms.ocpp")

# Refused calls: one line per charger a minute, whatever it sends; the metric counts them all.
REFUSED_LOG_PERIOD = 60.0
_refusals = LogThrottle(REFUSED_LOG_PERIOD)

# Validating in a thread pool costs more than the validation itself (see stack findings),
# and compiled schemas validate about 19 times faster than the library's jsonschema.
ocpp.messages.ASYNC_VALIDATION = False
validation.install()
casing.install()
frames.install()
routing.install()
signatures.install()
masking.install()


@dataclass(frozen=True)
class Services:
    charge_points: ChargePointService
    sessions: SessionService
    settings: OcppSettings
    reservations: ReservationService
    certificates: CertificateService
    local_lists: LocalListService | None = None
    costs: SessionCosts | None = None  # what a session costs, for 2.0.1 chargers to show
    jobs: JobService | None = None  # made after the command service it sends through
    energy: ChargerLimits | None = None  # limits chargers tell of (2.0.1 K11-K17)
    fallback: FallbackService | None = None  # the site's fallback profile, after each boot


def now() -> datetime:
    return datetime.now(UTC)


def now_z() -> str:
    return format_timestamp(now())


class TokenBucket:
    """At most `rate` per second on average, `burst` at once."""

    __slots__ = ("rate", "burst", "tokens", "at")

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.at = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class OcppAdapter:
    """Mixed in before the ocpp library's ChargePoint of either version."""

    protocol = ""
    calls: Any  # the version's call classes (ocpp.v16.call, ocpp.v201.call)
    # What every charger's boot sets, given its class default in __init__ already: CPython 3.11
    # shares an object's attribute names with its class's other instances, but takes no new
    # name once 30 or so instances exist (each one made shrinks the room). In a boot storm,
    # thousands of adapters exist before the first boot is answered; a name first set then
    # gives every adapter a dict of its own (0.5 KiB).
    _set_by_boot: tuple[str, ...] = ()

    def __init__(self, charge_point_id: str, connection: Any, services: Services) -> None:
        super().__init__(charge_point_id, connection,  # type: ignore[call-arg]
                         response_timeout=services.settings.call_timeout)
        self.services = services
        self._response_queue = ResponseQueue()  # replaces the library's asyncio.Queue
        self._tasks: set[asyncio.Task[Any]] | None = None  # made on first use: most have none
        for name in self._set_by_boot:
            setattr(self, name, getattr(type(self), name))
        for action in lenient_actions(services.settings, charge_point_id):
            if action in self.route_map:  # type: ignore[attr-defined]
                # route_map is this connection's own: the leniency stays with this charger.
                self.route_map[action] = {**self.route_map[action],  # type: ignore[attr-defined]
                                          "_skip_schema_validation": True}
                self.log.info("schema validation skipped for a firmware quirk", action=action)
        rate = services.settings.max_messages_per_second
        # A burst allowance, so a charger flushing its offline queue is not cut short.
        self._bucket = TokenBucket(rate, rate * 10) if rate > 0 else None

    @property
    def log(self) -> Any:
        """Bound when something is logged, not kept per connection (memory per charger)."""
        return _log.bind(charge_point_id=self.charge_point_id, protocol=self.protocol)

    @property
    def charge_point_id(self) -> str:
        return self.id  # type: ignore[attr-defined, no-any-return]

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        """Run work after our answer has gone out (never call the charger inside its handler)."""
        task = asyncio.get_running_loop().create_task(coroutine)
        if self._tasks is None:
            self._tasks = set()
        self._tasks.add(task)
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[Any]) -> None:
        if self._tasks is not None:
            self._tasks.discard(task)
            if not self._tasks:
                self._tasks = None

    def close(self) -> None:
        for task in list(self._tasks or ()):
            task.cancel()
        # A call waiting for this connection's answer ends now, as offline, not at its timeout.
        self._response_queue.close()

    async def report(self, kind: str, payload: dict[str, Any]) -> None:
        """Store a message that has no domain model yet, in the charger's own camelCase."""
        await self.services.charge_points.report(self.charge_point_id, kind,
                                                 snake_to_camel_case(payload))

    async def security_event(self, payload: dict[str, Any]) -> None:
        """Kept for the admin API's security events, and logged for whoever watches the logs."""
        self.log.warning("security event", type=payload.get("type"),
                         tech_info=payload.get("tech_info"))
        await self.report("SecurityEventNotification", payload)

    def error_for(self, error: OCPPError) -> OCPPError:
        """The CALLERROR to send; the library puts the whole offending message in its details."""
        details = {k: v for k, v in (error.details or {}).items() if k != "ocpp_message"}
        return type(error)(description=error.description, details=details)

    async def _handle_call(self, msg: Any) -> Any:
        action = msg.action if msg.action in self.route_map else OTHER_ACTION  # type: ignore[attr-defined]
        result = "InternalError"
        # What handling the call logs, in any module, names the charger. Set per call, not per
        # connection: a binding kept by every idle connection costs a fleet 0.2 KiB per charger.
        handling = logs.current_charge_point.set(self.id)  # type: ignore[attr-defined]
        try:
            if self._bucket is not None and not self._bucket.take():
                raise SecurityError(description="Too many messages: at most "
                                    f"{self.services.settings.max_messages_per_second:g} per second")
            self.check_registration(msg.action)
            answer = await dispatch.handle_call(self, msg)
            result = "answered"
            return answer
        except OCPPError as error:
            result = error.code
            self.refused(action, error)
            raise self.error_for(error) from None
        except ConnectionClosed:  # the charger hung up before its answer: nothing to say to it
            raise
        except Exception as exc:  # the charger gets InternalError, as from the library
            # The database away is said once for all (csms/storage/outage.py); a fault of ours
            # gets its traceback.
            if not outage.noted(exc):
                self.log.exception("call not handled", action=msg.action)
            raise InternalError(description="An unexpected error occurred.") from None
        finally:
            count_message(self.protocol, action, result)
            logs.current_charge_point.reset(handling)

    def check_registration(self, action: str) -> None:
        """Raises the CALLERROR for a call the charger's registration state forbids (2.0.1)."""

    async def call(self, payload: Any, *args: Any, **kwargs: Any) -> Any:
        """A call to the charger, timed for the metrics."""
        return await timed_call(type(payload).__name__,
                                super().call(payload, *args, **kwargs))  # type: ignore[misc]

    # --- calls the same in both versions (their payloads have the same fields) -------------

    async def clear_cache(self) -> str:
        answer = await self.call(self.calls.ClearCache(), suppress=False)
        return str(answer.status)

    async def data_transfer(self, vendor_id: str, message_id: str | None,
                            data: str | None) -> dict[str, Any]:
        answer = await self.call(self.calls.DataTransfer(
            vendor_id=vendor_id, message_id=message_id, data=data), suppress=False)
        return {"status": str(answer.status), "data": answer.data}

    # --- the console's message log: one cheap record per frame, each way ------------------

    async def route_message(self, raw_msg: str) -> None:
        """The library's, without its ERROR line, traceback and whole frame for every refused
        call: a charger sending 64 KiB calls beyond its rate limit grew the log by 3 MB/s."""
        message_log.record(self.id, "in", raw_msg)  # type: ignore[attr-defined]
        self.services.charge_points.seen(self.id)  # type: ignore[attr-defined]
        try:
            msg = unpack(raw_msg)
        except OCPPError as error:  # not OCPP at all: nothing to answer (the library's way)
            self.refused("(unreadable)", error)
            return
        if msg.message_type_id == MessageType.Call:
            try:
                await self._handle_call(msg)
            except OCPPError as error:
                await self._send(msg.create_call_error(error).to_json())
        elif msg.message_type_id in (MessageType.CallResult, MessageType.CallError):
            self._response_queue.put_nowait(msg)

    def refused(self, action: str, error: OCPPError) -> None:
        """One WARNING per charger a minute, with the count of the refusals it stands for; never
        the frame (it may be 64 KiB, or hold what a log must not)."""
        left_out = _refusals.admit(self.charge_point_id)
        if left_out is not None:
            self.log.warning("call refused", action=action, error=error.code,
                             cause=(error.details or {}).get("cause"),
                             refused_before_unlogged=left_out)

    async def start(self) -> None:
        """The library's receive loop, in this frame instead of one more per message, and not
        holding the last frame received until the next one comes: every idle charger kept its
        last call's text (a MeterValues: 0.4 KiB)."""
        while True:
            message = await self._connection.recv()  # type: ignore[attr-defined]
            if self.logger.isEnabledFor(logging.INFO):  # type: ignore[attr-defined]  # WARNING, unless a test asks
                self.logger.info("%s: receive message %s", self.id, message)  # type: ignore[attr-defined]
            await self.route_message(message)
            del message

    async def _send(self, message: str) -> None:
        """As the library sends, in this frame; recorded for the console."""
        message_log.record(self.id, "out", message)  # type: ignore[attr-defined]
        if self.logger.isEnabledFor(logging.INFO):  # type: ignore[attr-defined]
            self.logger.info("%s: send %s", self.id, message)  # type: ignore[attr-defined]
        await self._connection.send(message)  # type: ignore[attr-defined]

    async def configure_after_boot(self) -> None:
        """Set the meter value interval once the charger has our boot answer (and have its local
        list checked)."""
        if self.services.local_lists is not None:
            self.services.local_lists.mark(self.charge_point_id, check=True)
        if self.services.fallback is not None:
            self.services.fallback.booted(self.charge_point_id)
        interval = self.services.settings.meter_value_interval
        if interval <= 0:
            return
        try:
            status = await self.set_meter_interval(interval)
            self.log.info("meter interval configured", interval=interval, status=status)
        except Exception as exc:  # a charger that refuses must not lose its connection
            self.log.warning("meter interval not configured", error=repr(exc))

    async def set_meter_interval(self, seconds: int) -> str:
        raise NotImplementedError

    async def raw_call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """A generic command: the raw payload checked against this version's schema, sent as
        the library sends its own calls, and the answer (or the CALLERROR, raised) as it came."""
        if action not in generic.CSMS_ACTIONS[self.protocol]:
            raise BadCommand(f"{action} is not an action the CSMS sends in {self.protocol}")
        message = Call(unique_id=str(self._unique_id_generator()),  # type: ignore[attr-defined]
                       action=action, payload=payload)
        try:
            await validate_payload(message, self._ocpp_version)  # type: ignore[attr-defined]
        except OCPPError as error:
            cause = str((error.details or {}).get("cause") or "")[:300]
            raise BadCommand(f"payload does not fit {action}: {error.description}"
                             + (f" ({cause})" if cause else "")) from None
        response = await timed_call(action, self._raw_exchange(message))
        if response.message_type_id == MessageType.CallError:
            raise response.to_exception()
        answer = response.payload if isinstance(response.payload, dict) else {}
        return {"response": answer, **generic.effects(action, payload, answer),
                "configuration": [e.plain() for e in
                                  generic.configuration_entries(action, payload, answer)]}

    async def _raw_exchange(self, message: Call) -> Any:
        async with self._call_lock:  # type: ignore[attr-defined]
            await self._send(message.to_json())
            return await self._get_specific_response(  # type: ignore[attr-defined]
                message.unique_id, self._response_timeout)  # type: ignore[attr-defined]

    async def data_from_charger(self, payload: dict[str, Any]) -> str:
        """A DataTransfer from the charger: kept when its vendor is one we know (ocpp.known_vendors),
        else answered UnknownVendorId (1.6 DataTransfer.conf, 2.0.1 DataTransferStatusEnumType)."""
        if payload.get("vendor_id") not in known_vendors(self.services.settings):
            self.log.info("data transfer from an unknown vendor", vendor_id=payload.get("vendor_id"))
            return "UnknownVendorId"
        await self.report("DataTransfer", payload)
        return "Accepted"

    # --- certificates: a CSR signed now, its chain sent once our answer has gone out --------

    _signed: tuple[str, CertificateUse] | None = None

    async def sign_csr(self, csr: str, use: CertificateUse) -> str:
        """SignCertificate's status: Accepted when our CA signed the CSR (sent afterwards by
        send_signed), Rejected with the reason logged when the CSR does not pass."""
        try:
            self._signed = (await self.services.certificates.sign(self.charge_point_id, csr, use),
                            use)
        except ValueError as refused:  # BadRequest: the CSR; other ValueErrors: our CA's key
            self.log.warning("certificate signing request refused", reason=str(refused))
            return "Rejected"
        return "Accepted"

    async def send_signed(self) -> None:
        """CertificateSigned with the chain signed for the last SignCertificate."""
        signed, self._signed = self._signed, None
        if signed is None:
            return
        chain, use = signed
        try:
            status = await self.certificate_signed(chain, use)
        except Exception as exc:  # the charger may ask again (A03: its certificate expires)
            self.log.warning("signed certificate not delivered", error=repr(exc))
            return
        self.log.info("signed certificate delivered", status=status, use=use.value)
        if status == "Accepted":
            first = chain.split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n"
            ca = (await self.services.certificates.authority()).certificate_pem
            await self.services.certificates.accepted(self.charge_point_id, use,
                                                      hash_data(first, ca))

    async def certificate_signed(self, chain: str, use: CertificateUse) -> str:
        raise NotImplementedError
