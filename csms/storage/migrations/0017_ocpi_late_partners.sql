-- A partner that registers after the sites were loaded gets every Location and Tariff, a page at a
-- time: where that full push stands (NULL: none due), so a restart or another node carries it on.
ALTER TABLE ocpi_partners
    ADD COLUMN sync_stage text CHECK (sync_stage IN ('locations', 'tariffs')),
    ADD COLUMN sync_after text NOT NULL DEFAULT '';

-- The OCPI status each partner was last sent (or has queued) for each EVSE: the same status twice
-- in a row (several domain states map to one OCPI status) is not pushed again.
CREATE TABLE ocpi_evse_status_sent (
    partner_id  bigint NOT NULL REFERENCES ocpi_partners ON DELETE CASCADE,
    evse_uid    text NOT NULL,
    status      text NOT NULL,
    PRIMARY KEY (partner_id, evse_uid)
);
