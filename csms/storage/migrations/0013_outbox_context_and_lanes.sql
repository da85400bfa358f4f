-- The charger and session a roaming message is about, so its delivery logs name them too.
ALTER TABLE outbox ADD COLUMN log_context jsonb;

-- Lanes within a partner, each delivered in order and one request at a time: "" for data pushes,
-- s0… for sessions' messages (bridge/outbox.py, SESSION_LANES).
ALTER TABLE outbox ADD COLUMN lane text NOT NULL DEFAULT '';
DROP INDEX outbox_pending;
CREATE INDEX outbox_pending ON outbox (partner, lane, id) WHERE status = 'pending';
ALTER TABLE outbox_lanes ADD COLUMN lane text NOT NULL DEFAULT '';
ALTER TABLE outbox_lanes DROP CONSTRAINT outbox_lanes_pkey, ADD PRIMARY KEY (partner, lane);
