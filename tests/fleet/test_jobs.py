"""Firmware updates and log uploads as jobs, end to end against both simulated chargers; rollouts."""

from __future__ import annotations

from typing import Any

import pytest

from csms.app import App
from csms.domain.charge_points import register
from simulators.chargepoint import SimulatedChargePoint
from tests.conftest import AppFactory, SimFactory
from tests.support import Api, eventually

FIRMWARE = "https://firmware.example.com/cp-2.0.bin"
SIGNED = {"location": FIRMWARE, "signing_certificate": "-----BEGIN CERTIFICATE-----\nMIIB\n"
          "-----END CERTIFICATE-----", "signature": "c2lnbmF0dXJl",
          "install_at": "2030-01-01T02:00:00Z", "retries": 3, "retry_interval": 60}


def _v16(sims: SimFactory) -> bool:
    return sims.protocol == "1.6"  # type: ignore[attr-defined, no-any-return]


async def _job_ends(api: Api, job_id: int, state: str) -> dict[str, Any]:
    async def ended() -> dict[str, Any] | None:
        job = await api.get(f"/jobs/{job_id}")
        return job if job["state"] in ("installed", "uploaded", "failed") else None
    job = await eventually(ended)
    assert job["state"] == state, job
    return job


async def _online(app: App, sims: SimFactory, charge_point_id: str = "CP1",
                  **options: Any) -> SimulatedChargePoint:
    await register(app.pool, charge_point_id, None, {1: None}, security_profile=0)
    sim = sims(app, charge_point_id, **options)
    await sim.start()
    return sim


async def test_firmware_update_installs(app: App, api: Api, sims: SimFactory) -> None:
    sim = await _online(app, sims)
    status, job = await api.post("/charge-points/CP1/firmware", {"location": FIRMWARE})
    assert status == 201 and job["kind"] == "firmware", job
    done = await _job_ends(api, job["id"], "installed")
    assert done["last_status"] == "Installed" and done["finished_at"] and done["requested_at"]
    assert sim.installed_firmware == FIRMWARE
    sent = await sim.wait_for_call("UpdateFirmware")
    if _v16(sims):  # 1.6 core: no request id, the status notifications find the latest job
        assert sent["location"] == FIRMWARE and "retrieveDate" in sent
    else:
        assert sent["requestId"] == job["id"] and sent["firmware"]["location"] == FIRMWARE
    listed = await api.items("/charge-points/CP1/jobs?kind=firmware")
    assert [j["id"] for j in listed] == [job["id"]]


async def test_signed_firmware_update(app: App, api: Api, sims: SimFactory) -> None:
    sim = await _online(app, sims)
    status, job = await api.post("/charge-points/CP1/firmware", SIGNED)
    assert status == 201, job
    await _job_ends(api, job["id"], "installed")
    sent = await sim.wait_for_call("SignedUpdateFirmware" if _v16(sims) else "UpdateFirmware")
    assert sent["requestId"] == job["id"]
    assert sent["retries"] == 3 and sent["retryInterval"] == 60
    assert sent["firmware"]["signature"] == SIGNED["signature"]
    assert sent["firmware"]["signingCertificate"] == SIGNED["signing_certificate"]
    assert sent["firmware"]["installDateTime"] == "2030-01-01T02:00:00.000Z"


@pytest.mark.parametrize("outcome", ["Rejected", "DownloadFailed", "InvalidSignature",
                                     "InstallationFailed"])
async def test_firmware_update_fails(app: App, api: Api, sims: SimFactory, outcome: str) -> None:
    sim = await _online(app, sims, firmware_outcome=outcome)
    status, job = await api.post("/charge-points/CP1/firmware", SIGNED)
    assert status == 201, job
    done = await _job_ends(api, job["id"], "failed")
    assert done["last_status"] == outcome
    assert sim.installed_firmware is None


async def test_unsigned_download_failure_16_core(app: App, api: Api, sims: SimFactory) -> None:
    await _online(app, sims, firmware_outcome="DownloadFailed")
    status, job = await api.post("/charge-points/CP1/firmware", {"location": FIRMWARE})
    done = await _job_ends(api, job["id"], "failed")
    assert done["last_status"] == "DownloadFailed"


