"""Pure translations of both versions' firmware, diagnostics and log statuses into job states."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from csms.domain.fleet.jobs import JobKind, JobState

if TYPE_CHECKING:
    from csms.ocpp.adapter import Services

# 1.6 core FirmwareStatus, the 1.6 security whitepaper's and 2.0.1's FirmwareStatusEnumType
# (the latter two are the same list). Idle: no update under way, nothing to change.
_FIRMWARE = {
    "Idle": None,
    "DownloadScheduled": JobState.REQUESTED,
    "Downloading": JobState.DOWNLOADING,
    "DownloadPaused": JobState.DOWNLOADING,
    "Downloaded": JobState.DOWNLOADED,
    "SignatureVerified": JobState.DOWNLOADED,
    "InstallScheduled": JobState.DOWNLOADED,
    "Installing": JobState.INSTALLING,
    "InstallRebooting": JobState.INSTALLING,
    "Installed": JobState.INSTALLED,
    "DownloadFailed": JobState.FAILED,
    "InvalidSignature": JobState.FAILED,
    "InstallVerificationFailed": JobState.FAILED,
    "InstallationFailed": JobState.FAILED,
}

# 1.6 core DiagnosticsStatus, and UploadLogStatusEnumType (1.6 security whitepaper and 2.0.1).
_LOG = {
    "Idle": None,
    "Uploading": JobState.UPLOADING,
    "Uploaded": JobState.UPLOADED,
    "UploadFailed": JobState.FAILED,  # 1.6 core
    "UploadFailure": JobState.FAILED,
    "BadMessage": JobState.FAILED,
    "NotSupportedOperation": JobState.FAILED,
    "PermissionDenied": JobState.FAILED,
    # This upload was cancelled by a newer GetLog (whose own answer says AcceptedCanceled).
    "AcceptedCanceled": JobState.FAILED,
}

# The answer to UpdateFirmware / SignedUpdateFirmware / GetLog: whether the job goes ahead.
# AcceptedCanceled: it does, and the charger dropped the one it was doing for it.
_REQUEST_ACCEPTED = {"Accepted", "AcceptedCanceled"}


def firmware_job_state(status: str) -> JobState | None:
    """None: the status says nothing about a job (Idle), or is not one we know."""
    return _FIRMWARE.get(status)


def log_job_state(status: str) -> JobState | None:
    return _LOG.get(status)


async def job_status(services: Services, charge_point_id: str, kind: JobKind,
                     request_id: int | None, status: str) -> None:
    """A Firmware/Diagnostics/Log status notification, to the job it is about."""
    if services.jobs is None:
        return
    state = firmware_job_state(status) if kind is JobKind.FIRMWARE else log_job_state(status)
    await services.jobs.status(charge_point_id, kind, request_id, state, status)


def request_answer(status: str, file_name: str | None = None) -> dict[str, Any]:
    """The charger's answer to UpdateFirmware / GetLog, as the job service reads it."""
    return {"accepted": status in _REQUEST_ACCEPTED, "status": status,
            "replaced": status == "AcceptedCanceled", "file_name": file_name}
