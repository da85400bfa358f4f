-- The parties (country_code, party_id) each OCPI partner may act for, as the operator named them when
-- issuing its Token A or registering with it: its credentials may claim no other, and a party
-- belongs to one partner at a time (never to two, never to us).
CREATE TABLE ocpi_parties (
    country_code text NOT NULL,
    party_id     text NOT NULL,
    role         text,  -- NULL: any role
    partner_id   bigint NOT NULL REFERENCES ocpi_partners ON DELETE CASCADE,
    PRIMARY KEY (country_code, party_id)
);
CREATE INDEX ocpi_parties_partner ON ocpi_parties (partner_id);
-- Partners registered before: bound to what they claimed then (the first partner keeps a party
-- two of them claimed).
INSERT INTO ocpi_parties (country_code, party_id, partner_id)
SELECT upper(r ->> 'country_code'), upper(r ->> 'party_id'), p.id
FROM ocpi_partners p, jsonb_array_elements(p.roles) r
WHERE p.status = 'registered' AND r ->> 'country_code' IS NOT NULL AND r ->> 'party_id' IS NOT NULL
ORDER BY p.id
ON CONFLICT DO NOTHING;

-- Tokens are OCPI's (country_code, party_id, uid): two eMSPs' cards with one UID are two tokens.
-- Our own tokens (owner NULL) have an empty party.
ALTER TABLE tokens ADD COLUMN country_code text NOT NULL DEFAULT '',
                   ADD COLUMN party_id text NOT NULL DEFAULT '';
UPDATE tokens SET
    country_code = upper(COALESCE(attributes #>> '{ocpi,object,country_code}',
                                  attributes #>> '{ocpi,token,country_code}', '')),
    party_id = upper(COALESCE(attributes #>> '{ocpi,object,party_id}',
                              attributes #>> '{ocpi,token,party_id}', ''))
WHERE owner IS NOT NULL;
ALTER TABLE tokens DROP CONSTRAINT tokens_pkey;
ALTER TABLE tokens ADD PRIMARY KEY (country_code, party_id, uid);
CREATE INDEX tokens_uid ON tokens (uid);
