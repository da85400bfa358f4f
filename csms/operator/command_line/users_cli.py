"""`csms users` and `csms audit`: users, roles, API tokens, the audit log; the CLI's own audit rows."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from csms.config import Settings
from csms.ocpp.translations.meter import format_timestamp, parse_timestamp
from csms.operator.command_line import tables
from csms.operator.http.team.access import ROLE_NAMES
from csms.security.credentials import hash_password
from csms.security.masking import mask_parameters
from csms.storage import user_store
from csms.storage.user_store import UserError, check_password

if TYPE_CHECKING:
    from argparse import _SubParsersAction


class Refused(Exception):
    """The command cannot be done as given: one line on stderr, exit 2."""


def _database(settings: Settings, work: Any) -> Any:
    from csms.operator.command_line.cli import _with_database

    return asyncio.run(_with_database(settings, work))


def _columns(*fields: str) -> list[tables.Column]:
    return [(field.upper(), field) for field in fields]


def _read_password(args: argparse.Namespace) -> str:
    """From stdin (--password-stdin: one line), else asked twice at the terminal; never echoed."""
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            raise Refused("the passwords differ")
    else:
        raise Refused("no terminal to ask the password at: give it on stdin with --password-stdin")
    try:
        return check_password(password)
    except UserError as exc:
        raise Refused(str(exc)) from None


def _handled(work: Any) -> Any:
    def handler(settings: Settings, args: argparse.Namespace) -> int:
        try:
            return int(work(settings, args))
        except (Refused, UserError) as exc:
            print(str(exc), file=sys.stderr)
            return 2
    return handler


def _add(settings: Settings, args: argparse.Namespace) -> int:
    user_store.check_name(args.name)
    hashed = hash_password(_read_password(args))
    _database(settings, lambda pool: user_store.add_user(pool, args.name, args.role, hashed))
    print(f"user {args.name} added with the role {args.role}")
    return 0


def _list(settings: Settings, args: argparse.Namespace) -> int:
    rows = _database(settings, user_store.list_users)
    tables.show([dict(row) for row in rows], _columns("name", "role", "created_at", "disabled_at"),
                args.as_json)
    return 0


def _set_role(settings: Settings, args: argparse.Namespace) -> int:
    _database(settings, lambda pool: user_store.set_role(pool, args.name, args.role))
    print(f"user {args.name} now has the role {args.role}")
    return 0


def _disable(settings: Settings, args: argparse.Namespace) -> int:
    disabled = args.action == "disable"
    _database(settings, lambda pool: user_store.set_disabled(pool, args.name, disabled))
    print(f"user {args.name} {'disabled: logged out, tokens refused' if disabled else 'enabled'}")
    return 0


def _reset_password(settings: Settings, args: argparse.Namespace) -> int:
    hashed = hash_password(_read_password(args))
    _database(settings, lambda pool: user_store.set_password(pool, args.name, hashed))
    print(f"password of {args.name} set; their console logins ended")
    return 0


def _token_add(settings: Settings, args: argparse.Namespace) -> int:
    expires_at = None
    if args.expires_at:
        try:
            expires_at = parse_timestamp(args.expires_at)
        except ValueError:
            raise Refused("--expires-at is an RFC 3339 timestamp, e.g. 2027-01-31T00:00:00Z") \
                from None
    elif args.expires_in_days:
        expires_at = datetime.now(UTC) + timedelta(days=args.expires_in_days)
    token, row = _database(settings, lambda pool: user_store.add_token(
        pool, args.name, args.role, args.user, expires_at, cli_actor()))
    print(f"API token {row['id']} ({args.name}, {args.role}"
          f"{', expires ' + format_timestamp(expires_at) if expires_at else ''}); "
          "shown this once, keep it now:", file=sys.stderr)
    print(token)
    return 0


def _token_list(settings: Settings, args: argparse.Namespace) -> int:
    rows = _database(settings, user_store.list_tokens)
    tables.show([dict(row) for row in rows], _columns("id", "name", "user", "role", "prefix",
                                                      "expires_at", "revoked_at", "last_used_at"),
                args.as_json)
    return 0


def _token_revoke(settings: Settings, args: argparse.Namespace) -> int:
    row = _database(settings, lambda pool: user_store.revoke_token(pool, args.id))
    if row is None:
        raise Refused(f"no API token {args.id}")
    print(f"API token {args.id} ({row['name']}) revoked")
    return 0


def _audit(settings: Settings, args: argparse.Namespace) -> int:
    try:
        since = parse_timestamp(args.since) if args.since else None
        until = parse_timestamp(args.until) if args.until else None
    except ValueError:
        raise Refused("--since and --until are RFC 3339 timestamps") from None
    rows, total = _database(settings, lambda pool: user_store.list_audit(
        pool, args.user, args.resource, args.action, since, until, args.limit, args.offset))
    columns = _columns("at", "actor", "via", "action", "target", "outcome", "result", "parameters")
    tables.show([dict(row) for row in rows], columns, args.as_json)
    if not args.as_json:
        print(f"{len(rows)} of {total} (from {args.offset})", file=sys.stderr)
    return 0


def add_commands(commands: _SubParsersAction[Any], common: argparse.ArgumentParser) -> None:
    users = commands.add_parser("users", parents=[common],
                                help="people and integrations that use the admin API and console")
    actions = users.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", parents=[common],
                             help="add a user (the first admin: `csms users add NAME --role admin`)")
    add.add_argument("name")
    add.add_argument("--role", choices=ROLE_NAMES, default="viewer",
                     help="admin: everything; operator: commands, tokens, tariffs, sites, "
                          "partners; viewer: reads")
    for sub in (add, reset := actions.add_parser(
            "reset-password", parents=[common],
            help="set a user's password (their console logins end)")):
        sub.add_argument("--password-stdin", action="store_true",
                         help="read the password from stdin (one line) instead of asking")
    reset.add_argument("name")
    add.set_defaults(handler=_handled(_add))
    reset.set_defaults(handler=_handled(_reset_password))
    listing = actions.add_parser("list", parents=[common],
                                 help="users and their roles")
    tables.add_json_option(listing)
    listing.set_defaults(handler=_handled(_list))
    role = actions.add_parser("set-role", parents=[common],
                              help="change a user's role")
    role.add_argument("name")
    role.add_argument("role", choices=ROLE_NAMES)
    role.set_defaults(handler=_handled(_set_role))
    for name, text in (("disable", "disable a user: logged out, their tokens refused"),
                       ("enable", "enable a disabled user")):
        sub = actions.add_parser(name, parents=[common], help=text)
        sub.add_argument("name")
        sub.set_defaults(handler=_handled(_disable))

    token = actions.add_parser("token", parents=[common],
                               help="API tokens of users and integrations")
    token_actions = token.add_subparsers(dest="token_action", required=True)
    token_add = token_actions.add_parser(
        "add", parents=[common],
        help="create a token (printed once on stdout; only its hash is kept)")
    token_add.add_argument("name", help="what the token is for, e.g. ci-deploy")
    token_add.add_argument("--role", choices=ROLE_NAMES, default="viewer",
                           help="its role (a user's token never has more than the user)")
    token_add.add_argument("--user", help="the user it belongs to (none: an integration's token)")
    token_add.add_argument("--expires-at", help="RFC 3339 time it stops working")
    token_add.add_argument("--expires-in-days", type=int, help="days until it stops working")
    token_add.set_defaults(handler=_handled(_token_add))
    token_list = token_actions.add_parser("list", parents=[common],
                                          help="API tokens (never the tokens themselves)")
    tables.add_json_option(token_list)
    token_list.set_defaults(handler=_handled(_token_list))
    revoke = token_actions.add_parser("revoke", parents=[common],
                                      help="revoke an API token")
    revoke.add_argument("id", type=int)
    revoke.set_defaults(handler=_handled(_token_revoke))

    audit = commands.add_parser("audit", parents=[common],
                                help="the audit log: every change and command, newest first")
    audit.add_argument("--user", help="who: a user, token name, api.token or cli:NAME")
    audit.add_argument("--resource", help="charge-points, sessions, tokens, users, …")
    audit.add_argument("--action", help="a part of the action, e.g. reset")
    audit.add_argument("--since", help="RFC 3339 time")
    audit.add_argument("--until", help="RFC 3339 time")
    audit.add_argument("--limit", type=int, default=50)
    audit.add_argument("--offset", type=int, default=0)
    tables.add_json_option(audit)
    audit.set_defaults(handler=_handled(_audit))


# --- the CLI's audit rows ---------------------------------------------------------------------------

# Sub-commands that only read (or serve): every other command of `csms` is recorded.
READS = frozenset({"list", "show", "partners", "costs", "composite", "inventory", "requests",
                   "events", "monitors", "display-messages", "jobs", "job", "run", "migrate",
                   "check-config", "settings", "audit", "show-limit"})
_NOT_PARAMETERS = frozenset({"handler", "config", "command", "action", "what", "token_action"})


def cli_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


def command_words(args: argparse.Namespace) -> list[str]:
    """The command as typed: `users token add`, `charge-points reset`, …"""
    return [str(value) for value in (getattr(args, name, None) for name in (
        "command", "action", "what", "token_action")) if value]


def audited(args: argparse.Namespace) -> bool:
    words = command_words(args)
    return bool(words) and not READS.intersection(words)


async def record(url: str, args: argparse.Namespace, exit_code: int, result: str | None) -> None:
    """The command's row in the audit log (the CLI's user, its arguments with secrets masked)."""
    from csms.storage.database import create_pool

    words = command_words(args)
    parameters = mask_parameters({k: v for k, v in vars(args).items()
                                  if k not in _NOT_PARAMETERS})
    pool = await create_pool(url, 1, 1)
    try:
        await user_store.audit(pool, cli_actor(), "cli", "cli", None, words[0],
                               " ".join(words), None, parameters, exit_code, result)
    finally:
        await pool.close()


def run_audited(settings: Settings, args: argparse.Namespace) -> int:
    """Runs the command; one that may change something leaves its row in the audit log, however
    it ended (done once here for every command, as the admin API's middleware does for routes)."""
    if not audited(args):
        return int(args.handler(settings, args))
    code, result = 1, None
    try:
        code = int(args.handler(settings, args))
        return code
    except BaseException as exc:
        result = f"{type(exc).__name__}: {exc}"[:300]
        raise
    finally:
        _record_quietly(settings, args, code, result)


def _record_quietly(settings: Settings, args: argparse.Namespace, code: int,
                    result: str | None) -> None:
    import asyncpg

    from csms.storage.database import DatabaseUnavailable, database_url

    try:
        asyncio.run(record(database_url(settings.database, create=False), args, code, result))
    except (DatabaseUnavailable, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        if code == 0:  # it did something, and no row tells: say so
            print(f"warning: not recorded in the audit log: {exc}", file=sys.stderr)
