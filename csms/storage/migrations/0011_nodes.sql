-- Several `csms run` processes share this database: which node holds which charger, and for how long.
CREATE TABLE nodes (
    id text PRIMARY KEY,
    started_at timestamptz NOT NULL DEFAULT now(),
    lease_until timestamptz NOT NULL
);
-- No foreign key: a node that lost its lease may still be finishing a connection's last writes.
ALTER TABLE charge_points ADD COLUMN node_id text;
CREATE INDEX charge_points_node ON charge_points (node_id) WHERE node_id IS NOT NULL;

-- One row per outbox partner, locked by the node delivering that partner's next message.
CREATE TABLE outbox_lanes (partner text PRIMARY KEY);

-- Answers too long for a NOTIFY payload (a charger's whole configuration), fetched once by id.
CREATE UNLOGGED TABLE relay_replies (
    id uuid PRIMARY KEY,
    answer jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
