"""A simulated 2.0.1 station's device model: variables, monitors, display messages, customer data."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ocpp.routing import on
from ocpp.v201 import call, call_result
from ocpp.v201.enums import Action

from simulators.chargepoint import now_z

if TYPE_CHECKING:
    from simulators.chargepoint201 import ChargePoint201

ITEMS_PER_REPORT = 10  # DeviceDataCtrlr.ItemsPerMessage[GetReport]: NotifyReport parts hold this many
MAX_DISPLAY_MESSAGES = 5
_NUMERIC = ("integer", "decimal")


@dataclass
class Variable:
    component: str
    variable: str
    value: str | None
    data_type: str = "string"
    mutability: str = "ReadOnly"
    evse: int = 0
    connector: int = 0
    component_instance: str = ""
    variable_instance: str = ""
    unit: str | None = None
    max_limit: float | None = None
    values_list: str | None = None
    max_set: str | None = None  # a MaxSet attribute besides the Actual one
    persistent: bool = True

    @property
    def key(self) -> str:
        return f"{self.component}.{self.variable}"

    def component_201(self) -> dict[str, Any]:
        component: dict[str, Any] = {"name": self.component}
        if self.component_instance:
            component["instance"] = self.component_instance
        if self.evse:
            component["evse"] = {"id": self.evse, **({"connector_id": self.connector}
                                                     if self.connector else {})}
        return component

    def variable_201(self) -> dict[str, Any]:
        return {"name": self.variable, **({"instance": self.variable_instance}
                                          if self.variable_instance else {})}

    def matches(self, component: dict[str, Any], variable: dict[str, Any] | None) -> bool:
        evse = component.get("evse") or {}
        if (component["name"], component.get("instance") or "") != (
                self.component, self.component_instance):
            return False
        if evse and (evse.get("id"), evse.get("connector_id") or 0) != (self.evse, self.connector):
            return False
        if not evse and "evse" in component:
            return False
        return variable is None or (variable["name"], variable.get("instance") or "") == (
            self.variable, self.variable_instance)


def station_variables(evses: int, vendor: str, model: str, firmware: str) -> list[Variable]:
    """About 30 variables across a dozen components, as a small AC station reports them."""
    rw, rwi = "ReadWrite", "integer"
    found = [
        Variable("ChargingStation", "Available", "true", "boolean"),
        Variable("ChargingStation", "AvailabilityState", "Available", "OptionList",
                 values_list="Available,Occupied,Reserved,Unavailable,Faulted"),
        Variable("ChargingStation", "Problem", "false", "boolean"),
        Variable("ChargingStation", "SupplyPhases", "3", rwi),
        Variable("ChargingStation", "Model", model),
        Variable("ChargingStation", "VendorName", vendor),
        Variable("FirmwareCtrlr", "FirmwareVersion", firmware),
        Variable("OCPPCommCtrlr", "HeartbeatInterval", "300", rwi, rw, unit="s"),
        Variable("OCPPCommCtrlr", "MessageTimeout", "30", rwi, rw, variable_instance="Default",
                 unit="s"),
        Variable("OCPPCommCtrlr", "WebSocketPingInterval", "60", rwi, rw, unit="s"),
        Variable("OCPPCommCtrlr", "ResetRetries", "2", rwi, rw),
        Variable("SampledDataCtrlr", "TxUpdatedInterval", "60", rwi, rw, unit="s"),
        Variable("SampledDataCtrlr", "TxUpdatedMeasurands",
                 "Energy.Active.Import.Register,Power.Active.Import", "MemberList", rw,
                 values_list="Energy.Active.Import.Register,Power.Active.Import,"
                             "Current.Import,SoC"),
        Variable("AuthCtrlr", "Enabled", "true", "boolean", rw),
        Variable("AuthCtrlr", "AuthorizeRemoteStart", "true", "boolean", rw),
        Variable("AuthCtrlr", "LocalAuthorizeOffline", "true", "boolean", rw),
        Variable("DeviceDataCtrlr", "ItemsPerMessage", str(ITEMS_PER_REPORT), rwi,
                 variable_instance="GetReport"),
        Variable("DeviceDataCtrlr", "ItemsPerMessage", "20", rwi,
                 variable_instance="GetVariables"),
        Variable("SecurityCtrlr", "SecurityProfile", "1", rwi),
        Variable("SecurityCtrlr", "BasicAuthPassword", None, "string", "WriteOnly"),
        Variable("TxCtrlr", "EVConnectionTimeOut", "60", rwi, rw, unit="s"),
        Variable("TxCtrlr", "StopTxOnEVSideDisconnect", "true", "boolean", rw),
        Variable("DisplayMessageCtrlr", "Available", "true", "boolean"),
        Variable("DisplayMessageCtrlr", "DisplayMessages", "0", rwi,
                 max_limit=MAX_DISPLAY_MESSAGES),
        Variable("DisplayMessageCtrlr", "SupportedFormats", "ASCII,UTF8,URI", "MemberList"),
        Variable("MonitoringCtrlr", "Enabled", "true", "boolean", rw),
        Variable("MonitoringCtrlr", "ActiveMonitoringLevel", "9", rwi, rw),
        Variable("MonitoringCtrlr", "ActiveMonitoringBase", "All", "OptionList", rw,
                 values_list="All,FactoryDefault,HardWiredOnly"),
    ]
    for evse in range(1, evses + 1):
        found += [
            Variable("EVSE", "AvailabilityState", "Available", "OptionList", evse=evse,
                     values_list="Available,Occupied,Reserved,Unavailable,Faulted"),
            Variable("EVSE", "Power", "0", "decimal", evse=evse, unit="W", max_limit=22000,
                     max_set="11000"),
            Variable("Connector", "ConnectorType", "cType2", evse=evse, connector=1),
            Variable("Connector", "AvailabilityState", "Available", "OptionList", evse=evse,
                     connector=1, values_list="Available,Occupied,Reserved,Unavailable,Faulted"),
        ]
    return found


@dataclass
class DeviceModel:
    """The station's own records; the simulator's settings dict wins for a plain Component.Variable."""

    variables: list[Variable]
    monitors: dict[int, dict[str, Any]] = field(default_factory=dict)
    monitoring_level: int = 9
    display_messages: dict[int, dict[str, Any]] = field(default_factory=dict)
    customer_data: dict[str, list[str]] = field(default_factory=dict)
    event_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    monitor_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(100))

    def __post_init__(self) -> None:
        # Preconfigured by the manufacturer: a problem on the station is reported.
        self.monitors[1] = {"variable": self.find({"name": "ChargingStation"}, {"name": "Problem"}),
                            "type": "Delta", "value": 1.0, "severity": 2, "transaction": False,
                            "kind": "PreconfiguredMonitor"}

    def find(self, component: dict[str, Any],
             variable: dict[str, Any] | None) -> Variable | None:
        return next((v for v in self.variables if v.matches(component, variable)), None)

    def knows_component(self, component: dict[str, Any]) -> bool:
        return any(v.matches(component, None) for v in self.variables)

    def value(self, variable: Variable, settings: dict[str, str]) -> str | None:
        if variable.mutability == "WriteOnly":
            return None
        if not (variable.component_instance or variable.variable_instance or variable.evse):
            return settings.get(variable.key, variable.value)
        return variable.value

    def read(self, item: dict[str, Any]) -> str | None:
        """GetVariables: the attribute asked for (Actual unless said), None when unknown."""
        found = self.find(item["component"], item["variable"])
        if found is None or found.mutability == "WriteOnly":
            return None
        if item.get("attribute_type") == "MaxSet":
            return found.max_set
        return found.value

    def write(self, item: dict[str, Any], accepted: bool) -> None:
        found = self.find(item["component"], item["variable"])
        if accepted and found is not None:
            if item.get("attribute_type") == "MaxSet":
                found.max_set = item["attribute_value"]
            else:
                found.value = item["attribute_value"]

    def report_data(self, variable: Variable, settings: dict[str, str]) -> dict[str, Any]:
        actual: dict[str, Any] = {"type": "Actual", "mutability": variable.mutability,
                                  "persistent": variable.persistent, "constant": False}
        value = self.value(variable, settings)
        if value is not None:
            actual["value"] = value
        attributes = [actual]
        if variable.max_set is not None:
            attributes.append({"type": "MaxSet", "value": variable.max_set,
                               "mutability": "ReadWrite"})
        characteristics: dict[str, Any] = {
            "data_type": variable.data_type,
            "supports_monitoring": variable.data_type in _NUMERIC + ("boolean",)}
        for name in ("unit", "max_limit", "values_list"):
            if getattr(variable, name) is not None:
                characteristics[name] = getattr(variable, name)
        return {"component": variable.component_201(), "variable": variable.variable_201(),
                "variable_attribute": attributes, "variable_characteristics": characteristics}

    def base_report(self, base: str) -> list[Variable]:
        if base == "ConfigurationInventory":
            return [v for v in self.variables if v.mutability in ("ReadWrite", "WriteOnly")]
        if base == "SummaryInventory":
            return [v for v in self.variables
                    if v.variable in ("AvailabilityState", "Available", "Problem")]
        return list(self.variables)

    def report(self, criteria: list[str], wanted: list[dict[str, Any]],
               settings: dict[str, str]) -> list[Variable]:
        """GetReport: the variables of the components that meet every criterion (their variable
        of that name is true; Problem: a component with a problem) and match a componentVariable."""
        found = self.variables
        if wanted:
            found = [v for v in found if any(v.matches(w["component"], w.get("variable"))
                                             for w in wanted)]
        for criterion in criteria:
            meeting = {(v.component, v.component_instance, v.evse, v.connector)
                       for v in self.variables
                       if v.variable == criterion and self.value(v, settings) == "true"}
            found = [v for v in found
                     if (v.component, v.component_instance, v.evse, v.connector) in meeting]
        return found


def _chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[start:start + size] for start in range(0, len(items), size)] or [[]]


_MONITOR_KINDS = {"ThresholdMonitoring": ("UpperThreshold", "LowerThreshold"),
                  "DeltaMonitoring": ("Delta",),
                  "PeriodicMonitoring": ("Periodic", "PeriodicClockAligned")}


class DeviceModelFirmware:
    """Mixed into the 2.0.1 simulator's client: answers the device model requests, then sends
    the reports they ask for in parts, as firmware does after its answer went out."""

    sim: ChargePoint201

    @property
    def device(self) -> DeviceModel:
        return self.sim.device

    def _send_parts(self, calls: list[Any]) -> None:
        async def send() -> None:
            for payload in calls:
                await self.sim.call(payload)
        self.sim.spawn(send())

    def _notify_report(self, request_id: int, variables: list[Variable]) -> None:
        parts = _chunks(variables, ITEMS_PER_REPORT)
        self._send_parts([call.NotifyReport(
            request_id=request_id, generated_at=now_z(), seq_no=seq_no,
            tbc=seq_no < len(parts) - 1,
            report_data=[self.device.report_data(v, self.sim.settings) for v in part] or None)
            for seq_no, part in enumerate(parts)])

    @on(Action.get_base_report)
    async def on_get_base_report(self, request_id: int, report_base: str,
                                 **kwargs: Any) -> call_result.GetBaseReport:
        self._notify_report(request_id, self.device.base_report(report_base))
        return call_result.GetBaseReport(status="Accepted")

    @on(Action.get_report)
    async def on_get_report(self, request_id: int,
                            **kwargs: Any) -> call_result.GetReport:
        found = self.device.report(kwargs.get("component_criteria") or [],
                                   kwargs.get("component_variable") or [], self.sim.settings)
        if not found:
            return call_result.GetReport(status="EmptyResultSet")
        self._notify_report(request_id, found)
        return call_result.GetReport(status="Accepted")

    @on(Action.set_variable_monitoring)
    async def on_set_variable_monitoring(self, set_monitoring_data: list[dict[str, Any]],
                                         **kwargs: Any) -> call_result.SetVariableMonitoring:
        results = []
        for item in set_monitoring_data:
            variable = self.device.find(item["component"], item["variable"])
            if variable is None:
                status = ("UnknownVariable" if self.device.knows_component(item["component"])
                          else "UnknownComponent")
            elif variable.data_type not in _NUMERIC + ("boolean",):
                status = "UnsupportedMonitorType"
            elif item.get("id") is not None and item["id"] not in self.device.monitors:
                status = "Rejected"  # replacing a monitor that does not exist
            else:
                status = "Accepted"
                item_id = item.get("id") or next(self.device.monitor_ids)
                self.device.monitors[item_id] = {
                    "variable": variable, "type": item["type"], "value": float(item["value"]),
                    "severity": item["severity"], "transaction": item.get("transaction", False),
                    "kind": "CustomMonitor"}
                item = {**item, "id": item_id}
            results.append({"status": status, "type": item["type"], "severity": item["severity"],
                            "component": item["component"], "variable": item["variable"],
                            **({"id": item["id"]} if status == "Accepted" else {})})
        return call_result.SetVariableMonitoring(set_monitoring_result=results)

    @on(Action.set_monitoring_base)
    async def on_set_monitoring_base(self, monitoring_base: str,
                                     **kwargs: Any) -> call_result.SetMonitoringBase:
        if monitoring_base != "All":  # custom monitors go; HardWiredOnly: preconfigured ones too
            keep = ("PreconfiguredMonitor",) if monitoring_base == "FactoryDefault" else ()
            self.device.monitors = {i: m for i, m in self.device.monitors.items()
                                    if m["kind"] in keep}
        return call_result.SetMonitoringBase(status="Accepted")

    @on(Action.set_monitoring_level)
    async def on_set_monitoring_level(self, severity: int,
                                      **kwargs: Any) -> call_result.SetMonitoringLevel:
        if not 0 <= severity <= 9:
            return call_result.SetMonitoringLevel(status="Rejected")
        self.device.monitoring_level = severity
        return call_result.SetMonitoringLevel(status="Accepted")

    @on(Action.clear_variable_monitoring)
    async def on_clear_variable_monitoring(self, id: list[int],
                                           **kwargs: Any) -> call_result.ClearVariableMonitoring:
        results = []
        for monitor_id in id:
            found = self.device.monitors.pop(monitor_id, None)
            results.append({"id": monitor_id, "status": "Accepted" if found else "NotFound"})
        return call_result.ClearVariableMonitoring(clear_monitoring_result=results)

    @on(Action.get_monitoring_report)
    async def on_get_monitoring_report(self, request_id: int,
                                       **kwargs: Any) -> call_result.GetMonitoringReport:
        kinds = [t for c in kwargs.get("monitoring_criteria") or [] for t in _MONITOR_KINDS[c]]
        wanted = kwargs.get("component_variable") or []
        found = [(i, m) for i, m in sorted(self.device.monitors.items())
                 if (not kinds or m["type"] in kinds)
                 and (not wanted or any(m["variable"].matches(w["component"], w.get("variable"))
                                        for w in wanted))]
        if not found:
            return call_result.GetMonitoringReport(status="EmptyResultSet")
        parts = _chunks(found, 2)  # two variables' monitors a message: parts, as on a big station
        self._send_parts([call.NotifyMonitoringReport(
            request_id=request_id, seq_no=seq_no, generated_at=now_z(),
            tbc=seq_no < len(parts) - 1,
            monitor=[{"component": m["variable"].component_201(),
                      "variable": m["variable"].variable_201(),
                      "variable_monitoring": [{"id": i, "transaction": m["transaction"],
                                               "value": m["value"], "type": m["type"],
                                               "severity": m["severity"]}]}
                     for i, m in part])
            for seq_no, part in enumerate(parts)])
        return call_result.GetMonitoringReport(status="Accepted")

    @on(Action.customer_information)
    async def on_customer_information(self, request_id: int, report: bool, clear: bool,
                                      **kwargs: Any) -> call_result.CustomerInformation:
        given = [kwargs.get("customer_identifier"), (kwargs.get("id_token") or {}).get("id_token"),
                 kwargs.get("customer_certificate")]
        named = [g for g in given if g]
        if len(named) != 1:  # exactly one way to name the customer
            return call_result.CustomerInformation(status="Invalid")
        customer = str(named[0])
        lines = self.device.customer_data.get(customer) or [f"No data stored for {customer}"]
        if clear:
            self.device.customer_data.pop(customer, None)
        if report:
            self._send_parts([call.NotifyCustomerInformation(
                data=line[:512], tbc=seq_no < len(lines) - 1, seq_no=seq_no,
                generated_at=now_z(), request_id=request_id)
                for seq_no, line in enumerate(lines)])
        return call_result.CustomerInformation(status="Accepted")

    @on(Action.set_display_message)
    async def on_set_display_message(self, message: dict[str, Any],
                                     **kwargs: Any) -> call_result.SetDisplayMessage:
        content = message["message"]
        if content["format"] == "HTML":
            return call_result.SetDisplayMessage(status="NotSupportedMessageFormat")
        if message.get("transaction_id") and self.sim.connector_of(
                message["transaction_id"]) is None:
            return call_result.SetDisplayMessage(status="UnknownTransaction")
        if (message["id"] not in self.device.display_messages
                and len(self.device.display_messages) >= MAX_DISPLAY_MESSAGES):
            return call_result.SetDisplayMessage(status="Rejected")
        self.device.display_messages[message["id"]] = message
        return call_result.SetDisplayMessage(status="Accepted")

    @on(Action.get_display_messages)
    async def on_get_display_messages(self, request_id: int,
                                      **kwargs: Any) -> call_result.GetDisplayMessages:
        ids, priority, state = kwargs.get("id"), kwargs.get("priority"), kwargs.get("state")
        found = [m for i, m in sorted(self.device.display_messages.items())
                 if (not ids or i in ids) and (priority is None or m["priority"] == priority)
                 and (state is None or m.get("state") == state)]
        if not found:
            return call_result.GetDisplayMessages(status="Unknown")
        parts = _chunks(found, 2)
        self._send_parts([call.NotifyDisplayMessages(
            request_id=request_id, tbc=number < len(parts) - 1, message_info=part)
            for number, part in enumerate(parts)])
        return call_result.GetDisplayMessages(status="Accepted")

    @on(Action.clear_display_message)
    async def on_clear_display_message(self, id: int,
                                       **kwargs: Any) -> call_result.ClearDisplayMessage:
        found = self.device.display_messages.pop(id, None)
        return call_result.ClearDisplayMessage(status="Accepted" if found else "Unknown")


def crossed(monitor: dict[str, Any], before: float, after: float) -> str | None:
    """The trigger a monitor fires for a value change, or None (N07: threshold and delta)."""
    kind, limit = monitor["type"], monitor["value"]
    if kind == "UpperThreshold" and after > limit >= before:
        return "Alerting"
    if kind == "LowerThreshold" and after < limit <= before:
        return "Alerting"
    if kind == "Delta" and abs(after - before) >= limit:
        return "Delta"
    return None


async def measure(sim: ChargePoint201, component: dict[str, Any], variable: dict[str, Any],
                  value: float | bool) -> None:
    """A variable's Actual value changes (a sensor, a fault): monitors on it at or below the
    active monitoring level fire NotifyEvent."""
    device = sim.device
    found = device.find(component, variable)
    assert found is not None, (component, variable)
    text = ("true" if value else "false") if isinstance(value, bool) else f"{value:g}"
    try:
        before = float({"true": 1, "false": 0}.get(found.value or "0", found.value or 0))
    except ValueError:
        before = 0.0
    after = float(value)
    found.value = text
    events = []
    for monitor_id, monitor in sorted(device.monitors.items()):
        trigger = crossed(monitor, before, after) if monitor["variable"] is found else None
        if trigger is None or monitor["severity"] > device.monitoring_level:
            continue
        events.append({"event_id": next(device.event_ids), "timestamp": now_z(),
                       "trigger": trigger, "actual_value": text, "cleared": False,
                       "component": found.component_201(), "variable": found.variable_201(),
                       "variable_monitoring_id": monitor_id,
                       "event_notification_type": monitor["kind"]})
    if events:
        await sim.call(call.NotifyEvent(generated_at=now_z(), seq_no=0, event_data=events))