async def test_a_newer_update_cancels_the_one_under_way(app: App, api: Api,
                                                      sims: SimFactory) -> None:
    """The charger answers AcceptedCanceled (1.6 security whitepaper, 2.0.1): it dropped the
    update it was doing for the new one, whose job goes on; the old job fails."""
    sim = await _online(app, sims, job_pause_after="Downloading")
    status, first = await api.post("/charge-points/CP1/firmware", SIGNED)
    await eventually(lambda: _state_is(api, first["id"], "downloading"))
    status, second = await api.post("/charge-points/CP1/firmware",
                                    {**SIGNED, "location": FIRMWARE + "?v=3"})
    assert status == 201, second
    dropped = await _job_ends(api, first["id"], "failed")
    assert dropped["last_status"] == f"cancelled by job {second['id']}"
    await eventually(lambda: _state_is(api, second["id"], "downloading"))
    sim.job_resume.set()
    await _job_ends(api, second["id"], "installed")
    assert sim.installed_firmware == FIRMWARE + "?v=3"


@pytest.mark.parametrize("log_type", ["diagnostics", "security"])
async def test_log_upload(app: App, api: Api, sims: SimFactory, log_type: str) -> None:
    sim = await _online(app, sims)
    status, job = await api.post("/charge-points/CP1/logs", {
        "location": "ftp://logs.example.com/upload/", "log_type": log_type,
        "oldest": "2026-01-01T00:00:00Z"})
    assert status == 201 and job["kind"] == "log", job
    done = await _job_ends(api, job["id"], "uploaded")
    if _v16(sims) and log_type == "diagnostics":
        sent = await sim.wait_for_call("GetDiagnostics")
        assert sent["startTime"] == "2026-01-01T00:00:00.000Z"
        assert done["file_name"] == "CP1-diag.zip"
    else:
        sent = await sim.wait_for_call("GetLog")
        assert sent["requestId"] == job["id"]
        assert sent["logType"] == ("SecurityLog" if log_type == "security" else "DiagnosticsLog")
        assert sent["log"]["remoteLocation"] == "ftp://logs.example.com/upload/"
        assert done["file_name"] == f"CP1-{sent['logType']}.log"


@pytest.mark.parametrize("outcome", ["UploadFailed", "Rejected"])
async def test_log_upload_fails(app: App, api: Api, sims: SimFactory, outcome: str) -> None:
    await _online(app, sims, log_outcome=outcome)
    status, job = await api.post("/charge-points/CP1/logs", {
        "location": "https://logs.example.com/up", "log_type": "security"})
    done = await _job_ends(api, job["id"], "failed")
    expected = {"UploadFailed": "UploadFailure", "Rejected": "Rejected"}[outcome]
    assert done["last_status"] == expected


async def test_charger_offline_mid_job_then_back(app: App, api: Api, sims: SimFactory) -> None:
    """The charger goes away while it downloads (it reboots, loses its uplink): the job waits
    and goes on with the statuses it sends once back."""
    sim = await _online(app, sims, job_pause_after="Downloading")
    status, job = await api.post("/charge-points/CP1/firmware", SIGNED)

    async def downloading() -> bool:
        return bool((await api.get(f"/jobs/{job['id']}"))["state"] == "downloading")
    await eventually(downloading)
    sim.network.clear()
    await sim.drop_connection()

    async def offline() -> bool:
        return not (await api.get("/charge-points/CP1"))["live"]
    await eventually(offline)
    await app.services.jobs.schedule()  # type: ignore[union-attr]  # a round changes nothing
    assert (await api.get(f"/jobs/{job['id']}"))["state"] == "downloading"
    sim.network.set()
    sim.job_resume.set()
    await _job_ends(api, job["id"], "installed")


