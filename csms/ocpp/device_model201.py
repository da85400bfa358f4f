"""OCPP 2.0.1's device model blocks (B reports, N monitoring, O display, customer data) ↔ the domain."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ocpp.routing import on
from ocpp.v201 import call, call_result
from ocpp.v201.enums import Action

from csms.domain.fleet.device_model import (
    Address,
    Attribute,
    Characteristics,
    DeviceModelService,
    DisplayMessage,
    Event,
    Monitor,
    VariableReport,
)
from csms.ocpp.translations.meter import parse_timestamp
from csms.security.masking import MASK, secret_name

# --- pure mappings (the library's snake_case payloads ↔ the domain) ------------------------


def component_201(address: dict[str, Any]) -> dict[str, Any]:
    """A neutral address → 2.0.1 ComponentType."""
    component: dict[str, Any] = {"name": address["component"]}
    if address.get("component_instance"):
        component["instance"] = address["component_instance"]
    if address.get("evse_id"):
        component["evse"] = {"id": address["evse_id"]}
        if address.get("connector_id"):
            component["evse"]["connector_id"] = address["connector_id"]
    return component


def variable_201(address: dict[str, Any]) -> dict[str, Any]:
    variable: dict[str, Any] = {"name": address["variable"]}
    if address.get("variable_instance"):
        variable["instance"] = address["variable_instance"]
    return variable


def component_variable_201(address: dict[str, Any]) -> dict[str, Any]:
    """For GetReport / GetMonitoringReport: the variable is optional there."""
    item: dict[str, Any] = {"component": component_201(address)}
    if address.get("variable"):
        item["variable"] = variable_201(address)
    return item


def address_201(component: dict[str, Any], variable: dict[str, Any] | None) -> Address:
    evse = component.get("evse") or {}
    return Address(component=component["name"], variable=(variable or {}).get("name", ""),
                   component_instance=component.get("instance") or "",
                   evse_id=evse.get("id") or 0, connector_id=evse.get("connector_id") or 0,
                   variable_instance=(variable or {}).get("instance") or "")


def variable_report_201(data: dict[str, Any]) -> VariableReport:
    """One ReportDataType of a NotifyReport."""
    secret = secret_name(data["variable"]["name"])  # write-only: a charger should not report it
    attributes = [Attribute(type=a.get("type", "Actual"),
                            value=None if secret else a.get("value"),
                            mutability=a.get("mutability", "ReadWrite"),
                            persistent=a.get("persistent", False),
                            constant=a.get("constant", False))
                  for a in data.get("variable_attribute") or []]
    found = data.get("variable_characteristics")
    characteristics = None if found is None else Characteristics(
        data_type=found["data_type"], supports_monitoring=found["supports_monitoring"],
        unit=found.get("unit"), min_limit=found.get("min_limit"),
        max_limit=found.get("max_limit"), values_list=found.get("values_list"))
    return VariableReport(address_201(data["component"], data["variable"]), attributes,
                          characteristics)


def monitors_201(data: dict[str, Any]) -> list[Monitor]:
    """One MonitoringDataType of a NotifyMonitoringReport: a variable's monitors."""
    where = address_201(data["component"], data["variable"])
    return [Monitor(monitor_id=m["id"], address=where, type=m["type"], value=float(m["value"]),
                    severity=m["severity"], transaction=m.get("transaction", False))
            for m in data.get("variable_monitoring") or []]


_EVENT_DETAILS = ("cause", "tech_code", "tech_info", "transaction_id", "variable_monitoring_id")


def event_201(data: dict[str, Any]) -> Event:
    """One EventDataType of a NotifyEvent."""
    return Event(event_id=data["event_id"], occurred_at=parse_timestamp(data["timestamp"]),
                 trigger=data["trigger"], notification_type=data["event_notification_type"],
                 address=address_201(data["component"], data["variable"]),
                 actual_value=data["actual_value"], cleared=data.get("cleared", False),
                 details={k: data[k] for k in _EVENT_DETAILS if data.get(k) is not None})


