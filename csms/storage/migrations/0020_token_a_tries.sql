-- A Token A serves a few credentials exchanges only: each POST with it spends a try, and once
-- they are spent it authenticates nobody (a failed exchange must not be repeatable at will).
ALTER TABLE ocpi_partners ADD COLUMN token_a_tries integer NOT NULL DEFAULT 0;
