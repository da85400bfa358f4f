"""OCPP 1.6 has no device model: each of its operations is "not supported" (whatever the charger)."""

from __future__ import annotations

from typing import Any

from csms.cluster.links import NotSupported


class NoDeviceModel:
    """Mixed into the 1.6 adapter: the DeviceModelLink, refused before anything is sent."""

    async def get_report(self, request_id: int, base: str | None, criteria: list[str],
                         variables: list[dict[str, Any]]) -> str:
        raise NotSupported("get_report")

    async def read_device_variables(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        raise NotSupported("read_device_variables")

    async def write_device_variables(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        raise NotSupported("write_device_variables")

    async def set_monitors(self, monitors: list[dict[str, Any]]) -> dict[str, Any]:
        raise NotSupported("set_monitors")

    async def clear_monitors(self, monitor_ids: list[int]) -> dict[str, Any]:
        raise NotSupported("clear_monitors")

    async def set_monitoring_base(self, base: str) -> str:
        raise NotSupported("set_monitoring_base")

    async def set_monitoring_level(self, severity: int) -> str:
        raise NotSupported("set_monitoring_level")

    async def get_monitoring_report(self, request_id: int, criteria: list[str],
                                    variables: list[dict[str, Any]]) -> str:
        raise NotSupported("get_monitoring_report")

    async def customer_information(self, request_id: int, report: bool, clear: bool,
                                   identifier: str | None, token: str | None) -> str:
        raise NotSupported("customer_information")

    async def set_display_message(self, message: dict[str, Any]) -> str:
        raise NotSupported("set_display_message")

    async def get_display_messages(self, request_id: int, ids: list[int], priority: str | None,
                                   state: str | None) -> str:
        raise NotSupported("get_display_messages")

    async def clear_display_message(self, message_id: int) -> str:
        raise NotSupported("clear_display_message")
