"""What a charger link offers for the device model, and the same relayed to the node holding the charger."""

from __future__ import annotations

from typing import Any, Protocol

# Arguments and answers are plain JSON (they travel between nodes): a variable is addressed as
# {"component", "component_instance", "evse_id", "connector_id", "variable", "variable_instance"}
# (csms.domain.fleet.device_model.Address.as_dict); a request answered in parts carries its request_id.


class DeviceModelLink(Protocol):
    """A charger without a device model (OCPP 1.6) raises NotSupported from each."""

    async def get_report(self, request_id: int, base: str | None, criteria: list[str],
                         variables: list[dict[str, Any]]) -> str: ...
    async def read_device_variables(self, items: list[dict[str, Any]]) -> dict[str, Any]: ...
    async def write_device_variables(self, items: list[dict[str, Any]]) -> dict[str, Any]: ...
    async def set_monitors(self, monitors: list[dict[str, Any]]) -> dict[str, Any]: ...
    async def clear_monitors(self, monitor_ids: list[int]) -> dict[str, Any]: ...
    async def set_monitoring_base(self, base: str) -> str: ...
    async def set_monitoring_level(self, severity: int) -> str: ...
    async def get_monitoring_report(self, request_id: int, criteria: list[str],
                                    variables: list[dict[str, Any]]) -> str: ...
    async def customer_information(self, request_id: int, report: bool, clear: bool,
                                   identifier: str | None, token: str | None) -> str: ...
    async def set_display_message(self, message: dict[str, Any]) -> str: ...
    async def get_display_messages(self, request_id: int, ids: list[int], priority: str | None,
                                   state: str | None) -> str: ...
    async def clear_display_message(self, message_id: int) -> str: ...


class RelayedDeviceModel:
    """The DeviceModelLink of a charger held by another node (mixed into the relay's RemoteLink)."""

    async def _call(self, method: str, *args: Any) -> Any:
        raise NotImplementedError

    async def get_report(self, request_id: int, base: str | None, criteria: list[str],
                         variables: list[dict[str, Any]]) -> str:
        return str(await self._call("get_report", request_id, base, criteria, variables))

    async def read_device_variables(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        return dict(await self._call("read_device_variables", items))

    async def write_device_variables(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        return dict(await self._call("write_device_variables", items))

    async def set_monitors(self, monitors: list[dict[str, Any]]) -> dict[str, Any]:
        return dict(await self._call("set_monitors", monitors))

    async def clear_monitors(self, monitor_ids: list[int]) -> dict[str, Any]:
        return dict(await self._call("clear_monitors", monitor_ids))

    async def set_monitoring_base(self, base: str) -> str:
        return str(await self._call("set_monitoring_base", base))

    async def set_monitoring_level(self, severity: int) -> str:
        return str(await self._call("set_monitoring_level", severity))

    async def get_monitoring_report(self, request_id: int, criteria: list[str],
                                    variables: list[dict[str, Any]]) -> str:
        return str(await self._call("get_monitoring_report", request_id, criteria, variables))

    async def customer_information(self, request_id: int, report: bool, clear: bool,
                                   identifier: str | None, token: str | None) -> str:
        return str(await self._call("customer_information", request_id, report, clear,
                                    identifier, token))

    async def set_display_message(self, message: dict[str, Any]) -> str:
        return str(await self._call("set_display_message", message))

    async def get_display_messages(self, request_id: int, ids: list[int], priority: str | None,
                                   state: str | None) -> str:
        return str(await self._call("get_display_messages", request_id, ids, priority, state))

    async def clear_display_message(self, message_id: int) -> str:
        return str(await self._call("clear_display_message", message_id))
