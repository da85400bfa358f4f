-- When energy flowed in a session, apart from the session's own start and end (authorization,
-- transaction): the first and last increase of the energy register, or the charger's Charging
-- state. energy_seen_wh is the highest register reading seen so far, what an increase is measured by.
ALTER TABLE sessions ADD COLUMN charging_started_at timestamptz,
                     ADD COLUMN charging_ended_at timestamptz,
                     ADD COLUMN energy_seen_wh double precision;
