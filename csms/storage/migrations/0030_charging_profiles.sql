-- The charging profiles we sent each charger (per EVSE; 0: the whole charger) and what the charger
-- answered: Accepted (it holds the profile), Rejected (it refused it), or Pending (no answer came:
-- it may hold it). A profile id is unique per charger (1.6 §3.13.2, 2.0.1 K01.FR.05): a new
-- profile with the same id replaces the old one.
CREATE TABLE charging_profiles (
    charge_point_id text NOT NULL REFERENCES charge_points (id) ON DELETE CASCADE,
    profile_id integer NOT NULL,
    evse integer NOT NULL CHECK (evse >= 0),
    purpose text NOT NULL,
    stack_level integer NOT NULL CHECK (stack_level >= 0),
    profile jsonb NOT NULL,
    status text NOT NULL DEFAULT 'Pending' CHECK (status IN ('Pending', 'Accepted', 'Rejected')),
    detail text,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (charge_point_id, profile_id)
);
