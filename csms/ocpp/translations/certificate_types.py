"""Certificate types: each OCPP version's names for what a certificate is for, and back."""

from __future__ import annotations

from csms.domain.fleet.certificates import CertificateUse

# 1.6 security whitepaper CertificateUseEnumType (InstallCertificate, GetInstalledCertificateIds).
USE_16 = {
    CertificateUse.CSMS_ROOT: "CentralSystemRootCertificate",
    CertificateUse.MANUFACTURER_ROOT: "ManufacturerRootCertificate",
}
# 2.0.1 InstallCertificateUseEnumType / GetCertificateIdUseEnumType.
USE_201 = {
    CertificateUse.CSMS_ROOT: "CSMSRootCertificate",
    CertificateUse.MANUFACTURER_ROOT: "ManufacturerRootCertificate",
    CertificateUse.V2G_ROOT: "V2GRootCertificate",
    CertificateUse.MO_ROOT: "MORootCertificate",
    CertificateUse.V2G_CHAIN: "V2GCertificateChain",
}
# 2.0.1 CertificateSigningUseEnumType (SignCertificate, CertificateSigned); 1.6 has only the first.
SIGNING_201 = {
    CertificateUse.CHARGING_STATION: "ChargingStationCertificate",
    CertificateUse.V2G: "V2GCertificate",
}


def use_16(use: CertificateUse) -> str | None:
    """None: a type 1.6 has no name for (the charger cannot hold it)."""
    return USE_16.get(use)


def use_201(use: CertificateUse) -> str | None:
    return USE_201.get(use)


def from_16(name: str) -> CertificateUse | None:
    return next((use for use, known in USE_16.items() if known == name), None)


def from_201(name: str) -> CertificateUse | None:
    return next((use for use, known in USE_201.items() if known == name), None)


def signing_from_201(name: str | None) -> CertificateUse:
    """Absent, the certificate is the charger's own for TLS (as 1.6's always is)."""
    for use, known in SIGNING_201.items():
        if known == name:
            return use
    return CertificateUse.CHARGING_STATION
