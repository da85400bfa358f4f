-- Each charger's configuration as it last told us (1.6 GetConfiguration/ChangeConfiguration keys,
-- 2.0.1 GetVariables/SetVariables as 'Component.Variable'): the last known value, whether it is
-- read-only (unknown for 2.0.1 until a report says), and the keys the charger does not know.
CREATE TABLE charger_configuration (
    charge_point_id text NOT NULL REFERENCES charge_points (id) ON DELETE CASCADE,
    key text NOT NULL,
    value text,
    readonly boolean,
    known boolean NOT NULL DEFAULT true,
    status text,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (charge_point_id, key)
);
