"""The CSMS's CA: chargers' CSRs checked and signed, and the hash data OCPP names certificates by."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# OCPP 2.0.1 A00 certificate properties / 1.6 security whitepaper: RSA of at least 2048 bits or
# an elliptic curve key of at least 224 bits.
MIN_RSA_BITS = 2048
MIN_EC_BITS = 224


class BadRequest(ValueError):
    """A CSR we refuse to sign; the message says why, in one line."""


def _names(name: x509.Name, oid: x509.ObjectIdentifier) -> list[str]:
    return [str(attribute.value) for attribute in name.get_attributes_for_oid(oid)]


def check_csr(pem: str, charge_point_id: str, organization: str) -> x509.CertificateSigningRequest:
    """The CSR, if it may be signed for this charger: well formed and self-signed, CN the
    charger's id (its TLS identity), O the CPO's name (any, when none is configured), a key of
    a type and size the spec allows. Raises BadRequest otherwise."""
    try:
        csr = x509.load_pem_x509_csr(pem.encode())
    except ValueError:
        raise BadRequest("not a PEM certificate signing request") from None
    if not csr.is_signature_valid:
        raise BadRequest("the CSR's signature does not verify")
    common = _names(csr.subject, NameOID.COMMON_NAME)
    if common != [charge_point_id]:
        raise BadRequest(f"CN must be the charge point id {charge_point_id!r}, not {common}")
    organizations = _names(csr.subject, NameOID.ORGANIZATION_NAME)
    if len(organizations) != 1 or not organizations[0].strip():
        raise BadRequest("O must name the CPO")
    if organization and organizations[0] != organization:
        raise BadRequest(f"O must be {organization!r}, not {organizations[0]!r}")
    key = csr.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise BadRequest(f"RSA key of {key.key_size} bits: at least {MIN_RSA_BITS} needed")
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.key_size < MIN_EC_BITS:
            raise BadRequest(f"EC key of {key.curve.key_size} bits: at least {MIN_EC_BITS} needed")
    else:
        raise BadRequest(f"{type(key).__name__.removesuffix('PublicKey')} keys are not allowed: "
                         "RSA or EC only")
    return csr


def new_authority(name: str) -> tuple[str, str]:
    """A self-signed CA (EC P-256, 20 years): certificate and key, PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=20 * 365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return certificate.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode()


@dataclass(frozen=True)
class CertificateAuthority:
    certificate_pem: str
    key_pem: str

    def sign(self, csr: x509.CertificateSigningRequest, days: int) -> str:
        """The charger's certificate (TLS client) and our CA's after it: the chain, PEM."""
        ca = x509.load_pem_x509_certificate(self.certificate_pem.encode())
        key = serialization.load_pem_private_key(self.key_pem.encode(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise ValueError("the CA key must be EC or RSA")
        now = dt.datetime.now(dt.UTC)
        certificate = (
            x509.CertificateBuilder().subject_name(csr.subject).issuer_name(ca.subject)
            .public_key(csr.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256())
        )
        return certificate.public_bytes(serialization.Encoding.PEM).decode() + self.certificate_pem


def hash_data(pem: str, issuer_pem: str | None = None) -> dict[str, str]:
    """OCPP CertificateHashData of a certificate (SHA256, as OCSP names one); a root is its
    own issuer. Raises ValueError for what is not a PEM certificate."""
    certificate = x509.load_pem_x509_certificate(pem.encode())
    issuer = x509.load_pem_x509_certificate(issuer_pem.encode()) if issuer_pem else certificate
    request = ocsp.OCSPRequestBuilder().add_certificate(
        certificate, issuer, hashes.SHA256()).build()
    return {"hash_algorithm": "SHA256", "issuer_name_hash": request.issuer_name_hash.hex(),
            "issuer_key_hash": request.issuer_key_hash.hex(),
            "serial_number": format(certificate.serial_number, "x")}
