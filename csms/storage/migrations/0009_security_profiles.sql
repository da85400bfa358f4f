-- OCPP security profiles per charger: 1 Basic auth, 2 TLS + Basic auth, 3 TLS with a client
-- certificate whose identity is the charger's id.
ALTER TABLE charge_points ADD COLUMN security_profile integer NOT NULL DEFAULT 1
    CHECK (security_profile BETWEEN 1 AND 3);
