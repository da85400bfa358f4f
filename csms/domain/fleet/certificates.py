"""Chargers' certificates: our CA signing their CSRs, and the certificates each one holds."""

from __future__ import annotations

import asyncio
from enum import StrEnum
from pathlib import Path
from typing import Any

import asyncpg
import structlog

from csms.config import OcppSettings
from csms.security.certificate_authority import (
    BadRequest,
    CertificateAuthority,
    check_csr,
    new_authority,
)
from csms.storage.fleet import certificate_store

log = structlog.get_logger(__name__)


class CertificateUse(StrEnum):
    """What a certificate is for, whatever the OCPP version calls it."""

    CSMS_ROOT = "csms_root"  # the CA the charger checks our server certificate with
    MANUFACTURER_ROOT = "manufacturer_root"  # checks signed firmware
    V2G_ROOT = "v2g_root"
    MO_ROOT = "mo_root"
    V2G_CHAIN = "v2g_chain"
    CHARGING_STATION = "charging_station"  # the charger's TLS client certificate (we sign it)
    V2G = "v2g"  # the charger's ISO 15118 certificate (we sign it where configured)


def parse_use(value: str) -> CertificateUse | None:
    try:
        return CertificateUse(value)
    except ValueError:
        return None


class CertificateService:
    def __init__(self, pool: asyncpg.Pool, settings: OcppSettings) -> None:
        self.pool = pool
        self.settings = settings
        self._authority: CertificateAuthority | None = None
        if settings.ca_cert:  # read at start: a missing file stops the start, not a signing
            self._authority = CertificateAuthority(
                Path(settings.ca_cert).read_text(),
                Path(settings.ca_key or settings.ca_cert).read_text())
        self._lock = asyncio.Lock()

    async def authority(self) -> CertificateAuthority:
        """The configured CA, else the one in the database (made there on first use): in the
        database rather than a file, so every node of a cluster signs with the same CA."""
        async with self._lock:
            if self._authority is None:
                self._authority = await self._load()
            return self._authority

    async def _load(self) -> CertificateAuthority:
        """The CA kept in the database, made there by whichever node needs it first."""
        row = await certificate_store.get_authority(self.pool)
        if row is None:
            certificate, key = new_authority(f"{self.settings.cpo_name or 'CSMS'} charger CA")
            await certificate_store.add_authority(self.pool, certificate, key)
            row = await certificate_store.get_authority(self.pool)
            log.info("charger CA made and stored in the database")
        assert row is not None
        return CertificateAuthority(row["certificate_pem"], row["key_pem"])

    async def sign(self, charge_point_id: str, csr_pem: str, use: CertificateUse) -> str:
        """The signed chain for the charger's CSR; BadRequest (with why) when it is refused."""
        if use is CertificateUse.V2G and not self.settings.sign_v2g_certificates:
            raise BadRequest("V2G certificates are not signed here (ocpp.sign_v2g_certificates)")
        csr = check_csr(csr_pem, charge_point_id, self.settings.cpo_name)
        chain = (await self.authority()).sign(csr, self.settings.certificate_days)
        log.info("charger certificate signed", charge_point_id=charge_point_id, use=use.value)
        return chain

    async def accepted(self, charge_point_id: str, use: CertificateUse,
                       hash_data: dict[str, Any]) -> None:
        await certificate_store.add_installed(self.pool, charge_point_id, use.value, hash_data)
