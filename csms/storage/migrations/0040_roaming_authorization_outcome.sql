-- Refusals are kept too: the newest answer for a card decides whether a cached authorization may
-- stand in while the partner cannot be reached (a card refused since is not let in on an older
-- positive answer). status_code: the partner's reason (OICP StatusCode), for the log and support.
ALTER TABLE roaming_authorizations
    ADD COLUMN authorized boolean NOT NULL DEFAULT true,
    ADD COLUMN status_code text;
-- Answers older than any use for them (the cache's lifetime) are pruned as new ones come.
CREATE INDEX roaming_authorizations_age ON roaming_authorizations (authorized_at);
