-- Reservations of an EVSE for one token until expires_at (OCPP ReserveNow / CancelReservation).
CREATE SEQUENCE reservation_ids AS integer MINVALUE 1 CYCLE;

CREATE TABLE reservations (
    id              integer PRIMARY KEY DEFAULT nextval('reservation_ids'),
    charge_point_id text NOT NULL REFERENCES charge_points (id) ON DELETE CASCADE,
    evse            bigint NOT NULL REFERENCES evses (id) ON DELETE CASCADE,
    token_uid       text NOT NULL,
    expires_at      timestamptz NOT NULL,
    -- requested: sent to the charger; active: it accepted; refused; then ended as
    -- cancelled, expired or used (a session started with it).
    status          text NOT NULL DEFAULT 'requested'
                    CHECK (status IN ('requested', 'active', 'refused', 'cancelled', 'expired', 'used')),
    attributes      jsonb NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    ended_at        timestamptz
);
CREATE INDEX reservations_active ON reservations (expires_at) WHERE status = 'active';
CREATE UNIQUE INDEX reservations_oicp_session_id ON reservations ((attributes -> 'oicp' ->> 'SessionID'))
    WHERE attributes ? 'oicp' AND status <> 'refused';