async def test_charger_gone_for_good_fails_its_job(app: App, api: Api, sims: SimFactory) -> None:
    sim = await _online(app, sims, job_pause_after="Downloading")
    status, job = await api.post("/charge-points/CP1/firmware", {"location": FIRMWARE})

    async def downloading() -> bool:
        return bool((await api.get(f"/jobs/{job['id']}"))["state"] == "downloading")
    await eventually(downloading)
    sim.network.clear()
    await sim.drop_connection()
    assert app.services.jobs is not None
    app.services.jobs.settings.job_timeout = 0.5  # no status for that long: failed
    done = await eventually(lambda: _failed_after_round(app, api, job["id"]))
    assert done["last_status"].startswith("no status from the charger"), done


async def _failed_after_round(app: App, api: Api, job_id: int) -> dict[str, Any] | None:
    assert app.services.jobs is not None
    await app.services.jobs.schedule()
    job = await api.get(f"/jobs/{job_id}")
    return job if job["state"] == "failed" else None


async def test_offline_charger_waits_or_fails(app: App, api: Api, sims: SimFactory) -> None:
    await register(app.pool, "CP1", None, {1: None}, security_profile=0)
    status, failing = await api.post("/charge-points/CP1/firmware",
                                     {"location": FIRMWARE, "offline_policy": "fail"})
    assert status == 201 and failing["state"] == "failed" and failing["last_status"] == "offline"
    status, waiting = await api.post("/charge-points/CP1/firmware",
                                     {"location": FIRMWARE, "offline_policy": "wait"})
    assert status == 201 and waiting["state"] == "queued", waiting
    sim = sims(app, "CP1")
    await sim.start()  # its boot starts the waiting job
    await _job_ends(api, waiting["id"], "installed")
    assert sim.installed_firmware == FIRMWARE


async def test_status_for_another_chargers_job_is_ignored(app: App, api: Api,
                                                          sims: SimFactory) -> None:
    if _v16(sims):
        pytest.skip("SignedFirmwareStatusNotification is the 1.6 way; the 2.0.1 run covers it")
    await _online(app, sims, job_pause_after="Downloading")
    other = await _online(app, sims, "CP2")
    status, job = await api.post("/charge-points/CP1/firmware", SIGNED)
    await eventually(lambda: _state_is(api, job["id"], "downloading"))
    from ocpp.v201 import call
    await other.call(call.FirmwareStatusNotification(status="InstallationFailed",
                                                     request_id=job["id"]))
    assert (await api.get(f"/jobs/{job['id']}"))["state"] == "downloading"


async def _state_is(api: Api, job_id: int, state: str) -> bool:
    return bool((await api.get(f"/jobs/{job_id}"))["state"] == state)


async def test_rollout_respects_its_limit(app: App, api: Api, sims: SimFactory) -> None:
    """Four chargers, two at a time: each update holds at Downloading until the test lets it
    go on, so how many were started is counted, not timed."""
    chargers = [await _online(app, sims, f"CP{n}", job_pause_after="Downloading")
                for n in range(1, 5)]
    await register(app.pool, "CP5", None, {1: None}, security_profile=0)  # never connects
    status, rollout = await api.post("/rollouts", {
        "charge_points": ["CP1", "CP2", "CP3", "CP4", "CP5"], "firmware": SIGNED,
        "max_concurrent": 2, "offline_policy": "fail"})
    assert status == 201, rollout
    jobs = app.services.jobs
    assert jobs is not None
    action = "SignedUpdateFirmware" if _v16(sims) else "UpdateFirmware"

    def asked() -> list[SimulatedChargePoint]:
        return [sim for sim in chargers if any(name == action for name, _ in sim.calls)]

    async def counts() -> dict[str, int]:
        found = await api.get(f"/rollouts/{rollout['id']}")
        return {k: found[k] for k in ("queued", "active", "succeeded", "failed")}

    async def settled(queued: int, active: int, succeeded: int, failed: int = 0) -> bool:
        await jobs.schedule()
        return await counts() == {"queued": queued, "active": active, "succeeded": succeeded,
                                  "failed": failed}

    async def asked_of(count: int) -> bool:
        return len(asked()) == count

    await eventually(lambda: settled(3, 2, 0))
    await eventually(lambda: asked_of(2))
    for _ in range(3):  # more rounds start nobody else
        await jobs.schedule()
    assert len(asked()) == 2 and await settled(3, 2, 0)
    first = asked()
    first[0].job_resume.set()
    await eventually(lambda: settled(2, 2, 1))
    await eventually(lambda: asked_of(3))
    for sim in chargers:
        sim.job_resume.set()
    # CP5's turn comes last: offline, with policy "fail", its job fails and the rollout ends.
    await eventually(lambda: settled(0, 0, 4, 1))
    assert all(sim.installed_firmware == FIRMWARE for sim in chargers)

    async def finished() -> dict[str, Any] | None:
        await jobs.schedule()  # a round marks it
        found = await api.get(f"/rollouts/{rollout['id']}")
        return found if found["status"] == "finished" else None
    assert len((await eventually(finished))["items"]) == 5


