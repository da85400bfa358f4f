-- Reservations of any EVSE of a charger (2.0.1 ReserveNow without evseId, 1.6 connector 0),
-- optionally of one connector type (2.0.1 connectorType); token groups (2.0.1 groupIdToken,
-- 1.6 parentIdTag): tokens of one group may stop each other's sessions and use each other's
-- reservations.
ALTER TABLE reservations ALTER COLUMN evse DROP NOT NULL;
ALTER TABLE reservations ADD COLUMN connector_type text;
ALTER TABLE tokens ADD COLUMN group_id text;
CREATE INDEX reservations_any_evse ON reservations (charge_point_id)
    WHERE evse IS NULL AND status IN ('requested', 'active');
