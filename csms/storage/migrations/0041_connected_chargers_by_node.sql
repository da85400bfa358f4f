-- The sweep looks up only the chargers of nodes whose lease ran out (and a node's own at its start
-- and when it leaves): connected ones, by node. NULL ids are kept in too, for the start's check
-- of chargers recorded as connected to no node. It replaces the index on every recorded node_id,
-- which nothing else looks up (a disconnected charger's node_id is NULL anyway).
CREATE INDEX charge_points_connected_node ON charge_points (node_id) WHERE connected;
DROP INDEX charge_points_node;
