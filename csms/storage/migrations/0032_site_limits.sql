-- A site's grid connection limit (A per phase), its time-of-day schedule, the fallback current an
-- offline charger keeps, priorities per token group, and per-EVSE overrides of what the site's
-- EVSE details say (priority, min/max current, the phases it is wired to).
CREATE TABLE site_limits (
    site_id text PRIMARY KEY REFERENCES sites (id) ON DELETE CASCADE,
    amps numeric[] NOT NULL CHECK (cardinality(amps) = 3 AND 0 <= ALL (amps)),  -- L1, L2, L3
    kw numeric CHECK (kw >= 0),              -- as the operator gave it, when in kW (amps derived)
    fallback_amps numeric CHECK (fallback_amps >= 0),  -- NULL: derived (limit / EVSE count)
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- The limit in force on some days from one wall-clock time to another, in the site's time zone
-- (a period whose end is before its start runs past midnight into the next day).
CREATE TABLE site_limit_periods (
    site_id text NOT NULL REFERENCES site_limits (site_id) ON DELETE CASCADE,
    position integer NOT NULL,
    days integer[] NOT NULL,  -- 0 Monday .. 6 Sunday: the days the period starts on
    starts text NOT NULL,     -- HH:MM
    ends text NOT NULL,       -- HH:MM, 24:00 for midnight at the day's end
    amps numeric[] NOT NULL CHECK (cardinality(amps) = 3 AND 0 <= ALL (amps)),
    kw numeric CHECK (kw >= 0),
    PRIMARY KEY (site_id, position)
);

-- Token group -> priority on the site (higher is served first).
CREATE TABLE site_group_priorities (
    site_id text NOT NULL REFERENCES site_limits (site_id) ON DELETE CASCADE,
    group_id text NOT NULL,
    priority integer NOT NULL,
    PRIMARY KEY (site_id, group_id)
);

-- What an operator says about one EVSE's energy, over the site's EVSE details; NULL: the default.
CREATE TABLE evse_energy (
    charge_point_id text NOT NULL REFERENCES charge_points (id) ON DELETE CASCADE,
    evse integer NOT NULL CHECK (evse > 0),
    priority integer,
    min_amps numeric CHECK (min_amps >= 0),
    max_amps numeric CHECK (max_amps >= 0),
    phases integer[] CHECK (phases <@ ARRAY[1, 2, 3] AND cardinality(phases) > 0),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (charge_point_id, evse),
    CHECK (min_amps IS NULL OR max_amps IS NULL OR min_amps <= max_amps)
);
