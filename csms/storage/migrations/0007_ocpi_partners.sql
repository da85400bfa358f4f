-- OCPI partners (eMSPs, hubs): the credentials exchanged with each, and where their modules are.
CREATE TABLE ocpi_partners (
    id              bigserial PRIMARY KEY,
    name            text NOT NULL DEFAULT '',
    -- pending: a Token A was issued (or we are registering); registered; unregistered.
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'registered', 'unregistered')),
    -- Tokens they present to us, kept as SHA-256 digests only: the registration Token A, then ours.
    token_a_hash    text UNIQUE,
    token_hash      text UNIQUE,
    -- The token we present to them, and how (base64 as OCPI 2.2.1 says, or plain for older peers).
    their_token     text,
    token_format    text NOT NULL DEFAULT 'base64' CHECK (token_format IN ('base64', 'plain')),
    versions_url    text,
    version         text,
    endpoints       jsonb NOT NULL DEFAULT '[]',
    roles           jsonb NOT NULL DEFAULT '[]',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- When an EVSE last changed in any way (status, EvseID, retirement, its charger's site): OCPI's
-- last_updated, and the order partners page through locations in.
ALTER TABLE evses ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
CREATE FUNCTION touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END $$;
CREATE TRIGGER evses_touch BEFORE UPDATE ON evses FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
CREATE INDEX sites_updated ON sites (updated_at, id);
