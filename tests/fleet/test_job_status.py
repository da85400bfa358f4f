"""Every firmware, diagnostics and log status of both OCPP versions as a job state; API request parsing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from importlib.resources import files
from typing import Any

import pytest

from csms.domain.fleet.jobs import JobState
from csms.ocpp.translations.job_status import firmware_job_state, log_job_state, request_answer
from csms.operator.http.fleet.jobs_api import InvalidRequest, firmware_request, log_request

D, F = JobState, JobState.FAILED

# (status, in 1.6 core, in the 1.6 security whitepaper and 2.0.1, job state)
FIRMWARE: list[tuple[str, bool, bool, JobState | None]] = [
    ("Idle", True, True, None),
    ("DownloadScheduled", False, True, D.REQUESTED),
    ("Downloading", True, True, D.DOWNLOADING),
    ("DownloadPaused", False, True, D.DOWNLOADING),
    ("Downloaded", True, True, D.DOWNLOADED),
    ("SignatureVerified", False, True, D.DOWNLOADED),
    ("InstallScheduled", False, True, D.DOWNLOADED),
    ("Installing", True, True, D.INSTALLING),
    ("InstallRebooting", False, True, D.INSTALLING),
    ("Installed", True, True, D.INSTALLED),
    ("DownloadFailed", True, True, F),
    ("InvalidSignature", False, True, F),
    ("InstallVerificationFailed", False, True, F),
    ("InstallationFailed", True, True, F),
]

# 1.6 core DiagnosticsStatus; UploadLogStatusEnumType of the whitepaper and 2.0.1.
LOG: list[tuple[str, bool, bool, JobState | None]] = [
    ("Idle", True, True, None),
    ("Uploading", True, True, D.UPLOADING),
    ("Uploaded", True, True, D.UPLOADED),
    ("UploadFailed", True, False, F),
    ("UploadFailure", False, True, F),
    ("BadMessage", False, True, F),
    ("NotSupportedOperation", False, True, F),
    ("PermissionDenied", False, True, F),
    ("AcceptedCanceled", False, True, F),
]


def _enum(path: str) -> set[str]:
    """The values the library's schema allows for the message's status."""
    schema = json.loads((files("ocpp") / path).read_text())
    node = schema["properties"]["status"]
    if "$ref" in node:
        node = schema["definitions"][node["$ref"].rpartition("/")[2]]
    return set(node["enum"])


def test_every_status_of_both_versions_is_in_the_tables() -> None:
    core_firmware = {s for s, core, _, _ in FIRMWARE if core}
    new_firmware = {s for s, _, new, _ in FIRMWARE if new}
    assert _enum("v16/schemas/FirmwareStatusNotification.json") == core_firmware
    assert _enum("v16/schemas/SignedFirmwareStatusNotification.json") == new_firmware
    assert _enum("v201/schemas/FirmwareStatusNotificationRequest.json") == new_firmware
    assert _enum("v16/schemas/DiagnosticsStatusNotification.json") == \
        {s for s, core, _, _ in LOG if core}
    assert _enum("v201/schemas/LogStatusNotificationRequest.json") == \
        {s for s, _, new, _ in LOG if new}
    # The whitepaper's list is 2.0.1's without AcceptedCanceled.
    assert _enum("v16/schemas/LogStatusNotification.json") == \
        {s for s, _, new, _ in LOG if new} - {"AcceptedCanceled"}


@pytest.mark.parametrize(("status", "core", "new", "state"), FIRMWARE)
def test_firmware_status(status: str, core: bool, new: bool, state: JobState | None) -> None:
    assert firmware_job_state(status) == state


@pytest.mark.parametrize(("status", "core", "new", "state"), LOG)
def test_log_status(status: str, core: bool, new: bool, state: JobState | None) -> None:
    assert log_job_state(status) == state


@pytest.mark.parametrize(("status", "accepted", "replaced"), [
    ("Accepted", True, False), ("AcceptedCanceled", True, True), ("Rejected", False, False),
    ("InvalidCertificate", False, False), ("RevokedCertificate", False, False),
])
def test_request_answers(status: str, accepted: bool, replaced: bool) -> None:
    answer = request_answer(status, "f.log")
    assert (answer["accepted"], answer["replaced"], answer["file_name"]) == \
        (accepted, replaced, "f.log")


@pytest.mark.parametrize(("fields", "error"), [
    ({"location": "https://h/f.bin"}, None),
    ({"location": "sftp://h/f.bin", "signing_certificate": "C", "signature": "S",
      "install_at": "2030-01-01T00:00:00Z"}, None),
    ({}, "'location' is required"),
    ({"location": "/relative"}, "absolute URL"),
    ({"location": "https://h/" + "x" * 600}, "at most 512"),
    ({"location": "https://h/f", "signature": "S"}, "both"),
    ({"location": "https://h/f", "install_at": "2030-01-01T00:00:00Z"}, "signed firmware only"),
    ({"location": "https://h/f", "signing_certificate": "C", "signature": "S",
      "retrieve_at": "2030-01-02T00:00:00Z", "install_at": "2030-01-01T00:00:00Z"},
     "must not be before"),
    ({"location": "https://h/f", "retry_interval": True}, "non-negative integer"),
])
def test_firmware_request(fields: dict[str, Any], error: str | None) -> None:
    if error is None:
        request = firmware_request(fields)
        assert request.retrieve_at <= datetime.now(UTC) or request.signed
        return
    with pytest.raises(InvalidRequest, match=error):
        firmware_request(fields)


def test_log_request() -> None:
    request = log_request({"location": "ftp://h/", "latest": "2026-01-01T00:00:00+01:00"})
    assert request.log_type == "diagnostics"
    assert request.latest == datetime(2025, 12, 31, 23, tzinfo=UTC)
    with pytest.raises(InvalidRequest, match="'latest' must not be before"):
        log_request({"location": "ftp://h/", "oldest": "2026-01-02T00:00:00Z",
                     "latest": "2026-01-01T00:00:00Z"})
