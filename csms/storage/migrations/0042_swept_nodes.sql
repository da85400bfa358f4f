-- A swept node's row stays, marked swept (a tombstone), for some leases after: every sweep still
-- releases what is recorded as connected under it (an index probe on charge_points_connected_node,
-- no row read when there is none), so a charger a stalled node recorded after it was swept, just
-- before it died for good, is released too. A node that renews takes its row back (swept_at NULL).
ALTER TABLE nodes ADD COLUMN swept_at timestamptz;