def display_message_201(message: dict[str, Any]) -> dict[str, Any]:
    """A neutral display message → 2.0.1 MessageInfoType."""
    content: dict[str, Any] = {"format": message.get("format", "UTF8"),
                               "content": message["content"]}
    if message.get("language"):
        content["language"] = message["language"]
    info: dict[str, Any] = {"id": message["id"], "priority": message["priority"],
                            "message": content}
    for neutral, wire in (("state", "state"), ("starts_at", "start_date_time"),
                          ("ends_at", "end_date_time"), ("transaction_id", "transaction_id")):
        if message.get(neutral) is not None:
            info[wire] = message[neutral]
    if message.get("evse_id"):
        info["display"] = {"name": "DisplayMessageCtrlr", "evse": {"id": message["evse_id"]}}
    return info


def display_message_from_201(info: dict[str, Any]) -> DisplayMessage:
    content = info.get("message") or {}
    display = info.get("display") or {}

    def at(name: str) -> Any:
        return parse_timestamp(info[name]) if info.get(name) else None
    return DisplayMessage(message_id=info["id"], priority=info["priority"],
                          content=content.get("content", ""),
                          format=content.get("format", "UTF8"), language=content.get("language"),
                          state=info.get("state"), evse_id=(display.get("evse") or {}).get("id"),
                          starts_at=at("start_date_time"), ends_at=at("end_date_time"),
                          transaction_id=info.get("transaction_id"))


def _neutral_result(result: dict[str, Any], status_key: str) -> dict[str, Any]:
    """A Get/SetVariables result → the link's neutral result."""
    neutral: dict[str, Any] = {
        **address_201(result["component"], result["variable"]).as_dict(),
        "attribute_type": result.get("attribute_type") or "Actual",
        "status": result[status_key]}
    if result.get("attribute_value") is not None:
        neutral["value"] = result["attribute_value"]
    return neutral


# --- the adapter's part ----------------------------------------------------------------------

