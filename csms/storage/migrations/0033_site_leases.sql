-- The load manager at runtime: which node manages a site (a lease, as nodes hold chargers), when it
-- last re-allocated it, and which session each EVSE's allowance was given for.
CREATE TABLE site_leases (
    site_id      text PRIMARY KEY,          -- a site's id, or 'cp:<charge point>' for caps alone
    node_id      text NOT NULL,
    until        timestamptz NOT NULL,
    evaluated_at timestamptz                -- when the last completed allocation round began
);

-- The session an allowance belongs to (a Tx profile ends with its transaction); a Rejected row
-- outlives its session: that charger is counted at its maximum until it takes a profile.
ALTER TABLE evse_allowances ADD COLUMN session_id uuid;
