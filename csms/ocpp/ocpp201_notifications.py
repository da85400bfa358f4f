"""2.0.1 charger messages with no domain model yet: each answered validly and kept as a charger report."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from ocpp.routing import on
from ocpp.v201 import call_result
from ocpp.v201.enums import Action


class ChargerNotifications201:
    """Mixed into the 2.0.1 adapter. The handlers marked PLACEHOLDER answer for
    capabilities built elsewhere (device model, firmware, certificates), which replace them."""

    report: Callable[[str, dict[str, Any]], Awaitable[None]]

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
