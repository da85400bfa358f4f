-- Durable roaming delivery: every outbound roaming message is a row, written in the transaction
-- of the domain change that caused it, delivered one at a time per partner in id order.

CREATE TABLE outbox (
    id              bigserial PRIMARY KEY,
    partner         text NOT NULL,
    operation       text NOT NULL,
    path            text NOT NULL,
    body            jsonb NOT NULL,
    -- A pending message with the same key is replaced by a newer one (newest state wins);
    -- version counts replacements so a delivery of an older body does not mark the newer one.
    coalesce_key    text,
    version         integer NOT NULL DEFAULT 1,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz
);
CREATE INDEX outbox_pending ON outbox (partner, id) WHERE status = 'pending';
CREATE UNIQUE INDEX outbox_coalesce ON outbox (partner, coalesce_key)
    WHERE status = 'pending' AND coalesce_key IS NOT NULL;
CREATE INDEX outbox_recent ON outbox (partner, status, id DESC);
CREATE INDEX outbox_key ON outbox (partner, coalesce_key, created_at DESC) WHERE coalesce_key IS NOT NULL;
