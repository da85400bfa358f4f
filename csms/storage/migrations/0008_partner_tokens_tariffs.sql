-- Tokens a roaming partner issued (OCPI eMSPs push theirs): who owns each, whether to ask the
-- owner before accepting it, and what the sessions it starts keep (the partner's own token data).
ALTER TABLE tokens ADD COLUMN owner text;
ALTER TABLE tokens ADD COLUMN realtime boolean NOT NULL DEFAULT false;
ALTER TABLE tokens ADD COLUMN attributes jsonb NOT NULL DEFAULT '{}';
ALTER TABLE tokens ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();

-- Tariffs (OCPI's tariff model), every version kept: a session is priced by the version that
-- was valid when it started.
CREATE TABLE tariff_versions (
    id          text NOT NULL,
    valid_from  timestamptz NOT NULL DEFAULT clock_timestamp(),
    data        jsonb,  -- NULL: the tariff was deleted
    PRIMARY KEY (id, valid_from)
);
