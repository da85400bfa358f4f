"""Charging profile requests (1.6 Smart Charging, 2.0.1 block K) of each adapter, mixed into it."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from ocpp.routing import after, on
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from ocpp.v201.enums import Action

from csms.cluster.links import NotSupported
from csms.domain.energy.smart_charging import CompositeSchedule, Purpose, profile_from_dict, to_dict
from csms.ocpp.translations import charging_profiles as wire

if TYPE_CHECKING:
    from csms.ocpp.adapter import Services


def _answer(status: str, schedule: CompositeSchedule | None) -> dict[str, Any]:
    return {"status": status, "schedule": to_dict(schedule) if schedule else None}


class _Calls:
    if TYPE_CHECKING:  # the adapter's
        services: Services

        @property
        def charge_point_id(self) -> str: ...
        @property
        def log(self) -> Any: ...

        async def call(self, payload: Any, *args: Any, **kwargs: Any) -> Any: ...
        async def report(self, kind: str, payload: dict[str, Any]) -> None: ...
        def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None: ...


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

    async def get_charging_profiles(self, evse: int | None, purpose: str | None,
                                    stack_level: int | None, sources: list[str] | None,
                                    ids: list[int] | None) -> dict[str, Any]:
        raise NotSupported("1.6 has no GetChargingProfiles")  # the command service answers


# Renegotiations (K16) in a row for one car (see SmartCharging201._renegotiated).
MAX_RENEGOTIATIONS = 3

# Requests whose reports are awaited, by request id, across this process's connections
# (K09: the requestId of the reports names the request).
_request_ids = itertools.count(1)


class SmartCharging201(_Calls):
    """Mixed into the 2.0.1 adapter (K01, K10, K08, K09, K11-K17)."""

    # GetChargingProfiles requests awaiting their ReportChargingProfiles: request id → the
    # profiles reported so far and the future set once the last report (tbc false) came.
    _awaited: dict[int, tuple[list[dict[str, Any]], asyncio.Future[None]]] | None = None
    _renegotiate: frozenset[int] = frozenset()  # EVSEs whose car's schedule we rejected (K16.FR.08)
    # Renegotiations per EVSE since the car last said its needs: a car that keeps asking for more
    # than we allow is not sent profiles for ever (it charges within the one it holds).
    _renegotiated: dict[int, int] | None = None

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

    async def get_charging_profiles(self, evse: int | None, purpose: str | None,
                                    stack_level: int | None, sources: list[str] | None,
                                    ids: list[int] | None) -> dict[str, Any]:
        """K09: the profiles the charger holds matching the criteria, from all the
        ReportChargingProfiles it sends for the request (until one without tbc): {"status"
        (Accepted, NoProfiles), "profiles": [{"evse", "source", "profile" or "external"}]}."""
        request_id = next(_request_ids)
        if self._awaited is None:
            self._awaited = {}
        reported: list[dict[str, Any]] = []
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._awaited[request_id] = (reported, done)  # before asking: a report may come at once
        try:
            fields = wire.criteria_201(evse, Purpose(purpose) if purpose else None, stack_level,
                                       sources, ids)
            answer = await self.call(call201.GetChargingProfiles(request_id=request_id, **fields),
                                     suppress=False)
            status = str(answer.status)
            if status == "Accepted":  # K09: then it reports them
                await asyncio.wait_for(done, self.services.settings.call_timeout)
        finally:
            self._awaited.pop(request_id, None)
        return {"status": status, "profiles": reported}

    @on(Action.report_charging_profiles)
    async def on_report_charging_profiles(self, request_id: int, **kwargs: Any
                                          ) -> result201.ReportChargingProfiles:
        """K09: one part of the answer to our GetChargingProfiles (tbc: more to come)."""
        awaited = (self._awaited or {}).get(request_id)
        if awaited is None:  # not (or no longer) awaited: kept for the operator
            await self.report("ReportChargingProfiles", {"request_id": request_id, **kwargs})
        else:
            reported, done = awaited
            reported += wire.reported_from_201({"request_id": request_id, **kwargs})
            if not kwargs.get("tbc") and not done.done():
                done.set_result(None)
        return result201.ReportChargingProfiles()

    # --- K11-K14: limits set by an external system (e.g. the grid operator) ------------------

    @on(Action.notify_charging_limit)
    async def on_notify_charging_limit(self, charging_limit: dict[str, Any], **kwargs: Any
                                       ) -> result201.NotifyChargingLimit:
        """K12: recorded as the EVSE's grid:<source> cap, which the load manager takes into
        account; no evseId: the whole charger (evse 0)."""
        evse = kwargs.get("evse_id") or 0
        schedules = kwargs.get("charging_schedule") or []
        schedule = wire.schedule_from_201(schedules[0], evse) if schedules else None
        await self.report("NotifyChargingLimit", {"charging_limit": charging_limit, **kwargs})
        if self.services.energy is not None:
            await self.services.energy.external_limit(
                self.charge_point_id, evse, charging_limit["charging_limit_source"], schedule,
                {"charging_limit": charging_limit, "evse_id": kwargs.get("evse_id"),
                 "charging_schedule": schedules})
        return result201.NotifyChargingLimit()

    @on(Action.cleared_charging_limit)
    async def on_cleared_charging_limit(self, charging_limit_source: str, **kwargs: Any
                                        ) -> result201.ClearedChargingLimit:
        """K13: the source's cap goes (no evseId: on every EVSE of the charger)."""
        await self.report("ClearedChargingLimit",
                          {"charging_limit_source": charging_limit_source, **kwargs})
        if self.services.energy is not None:
            await self.services.energy.external_cleared(
                self.charge_point_id, kwargs.get("evse_id"), charging_limit_source)
        return result201.ClearedChargingLimit()

    # --- K15-K17: ISO 15118 ---------------------------------------------------------------

    @on(Action.notify_ev_charging_needs)
    async def on_notify_ev_charging_needs(self, evse_id: int, charging_needs: dict[str, Any],
                                          **kwargs: Any) -> result201.NotifyEVChargingNeeds:
        """K15/K16: Accepted (a charging profile follows: the load manager's TxProfile,
        fitted to the needs and the site, sent once this answer is out); Rejected when nothing
        here manages energy, so the car charges on its own schedule instead of waiting."""
        await self.report("NotifyEVChargingNeeds",
                          {"evse_id": evse_id, "charging_needs": charging_needs, **kwargs})
        if self._renegotiated:
            self._renegotiated.pop(evse_id, None)
        return result201.NotifyEVChargingNeeds(
            status="Accepted" if self.services.energy is not None else "Rejected")

    @after(Action.notify_ev_charging_needs)
    async def after_notify_ev_charging_needs(self, evse_id: int, charging_needs: dict[str, Any],
                                             **kwargs: Any) -> None:
        if self.services.energy is not None:
            self.spawn(self.services.energy.ev_needs(
                self.charge_point_id, evse_id, wire.needs_from_201(charging_needs),
                {"charging_needs": charging_needs,
                 "max_schedule_tuples": kwargs.get("max_schedule_tuples")}))

    @on(Action.notify_ev_charging_schedule)
    async def on_notify_ev_charging_schedule(self, time_base: str, evse_id: int,
                                             charging_schedule: dict[str, Any], **kwargs: Any
                                             ) -> result201.NotifyEVChargingSchedule:
        """K16.FR.06/.FR.07: Accepted within what we allow the EVSE (the load manager's
        allowance, every cap), Rejected above it; K16.FR.08: a new TxProfile then follows (the
        renegotiation of use case K16)."""
        await self.report("NotifyEVChargingSchedule", {
            "time_base": time_base, "evse_id": evse_id, "charging_schedule": charging_schedule})
        status = "Accepted"
        if self.services.energy is not None:
            status = await self.services.energy.ev_schedule(
                self.charge_point_id, evse_id, wire.schedule_from_201(charging_schedule, evse_id))
        if status == "Rejected":
            self._renegotiate |= {evse_id}
        return result201.NotifyEVChargingSchedule(status=status)

    @after(Action.notify_ev_charging_schedule)
    async def after_notify_ev_charging_schedule(self, evse_id: int, **kwargs: Any) -> None:
        if evse_id not in self._renegotiate or self.services.energy is None:
            return
        self._renegotiate -= {evse_id}
        if self._renegotiated is None:
            self._renegotiated = {}
        if self._renegotiated.get(evse_id, 0) >= MAX_RENEGOTIATIONS:
            self.log.warning("EV keeps exceeding our limit: no further renegotiation",
                             evse=evse_id)
            return
        self._renegotiated[evse_id] = self._renegotiated.get(evse_id, 0) + 1
        self.spawn(self.services.energy.renegotiate(self.charge_point_id, evse_id))
