-- Every CDR we send, kept as sent: a CDR is immutable once sent (OCPI 2.2.1 mod_cdrs "Flow and
-- Lifecycle"), so a correction is a credit CDR and a new one, each a row of its own here.
CREATE TABLE cdrs (
    -- The CDR's id as its partner knows it: OCPI's CDR.id, OICP's CPOPartnerSessionID.
    id                  text PRIMARY KEY,
    protocol            text NOT NULL CHECK (protocol IN ('ocpi', 'oicp')),
    partner             text NOT NULL,  -- the outbox partner it goes to
    session_id          text,           -- our session (an OICP reservation's record: its id)
    outbox_id           bigint,         -- the message that carries it (none if purged before)
    body                jsonb NOT NULL,
    credit              boolean NOT NULL DEFAULT false,
    credit_reference_id text REFERENCES cdrs (id),  -- a credit CDR: the CDR it credits
    reissue_of          text REFERENCES cdrs (id),  -- a corrected CDR: the CDR it replaces
    created_at          timestamptz NOT NULL DEFAULT now(),
    CHECK (credit = (credit_reference_id IS NOT NULL)),
    CHECK (NOT (credit AND reissue_of IS NOT NULL))
);
-- A CDR is credited once, even when two operators try at the same moment.
CREATE UNIQUE INDEX cdrs_credited_once ON cdrs (credit_reference_id) WHERE credit;
CREATE INDEX cdrs_session ON cdrs (session_id);
CREATE INDEX cdrs_partner ON cdrs (partner, created_at, id);

-- The CDRs sent before this table: from the outbox messages that still carry them.
INSERT INTO cdrs (id, protocol, partner, session_id, outbox_id, body, created_at)
SELECT DISTINCT ON (body->>'id') body->>'id', 'ocpi', partner, body->>'session_id', id, body,
       created_at
FROM outbox WHERE operation = 'POST cdrs' AND body ? 'id'
ORDER BY body->>'id', id
ON CONFLICT DO NOTHING;
INSERT INTO cdrs (id, protocol, partner, session_id, outbox_id, body, created_at)
SELECT DISTINCT ON (body->>'CPOPartnerSessionID') body->>'CPOPartnerSessionID', 'oicp', partner,
       body->>'CPOPartnerSessionID', id, body, created_at
FROM outbox WHERE operation = 'ChargeDetailRecord' AND body ? 'CPOPartnerSessionID'
ORDER BY body->>'CPOPartnerSessionID', id
ON CONFLICT DO NOTHING;
