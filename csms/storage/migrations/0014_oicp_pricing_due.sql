-- Prices must be worked out again for Hubject: set in the transaction of the change that caused it
-- (a tariff, an assignment, EVSE data), cleared in the one that queues the pushes. Loading a site of
-- thousands of chargers then costs one computation of the prices instead of one per charger.
CREATE TABLE oicp_pricing_due (
    due   boolean PRIMARY KEY DEFAULT true CHECK (due),
    since timestamptz NOT NULL DEFAULT now()
);
