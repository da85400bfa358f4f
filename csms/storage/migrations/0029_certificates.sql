-- The CA that signs chargers' CSRs when none is configured (ocpp.ca_cert / ocpp.ca_key): made
-- once, by whichever node needs it first, and kept here so every node of a cluster signs with
-- the same CA and chargers trust one. One row at most.
CREATE TABLE certificate_authority (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    certificate_pem text NOT NULL,
    key_pem text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
-- The certificates a charger holds, as it last reported them (GetInstalledCertificateIds) or as
-- it accepted them (InstallCertificate, CertificateSigned) or dropped them (DeleteCertificate).
CREATE TABLE charger_certificates (
    charge_point_id text NOT NULL REFERENCES charge_points (id) ON DELETE CASCADE,
    certificate_type text NOT NULL,
    hash_algorithm text NOT NULL,
    issuer_name_hash text NOT NULL,
    issuer_key_hash text NOT NULL,
    serial_number text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (charge_point_id, hash_algorithm, issuer_name_hash, issuer_key_hash, serial_number)
);
