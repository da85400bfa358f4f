"""The device model: a charger's variables, monitors, events, display messages, customer data."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import asyncpg
import structlog

from csms.security.masking import secret_name
from csms.storage.fleet import device_store

if TYPE_CHECKING:
    from csms.domain.commands import CommandResult

log = structlog.get_logger(__name__)

# The vocabulary is the device model's own (OCPP 2.0.1 is the only protocol that has one).
REPORT_BASES = ("FullInventory", "ConfigurationInventory", "SummaryInventory")
COMPONENT_CRITERIA = ("Active", "Available", "Enabled", "Problem")
ATTRIBUTE_TYPES = ("Actual", "Target", "MinSet", "MaxSet")
MONITOR_TYPES = ("UpperThreshold", "LowerThreshold", "Delta", "Periodic", "PeriodicClockAligned")
MONITORING_CRITERIA = ("ThresholdMonitoring", "DeltaMonitoring", "PeriodicMonitoring")
MONITORING_BASES = ("All", "FactoryDefault", "HardWiredOnly")
MESSAGE_PRIORITIES = ("AlwaysFront", "InFront", "NormalCycle")
MESSAGE_STATES = ("Charging", "Faulted", "Idle", "Unavailable")
MESSAGE_FORMATS = ("ASCII", "HTML", "URI", "UTF8")

# Kinds of the requests answered in parts, as device_requests.kind keeps them.
REPORT = "report"
MONITORING_REPORT = "monitoring_report"
ALL_MONITORS = "monitoring_report:all"  # without criteria or variables: every monitor
CUSTOMER_INFORMATION = "customer_information"
DISPLAY_MESSAGES = "display_messages"

# Answers a request's status takes when the charger refuses it.
_REFUSALS = {"Rejected": "rejected", "NotSupported": "not_supported",
             "EmptyResultSet": "empty", "Invalid": "invalid", "Unknown": "empty"}


class Invalid(ValueError):
    """An operator's request the device model cannot take; the message says why."""


@dataclass(frozen=True)
class Address:
    """Which variable of which component: '' and 0 stand for no instance, no EVSE, no connector."""

    component: str
    variable: str = ""
    component_instance: str = ""
    evse_id: int = 0
    connector_id: int = 0
    variable_instance: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Address:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if data.get(k) is not None})


@dataclass(frozen=True)
class Attribute:
    type: str = "Actual"
    value: str | None = None
    mutability: str | None = None
    persistent: bool | None = None
    constant: bool | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True)
class Characteristics:
    data_type: str
    supports_monitoring: bool
    unit: str | None = None
    min_limit: float | None = None
    max_limit: float | None = None
    values_list: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True)
class VariableReport:
    address: Address
    attributes: list[Attribute]
    characteristics: Characteristics | None = None


@dataclass(frozen=True)
class Monitor:
    monitor_id: int
    address: Address
    type: str
    value: float
    severity: int
    transaction: bool = False


@dataclass(frozen=True)
class Event:
    event_id: int
    occurred_at: datetime
    trigger: str
    notification_type: str
    address: Address
    actual_value: str
    cleared: bool = False
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DisplayMessage:
    message_id: int
    priority: str
    content: str
    format: str = "UTF8"
    language: str | None = None
    state: str | None = None
    evse_id: int | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    transaction_id: str | None = None


# --- what an operator asks for, checked (pure) ---------------------------------------------

def _text(data: dict[str, Any], name: str, required: bool = False, limit: int = 50) -> str:
    value = data.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value or len(value) > limit:
        raise Invalid(f"'{name}' must be a text of 1 to {limit} characters")
    return value


def _number(data: dict[str, Any], name: str) -> int:
    value = data.get(name, 0)
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 2**31 - 1:
        raise Invalid(f"'{name}' must be a positive integer")
    return value


def address(data: Any, variable_required: bool = True) -> Address:
    """{'component': 'EVSE', 'evse_id': 1, 'variable': 'Power', ...} → an Address."""
    if not isinstance(data, dict):
        raise Invalid("a variable is an object with 'component' and 'variable'")
    return Address(component=_text(data, "component", True),
                   variable=_text(data, "variable", variable_required),
                   component_instance=_text(data, "component_instance"),
                   evse_id=_number(data, "evse_id"), connector_id=_number(data, "connector_id"),
                   variable_instance=_text(data, "variable_instance"))


