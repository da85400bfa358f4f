"""The admin API's firmware updates, log uploads, their jobs and rollouts (routes and description)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from csms.domain.fleet.jobs import FirmwareRequest, JobKind, JobService, LogRequest, LogType, OfflinePolicy
from csms.ocpp.translations.meter import parse_timestamp
from csms.operator.http.api import PREFIX, AdminApi, BadRequest, body, problem, query_int, record, reply
from csms.operator.http.openapi import _body, _json, _list, _path_param, _query, _read
from csms.operator.http.paging import answer, page_of
from csms.operator.http.schemas import JOB_KINDS, ref
from csms.storage import store
from csms.storage.fleet import job_store

# Where a charger may fetch firmware from or upload its logs to (the charger goes there, not we).
SCHEMES = ("http", "https", "ftp", "ftps", "sftp")
# The limits of OCPP's schemas (2.0.1 FirmwareType / LogParametersType, 1.6 security whitepaper).
MAX_LOCATION, MAX_CERTIFICATE, MAX_SIGNATURE = 512, 5500, 800


class InvalidRequest(ValueError):
    """A firmware or log request that cannot be sent as given; the message says why."""


def _text(data: dict[str, Any], name: str, limit: int, required: bool = False) -> str | None:
    value = data.get(name)
    if value is None:
        if required:
            raise InvalidRequest(f"'{name}' is required")
        return None
    if not isinstance(value, str) or not value:
        raise InvalidRequest(f"'{name}' must be a non-empty string")
    if len(value) > limit:
        raise InvalidRequest(f"'{name}' must be at most {limit} characters")
    return value


def _location(data: dict[str, Any]) -> str:
    location = _text(data, "location", MAX_LOCATION, required=True)
    assert location is not None
    parts = urlsplit(location)
    if parts.scheme.lower() not in SCHEMES or not parts.hostname:
        raise InvalidRequest(f"'location' must be an absolute URL ({', '.join(SCHEMES)})")
    return location


def _when(data: dict[str, Any], name: str) -> datetime | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"'{name}' must be a date-time string")
    try:
        return parse_timestamp(value)
    except ValueError:
        raise InvalidRequest(f"'{name}' must be an RFC 3339 date-time, e.g. "
                             "2026-01-31T02:00:00Z") from None


def _count(data: dict[str, Any], name: str) -> int | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 2**31 - 1:
        raise InvalidRequest(f"'{name}' must be a non-negative integer")
    return value


def firmware_request(data: dict[str, Any]) -> FirmwareRequest:
    """A firmware request from the API's (or CLI's) fields; signed when both the signing
    certificate and the signature are given (1.6 security whitepaper, 2.0.1 L01)."""
    certificate = _text(data, "signing_certificate", MAX_CERTIFICATE)
    signature = _text(data, "signature", MAX_SIGNATURE)
    if (certificate is None) != (signature is None):
        raise InvalidRequest("signed firmware needs both 'signing_certificate' and 'signature'")
    retrieve_at = _when(data, "retrieve_at") or datetime.now(UTC)
    install_at = _when(data, "install_at")
    if install_at is not None and certificate is None:
        raise InvalidRequest("'install_at' is for signed firmware only (1.6 core has no "
                             "install date)")
    if install_at is not None and install_at < retrieve_at:
        raise InvalidRequest("'install_at' must not be before 'retrieve_at'")
    return FirmwareRequest(_location(data), retrieve_at, install_at, _count(data, "retries"),
                           _count(data, "retry_interval"), certificate, signature)


def log_request(data: dict[str, Any]) -> LogRequest:
    log_type = data.get("log_type", "diagnostics")
    if log_type not in (LogType.DIAGNOSTICS, LogType.SECURITY):
        raise InvalidRequest("'log_type' must be 'diagnostics' or 'security'")
    oldest, latest = _when(data, "oldest"), _when(data, "latest")
    if oldest is not None and latest is not None and latest < oldest:
        raise InvalidRequest("'latest' must not be before 'oldest'")
    return LogRequest(_location(data), LogType(log_type), oldest, latest,
                      _count(data, "retries"), _count(data, "retry_interval"))


def rollout_options(data: dict[str, Any]) -> tuple[int | None, OfflinePolicy | None]:
    limit = data.get("max_concurrent")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool)
                              or not 1 <= limit <= 10000):
        raise InvalidRequest("'max_concurrent' must be an integer from 1 to 10000")
    policy = data.get("offline_policy")
    if policy is not None and policy not in (OfflinePolicy.WAIT, OfflinePolicy.FAIL):
        raise InvalidRequest("'offline_policy' must be 'wait' or 'fail'")
    return limit, OfflinePolicy(policy) if policy is not None else None


class JobsApi:
    """Registered on the admin API; errors answer as its own (400 with a reason, 404)."""

    def __init__(self, api: AdminApi, jobs: JobService) -> None:
        self.api = api
        self.jobs = jobs
        r = api.app.router
        r.add_post(f"{PREFIX}/charge-points/{{cp}}/firmware", self.update_firmware)
        r.add_post(f"{PREFIX}/charge-points/{{cp}}/logs", self.get_log)
        r.add_get(f"{PREFIX}/charge-points/{{cp}}/jobs", self.charge_point_jobs)
        r.add_post(f"{PREFIX}/rollouts", self.start_rollout)
        r.add_get(f"{PREFIX}/rollouts/{{id}}", self.get_rollout)
        r.add_get(f"{PREFIX}/jobs", self.list_jobs)
        r.add_get(f"{PREFIX}/jobs/{{id}}", self.get_job)

    @staticmethod
    def _bad(error: InvalidRequest) -> web.Response:
        return problem(400, str(error))

    @staticmethod
    def _id(request: web.Request) -> int:
        try:
            value = int(request.match_info["id"])
        except ValueError:
            raise BadRequest("the id must be an integer") from None
        if not 0 < value < 2**63:
            raise BadRequest("the id is out of range")
        return value

    async def _one_charger(self, request: web.Request,
                           make: Any) -> web.Response:
        charge_point_id = request.match_info["cp"]
        data = await body(request)
        try:
            job_request = make(data)
            _, policy = rollout_options(data)
        except InvalidRequest as error:
            return self._bad(error)
        if await store.get_charge_point(self.api.pool, charge_point_id) is None:
            return problem(404, "unknown charge point")
        rollout_id = await self.jobs.create([charge_point_id], job_request, 1, policy)
        await self.jobs.schedule(wait=True)  # sent now if it can be (another node's round may be first)
        job = (await job_store.list_jobs(self.api.pool, rollout_id=rollout_id))[0]
        return reply(record(job), 201)

    async def update_firmware(self, request: web.Request) -> web.Response:
        return await self._one_charger(request, firmware_request)

    async def get_log(self, request: web.Request) -> web.Response:
        return await self._one_charger(request, log_request)

    async def charge_point_jobs(self, request: web.Request) -> web.Response:
        charge_point_id = request.match_info["cp"]
        page, kind = page_of(request), self._kind(request)
        if await store.get_charge_point(self.api.pool, charge_point_id) is None:
            return problem(404, "unknown charge point")
        rows, total = await job_store.page_jobs(self.api.pool, charge_point_id, kind, None,
                                                page.limit, page.offset)
        return reply(answer([record(row) for row in rows], total, page))

    @staticmethod
    def _kind(request: web.Request) -> str | None:
        kind = request.query.get("kind")
        if kind is not None and kind not in (JobKind.FIRMWARE, JobKind.LOG):
            raise BadRequest("query parameter 'kind' must be 'firmware' or 'log'")
        return kind

    async def start_rollout(self, request: web.Request) -> web.Response:
        data = await body(request)
        try:
            firmware = data.get("firmware")
            if not isinstance(firmware, dict):
                raise InvalidRequest("'firmware' (an object: location, …) is required")
            job_request = firmware_request(firmware)
            limit, policy = rollout_options(data)
            charge_points = await self._targets(data)
        except InvalidRequest as error:
            return self._bad(error)
        rollout_id = await self.jobs.create(charge_points, job_request, limit, policy)
        await self.jobs.schedule(wait=True)
        rollout = await self._rollout(rollout_id)
        return reply(rollout, 201) if rollout else problem(404, "unknown rollout")

    async def _targets(self, data: dict[str, Any]) -> list[str]:
        """The chargers a rollout goes to: a list of ids, or every one of a site."""
        ids, site = data.get("charge_points"), data.get("site")
        if (ids is None) == (site is None):
            raise InvalidRequest("give either 'charge_points' (a list of ids) or 'site'")
        if site is not None:
            if not isinstance(site, str):
                raise InvalidRequest("'site' must be a string")
            found = await job_store.charge_points_of_site(self.api.pool, site)
            if not found:
                raise InvalidRequest(f"no charge points at site {site!r}")
            return found
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
            raise InvalidRequest("'charge_points' must be a non-empty list of ids")
        if len(ids) > 100000:
            raise InvalidRequest("'charge_points' may name at most 100000 chargers")
        unknown = sorted(set(ids) - await job_store.existing_charge_points(self.api.pool, ids))
        if unknown:
            raise InvalidRequest(f"unknown charge points: {', '.join(unknown[:10])}")
        return list(ids)

    async def _rollout(self, rollout_id: int) -> dict[str, Any] | None:
        row = await job_store.get_rollout(self.api.pool, rollout_id)
        if row is None:
            return None
        jobs = await job_store.list_jobs(self.api.pool, rollout_id=rollout_id, limit=100000)
        return {**record(row), "items": [record(job) for job in reversed(jobs)]}

    async def get_rollout(self, request: web.Request) -> web.Response:
        rollout = await self._rollout(self._id(request))
        return reply(rollout) if rollout else problem(404, "unknown rollout")

    async def list_jobs(self, request: web.Request) -> web.Response:
        rollout = query_int(request, "rollout", None, 1, 2**63 - 1)
        page = page_of(request)
        rows, total = await job_store.page_jobs(self.api.pool, request.query.get("charge_point"),
                                                self._kind(request), rollout, page.limit,
                                                page.offset)
        return reply(answer([record(row) for row in rows], total, page))

    async def get_job(self, request: web.Request) -> web.Response:
        job = await job_store.get_job(self.api.pool, self._id(request))
        return reply(record(job)) if job else problem(404, "unknown job")


def openapi_paths() -> dict[str, Any]:
    """This module's part of the admin API's OpenAPI description."""
    cp = _path_param("cp")
    job = ref("Job")
    kind = _query("kind", values=JOB_KINDS)
    moment = {"type": "string", "format": "date-time"}
    count = {"type": "integer", "minimum": 0}
    firmware = {"location": {"type": "string", "maxLength": MAX_LOCATION},
                "retrieve_at": moment, "install_at": moment, "retries": count,
                "retry_interval": count,
                "signing_certificate": {"type": "string", "maxLength": MAX_CERTIFICATE},
                "signature": {"type": "string", "maxLength": MAX_SIGNATURE}}
    policy = {"offline_policy": {"type": "string", "enum": ["wait", "fail"]}}

    def created(summary: str, params: list[dict[str, Any]], body: dict[str, Any],
                what: str, schema: dict[str, Any] = job) -> dict[str, Any]:
        return {"summary": summary, "parameters": params, "requestBody": body,
                "responses": {"201": _json(schema, what),
                              "400": _json(ref("Error"), "Bad request"),
                              "401": _json(ref("Error"), "No or wrong token"),
                              "404": _json(ref("Error"), "Unknown charge point")}}

    return {
        "/charge-points/{cp}/firmware": {"post": created(
            "Update the charger's firmware (signed with signing_certificate and signature): a "
            "job, sent at once if the charger is online", [cp],
            _body({**firmware, **policy}, ["location"]), "The job")},
        "/charge-points/{cp}/logs": {"post": created(
            "Have the charger upload its diagnostics or security log to location: a job", [cp],
            _body({"location": {"type": "string", "maxLength": MAX_LOCATION},
                   "log_type": {"type": "string", "enum": ["diagnostics", "security"]},
                   "oldest": moment, "latest": moment, "retries": count,
                   "retry_interval": count, **policy}, ["location"]), "The job")},
        "/charge-points/{cp}/jobs": {"get": _list(
            "The charger's firmware and log jobs, newest first", "Job", [cp, kind])},
        "/rollouts": {"post": created(
            "Update many chargers (a list or a site's), at most max_concurrent at once", [],
            _body({"charge_points": {"type": "array", "items": {"type": "string"}},
                   "site": {"type": "string"},
                   "firmware": {"type": "object", "properties": firmware,
                                "required": ["location"]},
                   "max_concurrent": {"type": "integer", "minimum": 1}, **policy},
                  ["firmware"]), "The rollout with its jobs", ref("Rollout"))},
        "/rollouts/{id}": {"get": _read("A rollout: counts by state and its jobs",
                                        ref("Rollout"), [_path_param("id", "integer")])},
        "/jobs": {"get": _list("Firmware and log jobs, newest first", "Job", [
            _query("charge_point"), kind, _query("rollout", "integer")])},
        "/jobs/{id}": {"get": _read("One job", job, [_path_param("id", "integer")])},
    }
