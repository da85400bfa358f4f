-- A 1.6 StartTransaction carries no transaction id: a resend after a lost answer is recognised
-- by what the charger sent (connector, idTag, timestamp, meterStart), whatever node it reaches.
CREATE INDEX sessions_start_sent ON sessions (charge_point_id, connector_number, started_at)
    WHERE transaction_id IS NOT NULL;

-- A remote start the charger never took up expires; it is no longer "pending".
ALTER TABLE sessions DROP CONSTRAINT sessions_status_check;
ALTER TABLE sessions ADD CONSTRAINT sessions_status_check
    CHECK (status IN ('pending', 'active', 'completed', 'failed', 'rejected', 'expired'));
