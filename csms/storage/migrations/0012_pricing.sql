-- Which tariff an EVSE charges by, for which roaming EMP. Every change is a new row, so a
-- session is priced by the assignment in force when it started (as with tariff_versions).
-- provider_id '*': every EMP; evse_id '*': every EVSE; tariff_id NULL: the assignment ended.
CREATE TABLE tariff_assignments (
    id          bigserial PRIMARY KEY,
    provider_id text NOT NULL DEFAULT '*',
    evse_id     text NOT NULL DEFAULT '*',
    tariff_id   text,
    valid_from  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX tariff_assignments_lookup ON tariff_assignments (provider_id, evse_id, valid_from DESC);

-- What Hubject will hold once every queued pricing push is delivered, per data set
-- ('products:<ProviderID>' or 'evse-pricing'), so a change pushes only what differs.
CREATE TABLE oicp_pricing_sent (
    dataset text NOT NULL,
    key     text NOT NULL,
    record  jsonb NOT NULL,
    PRIMARY KEY (dataset, key)
);

-- The cost of each roaming session as its tariff computed it, whichever protocol carried it.
CREATE TABLE session_costs (
    session_id  uuid PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
    protocol    text NOT NULL,
    provider_id text,
    tariff_id   text,
    product_id  text,
    currency    text NOT NULL,
    costing     jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
