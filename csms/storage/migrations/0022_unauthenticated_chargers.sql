-- Security profile 0: a charger the operator registered explicitly as one that connects without
-- credentials (`csms charge-points add CP1 --no-password`). Profiles 1 and 2 mean Basic auth: a
-- charger of those without a password is refused unless ocpp.allow_unauthenticated is on.
ALTER TABLE charge_points DROP CONSTRAINT charge_points_security_profile_check;
ALTER TABLE charge_points ADD CONSTRAINT charge_points_security_profile_check
    CHECK (security_profile BETWEEN 0 AND 3);