async def test_bad_requests(app: App, api: Api) -> None:
    await register(app.pool, "CP1", None, {1: None}, security_profile=0)
    cases: list[tuple[str, Any, int, str]] = [
        ("/charge-points/CP1/firmware", {}, 400, "'location' is required"),
        ("/charge-points/CP1/firmware", {"location": "file:///etc/passwd"}, 400, "absolute URL"),
        ("/charge-points/CP1/firmware", {"location": FIRMWARE, "signature": "x"}, 400,
         "both"),
        ("/charge-points/CP1/firmware", {"location": FIRMWARE, "retrieve_at": "soon"}, 400,
         "RFC 3339"),
        ("/charge-points/CP1/firmware", {"location": FIRMWARE, "retries": -1}, 400,
         "non-negative"),
        ("/charge-points/NOPE/firmware", {"location": FIRMWARE}, 404, "unknown charge point"),
        ("/charge-points/CP1/logs", {"location": FIRMWARE, "log_type": "kernel"}, 400,
         "'log_type'"),
        ("/rollouts", {"firmware": {"location": FIRMWARE}}, 400, "either"),
        ("/rollouts", {"firmware": {"location": FIRMWARE}, "charge_points": ["CP1", "NOPE"]},
         400, "unknown charge points: NOPE"),
        ("/rollouts", {"firmware": {"location": FIRMWARE}, "charge_points": ["CP1"],
                       "max_concurrent": 0}, 400, "'max_concurrent'"),
    ]
    for path, body, code, reason in cases:
        status, answer = await api.post(path, body)
        assert status == code and reason in answer["error"], (path, body, answer)
    assert await api.items("/jobs") == []
    status, answer = await api.request("GET", "/jobs/abc")
    assert status == 400
    status, answer = await api.request("GET", "/jobs/99")
    assert status == 404


async def test_jobs_across_a_cluster(make_app: AppFactory, sims: SimFactory) -> None:
    """Asked on node a, the charger held by node b: the request (its dates) travels by the
    relay; its statuses, received by b, move the same job."""
    a = await make_app(node_id="a")
    b = await make_app(node_id="b")
    for task in b.tasks:  # only a schedules: b could otherwise send the jobs itself
        if "schedule_forever" in task.get_coro().__qualname__:  # type: ignore[union-attr]
            task.cancel()
    api = Api(f"http://127.0.0.1:{a.api.port}/api/v1")
    try:
        sim = await _online(b, sims)
        await eventually(lambda: _held_by(a, "b"))
        status, job = await api.post("/charge-points/CP1/firmware", SIGNED)
        assert status == 201, job
        await _job_ends(api, job["id"], "installed")
        status, log = await api.post("/charge-points/CP1/logs", {
            "location": "https://logs.example.com/up", "log_type": "security",
            "oldest": "2026-01-01T00:00:00Z"})
        await _job_ends(api, log["id"], "uploaded")
        assert (await sim.wait_for_call("GetLog"))["log"]["oldestTimestamp"] == \
            "2026-01-01T00:00:00.000Z"
    finally:
        await api.http.close()


async def _held_by(app: App, node_id: str) -> bool:
    return bool(await app.pool.fetchval("SELECT node_id FROM charge_points WHERE id = 'CP1'")
                == node_id)
