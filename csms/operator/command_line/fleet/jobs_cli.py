"""The `csms firmware` and `csms logs` commands: queue updates and uploads, list their jobs."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from csms.config import Settings
from csms.domain.fleet.jobs import create_rollout
from csms.operator.command_line.help_format import count
from csms.operator.command_line.tables import add_json_option, show
from csms.operator.http.fleet.jobs_api import InvalidRequest, firmware_request, log_request, rollout_options
from csms.storage.fleet import job_store


def _database(settings: Settings, work: Any) -> Any:
    from csms.operator.command_line.cli import _with_database  # the CLI's own way to its database

    return asyncio.run(_with_database(settings, work))


def _request_fields(args: argparse.Namespace, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


def _queue(settings: Settings, args: argparse.Namespace, job_request: Any) -> int:
    """Jobs queued here are sent by the running csms's scheduler (within jobs.scheduler_interval,
    or once a charger offline now boots)."""
    try:
        limit, policy = rollout_options(_request_fields(args, ("max_concurrent",
                                                               "offline_policy")))
    except InvalidRequest as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    async def work(pool: Any) -> tuple[int | None, list[str]]:
        ids = list(args.charge_points)
        if getattr(args, "site", None):
            ids += await job_store.charge_points_of_site(pool, args.site)
        unknown = sorted(set(ids) - await job_store.existing_charge_points(pool, ids))
        if unknown or not ids:
            return None, unknown
        return await create_rollout(pool, settings.jobs, ids, job_request, limit, policy), ids

    rollout_id, ids = _database(settings, work)
    if rollout_id is None:
        print("error: " + (f"unknown charge points: {', '.join(ids)}" if ids
                           else "no charge points given (ids or --site)"), file=sys.stderr)
        return 1
    print(f"rollout {rollout_id}: {len(ids)} job(s) queued; the running csms sends them")
    return 0


def _update(settings: Settings, args: argparse.Namespace) -> int:
    fields = _request_fields(args, ("location", "retrieve_at", "install_at", "retries",
                                    "retry_interval", "signature"))
    try:
        if args.signing_certificate:
            with open(args.signing_certificate, encoding="ascii") as handle:
                fields["signing_certificate"] = handle.read()
        job_request = firmware_request(fields)
    except (InvalidRequest, OSError, UnicodeDecodeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return _queue(settings, args, job_request)


def _get_log(settings: Settings, args: argparse.Namespace) -> int:
    fields = _request_fields(args, ("location", "log_type", "oldest", "latest", "retries",
                                    "retry_interval"))
    try:
        job_request = log_request(fields)
    except InvalidRequest as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return _queue(settings, args, job_request)


def _jobs(settings: Settings, args: argparse.Namespace) -> int:
    async def work(pool: Any) -> list[Any]:
        return await job_store.list_jobs(pool, args.charge_point, args.kind, args.rollout,
                                         args.limit)

    show([dict(job) for job in _database(settings, work)],
         [("JOB", "id"), ("CHARGE POINT", "charge_point_id"), ("KIND", "kind"),
          ("STATE", "state"), ("LAST STATUS", "last_status"), ("ROLLOUT", "rollout_id"),
          ("UPDATED", "updated_at")], args.as_json)
    return 0


def _show(settings: Settings, args: argparse.Namespace) -> int:
    async def work(pool: Any) -> Any:
        if args.what == "rollout":
            return await job_store.get_rollout(pool, args.id)
        return await job_store.get_job(pool, args.id)

    row = _database(settings, work)
    if row is None:
        print(f"no {args.what} {args.id}", file=sys.stderr)
        return 1
    print(json.dumps(dict(row), default=str, indent=2))
    return 0


def add_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    """`csms firmware …` and `csms logs …`, on the CLI's sub-command parser."""
    def targets(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--max-concurrent", type=int, dest="max_concurrent",
                         help="how many chargers at once (default: jobs.max_concurrent)")
        sub.add_argument("--offline-policy", choices=["wait", "fail"], dest="offline_policy",
                         help="a charger offline when its turn comes (default: "
                              "jobs.offline_policy)")

    firmware = commands.add_parser("firmware", parents=[common],
                                   help="firmware updates: rollouts and their jobs")
    firmware_commands = firmware.add_subparsers(dest="action", required=True)
    update = firmware_commands.add_parser(
        "update", parents=[common], help="update chargers' firmware (a rollout)")
    update.add_argument("charge_points", nargs="*", metavar="ID")
    update.add_argument("--site", help="every charge point of this site as well")
    update.add_argument("--location", required=True, help="URL the chargers download it from")
    update.add_argument("--retrieve-at", dest="retrieve_at", help="RFC 3339 (default: now)")
    update.add_argument("--install-at", dest="install_at", help="RFC 3339 (signed firmware)")
    update.add_argument("--retries", type=int)
    update.add_argument("--retry-interval", type=int, dest="retry_interval", help="seconds")
    update.add_argument("--signing-certificate", dest="signing_certificate", metavar="PEM_FILE",
                        help="the certificate the firmware is signed with (signed update)")
    update.add_argument("--signature", help="the firmware's signature, base64 (signed update)")
    targets(update)
    update.set_defaults(handler=_update)
    listing = firmware_commands.add_parser("jobs", parents=[common],
                                           help="firmware and log jobs, newest first")
    listing.add_argument("--charge-point", dest="charge_point")
    listing.add_argument("--kind", choices=["firmware", "log"])
    listing.add_argument("--rollout", type=int)
    listing.add_argument("--limit", type=count(1, 10000), default=100)
    add_json_option(listing)
    listing.set_defaults(handler=_jobs)
    for what in ("job", "rollout"):
        show = firmware_commands.add_parser(what, parents=[common], help=f"one {what}")
        show.add_argument("id", type=int)
        show.set_defaults(handler=_show, what=what)

    logs = commands.add_parser("logs", parents=[common], help="chargers' log uploads")
    log_commands = logs.add_subparsers(dest="action", required=True)
    get = log_commands.add_parser("get", parents=[common],
                                  help="have chargers upload a log (a job each)")
    get.add_argument("charge_points", nargs="+", metavar="ID")
    get.add_argument("--location", required=True, help="URL the chargers upload to")
    get.add_argument("--type", dest="log_type", choices=["diagnostics", "security"],
                     default="diagnostics")
    get.add_argument("--oldest", help="RFC 3339")
    get.add_argument("--latest", help="RFC 3339")
    get.add_argument("--retries", type=int)
    get.add_argument("--retry-interval", type=int, dest="retry_interval")
    targets(get)
    get.set_defaults(handler=_get_log)
