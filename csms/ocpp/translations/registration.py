"""Which calls a 2.0.1 charger not (yet) Accepted may make: B02 (Pending) and B03 (Rejected)."""

from __future__ import annotations

# What the CSMS itself asked a Pending charger for while configuring it (B02.FR.01: reports,
# firmware and log uploads, certificates): the charger's answers to our own requests.
ANSWERS_TO_US = frozenset({
    "NotifyReport", "NotifyMonitoringReport", "NotifyCustomerInformation",
    "NotifyDisplayMessages", "ReportChargingProfiles", "FirmwareStatusNotification",
    "LogStatusNotification", "PublishFirmwareStatusNotification", "SignCertificate",
})


def allowed(status: str | None, action: str, triggered: frozenset[str] = frozenset()) -> bool:
    """status: our last BootNotification answer on this connection (None: no boot on it, e.g. a
    reconnect of an Accepted charger). A Pending charger may send only a BootNotification, what
    we triggered (TriggerMessage) and the answers to our requests; a Rejected one only a
    BootNotification. Anything else is answered with CALLERROR SecurityError."""
    if status in (None, "Accepted") or action == "BootNotification":
        return True
    if status == "Pending":
        return action in ANSWERS_TO_US or action in triggered
    return False
