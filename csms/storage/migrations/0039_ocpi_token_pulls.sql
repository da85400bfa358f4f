-- Pulls of each OCPI partner's token list (GET on its Tokens Sender): in full after registration
-- and on demand, incrementally (date_from) on a schedule. One row per partner; a node takes a due
-- pull by claiming the row for a while (claimed_by, claimed_until), so several nodes sharing this
-- database never pull one partner at once, and a node that dies mid-pull frees it when that ends.
CREATE TABLE ocpi_token_pulls (
    partner_id     bigint PRIMARY KEY REFERENCES ocpi_partners (id) ON DELETE CASCADE,
    -- A full pull was asked for at this time (registration, credentials update, the operator);
    -- NULL: the next pull is incremental. Cleared only by a full pull that began after it.
    full_asked_at  timestamptz DEFAULT now(),
    next_due       timestamptz NOT NULL DEFAULT now(),
    claimed_by     text,
    claimed_until  timestamptz,
    started_at     timestamptz,                       -- when the pull under way (or the last) began
    last_full_at   timestamptz,                       -- when the last complete full pull began
    last_pull_at   timestamptz,                       -- when the last successful pull began
    newest_seen    timestamptz,                       -- the newest last_updated a pull brought
    last_count     integer,                           -- tokens the last successful pull stored
    last_error     text,
    last_error_at  timestamptz,
    failures       integer NOT NULL DEFAULT 0          -- in a row, since the last success
);

-- Partners registered before pulls existed get their first, full one.
INSERT INTO ocpi_token_pulls (partner_id) SELECT id FROM ocpi_partners WHERE status = 'registered';

-- A full pull withdraws the partner's tokens it no longer lists: found by owner.
CREATE INDEX tokens_owner ON tokens (owner) WHERE owner IS NOT NULL;
