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

-- 'Pending': a raise on its way (counted at the larger, new value); 'Unanswered': the charger did
-- not answer (timeout, connection lost): it may hold either, so it counts at its maximum.
ALTER TABLE evse_allowances DROP CONSTRAINT evse_allowances_status_check;
ALTER TABLE evse_allowances ADD CONSTRAINT evse_allowances_status_check
    CHECK (status IN ('Pending', 'Accepted', 'Rejected', 'Unanswered'));
