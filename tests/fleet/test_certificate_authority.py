"""Pure: which CSRs our CA signs, what it signs, certificate hash data, each version's certificate types."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from csms.domain.fleet.certificates import CertificateUse
from csms.ocpp.translations import certificate_types
from csms.security.certificate_authority import (
    BadRequest,
    CertificateAuthority,
    check_csr,
    hash_data,
    new_authority,
)
from simulators.certificates import hash_data as simulator_hash_data


def csr(key: object, cn: str | None = "CP1", o: str | None = "ACME") -> str:
    names = ([x509.NameAttribute(NameOID.COMMON_NAME, cn)] if cn else []) + \
        ([x509.NameAttribute(NameOID.ORGANIZATION_NAME, o)] if o else [])
    built = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(names)).sign(
        key, None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256())  # type: ignore[arg-type]
    return built.public_bytes(serialization.Encoding.PEM).decode()


EC = ec.generate_private_key(ec.SECP256R1())
CASES = [  # (CSR, configured CPO name, refusal or None when signed)
    (csr(EC), "ACME", None),
    (csr(EC), "", None),  # no CPO name configured: any
    (csr(rsa.generate_private_key(65537, 2048)), "ACME", None),
    (csr(ec.generate_private_key(ec.SECP224R1())), "ACME", None),  # 224 bits: the floor
    (csr(EC, cn="CP2"), "ACME", "CN must be the charge point id"),
    (csr(EC, cn=None), "ACME", "CN must be the charge point id"),
    (csr(EC, o="Other"), "ACME", "O must be 'ACME'"),
    (csr(EC, o=None), "", "O must name the CPO"),
    (csr(rsa.generate_private_key(65537, 1024)), "ACME", "RSA key of 1024 bits"),
    (csr(ec.generate_private_key(ec.SECP192R1())), "ACME", "EC key of 192 bits"),
    (csr(ed25519.Ed25519PrivateKey.generate()), "ACME", "RSA or EC only"),
    ("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n", "ACME",
     "not a PEM certificate signing request"),
    ("not even PEM", "ACME", "not a PEM certificate signing request"),
]


@pytest.mark.parametrize(("pem", "cpo", "refusal"), CASES)
def test_which_csrs_are_signed(pem: str, cpo: str, refusal: str | None) -> None:
    if refusal is None:
        assert check_csr(pem, "CP1", cpo).subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    else:
        with pytest.raises(BadRequest, match=refusal):
            check_csr(pem, "CP1", cpo)


def test_signed_chain() -> None:
    authority = CertificateAuthority(*new_authority("Test CA"))
    chain = authority.sign(check_csr(csr(EC), "CP1", "ACME"), days=30)
    leaf, ca = x509.load_pem_x509_certificates(chain.encode())
    leaf.verify_directly_issued_by(ca)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert leaf.subject.rfc4514_string() == "O=ACME,CN=CP1"
    assert (leaf.not_valid_after_utc - leaf.not_valid_before_utc).days == 30
    # The charger and we name a certificate alike (what DeleteCertificate needs).
    assert hash_data(authority.certificate_pem) == simulator_hash_data(authority.certificate_pem)
    issued = hash_data(chain, authority.certificate_pem)
    assert issued["issuer_name_hash"] == hash_data(authority.certificate_pem)["issuer_name_hash"]
    assert issued["serial_number"] == format(leaf.serial_number, "x")


@pytest.mark.parametrize(("use", "v16", "v201"), [
    (CertificateUse.CSMS_ROOT, "CentralSystemRootCertificate", "CSMSRootCertificate"),
    (CertificateUse.MANUFACTURER_ROOT, "ManufacturerRootCertificate",
     "ManufacturerRootCertificate"),
    (CertificateUse.V2G_ROOT, None, "V2GRootCertificate"),
    (CertificateUse.MO_ROOT, None, "MORootCertificate"),
    (CertificateUse.V2G_CHAIN, None, "V2GCertificateChain"),
    (CertificateUse.CHARGING_STATION, None, None),
])
def test_certificate_type_names(use: CertificateUse, v16: str | None, v201: str | None) -> None:
    assert certificate_types.use_16(use) == v16
    assert certificate_types.use_201(use) == v201
    if v16:
        assert certificate_types.from_16(v16) is use
    if v201:
        assert certificate_types.from_201(v201) is use


@pytest.mark.parametrize(("name", "use"), [
    ("ChargingStationCertificate", CertificateUse.CHARGING_STATION),
    ("V2GCertificate", CertificateUse.V2G),
    (None, CertificateUse.CHARGING_STATION),  # absent: the charger's own (as 1.6's always is)
])
def test_signing_use(name: str | None, use: CertificateUse) -> None:
    assert certificate_types.signing_from_201(name) is use
