-- Sites: where charge points stand and what their EVSEs offer (static data for roaming partners).
CREATE TABLE sites (
    id         text PRIMARY KEY,
    data       jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE charge_points ADD COLUMN site_id text REFERENCES sites (id);
-- A retired EVSE keeps its history but is no longer offered to anyone.
ALTER TABLE evses ADD COLUMN retired_at timestamptz;

-- The static EVSE record each roaming partner was last sent, to derive insert/update/delete.
CREATE TABLE roaming_evse_data (
    protocol        text NOT NULL,
    evse_id         text NOT NULL,
    charge_point_id text NOT NULL,
    record          jsonb NOT NULL,
    PRIMARY KEY (protocol, evse_id)
);
