"""Charging profile requests (1.6 Smart Charging, 2.0.1 block K) of each adapter, mixed into it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from csms.domain.energy.smart_charging import CompositeSchedule, Purpose, profile_from_dict, to_dict
from csms.ocpp.translations import charging_profiles as wire


def _answer(status: str, schedule: CompositeSchedule | None) -> dict[str, Any]:
    return {"status": status, "schedule": to_dict(schedule) if schedule else None}


class _Calls:
    if TYPE_CHECKING:  # the adapter's
        async def call(self, payload: Any, *args: Any, **kwargs: Any) -> Any: ...


class SmartCharging16(_Calls):
    """Mixed into the 1.6 adapter: an EVSE is a connector (0: the whole charge point)."""

    async def set_charging_profile(self, evse: int, profile: dict[str, Any]) -> str:
        answer = await self.call(call16.SetChargingProfile(
            connector_id=evse, cs_charging_profiles=wire.profile_16(profile_from_dict(profile))),
            suppress=False)
        return str(answer.status)

    async def clear_charging_profile(self, profile_id: int | None, evse: int | None,
                                     purpose: str | None, stack_level: int | None) -> str:
        fields = wire.clear_16(profile_id, evse, Purpose(purpose) if purpose else None,
                               stack_level)
        answer = await self.call(call16.ClearChargingProfile(**fields), suppress=False)
        return str(answer.status)

    async def get_composite_schedule(self, evse: int, duration: int,
                                     unit: str | None) -> dict[str, Any]:
        answer = await self.call(call16.GetCompositeSchedule(
            connector_id=evse, duration=duration, charging_rate_unit=unit), suppress=False)
        found = {"status": answer.status, "connector_id": answer.connector_id,
                 "schedule_start": answer.schedule_start,
                 "charging_schedule": answer.charging_schedule}
        return _answer(str(answer.status), wire.composite_from_16(found, evse))


class SmartCharging201(_Calls):
    """Mixed into the 2.0.1 adapter (K01, K10, K08)."""

    async def set_charging_profile(self, evse: int, profile: dict[str, Any]) -> str:
        answer = await self.call(call201.SetChargingProfile(
            evse_id=evse, charging_profile=wire.profile_201(profile_from_dict(profile))),
            suppress=False)
        return str(answer.status)

    async def clear_charging_profile(self, profile_id: int | None, evse: int | None,
                                     purpose: str | None, stack_level: int | None) -> str:
        fields = wire.clear_201(profile_id, evse, Purpose(purpose) if purpose else None,
                                stack_level)
        answer = await self.call(call201.ClearChargingProfile(**fields), suppress=False)
        return str(answer.status)

    async def get_composite_schedule(self, evse: int, duration: int,
                                     unit: str | None) -> dict[str, Any]:
        answer = await self.call(call201.GetCompositeSchedule(
            duration=duration, evse_id=evse, charging_rate_unit=unit), suppress=False)
        found = {"status": answer.status, "schedule": answer.schedule}
        return _answer(str(answer.status), wire.composite_from_201(found))
