-- The web console's logins, valid on every node. Only a hash of each session id is kept, keyed
-- with the API token: a copy of this table logs nobody in, and a new token voids every login.
-- A later users table adds a user column here (who logged in); today it is the token's holder.
CREATE TABLE console_sessions (
    id_hash bytea PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX console_sessions_expires_at ON console_sessions (expires_at);
