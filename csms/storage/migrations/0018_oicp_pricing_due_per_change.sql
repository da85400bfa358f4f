-- A mark per change instead of one shared row. A change that found the shared mark already set
-- relied on it; when a pricer took that mark before the change committed, the pricer worked the
-- prices out without the change and the change left no mark: its pricing never reached Hubject.
-- A change's own row stays invisible to a pricer until it commits, so it is taken only after.
ALTER TABLE oicp_pricing_due DROP CONSTRAINT oicp_pricing_due_pkey;
ALTER TABLE oicp_pricing_due DROP COLUMN due;
ALTER TABLE oicp_pricing_due ADD COLUMN id bigserial PRIMARY KEY;
