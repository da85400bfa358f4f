-- The 2.0.1 device model: what a charger reports of itself (NotifyReport), its monitors, its
-- events, display messages and customer information, each request tracked by its requestId.
CREATE SEQUENCE device_request_ids;

-- One row per request whose answer comes in parts (NotifyReport, NotifyMonitoringReport,
-- NotifyCustomerInformation, NotifyDisplayMessages): requested → receiving → complete, or the
-- charger's own refusal (rejected, empty).
CREATE TABLE device_requests (
    charge_point_id text NOT NULL REFERENCES charge_points (id) ON DELETE CASCADE,
    request_id      bigint NOT NULL,  -- ours, or one a charger made up (any JSON integer)
    kind            text NOT NULL,
    status          text NOT NULL DEFAULT 'requested',
    parts           integer NOT NULL DEFAULT 0,
    data            text NOT NULL DEFAULT '',  -- customer information, assembled in seqNo order
    requested_at    timestamptz NOT NULL DEFAULT now(),
    completed_at    timestamptz,
    PRIMARY KEY (charge_point_id, request_id)
);

-- A variable of a component with its attributes (Actual/Target/MinSet/MaxSet) and
-- characteristics; '' and 0 stand for "no instance", "no EVSE", "no connector".
CREATE TABLE device_variables (
    charge_point_id    text NOT NULL REFERENCES charge_points (id) ON DELETE CASCADE,
    component          text NOT NULL,
    component_instance text NOT NULL DEFAULT '',
    evse_id            integer NOT NULL DEFAULT 0,
    connector_id       integer NOT NULL DEFAULT 0,
    variable           text NOT NULL,
    variable_instance  text NOT NULL DEFAULT '',
    attributes         jsonb NOT NULL DEFAULT '[]',
    characteristics    jsonb,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (charge_point_id, component, component_instance, evse_id, connector_id,
                 variable, variable_instance)
);

-- Monitors as the charger reported or accepted them.
CREATE TABLE device_monitors (
    charge_point_id    text NOT NULL REFERENCES charge_points (id) ON DELETE CASCADE,
    monitor_id         bigint NOT NULL,
    component          text NOT NULL,
    component_instance text NOT NULL DEFAULT '',
    evse_id            integer NOT NULL DEFAULT 0,
    connector_id       integer NOT NULL DEFAULT 0,
    variable           text NOT NULL,
    variable_instance  text NOT NULL DEFAULT '',
    type               text NOT NULL,
    value              double precision NOT NULL,
    severity           integer NOT NULL,
    transaction        boolean NOT NULL DEFAULT false,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (charge_point_id, monitor_id)
);

CREATE TABLE device_events (
    id                 bigserial PRIMARY KEY,
    charge_point_id    text NOT NULL REFERENCES charge_points (id) ON DELETE CASCADE,
    event_id           bigint NOT NULL,
    occurred_at        timestamptz NOT NULL,
    trigger            text NOT NULL,
    notification_type  text NOT NULL,
    component          text NOT NULL,
    component_instance text NOT NULL DEFAULT '',
    evse_id            integer NOT NULL DEFAULT 0,
    connector_id       integer NOT NULL DEFAULT 0,
    variable           text NOT NULL,
    variable_instance  text NOT NULL DEFAULT '',
    actual_value       text NOT NULL,
    cleared            boolean NOT NULL DEFAULT false,
    details            jsonb NOT NULL DEFAULT '{}',  -- cause, techCode, techInfo, variableMonitoringId …
    received_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX device_events_by_charger ON device_events (charge_point_id, occurred_at DESC);

-- Display messages as set by us or reported by the charger (NotifyDisplayMessages).
CREATE TABLE device_display_messages (
    charge_point_id text NOT NULL REFERENCES charge_points (id) ON DELETE CASCADE,
    message_id      bigint NOT NULL,
    priority        text NOT NULL,
    state           text,
    content         text NOT NULL,
    format          text NOT NULL,
    language        text,
    evse_id         integer,
    starts_at       timestamptz,
    ends_at         timestamptz,
    transaction_id  text,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (charge_point_id, message_id)
);
