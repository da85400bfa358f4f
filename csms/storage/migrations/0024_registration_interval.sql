-- The registration policy per charger: a Pending (or Rejected) charger is told to boot again after
-- this many seconds (BootNotificationResponse interval); NULL: the heartbeat interval.
ALTER TABLE charge_points ADD COLUMN registration_interval integer
    CHECK (registration_interval > 0);