def choice(value: Any, allowed: tuple[str, ...], name: str) -> str:
    if value not in allowed:
        raise Invalid(f"'{name}' must be one of {', '.join(allowed)}")
    return str(value)


def list_of(value: Any, name: str, low: int = 1, high: int = 100) -> list[Any]:
    if not isinstance(value, list) or not low <= len(value) <= high:
        raise Invalid(f"'{name}' must be a list of {low} to {high} items")
    return value


def monitor_request(data: Any) -> dict[str, Any]:
    """A monitor to set, as the link takes it."""
    where = address(data)
    value = data.get("value")
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise Invalid("'value' must be a number")
    severity = data.get("severity")
    if not isinstance(severity, int) or isinstance(severity, bool) or not 0 <= severity <= 9:
        raise Invalid("'severity' must be 0 (danger) to 9 (debug)")
    request = {**where.as_dict(), "type": choice(data.get("type"), MONITOR_TYPES, "type"),
               "value": float(value), "severity": severity,
               "transaction": bool(data.get("transaction", False))}
    if data.get("id") is not None:
        request["id"] = _number(data, "id")
    return request


def display_message_request(data: Any) -> dict[str, Any]:
    """A display message to set, as the link takes it."""
    if not isinstance(data, dict):
        raise Invalid("the message is an object")
    message = {"id": _number(data, "id"),
               "priority": choice(data.get("priority", "NormalCycle"), MESSAGE_PRIORITIES,
                                  "priority"),
               "content": _text(data, "content", True, 512),
               "format": choice(data.get("format", "UTF8"), MESSAGE_FORMATS, "format")}
    if data.get("language") is not None:
        message["language"] = _text(data, "language", limit=8)
    if data.get("state") is not None:
        message["state"] = choice(data["state"], MESSAGE_STATES, "state")
    if data.get("evse_id") is not None:
        message["evse_id"] = _number(data, "evse_id")
    if data.get("transaction_id") is not None:
        message["transaction_id"] = _text(data, "transaction_id", limit=36)
    for name in ("starts_at", "ends_at"):
        if data.get(name) is not None:
            try:
                datetime.fromisoformat(str(data[name]).replace("Z", "+00:00"))
            except ValueError:
                raise Invalid(f"'{name}' must be an ISO 8601 time") from None
            message[name] = data[name]
    return message


def display_message(message: dict[str, Any]) -> DisplayMessage:
    """A display message from the link's neutral form."""
    def at(name: str) -> datetime | None:
        raw = message.get(name)
        return datetime.fromisoformat(str(raw).replace("Z", "+00:00")) if raw else None
    return DisplayMessage(message_id=int(message["id"]), priority=message["priority"],
                          content=message["content"], format=message.get("format", "UTF8"),
                          language=message.get("language"), state=message.get("state"),
                          evse_id=message.get("evse_id"), starts_at=at("starts_at"),
                          ends_at=at("ends_at"), transaction_id=message.get("transaction_id"))


# --- what chargers tell -------------------------------------------------------------------

