-- What limits each EVSE besides the site's share, by source, and what the load manager allows it.
-- Sources: 'grid:<chargingLimitSource>' (2.0.1 NotifyChargingLimit: EMS, SO, Other), 'ev' (ISO 15118
-- charging needs), 'emsp' (an OCPI ChargingProfile on the session). The tightest one wins.
CREATE TABLE evse_caps (
    charge_point_id text NOT NULL REFERENCES charge_points (id) ON DELETE CASCADE,
    evse integer NOT NULL CHECK (evse >= 0),  -- 0: every EVSE of the charger
    source text NOT NULL,
    max_amps numeric CHECK (max_amps >= 0),  -- A per phase; NULL: no maximum from this source
    min_amps numeric CHECK (min_amps >= 0),  -- e.g. the car's minimum (15118); NULL: none
    detail jsonb NOT NULL DEFAULT '{}',      -- what the source said, as received
    until timestamptz,                        -- NULL: until cleared
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (charge_point_id, evse, source)
);

-- The current the load manager allows an EVSE (A per phase) and whether the charger took it.
CREATE TABLE evse_allowances (
    charge_point_id text NOT NULL REFERENCES charge_points (id) ON DELETE CASCADE,
    evse integer NOT NULL CHECK (evse > 0),
    amps numeric NOT NULL CHECK (amps >= 0),
    status text NOT NULL DEFAULT 'Pending' CHECK (status IN ('Pending', 'Accepted', 'Rejected')),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (charge_point_id, evse)
);
