"""Admin API routes for chargers' certificates and security profiles."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from aiohttp import web

from csms.domain.fleet.certificates import CertificateUse, parse_use
from csms.operator.http.api import PREFIX, BadRequest, body, command_reply, field, record, reply
from csms.operator.http.paging import page_of, sliced
from csms.storage import store
from csms.storage.fleet import certificate_store

if TYPE_CHECKING:
    from csms.operator.http.api import AdminApi

INSTALLABLE = ("csms_root", "manufacturer_root", "v2g_root", "mo_root")
HEX = re.compile(r"[0-9A-Fa-f]{1,128}")


def uses(values: Any) -> list[CertificateUse]:
    if not isinstance(values, list) or not all(isinstance(v, str) and parse_use(v)
                                               for v in values):
        raise BadRequest("'types' must be a list of: " + ", ".join(use.value
                                                                   for use in CertificateUse))
    return [CertificateUse(value) for value in values]


def hash_data(data: dict[str, Any]) -> dict[str, str]:
    """CertificateHashData as OCPP names a certificate: SHA256/384/512 and three hex strings."""
    algorithm = field(data, "hash_algorithm", str)
    if algorithm not in ("SHA256", "SHA384", "SHA512"):
        raise BadRequest("'hash_algorithm' is SHA256, SHA384 or SHA512")
    found = {"hash_algorithm": algorithm}
    for name in ("issuer_name_hash", "issuer_key_hash", "serial_number"):
        value = field(data, name, str)
        if not HEX.fullmatch(value):
            raise BadRequest(f"'{name}' must be hexadecimal, at most 128 digits")
        found[name] = value
    return found


def routes(api: AdminApi) -> None:
    commands = api.commands

    async def installed(request: web.Request) -> web.Response:
        """As the charger last reported or accepted them: no call to the charger."""
        charge_point_id = request.match_info["cp"]
        page = page_of(request)
        if await store.get_charge_point(api.pool, charge_point_id) is None:
            raise web.HTTPNotFound(reason=f"unknown charge point {charge_point_id!r}")
        rows = await certificate_store.list_installed(api.pool, charge_point_id)
        return reply(sliced([record(row) for row in rows], page))

    async def install(request: web.Request) -> web.Response:
        data = await body(request)
        kind = field(data, "type", str)
        if kind not in INSTALLABLE:
            raise BadRequest("'type' is one of " + ", ".join(INSTALLABLE))
        certificate = field(data, "certificate", str)
        if "-----BEGIN CERTIFICATE-----" not in certificate or len(certificate) > 5500:
            raise BadRequest("'certificate' must be one PEM certificate of at most 5500 characters")
        return command_reply(await commands.install_certificate(
            request.match_info["cp"], CertificateUse(kind), certificate))

    async def refresh(request: web.Request) -> web.Response:
        data = await body(request)
        return command_reply(await commands.installed_certificates(
            request.match_info["cp"], uses(data.get("types", []))))

    async def delete(request: web.Request) -> web.Response:
        return command_reply(await commands.delete_certificate(
            request.match_info["cp"], hash_data(await body(request))))

    async def security_profile(request: web.Request) -> web.Response:
        data = await body(request)
        profile = field(data, "profile", int)
        if profile not in (1, 2, 3):
            raise BadRequest("'profile' is 1, 2 or 3")
        return command_reply(await commands.upgrade_security_profile(
            request.match_info["cp"], profile, field(data, "reset", bool, True)))

    async def renew(request: web.Request) -> web.Response:
        data = await body(request)
        kind = field(data, "type", str, "charging_station")
        if kind not in ("charging_station", "v2g"):
            raise BadRequest("'type' is charging_station or v2g")
        return command_reply(await commands.renew_certificate(request.match_info["cp"],
                                                              CertificateUse(kind)))

    r = api.app.router
    r.add_get(f"{PREFIX}/charge-points/{{cp}}/certificates", installed)
    r.add_post(f"{PREFIX}/charge-points/{{cp}}/certificates", install)
    r.add_post(f"{PREFIX}/charge-points/{{cp}}/certificates/refresh", refresh)
    r.add_post(f"{PREFIX}/charge-points/{{cp}}/certificates/delete", delete)
    r.add_post(f"{PREFIX}/charge-points/{{cp}}/certificates/renew", renew)
    r.add_post(f"{PREFIX}/charge-points/{{cp}}/security-profile", security_profile)
