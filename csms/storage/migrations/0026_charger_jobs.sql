-- Firmware updates and log uploads as jobs, one per charger, and rollouts that start them a few
-- at a time. A job's id is the requestId the charger gets (2.0.1, 1.6 security whitepaper), so its
-- status notifications find it; a 1.6 core charger's find its latest job of that kind.
CREATE TABLE rollouts (
    id              bigserial PRIMARY KEY,
    max_concurrent  integer NOT NULL CHECK (max_concurrent > 0),
    offline_policy  text NOT NULL CHECK (offline_policy IN ('wait', 'fail')),
    status          text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'finished')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz
);

CREATE TABLE charger_jobs (
    id               bigserial PRIMARY KEY,
    charge_point_id  text NOT NULL REFERENCES charge_points (id),
    kind             text NOT NULL CHECK (kind IN ('firmware', 'log')),
    state            text NOT NULL CHECK (state IN ('queued', 'requested', 'downloading',
                         'downloaded', 'installing', 'installed', 'uploading', 'uploaded',
                         'failed')),
    parameters       jsonb NOT NULL,
    -- The latest status the charger sent (its own word, e.g. InvalidSignature), or why we failed it.
    last_status      text,
    file_name        text,  -- the log's name on the upload server, as the charger said
    rollout_id       bigint REFERENCES rollouts (id),
    -- Nothing is expected from the charger before then (retrieve / install date): no stall.
    not_before       timestamptz NOT NULL DEFAULT now(),
    created_at       timestamptz NOT NULL DEFAULT now(),
    requested_at     timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz
);
CREATE INDEX charger_jobs_charge_point ON charger_jobs (charge_point_id, kind, id DESC);
CREATE INDEX charger_jobs_rollout ON charger_jobs (rollout_id, state) WHERE rollout_id IS NOT NULL;
CREATE INDEX charger_jobs_open ON charger_jobs (state)
    WHERE state NOT IN ('installed', 'uploaded', 'failed');
