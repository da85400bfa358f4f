-- Positive answers of roaming partners for foreign tokens: the session a charger starts
-- seconds later takes the partner's session id from here, and a flaky link falls back on them.
CREATE TABLE roaming_authorizations (
    id bigserial PRIMARY KEY,
    protocol text NOT NULL,
    token_uid text NOT NULL,
    charge_point_id text NOT NULL,
    roaming_session_id text,
    attributes jsonb NOT NULL,
    authorized_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX roaming_authorizations_token ON roaming_authorizations (protocol, token_uid, authorized_at DESC);
