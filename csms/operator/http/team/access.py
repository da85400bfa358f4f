"""Who may call which admin API route: roles, the route table, and who a request comes from."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from aiohttp import web


class Role(IntEnum):
    """Ordered: a role may do all that the ones below it may."""

    VIEWER = 1  # reads
    OPERATOR = 2  # commands, charging tokens, tariffs, sites, partners
    ADMIN = 3  # everything, users and API tokens included

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Role:
        try:
            return cls[text.upper()]
        except KeyError:
            raise ValueError(f"a role is admin, operator or viewer, not {text!r}") from None


ROLE_NAMES = tuple(role.label for role in sorted(Role, reverse=True))

PUBLIC = None  # no credentials at all: probes, the API's description, the console's files, login
VIEWER, OPERATOR, ADMIN = Role.VIEWER, Role.OPERATOR, Role.ADMIN

# The role each route needs, by method and path (below /api/v1 unless it starts with "!").
# A route not in this table needs ADMIN (see `required`), and tests/operators/test_users.py fails for it:
# a new route is given its line here.
ROUTES: dict[tuple[str, str], Role | None] = {
    ("GET", "!/"): PUBLIC,
    ("GET", "!/healthz"): PUBLIC,
    ("GET", "!/readyz"): PUBLIC,
    ("GET", "!/metrics"): VIEWER,
    ("GET", "/openapi.json"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("POST", "/logout"): VIEWER,
    ("GET", "/me"): VIEWER,
    ("GET", "/events"): VIEWER,
    ("GET", "/partners"): VIEWER,
    # charge points
    ("GET", "/charge-points"): VIEWER,
    ("POST", "/charge-points"): OPERATOR,
    ("GET", "/charge-points/{cp}"): VIEWER,
    ("GET", "/charge-points/{cp}/evses"): VIEWER,
    ("GET", "/charge-points/{cp}/reports"): VIEWER,
    ("GET", "/charge-points/{cp}/messages"): VIEWER,
    ("GET", "/security-events"): VIEWER,
    ("POST", "/charge-points/{cp}/reset"): OPERATOR,
    ("POST", "/charge-points/{cp}/password"): OPERATOR,
    ("POST", "/charge-points/{cp}/availability"): OPERATOR,
    ("POST", "/charge-points/{cp}/trigger"): OPERATOR,
    ("GET", "/charge-points/{cp}/configuration"): OPERATOR,  # asks the charger
    ("POST", "/charge-points/{cp}/configuration"): OPERATOR,
    ("GET", "/charge-points/{cp}/configuration/known"): VIEWER,
    ("POST", "/charge-points/{cp}/evses/{evse}/start"): OPERATOR,
    ("POST", "/charge-points/{cp}/evses/{evse}/unlock"): OPERATOR,
    ("POST", "/charge-points/{cp}/evses/{evse}/reserve"): OPERATOR,
    ("POST", "/charge-points/{cp}/reserve"): OPERATOR,
    ("POST", "/charge-points/{cp}/registration"): OPERATOR,
    # Any OCPP action with any payload: past every check the named routes make.
    ("POST", "/charge-points/{cp}/commands/{action}"): ADMIN,
    ("POST", "/charge-points/{cp}/clear-cache"): OPERATOR,
    ("POST", "/charge-points/{cp}/data-transfer"): OPERATOR,
    ("GET", "/charge-points/{cp}/local-list"): VIEWER,
    ("POST", "/charge-points/{cp}/local-list/sync"): OPERATOR,
    ("GET", "/charge-points/{cp}/certificates"): VIEWER,
    ("POST", "/charge-points/{cp}/certificates"): OPERATOR,
    ("POST", "/charge-points/{cp}/certificates/refresh"): OPERATOR,
    ("POST", "/charge-points/{cp}/certificates/delete"): OPERATOR,
    ("POST", "/charge-points/{cp}/certificates/renew"): OPERATOR,
    ("POST", "/charge-points/{cp}/security-profile"): OPERATOR,
    ("GET", "/charge-points/{cp}/charging-profiles"): VIEWER,
    ("POST", "/charge-points/{cp}/charging-profiles"): OPERATOR,
    ("POST", "/charge-points/{cp}/charging-profiles/clear"): OPERATOR,
    ("GET", "/charge-points/{cp}/composite-schedule"): OPERATOR,  # asks the charger
    ("POST", "/charge-points/{cp}/firmware"): OPERATOR,
    ("POST", "/charge-points/{cp}/logs"): OPERATOR,
    ("GET", "/charge-points/{cp}/jobs"): VIEWER,
    ("POST", "/rollouts"): OPERATOR,
    ("GET", "/rollouts/{id}"): VIEWER,
    ("GET", "/jobs"): VIEWER,
    ("GET", "/jobs/{id}"): VIEWER,
    # the device model (OCPP 2.0.1)
    ("GET", "/charge-points/{cp}/device-model"): VIEWER,
    ("POST", "/charge-points/{cp}/device-model/report"): OPERATOR,
    ("GET", "/charge-points/{cp}/device-model/requests"): VIEWER,
    ("GET", "/charge-points/{cp}/device-model/requests/{request_id}"): VIEWER,
    ("POST", "/charge-points/{cp}/device-model/variables/get"): OPERATOR,
    ("POST", "/charge-points/{cp}/device-model/variables/set"): OPERATOR,
    ("GET", "/charge-points/{cp}/monitors"): VIEWER,
    ("POST", "/charge-points/{cp}/monitors"): OPERATOR,
    ("POST", "/charge-points/{cp}/monitors/clear"): OPERATOR,
    ("POST", "/charge-points/{cp}/monitors/report"): OPERATOR,
    ("POST", "/charge-points/{cp}/monitoring/base"): OPERATOR,
    ("POST", "/charge-points/{cp}/monitoring/level"): OPERATOR,
    ("GET", "/charge-points/{cp}/device-events"): VIEWER,
    ("GET", "/charge-points/{cp}/display-messages"): VIEWER,
    ("POST", "/charge-points/{cp}/display-messages"): OPERATOR,
    ("POST", "/charge-points/{cp}/display-messages/report"): OPERATOR,
    ("POST", "/charge-points/{cp}/display-messages/{id}/clear"): OPERATOR,
    ("POST", "/charge-points/{cp}/customer-information"): OPERATOR,
    # reservations, sessions, charging tokens, roaming
    ("POST", "/reservations/{id}/cancel"): OPERATOR,
    ("GET", "/sessions"): VIEWER,
    ("GET", "/sessions/{id}"): VIEWER,
    ("GET", "/sessions/{id}/meter-values"): VIEWER,
    ("POST", "/sessions/{id}/stop"): OPERATOR,
    ("POST", "/sessions/{id}/close"): OPERATOR,
    ("GET", "/tokens"): VIEWER,
    ("POST", "/tokens"): OPERATOR,
    ("GET", "/tokens/{uid}"): VIEWER,
    ("POST", "/tokens/{uid}/block"): OPERATOR,
    ("POST", "/tokens/{uid}/unblock"): OPERATOR,
    ("POST", "/tokens/{uid}/group"): OPERATOR,
    ("GET", "/outbox"): VIEWER,
    ("POST", "/outbox/{id}/retry"): OPERATOR,
    # users, API tokens, the audit log
    ("GET", "/users"): ADMIN,
    ("POST", "/users"): ADMIN,
    ("POST", "/users/{name}/role"): ADMIN,
    ("POST", "/users/{name}/disable"): ADMIN,
    ("POST", "/users/{name}/enable"): ADMIN,
    ("POST", "/users/{name}/password"): ADMIN,
    ("GET", "/api-tokens"): ADMIN,
    ("POST", "/api-tokens"): ADMIN,
    ("POST", "/api-tokens/{id}/revoke"): ADMIN,
    ("GET", "/audit"): ADMIN,
    # a site's grid limit and its EVSEs' share settings
    ("GET", "/sites/{site}/limit"): VIEWER,
    ("PUT", "/sites/{site}/limit"): OPERATOR,
    ("DELETE", "/sites/{site}/limit"): OPERATOR,
    ("PUT", "/charge-points/{cp}/evses/{evse}/energy"): OPERATOR,
    ("DELETE", "/charge-points/{cp}/evses/{evse}/energy"): OPERATOR,
    ("GET", "/sites/{site_id}/allocation"): VIEWER,
    ("GET", "/charge-points/{cp}/allowances"): VIEWER,
    # tariffs and which EVSEs they price
    ("GET", "/tariffs"): VIEWER,
    ("GET", "/tariffs/{id}"): VIEWER,
    ("PUT", "/tariffs/{id}"): OPERATOR,
    ("DELETE", "/tariffs/{id}"): OPERATOR,
    ("GET", "/tariff-assignments"): VIEWER,
    ("PUT", "/tariff-assignments"): OPERATOR,
    # the CDRs we sent, and their correction
    ("GET", "/cdrs"): VIEWER,
    ("GET", "/cdrs/{id}"): VIEWER,
    ("POST", "/cdrs/{id}/credit"): OPERATOR,
    # the console's overview
    ("GET", "/overview"): VIEWER,
    ("GET", "/sessions/{id}/details"): VIEWER,
}


# Reads that ask a charger: commands, so audited like every change (auditing.audited).
READS_THAT_ASK_A_CHARGER = frozenset({("GET", "/charge-points/{cp}/configuration"),
                                      ("GET", "/charge-points/{cp}/composite-schedule")})


def route_key(method: str, canonical: str, prefix: str = "/api/v1") -> tuple[str, str]:
    """The table's key for a route of the router (its method and canonical path)."""
    path = canonical.removeprefix(prefix) if canonical.startswith(prefix + "/") else "!" + canonical
    return ("GET" if method == "HEAD" else method, path)


def declared(method: str, canonical: str) -> bool:
    return route_key(method, canonical) in ROUTES


def required(method: str, canonical: str) -> Role | None:
    """The role a route needs; None: public. Not in the table: ADMIN (denied to all others)."""
    return ROUTES.get(route_key(method, canonical), ADMIN)


@dataclass(frozen=True)
class Principal:
    """Who a request comes from, as the audit log names them."""

    name: str  # a user's name, a token's name, or "api.token"
    kind: str  # user, token (an API token), config (api.token)
    role: Role
    via: str = "api"  # api (a bearer token) or console (its cookie)
    user_id: int | None = None
    token_id: int | None = None


BOOTSTRAP = "api.token"
PRINCIPAL = web.RequestKey("principal", Principal)  # set on each authenticated request


def refusal(principal: Principal, needed: Role) -> str | None:
    """Why the principal may not call a route needing `needed`, or None."""
    if principal.role >= needed:
        return None
    return (f"{principal.kind} {principal.name!r} has the role {principal.role.label}; "
            f"this needs {needed.label}")
