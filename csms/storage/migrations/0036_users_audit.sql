-- Named users with a role, API tokens for users and integrations, and the audit trail of every
-- change and command. api.token from the config stays a bootstrap admin token beside these.
CREATE TABLE users (
    id bigserial PRIMARY KEY,
    name text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9._@-]{1,64}$'),
    role text NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
    -- scrypt (csms/security/credentials.py): a password is guessable, so its hash must be slow.
    password_hash text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    disabled_at timestamptz,
    password_changed_at timestamptz NOT NULL DEFAULT now()
);

-- A token is 256 random bits: its SHA-256 is as safe to keep as a slow hash and costs nothing to
-- check on each request. user_id null: an integration's token, not a person's.
CREATE TABLE api_tokens (
    id bigserial PRIMARY KEY,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    user_id bigint REFERENCES users (id) ON DELETE CASCADE,
    role text NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
    token_hash bytea NOT NULL UNIQUE,
    prefix text NOT NULL,  -- the first characters, to tell tokens apart in a list
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz,
    revoked_at timestamptz,
    last_used_at timestamptz
);

-- Who logged in to the console (null: with api.token).
ALTER TABLE console_sessions ADD COLUMN user_id bigint REFERENCES users (id) ON DELETE CASCADE;

CREATE TABLE audit_log (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    actor text NOT NULL,          -- user name, token name, api.token, cli:<os user>
    actor_kind text NOT NULL CHECK (actor_kind IN ('user', 'token', 'config', 'cli', 'anonymous')),
    via text NOT NULL CHECK (via IN ('api', 'console', 'cli')),
    client text,                  -- the client address (API), null for the CLI
    resource text NOT NULL,       -- what kind of thing: charge-points, sessions, users, …
    action text NOT NULL,         -- the route ("POST /charge-points/{cp}/reset") or CLI command
    target text,                  -- the thing itself: the request's path, or the CLI's arguments
    parameters jsonb NOT NULL DEFAULT '{}'::jsonb,  -- secrets masked
    outcome integer,              -- HTTP status or CLI exit code; null: still under way (or lost)
    result text                   -- the command's outcome or the error, in words
);
CREATE INDEX audit_log_at ON audit_log (at DESC);
CREATE INDEX audit_log_actor ON audit_log (actor, at DESC);
