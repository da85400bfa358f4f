"""A simulated charger's certificates: its key pair and CSR, its signed TLS certificate, its roots."""

from __future__ import annotations

import ssl
import tempfile
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def make_key(kind: str) -> PrivateKey:
    """'ec' (P-256), 'rsa' (2048 bits), or 'rsa1024' (too small: a CSR the CSMS must refuse)."""
    if kind == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(65537, 1024 if kind == "rsa1024" else 2048)


def make_csr(key: PrivateKey, common_name: str, organization: str | None) -> str:
    names = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        names.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(names)) \
        .sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def hash_data(pem: str) -> dict[str, str]:
    """CertificateHashData (SHA256) of a root certificate, its own issuer."""
    certificate = x509.load_pem_x509_certificate(pem.encode())
    request = ocsp.OCSPRequestBuilder().add_certificate(certificate, certificate,
                                                        hashes.SHA256()).build()
    return {"hash_algorithm": "SHA256", "issuer_name_hash": request.issuer_name_hash.hex(),
            "issuer_key_hash": request.issuer_key_hash.hex(),
            "serial_number": format(certificate.serial_number, "x")}


def _key_bytes(key: Any) -> bytes:
    return bytes(key.public_bytes(serialization.Encoding.DER,
                                  serialization.PublicFormat.SubjectPublicKeyInfo))


class CertificateStore:
    """What firmware keeps: the key of its pending CSR, then its signed chain, and its roots."""

    def __init__(self, charge_point_id: str) -> None:
        self.charge_point_id = charge_point_id
        self.folder: Path | None = None  # made when a certificate first arrives
        self.pending: PrivateKey | None = None
        self.chain_file: str | None = None
        self.key_file: str | None = None
        self.roots: dict[tuple[str, ...], tuple[str, str]] = {}  # hash data → (type, PEM)

    def request(self, kind: str, organization: str | None,
                common_name: str | None = None) -> str:
        """A new key pair (kept until its certificate arrives) and its CSR."""
        self.pending = make_key(kind)
        return make_csr(self.pending, common_name or self.charge_point_id, organization)

    def signed(self, chain: str) -> str:
        """CertificateSigned: taken only for the key of our CSR and our own name."""
        if self.pending is None:
            return "Rejected"
        try:
            leaf = x509.load_pem_x509_certificate(chain.encode())
        except ValueError:
            return "Rejected"
        names = [a.value for a in leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
        if _key_bytes(leaf.public_key()) != _key_bytes(self.pending.public_key()) \
                or names != [self.charge_point_id]:
            return "Rejected"
        if self.folder is None:
            self.folder = Path(tempfile.mkdtemp(prefix="sim-charger-"))
        chain_file, key_file = self.folder / "client.crt", self.folder / "client.key"
        chain_file.write_text(chain)
        key_file.write_bytes(self.pending.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        self.chain_file, self.key_file, self.pending = str(chain_file), str(key_file), None
        return "Accepted"

    def install(self, kind: str, pem: str) -> str:
        try:
            hashed = hash_data(pem)
        except ValueError:
            return "Rejected"
        self.roots[tuple(hashed.values())] = (kind, pem)
        return "Accepted"

    def installed(self, kinds: list[str] | None) -> list[tuple[str, dict[str, str]]]:
        return [(kind, hash_data(pem)) for kind, pem in self.roots.values()
                if not kinds or kind in kinds]

    def delete(self, hashed: dict[str, str]) -> str:
        key = tuple(hashed[k] for k in ("hash_algorithm", "issuer_name_hash", "issuer_key_hash",
                                        "serial_number"))
        return "Accepted" if self.roots.pop(key, None) is not None else "NotFound"

    def tls_context(self, server_ca: str | None, with_certificate: bool) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=server_ca)
        if with_certificate and self.chain_file and self.key_file:
            context.load_cert_chain(self.chain_file, self.key_file)
        return context
