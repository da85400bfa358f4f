-- Local authorization lists: what each charger holds (as last accepted by it), and a signal to
-- every node when a token changes, whoever changed it (API, CLI, a roaming partner's push).
CREATE TABLE local_lists (
    charge_point_id text PRIMARY KEY REFERENCES charge_points ON DELETE CASCADE,
    supported       boolean,            -- NULL: not asked yet
    version         integer NOT NULL DEFAULT 0,   -- the list version we last had accepted
    entries         jsonb NOT NULL DEFAULT '{}',  -- uid -> entry, as the charger holds them
    state           text NOT NULL DEFAULT 'unknown'
                    CHECK (state IN ('unknown', 'synced', 'failed', 'unsupported')),
    detail          text,
    full_requested  boolean NOT NULL DEFAULT false,
    synced_at       timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION local_list_token_changed() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('csms_local_list', '');
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER tokens_local_list AFTER INSERT OR UPDATE OR DELETE ON tokens
    FOR EACH STATEMENT EXECUTE FUNCTION local_list_token_changed();
