"""Chargers' certificates end to end, both versions: CSRs signed, roots installed and deleted, upgrades."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from csms.app import App
from csms.domain.charge_points import register
from csms.operator.command_line.cli import main
from simulators.chargepoint import SimulatedChargePoint
from tests.conftest import AppFactory, SimFactory
from tests.ocpp_server.connection.test_ocpp_security import refusal
from tests.pki import Pki, client_context
from tests.support import Api, eventually, free_port


async def api_of(app: App) -> Api:
    return Api(f"http://127.0.0.1:{app.api.port}/api/v1")


def text(path: str | None) -> str:
    return Path(path or "").read_text()


async def round_trip(sim: SimulatedChargePoint) -> None:
    """A call answered after whatever the CSMS did once it answered the one before."""
    await sim.heartbeat()


async def test_csr_signed_and_installed(make_app: AppFactory, sims: SimFactory) -> None:
    app = await make_app(cpo_name="SimCPO")
    await register(app.pool, "CP1", "secret-pass-0001", {1: None})
    sim = sims(app, password="secret-pass-0001")
    await sim.start()
    assert await sim.request_certificate() == "Accepted"
    await eventually(lambda: _true(sim.certificates.chain_file is not None))
    chain = text(sim.certificates.chain_file)
    leaf, issuer = x509.load_pem_x509_certificates(chain.encode())
    ca_pem = await app.pool.fetchval("SELECT certificate_pem FROM certificate_authority")
    assert issuer == x509.load_pem_x509_certificate(ca_pem.encode())  # our CA, kept in the DB
    leaf.verify_directly_issued_by(issuer)
    assert leaf.subject.rfc4514_string() == "O=SimCPO,CN=CP1"
    api = await api_of(app)
    try:  # kept once the charger's answer is in: just after it installed the chain
        listed = await eventually(lambda: api.items("/charge-points/CP1/certificates"))
    finally:
        await api.http.close()
    assert [(c["certificate_type"], c["serial_number"]) for c in listed] == \
        [("charging_station", format(leaf.serial_number, "x"))]


async def _true(value: bool) -> bool:
    return value


async def test_renewal_asked_by_the_csms(make_app: AppFactory, sims: SimFactory) -> None:
    """A02: we trigger it, the charger sends a new CSR, our CA signs it, the charger installs it."""
    app = await make_app()
    await register(app.pool, "CP1", None, {1: None}, security_profile=0)
    sim = sims(app)
    await sim.start()
    api = await api_of(app)
    try:
        status, answer = await api.post("/charge-points/CP1/certificates/renew", {})
        assert (status, answer["outcome"]) == (200, "accepted"), answer
        await eventually(lambda: _true(sim.certificates.chain_file is not None))
        sent = [payload for name, payload in sim.calls if "Trigger" in name][-1]
        assert sent["requestedMessage"] == ("SignChargePointCertificate"
                                            if sims.protocol == "1.6"  # type: ignore[attr-defined]
                                            else "SignChargingStationCertificate")
        status, answer = await api.post("/charge-points/CP1/certificates/renew", {"type": "x"})
        assert status == 400
    finally:
        await api.http.close()


@pytest.mark.parametrize("csr", [
    {"common_name": "CP2"},  # another charger's name
    {"key_type": "rsa1024"},  # a key too small
    {"organization": "Other CPO"},  # not our CPO
])
async def test_bad_csr_rejected(make_app: AppFactory, sims: SimFactory, csr: dict[str, Any]) -> None:
    app = await make_app(cpo_name="SimCPO")
    await register(app.pool, "CP1", None, {1: None}, security_profile=0)
    sim = sims(app, cpo_name=csr.get("organization", "SimCPO"))
    await sim.start()
    status = await sim.request_certificate(key_type=csr.get("key_type"),
                                           common_name=csr.get("common_name"))
    assert status == "Rejected"
    await round_trip(sim)
    assert not [name for name, _ in sim.calls if name == "CertificateSigned"]
    assert sim.certificates.chain_file is None


async def test_v2g_csr_only_where_configured(make_app: AppFactory, sims: SimFactory) -> None:
    if sims.protocol == "1.6":  # type: ignore[attr-defined]
        pytest.skip("1.6 signs the charger's TLS certificate only")
    app = await make_app()
    await register(app.pool, "CP1", None, {1: None}, security_profile=0)
    sim = sims(app)
    await sim.start()
    assert await sim.request_certificate("V2GCertificate") == "Rejected"


async def test_roots_installed_listed_deleted(make_app: AppFactory, sims: SimFactory,
                                             pki: Pki) -> None:
    app = await make_app()
    await register(app.pool, "CP1", None, {1: None}, security_profile=0)
    sim = sims(app)
    await sim.start()
    v16 = sims.protocol == "1.6"  # type: ignore[attr-defined]
    root = text(pki["ca.crt"])
    # A manufacturer root the charger came with: known to us once it reports it.
    sim.certificates.install("ManufacturerRootCertificate", text(pki["rogue-ca.crt"]))
    api = await api_of(app)
    try:
        status, answer = await api.post("/charge-points/CP1/certificates",
                                        {"type": "csms_root", "certificate": root})
        assert (status, answer["outcome"]) == (200, "accepted")
        sent = await sim.wait_for_call("InstallCertificate")
        assert sent["certificateType"] == ("CentralSystemRootCertificate" if v16
                                           else "CSMSRootCertificate")
        listed = await api.items("/charge-points/CP1/certificates")
        assert [c["certificate_type"] for c in listed] == ["csms_root"]

        status, answer = await api.post("/charge-points/CP1/certificates/refresh", {})
        assert status == 200, answer
        listed = await api.items("/charge-points/CP1/certificates")
        assert sorted(c["certificate_type"] for c in listed) == ["csms_root", "manufacturer_root"]

        ours = next(c for c in listed if c["certificate_type"] == "csms_root")
        hashed = {k: ours[k] for k in ("hash_algorithm", "issuer_name_hash", "issuer_key_hash",
                                       "serial_number")}
        status, answer = await api.post("/charge-points/CP1/certificates/delete", hashed)
        assert (status, answer["outcome"]) == (200, "accepted")
        listed = await api.items("/charge-points/CP1/certificates")
        assert [c["certificate_type"] for c in listed] == ["manufacturer_root"]
        assert len(sim.certificates.roots) == 1
        # Gone already: the charger says NotFound.
        status, answer = await api.post("/charge-points/CP1/certificates/delete", hashed)
        assert (status, answer["detail"]["status"]) == (409, "NotFound")

        # Bad input: one clear line, nothing sent.
        status, answer = await api.post("/charge-points/CP1/certificates",
                                        {"type": "csms_root", "certificate": "nonsense"})
        assert status == 400 and "PEM" in answer["error"]
        status, answer = await api.post("/charge-points/CP1/certificates/delete",
                                        {**hashed, "serial_number": "xyz"})
        assert status == 400
    finally:
        await api.http.close()


@pytest.mark.parametrize("profile", [2, 3])
async def test_profile_upgrade_then_tls_only(make_app: AppFactory, sims: SimFactory, pki: Pki,
                                            profile: int) -> None:
    tls_port = free_port()
    tls_url = f"wss://127.0.0.1:{tls_port}/ocpp"
    app = await make_app(tls_cert=pki["server.crt"], tls_key=pki["server.key"],
                         tls_port=tls_port, cpo_name="SimCPO", public_tls_url=tls_url)
    await register(app.pool, "CP1", "secret-pass-0001", {1: None})
    # A 2.0.1 station learns the URL from the CSMS's network profile; a 1.6 one has it configured.
    sim = sims(app, password="secret-pass-0001", server_ca=pki["ca.crt"],
               tls_url=tls_url if sims.protocol == "1.6" else None)  # type: ignore[attr-defined]
    await sim.start()
    if profile == 3:  # its own certificate first, signed by our CA
        assert await sim.request_certificate() == "Accepted"
        await eventually(lambda: _true(sim.certificates.chain_file is not None))
    api = await api_of(app)
    try:
        status, answer = await api.post("/charge-points/CP1/security-profile", {"profile": profile})
        assert (status, answer["outcome"], answer["detail"]["reset"]) == (200, "accepted",
                                                                          "accepted"), answer
        assert await app.pool.fetchval(
            "SELECT security_profile FROM charge_points WHERE id = 'CP1'") == profile
        if sims.protocol == "2.0.1":  # type: ignore[attr-defined]
            _assert_a05(sim, tls_url, profile)
        # The charger reconnects over TLS as firmware does after the reset, and is admitted.
        await eventually(lambda: _true(sim.config.security_profile == profile
                                       and sim.connected.is_set()))
        await eventually(lambda: _connected(api))
        # Lowering it again is refused.
        status, answer = await api.post("/charge-points/CP1/security-profile", {"profile": 1})
        assert status == 409 and "only be raised" in answer["detail"]["reason"]
    finally:
        await api.http.close()
    password = "Basic Q1AxOnNlY3JldC1wYXNzLTAwMDE="  # CP1:secret-pass-0001
    # The plain port is no way in any more, even with the right password.
    assert await refusal(f"ws://127.0.0.1:{app.ocpp.port}/ocpp/CP1",
                         Authorization=password) == 403
    if profile == 3:  # over TLS too, not without its certificate
        assert await refusal(f"{tls_url}/CP1", client_context(pki, None),
                             Authorization=password) == 401


def _upgrade_calls(sim: SimulatedChargePoint) -> list[str]:
    """The calls of a profile upgrade the charger got, in order (not the ones every boot brings)."""
    return [name for name, payload in sim.calls
            if name in ("SetNetworkProfile", "Reset")
            or "SecurityProfile" in str(payload) or "NetworkConfigurationPriority" in str(payload)]


def _assert_a05(sim: SimulatedChargePoint, tls_url: str, profile: int) -> None:
    """OCPP 2.0.1 A05: the priority read, SetNetworkProfile in a free slot, that slot first, then
    the reset; the read-only SecurityCtrlr.SecurityProfile is never written."""
    assert _upgrade_calls(sim) == ["GetVariables", "SetNetworkProfile", "SetVariables",
                                   "Reset"], sim.calls
    network = next(payload for name, payload in sim.calls if name == "SetNetworkProfile")
    assert network["configurationSlot"] == 2
    assert network["connectionData"] == {
        "ocppVersion": "OCPP20", "ocppTransport": "JSON", "ocppCsmsUrl": tls_url,
        "messageTimeout": 30, "securityProfile": profile, "ocppInterface": "Wired0"}
    priority = next(payload for name, payload in sim.calls
                    if name == "SetVariables" and "NetworkConfigurationPriority" in str(payload))
    assert priority["setVariableData"] == [{
        "attributeValue": "2,1", "component": {"name": "OCPPCommCtrlr"},
        "variable": {"name": "NetworkConfigurationPriority"}}]
    assert "SecurityProfile" not in str(sim.calls)


async def test_profile_upgrade_refused_by_the_charger(make_app: AppFactory, sims: SimFactory,
                                                     pki: Pki) -> None:
    """Profile 3 without a certificate of its own: the charger refuses (2.0.1: SetNetworkProfile),
    nothing else is sent, and the profile we require stays."""
    tls_port = free_port()
    tls_url = f"wss://127.0.0.1:{tls_port}/ocpp"
    app = await make_app(tls_cert=pki["server.crt"], tls_key=pki["server.key"],
                         tls_port=tls_port, public_tls_url=tls_url)
    await register(app.pool, "CP1", "secret-pass-0001", {1: None})
    sim = sims(app, password="secret-pass-0001", tls_url=tls_url, server_ca=pki["ca.crt"])
    await sim.start()
    api = await api_of(app)
    try:
        status, answer = await api.post("/charge-points/CP1/security-profile", {"profile": 3})
    finally:
        await api.http.close()
    assert (status, answer["outcome"]) == (409, "rejected"), answer
    assert await app.pool.fetchval(
        "SELECT security_profile FROM charge_points WHERE id = 'CP1'") == 1
    assert _upgrade_calls(sim) == (["ChangeConfiguration"]
                                   if sims.protocol == "1.6"  # type: ignore[attr-defined]
                                   else ["GetVariables", "SetNetworkProfile"]), sim.calls
    assert sim.config.security_profile == 1 and sim.pending_profile is None


async def test_profile_upgrade_needs_a_public_url_for_201(make_app: AppFactory, sims: SimFactory,
                                                         pki: Pki) -> None:
    """Without ocpp.public_tls_url a 2.0.1 charger has no URL to move to: refused, nothing sent."""
    tls_port = free_port()
    app = await make_app(tls_cert=pki["server.crt"], tls_key=pki["server.key"],
                         tls_port=tls_port)
    await register(app.pool, "CP1", "secret-pass-0001", {1: None})
    sim = sims(app, password="secret-pass-0001", tls_url=f"wss://127.0.0.1:{tls_port}/ocpp",
               server_ca=pki["ca.crt"])
    await sim.start()
    api = await api_of(app)
    try:
        status, answer = await api.post("/charge-points/CP1/security-profile", {"profile": 2})
    finally:
        await api.http.close()
    if sims.protocol == "1.6":  # type: ignore[attr-defined]
        assert (status, answer["outcome"]) == (200, "accepted"), answer
        return
    assert (status, answer["outcome"]) == (409, "rejected"), answer
    assert "ocpp.public_tls_url" in answer["detail"]["reason"]
    assert not _upgrade_calls(sim)
    assert await app.pool.fetchval(
        "SELECT security_profile FROM charge_points WHERE id = 'CP1'") == 1


async def _connected(api: Api) -> bool:
    return bool((await api.get("/charge-points/CP1"))["connected"])


async def test_profile_upgrade_needs_tls_on_the_server(make_app: AppFactory,
                                                      sims: SimFactory) -> None:
    app = await make_app()
    await register(app.pool, "CP1", None, {1: None}, security_profile=0)
    sim = sims(app)
    await sim.start()
    api = await api_of(app)
    try:
        status, answer = await api.post("/charge-points/CP1/security-profile", {"profile": 2})
    finally:
        await api.http.close()
    assert status == 409 and "TLS" in answer["detail"]["reason"]
    assert not [name for name, payload in sim.calls if "SecurityProfile" in str(payload)]


async def test_cli(make_app: AppFactory, sims: SimFactory, pki: Pki, db_url: str,
                   monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The csms command in another process's place (a thread with its own loop): its commands
    reach the charger through the node that holds it."""
    app = await make_app()
    await register(app.pool, "CP1", None, {1: None}, security_profile=0)
    sim = sims(app)
    await sim.start()
    monkeypatch.setenv("CSMS_DATABASE_URL", db_url)
    monkeypatch.setenv("CSMS_LOG_LEVEL", "warning")

    def csms(*argv: str) -> Any:
        return asyncio.to_thread(main, ["certificates", *argv])

    assert await csms("install", "CP1", pki["ca.crt"], "--type", "csms_root") == 0
    assert capsys.readouterr().out.startswith("accepted")
    assert len(sim.certificates.roots) == 1
    assert await csms("list", "CP1", "--json") == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["certificate_type"], row["hash_algorithm"]) == ("csms_root", "SHA256")
    serial, name_hash, key_hash = (row["serial_number"], row["issuer_name_hash"],
                                   row["issuer_key_hash"])
    assert await csms("delete", "CP1", "--serial-number", serial, "--issuer-name-hash", name_hash,
                      "--issuer-key-hash", key_hash) == 0
    assert not sim.certificates.roots
    capsys.readouterr()
    # No TLS on this server: raising the profile would lock the charger out; refused, one line.
    assert await csms("security-profile", "CP1", "2") == 1
    assert "need TLS" in capsys.readouterr().err
    assert await app.pool.fetchval(
        "SELECT security_profile FROM charge_points WHERE id = 'CP1'") == 0


