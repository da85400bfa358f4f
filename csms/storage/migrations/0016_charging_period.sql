-- When energy began to flow in a session, apart from the session's own start (authorization,
-- transaction): the first increase of the energy register, or the charger's Charging state. Its
-- end follows from the stored meter samples once the session is over (csms/charging.py).
ALTER TABLE sessions ADD COLUMN charging_started_at timestamptz;
