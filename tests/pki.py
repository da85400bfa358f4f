"""Certificates for TLS tests, made with openssl: a CA, a rogue CA, a server and clients."""

from __future__ import annotations

import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

CLIENTS = ("cpo", "hubject", "CP3", "CP9")  # signed by our CA; "intruder" by the rogue one


@dataclass(frozen=True)
class Pki:
    folder: Path

    def __getitem__(self, name: str) -> str:
        return str(self.folder / name)


def _openssl(folder: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)


def _issue(folder: Path, name: str, ca: str, *extensions: str,
           key: tuple[str, ...] = ("-newkey", "rsa:2048")) -> None:
    _openssl(folder, "req", "-new", *key, "-nodes", "-keyout", f"{name}.key",
             "-out", f"{name}.csr", "-subj", f"/CN={name}")
    ext = folder / f"{name}.ext"
    ext.write_text("\n".join(extensions) + "\n")
    _openssl(folder, "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
             "-CAcreateserial", "-days", "2", "-out", f"{name}.crt", "-extfile", str(ext))


def make_pki(folder: Path) -> Pki:
    """A CA with a server certificate for 127.0.0.1 and client certificates; a rogue CA too."""
    for ca in ("ca", "rogue-ca"):
        _openssl(folder, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{ca}.key",
                 "-out", f"{ca}.crt", "-days", "2", "-subj", f"/CN={ca}")
    server = ("subjectAltName = IP:127.0.0.1, DNS:localhost", "extendedKeyUsage = serverAuth")
    client = ("extendedKeyUsage = clientAuth",)
    _issue(folder, "server", "ca", *server)
    # An EC one too: with both, a server offers OCPP's two ECDSA and two RSA cipher suites.
    _issue(folder, "server-ec", "ca", *server,
           key=("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"))
    for name in CLIENTS:
        _issue(folder, name, "ca", *client)
    _issue(folder, "intruder", "rogue-ca", *client)
    return Pki(folder)


def server_context(pki: Pki) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki["server.crt"], pki["server.key"])
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(pki["ca.crt"])
    return context


def client_context(pki: Pki, name: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=pki["ca.crt"])
    if name:
        context.load_cert_chain(pki[f"{name}.crt"], pki[f"{name}.key"])
    return context
