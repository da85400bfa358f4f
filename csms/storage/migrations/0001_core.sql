-- Core domain: charge points, EVSEs, connectors, tokens, sessions, meter samples, charger reports.

CREATE TABLE charge_points (
    id               text PRIMARY KEY,
    password_hash    text,
    registration     text NOT NULL DEFAULT 'accepted'
                     CHECK (registration IN ('accepted', 'pending', 'rejected')),
    protocol         text,
    vendor           text,
    model            text,
    serial_number    text,
    firmware_version text,
    boot_status      text,
    status           text NOT NULL DEFAULT 'unknown',
    error_code       text,
    connected        boolean NOT NULL DEFAULT false,
    connected_at     timestamptz,
    last_seen        timestamptz,
    last_boot        timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE evses (
    id               bigserial PRIMARY KEY,
    charge_point_id  text NOT NULL REFERENCES charge_points (id) ON DELETE CASCADE,
    evse_number      integer NOT NULL CHECK (evse_number > 0),
    evse_id          text UNIQUE,
    status           text NOT NULL DEFAULT 'unknown',
    ocpp_status      text,
    error_code       text,
    status_at        timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (charge_point_id, evse_number)
);

CREATE TABLE connectors (
    evse            bigint NOT NULL REFERENCES evses (id) ON DELETE CASCADE,
    connector_number integer NOT NULL,
    status          text NOT NULL DEFAULT 'unknown',
    ocpp_status     text,
    error_code      text,
    status_at       timestamptz,
    PRIMARY KEY (evse, connector_number)
);

CREATE TABLE tokens (
    uid        text PRIMARY KEY,
    type       text NOT NULL DEFAULT 'RFID',
    status     text NOT NULL DEFAULT 'accepted'
               CHECK (status IN ('accepted', 'blocked', 'expired', 'invalid')),
    expires_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- 1.6 transaction ids are ours to issue; OCPP 1.6 wants a 32-bit integer.
CREATE SEQUENCE ocpp16_transaction_ids AS integer MINVALUE 1 CYCLE;
CREATE SEQUENCE remote_start_ids AS integer MINVALUE 1 CYCLE;

CREATE TABLE sessions (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    charge_point_id  text NOT NULL REFERENCES charge_points (id) ON DELETE CASCADE,
    evse             bigint NOT NULL REFERENCES evses (id) ON DELETE CASCADE,
    connector_number integer,
    transaction_id   text,
    token_uid        text,
    status           text NOT NULL
                     CHECK (status IN ('pending', 'active', 'completed', 'failed', 'rejected')),
    remote           boolean NOT NULL DEFAULT false,
    remote_start_id  integer,
    authorization_status text,
    requested_at     timestamptz,
    started_at       timestamptz,
    stopped_at       timestamptz,
    meter_start_wh   double precision,
    meter_stop_wh    double precision,
    stop_reason      text,
    last_seq_no      integer,
    attributes       jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX sessions_transaction ON sessions (charge_point_id, transaction_id)
    WHERE transaction_id IS NOT NULL;
-- At most one running session per EVSE: the database enforces ConcurrentTx too.
CREATE UNIQUE INDEX sessions_one_active_per_evse ON sessions (evse) WHERE status = 'active';
CREATE INDEX sessions_status ON sessions (status, created_at DESC);
CREATE INDEX sessions_evse ON sessions (evse, created_at DESC);
CREATE INDEX sessions_pending ON sessions (charge_point_id, remote_start_id) WHERE status = 'pending';

CREATE TABLE meter_samples (
    id              bigserial PRIMARY KEY,
    session_id      uuid REFERENCES sessions (id) ON DELETE CASCADE,
    charge_point_id text NOT NULL REFERENCES charge_points (id) ON DELETE CASCADE,
    evse            bigint REFERENCES evses (id) ON DELETE CASCADE,
    sampled_at      timestamptz NOT NULL,
    measurand       text NOT NULL,
    value           double precision NOT NULL,
    unit            text,
    context         text,
    phase           text,
    location        text
);
CREATE INDEX meter_samples_session ON meter_samples (session_id, sampled_at);

-- What chargers tell us that needs no domain model yet: DataTransfer, firmware and
-- diagnostics status, NotifyEvent, SecurityEventNotification, NotifyReport.
CREATE TABLE charge_point_reports (
    id              bigserial PRIMARY KEY,
    charge_point_id text NOT NULL REFERENCES charge_points (id) ON DELETE CASCADE,
    kind            text NOT NULL,
    payload         jsonb NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX charge_point_reports_cp ON charge_point_reports (charge_point_id, kind, received_at DESC);