class DeviceModelService:
    """Stores what chargers report of themselves, each multi-part answer under its requestId."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def report_part(self, charge_point_id: str, request_id: int, seq_no: int, tbc: bool,
                          variables: list[VariableReport]) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            tracked = await device_store.request_part(conn, charge_point_id, request_id, REPORT,
                                                      not tbc)
            if seq_no == 0 and tracked["kind"] == f"{REPORT}:FullInventory":
                # The whole inventory comes again: what it no longer lists is gone.
                await device_store.forget_variables(conn, charge_point_id)
            await device_store.put_variables(conn, charge_point_id, variables)
        log.info("device model report part", charge_point_id=charge_point_id,
                 request_id=request_id, seq_no=seq_no, variables=len(variables), last=not tbc)

    async def monitoring_part(self, charge_point_id: str, request_id: int, seq_no: int,
                              tbc: bool, monitors: list[Monitor]) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            tracked = await device_store.request_part(conn, charge_point_id, request_id,
                                                      MONITORING_REPORT, not tbc)
            if seq_no == 0 and tracked["kind"] == ALL_MONITORS:
                # Every monitor comes again: one it no longer lists is gone.
                await device_store.delete_monitors(conn, charge_point_id, None)
            await device_store.put_monitors(conn, charge_point_id, monitors)

    async def customer_information_part(self, charge_point_id: str, request_id: int, tbc: bool,
                                        data: str) -> None:
        await device_store.request_part(self.pool, charge_point_id, request_id,
                                        CUSTOMER_INFORMATION, not tbc, data)

    async def display_messages_part(self, charge_point_id: str, request_id: int, tbc: bool,
                                    messages: list[DisplayMessage]) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await device_store.request_part(conn, charge_point_id, request_id, DISPLAY_MESSAGES,
                                            not tbc)
            await device_store.put_display_messages(conn, charge_point_id, messages)

    async def events(self, charge_point_id: str, events: list[Event]) -> None:
        """Kept per component; the value an event carries is the variable's Actual value now."""
        await device_store.add_events(self.pool, charge_point_id, events)
        for event in events:
            await device_store.set_attribute_value(self.pool, charge_point_id, event.address,
                                                   "Actual", event.actual_value)

    async def values_read(self, charge_point_id: str, results: list[dict[str, Any]]) -> None:
        """GetVariables results (neutral form, see the links): accepted values are kept. The
        hook for whoever reads variables, so the inventory holds the last value seen."""
        for result in results:
            if secret_name(result.get("variable")):
                continue  # a password is never kept, nor shown
            if result.get("status") == "Accepted" and result.get("value") is not None:
                await device_store.set_attribute_value(
                    self.pool, charge_point_id, Address.from_dict(result),
                    result.get("attribute_type") or "Actual", str(result["value"]))

    async def values_written(self, charge_point_id: str, written: list[dict[str, Any]],
                             results: list[dict[str, Any]]) -> None:
        """SetVariables results: a value the charger accepted (or takes at reboot) is kept."""
        for item, result in zip(written, results, strict=False):
            if secret_name(item.get("variable")):
                continue
            if result.get("status") in ("Accepted", "RebootRequired"):
                await device_store.set_attribute_value(
                    self.pool, charge_point_id, Address.from_dict(item),
                    item.get("attribute_type") or "Actual", str(item["value"]))


# --- what we ask of chargers (mixed into the command service) ------------------------------