class DeviceModel201:
    """Mixed into the 2.0.1 adapter: the charger's device model messages, and our requests."""

    services: Any

    if TYPE_CHECKING:  # the adapter's
        @property
        def charge_point_id(self) -> str: ...

        async def call(self, payload: Any, *args: Any, **kwargs: Any) -> Any: ...

    @property
    def device_model(self) -> DeviceModelService:
        return DeviceModelService(self.services.charge_points.pool)

    @on(Action.notify_report)
    async def on_notify_report(self, request_id: int, generated_at: str, seq_no: int,
                               **kwargs: Any) -> call_result.NotifyReport:
        await self.device_model.report_part(
            self.charge_point_id, request_id, seq_no, kwargs.get("tbc", False),
            [variable_report_201(data) for data in kwargs.get("report_data") or []])
        return call_result.NotifyReport()

    @on(Action.notify_monitoring_report)
    async def on_notify_monitoring_report(self, request_id: int, seq_no: int, generated_at: str,
                                          **kwargs: Any) -> call_result.NotifyMonitoringReport:
        monitors = [m for data in kwargs.get("monitor") or [] for m in monitors_201(data)]
        await self.device_model.monitoring_part(self.charge_point_id, request_id, seq_no,
                                                kwargs.get("tbc", False), monitors)
        return call_result.NotifyMonitoringReport()

    @on(Action.notify_event)
    async def on_notify_event(self, generated_at: str, seq_no: int,
                              event_data: list[dict[str, Any]],
                              **kwargs: Any) -> call_result.NotifyEvent:
        await self.device_model.events(self.charge_point_id,
                                       [event_201(data) for data in event_data])
        return call_result.NotifyEvent()

    @on(Action.notify_customer_information)
    async def on_notify_customer_information(
            self, data: str, seq_no: int, generated_at: str, request_id: int,
            **kwargs: Any) -> call_result.NotifyCustomerInformation:
        await self.device_model.customer_information_part(
            self.charge_point_id, request_id, kwargs.get("tbc", False), data)
        return call_result.NotifyCustomerInformation()

    @on(Action.notify_display_messages)
    async def on_notify_display_messages(self, request_id: int,
                                         **kwargs: Any) -> call_result.NotifyDisplayMessages:
        await self.device_model.display_messages_part(
            self.charge_point_id, request_id, kwargs.get("tbc", False),
            [display_message_from_201(info) for info in kwargs.get("message_info") or []])
        return call_result.NotifyDisplayMessages()

    # --- the DeviceModelLink ---------------------------------------------------------------

    async def _status(self, payload: Any) -> str:
        answer = await self.call(payload, suppress=False)
        return str(answer.status)

    async def get_report(self, request_id: int, base: str | None, criteria: list[str],
                         variables: list[dict[str, Any]]) -> str:
        if base is not None:
            return await self._status(call.GetBaseReport(request_id=request_id,
                                                         report_base=base))
        return await self._status(call.GetReport(
            request_id=request_id, component_criteria=criteria or None,
            component_variable=[component_variable_201(v) for v in variables] or None))

    async def read_device_variables(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        answer = await self.call(call.GetVariables(get_variable_data=[
            {"component": component_201(item), "variable": variable_201(item),
             **({"attribute_type": item["attribute_type"]} if item.get("attribute_type") else {})}
            for item in items]), suppress=False)
        # A result without its attribute type answers the item asked in its place.
        results = [_neutral_result({"attribute_type": item.get("attribute_type"), **r},
                                   "attribute_status")
                   for item, r in zip(items, answer.get_variable_result, strict=False)]
        # BasicAuthPassword is write-only: a charger that still reports it is not echoed.
        for result in results:
            if secret_name(result["variable"]) and result.get("value") is not None:
                result["value"] = MASK
        return {"results": results}

    async def write_device_variables(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        answer = await self.call(call.SetVariables(set_variable_data=[
            {"component": component_201(item), "variable": variable_201(item),
             "attribute_value": item["value"],
             **({"attribute_type": item["attribute_type"]} if item.get("attribute_type") else {})}
            for item in items]), suppress=False)
        return {"results": [_neutral_result({"attribute_type": item.get("attribute_type"), **r},
                                            "attribute_status")
                            for item, r in zip(items, answer.set_variable_result, strict=False)]}

    async def set_monitors(self, monitors: list[dict[str, Any]]) -> dict[str, Any]:
        answer = await self.call(call.SetVariableMonitoring(set_monitoring_data=[
            {"component": component_201(m), "variable": variable_201(m), "value": m["value"],
             "type": m["type"], "severity": m["severity"], "transaction": m["transaction"],
             **({"id": m["id"]} if m.get("id") is not None else {})}
            for m in monitors]), suppress=False)
        return {"results": [
            {**address_201(r["component"], r["variable"]).as_dict(), "id": r.get("id"),
             "status": r["status"], "type": r["type"], "severity": r["severity"]}
            for r in answer.set_monitoring_result]}

    async def clear_monitors(self, monitor_ids: list[int]) -> dict[str, Any]:
        answer = await self.call(call.ClearVariableMonitoring(id=monitor_ids), suppress=False)
        return {"results": [{"id": r["id"], "status": r["status"]}
                            for r in answer.clear_monitoring_result]}

    async def set_monitoring_base(self, base: str) -> str:
        return await self._status(call.SetMonitoringBase(monitoring_base=base))

    async def set_monitoring_level(self, severity: int) -> str:
        return await self._status(call.SetMonitoringLevel(severity=severity))

    async def get_monitoring_report(self, request_id: int, criteria: list[str],
                                    variables: list[dict[str, Any]]) -> str:
        return await self._status(call.GetMonitoringReport(
            request_id=request_id, monitoring_criteria=criteria or None,
            component_variable=[component_variable_201(v) for v in variables] or None))

    async def customer_information(self, request_id: int, report: bool, clear: bool,
                                   identifier: str | None, token: str | None) -> str:
        return await self._status(call.CustomerInformation(
            request_id=request_id, report=report, clear=clear, customer_identifier=identifier,
            id_token={"id_token": token, "type": "Central"} if token else None))

    async def set_display_message(self, message: dict[str, Any]) -> str:
        return await self._status(call.SetDisplayMessage(message=display_message_201(message)))

    async def get_display_messages(self, request_id: int, ids: list[int], priority: str | None,
                                   state: str | None) -> str:
        return await self._status(call.GetDisplayMessages(
            request_id=request_id, id=ids or None, priority=priority, state=state))

    async def clear_display_message(self, message_id: int) -> str:
        return await self._status(call.ClearDisplayMessage(id=message_id))
