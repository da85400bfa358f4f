"""The admin API's registration policy route: Accepted, Pending with an interval, or Rejected per charger."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from csms.domain.charge_points import set_registration

if TYPE_CHECKING:
    from csms.operator.http.api import AdminApi


def routes(api: AdminApi) -> None:
    from csms.operator.http.api import PREFIX

    async def registration(request: web.Request) -> web.Response:
        from csms.operator.http.api import BadRequest, body, field, reply

        data = await body(request)
        policy = field(data, "registration", str)
        interval = field(data, "interval", int, None)
        charge_point_id = request.match_info["cp"]
        try:
            row = await set_registration(api.pool, charge_point_id, policy, interval)
        except ValueError as exc:
            raise BadRequest(f"'registration' or 'interval': {exc}") from None
        if row is None:
            raise web.HTTPNotFound(reason=f"unknown charge point {charge_point_id!r}")
        answer: dict[str, Any] = {"registration": policy, "interval": interval,
                                  "boot_triggered": None}
        # Accepted now, but told otherwise at its last boot: ask it to boot again at once
        # (TriggerMessage BootNotification) rather than wait out its interval.
        if (policy == "accepted" and row["boot_status"] not in (None, "Accepted")
                and await api.commands.online(charge_point_id)):
            result = await api.commands.trigger(charge_point_id, "BootNotification")
            answer["boot_triggered"] = result.outcome.value
        return reply(answer)

    api.app.router.add_post(f"{PREFIX}/charge-points/{{cp}}/registration", registration)