class DeviceModelCommands:
    """The command service's device model operations; every request answered in parts is
    tracked by the requestId it returns in detail.request_id."""

    pool: asyncpg.Pool
    relay: Any  # the command service's

    async def _with_link(self, charge_point_id: str, what: str, call: Any) -> CommandResult:
        raise NotImplementedError  # the command service's

    async def _tracked(self, charge_point_id: str, kind: str, what: str, call: Any) -> CommandResult:
        from csms.domain.commands import CommandResult, Outcome, _ask
        from csms.storage import store
        link = await self.relay.link(charge_point_id)
        if link is None:  # nothing tracked for a request that cannot go out
            exists = await store.get_charge_point(self.pool, charge_point_id) is not None
            return CommandResult(Outcome.OFFLINE if exists else Outcome.NOT_FOUND)
        request_id = await device_store.new_request(self.pool, charge_point_id, kind)
        result = await _ask(charge_point_id, what, call(link, request_id))
        if result.outcome in (Outcome.OFFLINE, Outcome.NOT_SUPPORTED):
            # It never reached a charger that could answer it: no trace of it stays.
            await device_store.forget_request(self.pool, charge_point_id, request_id)
            return result
        if not result.accepted:
            status = _REFUSALS.get(str(result.detail.get("status")), result.outcome.value)
            await device_store.refuse_request(self.pool, charge_point_id, request_id, status)
        return CommandResult(result.outcome, {**result.detail, "request_id": request_id})

    async def request_report(self, charge_point_id: str, base: str | None = None,
                             criteria: list[str] | None = None,
                             addresses: list[Address] | None = None) -> CommandResult:
        """A base report (FullInventory, …) or one by criteria and components, into the
        inventory as its parts come."""
        variables = [a.as_dict() for a in addresses or []]
        return await self._tracked(
            charge_point_id, f"{REPORT}:{base or 'Custom'}", "get_report",
            lambda link, request_id: link.get_report(request_id, base, criteria or [], variables))

    async def read_variables(self, charge_point_id: str,
                             items: list[dict[str, Any]]) -> CommandResult:
        """Values read from the charger (each item an address and attribute_type); kept."""
        result = await self._with_link(charge_point_id, "read_device_variables",
                                       lambda link: link.read_device_variables(items))
        if result.accepted:
            await DeviceModelService(self.pool).values_read(charge_point_id,
                                                            result.detail.get("results", []))
        return result

    async def write_variables(self, charge_point_id: str,
                              items: list[dict[str, Any]]) -> CommandResult:
        """Values written to the charger (address, attribute_type, value); kept if accepted."""
        result = await self._with_link(charge_point_id, "write_device_variables",
                                       lambda link: link.write_device_variables(items))
        if result.accepted:
            await DeviceModelService(self.pool).values_written(
                charge_point_id, items, result.detail.get("results", []))
        return result

    async def set_monitors(self, charge_point_id: str,
                           monitors: list[dict[str, Any]]) -> CommandResult:
        result = await self._with_link(charge_point_id, "set_monitors",
                                       lambda link: link.set_monitors(monitors))
        if result.accepted:
            accepted = [Monitor(int(r["id"]), Address.from_dict(m), m["type"], m["value"],
                                m["severity"], m.get("transaction", False))
                        for m, r in zip(monitors, result.detail.get("results", []), strict=False)
                        if r.get("status") == "Accepted" and r.get("id") is not None]
            await device_store.put_monitors(self.pool, charge_point_id, accepted)
        return result

    async def clear_monitors(self, charge_point_id: str, monitor_ids: list[int]) -> CommandResult:
        result = await self._with_link(charge_point_id, "clear_monitors",
                                       lambda link: link.clear_monitors(monitor_ids))
        if result.accepted:
            # NotFound: the charger holds no such monitor; gone either way.
            gone = [int(r["id"]) for r in result.detail.get("results", [])
                    if r.get("status") in ("Accepted", "NotFound")]
            await device_store.delete_monitors(self.pool, charge_point_id, gone)
        return result

    async def set_monitoring_base(self, charge_point_id: str, base: str) -> CommandResult:
        return await self._with_link(charge_point_id, "set_monitoring_base",
                                     lambda link: link.set_monitoring_base(base))

    async def set_monitoring_level(self, charge_point_id: str, severity: int) -> CommandResult:
        return await self._with_link(charge_point_id, "set_monitoring_level",
                                     lambda link: link.set_monitoring_level(severity))

    async def request_monitoring_report(self, charge_point_id: str,
                                        criteria: list[str] | None = None,
                                        addresses: list[Address] | None = None) -> CommandResult:
        variables = [a.as_dict() for a in addresses or []]
        everything = not (criteria or variables)
        result = await self._tracked(
            charge_point_id, ALL_MONITORS if everything else MONITORING_REPORT,
            "get_monitoring_report",
            lambda link, request_id: link.get_monitoring_report(request_id, criteria or [],
                                                                variables))
        if everything and result.detail.get("status") == "EmptyResultSet":
            await device_store.delete_monitors(self.pool, charge_point_id, None)  # none at all
        return result

    async def customer_information(self, charge_point_id: str, report: bool, clear: bool,
                                   identifier: str | None = None,
                                   token: str | None = None) -> CommandResult:
        return await self._tracked(
            charge_point_id, CUSTOMER_INFORMATION, "customer_information",
            lambda link, request_id: link.customer_information(request_id, report, clear,
                                                               identifier, token))

    async def set_display_message(self, charge_point_id: str,
                                  message: dict[str, Any]) -> CommandResult:
        result = await self._with_link(charge_point_id, "set_display_message",
                                       lambda link: link.set_display_message(message))
        if result.accepted:
            await device_store.put_display_messages(self.pool, charge_point_id,
                                                    [display_message(message)])
        return result

    async def request_display_messages(self, charge_point_id: str, ids: list[int] | None = None,
                                       priority: str | None = None,
                                       state: str | None = None) -> CommandResult:
        return await self._tracked(
            charge_point_id, DISPLAY_MESSAGES, "get_display_messages",
            lambda link, request_id: link.get_display_messages(request_id, ids or [], priority,
                                                               state))

    async def clear_display_message(self, charge_point_id: str, message_id: int) -> CommandResult:
        result = await self._with_link(charge_point_id, "clear_display_message",
                                       lambda link: link.clear_display_message(message_id))
        if result.accepted or result.detail.get("status") == "Unknown":
            await device_store.delete_display_message(self.pool, charge_point_id, message_id)
        return result
