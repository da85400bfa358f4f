-- OCPI hubs (OCPI 2.2.1 transport_and_format "Message Routing", mod_hub_client_info).
-- The parties a hub reports connected to it (its ClientInfo objects, pushed to our receiver),
-- with their connection status.
CREATE TABLE ocpi_hub_clients (
    partner_id   integer NOT NULL REFERENCES ocpi_partners (id) ON DELETE CASCADE,
    country_code text NOT NULL,
    party_id     text NOT NULL,
    role         text NOT NULL,
    status       text NOT NULL CHECK (status IN ('CONNECTED', 'OFFLINE', 'PLANNED', 'SUSPENDED')),
    last_updated timestamptz NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (partner_id, country_code, party_id)
);

-- The party a message is for when it goes through a hub ('CC*PID', its OCPI-to- headers);
-- NULL: the partner itself.
ALTER TABLE outbox ADD COLUMN addressee text;
-- A message for a party the hub says is not CONNECTED waits (pending, skipped by the lane's
-- worker) until the hub says it is again: held rather than dropped, so nothing is lost.
ALTER TABLE outbox ADD COLUMN held boolean NOT NULL DEFAULT false;
CREATE INDEX outbox_held ON outbox (partner, addressee) WHERE held;
