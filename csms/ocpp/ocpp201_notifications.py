"""2.0.1 charger messages with no domain model yet: each answered validly and kept as a charger report."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from ocpp.routing import on
from ocpp.v201 import call_result
from ocpp.v201.enums import Action


class ChargerNotifications201:
    """Mixed into the 2.0.1 adapter. Smart charging (block K, the next issue) is kept for the
    operator to read (GET …/reports?kind=…); the handlers marked PLACEHOLDER answer for
    capabilities built elsewhere (device model, firmware, certificates), which replace them."""

    report: Callable[[str, dict[str, Any]], Awaitable[None]]

    # --- smart charging: the charger tells, we keep it ------------------------------------

    @on(Action.notify_charging_limit)
    async def on_notify_charging_limit(self, **kwargs: Any) -> call_result.NotifyChargingLimit:
        await self.report("NotifyChargingLimit", kwargs)  # K12: an external limit (e.g. the DSO)
        return call_result.NotifyChargingLimit()

    @on(Action.cleared_charging_limit)
    async def on_cleared_charging_limit(self, **kwargs: Any
                                        ) -> call_result.ClearedChargingLimit:
        await self.report("ClearedChargingLimit", kwargs)  # K13
        return call_result.ClearedChargingLimit()

    @on(Action.report_charging_profiles)
    async def on_report_charging_profiles(self, **kwargs: Any
                                          ) -> call_result.ReportChargingProfiles:
        await self.report("ReportChargingProfiles", kwargs)  # K09, parts by tbc
        return call_result.ReportChargingProfiles()

    @on(Action.notify_ev_charging_needs)
    async def on_notify_ev_charging_needs(self, **kwargs: Any
                                          ) -> call_result.NotifyEVChargingNeeds:
        await self.report("NotifyEVChargingNeeds", kwargs)
        # K15: Rejected says we will send no charging profile for it (we have no smart charging
        # yet), so the EV charges by its own schedule instead of waiting for ours.
        return call_result.NotifyEVChargingNeeds(status="Rejected")

    @on(Action.notify_ev_charging_schedule)
    async def on_notify_ev_charging_schedule(self, **kwargs: Any
                                             ) -> call_result.NotifyEVChargingSchedule:
        await self.report("NotifyEVChargingSchedule", kwargs)  # K17: no limit of ours to break
        return call_result.NotifyEVChargingSchedule(status="Accepted")

    # --- PLACEHOLDERS for the firmware and certificate capabilities -------------------------

    @on(Action.publish_firmware_status_notification)
    async def on_publish_firmware_status(self, **kwargs: Any
                                         ) -> call_result.PublishFirmwareStatusNotification:
        await self.report("PublishFirmwareStatusNotification", kwargs)
        return call_result.PublishFirmwareStatusNotification()

    @on(Action.sign_certificate)
    async def on_sign_certificate(self, **kwargs: Any) -> call_result.SignCertificate:
        # No CA to sign with here: Rejected, as A02/A03 allow (the charger keeps its certificate).
        await self.report("SignCertificate", {"certificate_type": kwargs.get("certificate_type")})
        return call_result.SignCertificate(status="Rejected")

    @on(Action.get_15118_ev_certificate)
    async def on_get_15118_ev_certificate(self, **kwargs: Any
                                          ) -> call_result.Get15118EVCertificate:
        return call_result.Get15118EVCertificate(status="Failed", exi_response="")  # M01: no PKI

    @on(Action.get_certificate_status)
    async def on_get_certificate_status(self, **kwargs: Any
                                        ) -> call_result.GetCertificateStatus:
        return call_result.GetCertificateStatus(status="Failed")  # M06: no OCSP responder here