async def test_one_ca_for_the_cluster(make_app: AppFactory, sims: SimFactory, pki: Pki) -> None:
    """Two nodes on one database sign with the same CA (made once, kept there); a certificate
    command sent to the node without the charger travels to the one holding it."""
    a = await make_app(node_id="a")
    b = await make_app(node_id="b")
    assert await a.services.certificates.authority() == await b.services.certificates.authority()
    assert await a.pool.fetchval("SELECT count(*) FROM certificate_authority") == 1
    await register(a.pool, "CP1", None, {1: None}, security_profile=0)
    sim = sims(a)
    await sim.start()
    api = await api_of(b)
    try:
        status, answer = await api.post("/charge-points/CP1/certificates",
                                        {"type": "manufacturer_root",
                                         "certificate": text(pki["ca.crt"])})
    finally:
        await api.http.close()
    assert (status, answer["outcome"]) == (200, "accepted"), answer
    assert len(sim.certificates.roots) == 1


async def test_profile_upgrade_through_another_node(make_app: AppFactory, sims: SimFactory,
                                                   pki: Pki) -> None:
    """Asked of the node without the charger: the URL and interface travel with the command."""
    if sims.protocol == "1.6":  # type: ignore[attr-defined]
        pytest.skip("the 2.0.1 network profile's arguments")
    tls = {"tls_cert": pki["server.crt"], "tls_key": pki["server.key"]}
    tls_port = free_port()
    tls_url = f"wss://127.0.0.1:{tls_port}/ocpp"
    a = await make_app(node_id="a", tls_port=tls_port, **tls)
    b = await make_app(node_id="b", tls_port=free_port(), public_tls_url=tls_url,
                       network_interface="Wireless0", **tls)
    await register(a.pool, "CP1", "secret-pass-0001", {1: None})
    sim = sims(a, password="secret-pass-0001", server_ca=pki["ca.crt"])
    await sim.start()
    api = await api_of(b)
    try:
        status, answer = await api.post("/charge-points/CP1/security-profile", {"profile": 2})
    finally:
        await api.http.close()
    assert (status, answer["outcome"]) == (200, "accepted"), answer
    network = next(payload for name, payload in sim.calls if name == "SetNetworkProfile")
    assert (network["connectionData"]["ocppCsmsUrl"],
            network["connectionData"]["ocppInterface"]) == (tls_url, "Wireless0")
    await eventually(lambda: _true(sim.config.security_profile == 2 and sim.connected.is_set()))
