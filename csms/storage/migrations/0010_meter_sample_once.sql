-- A charger that did not get our answer sends its meter values again: each sample is stored once.
DELETE FROM meter_samples a USING meter_samples b
WHERE a.id > b.id AND a.charge_point_id = b.charge_point_id
  AND a.evse IS NOT DISTINCT FROM b.evse AND a.sampled_at = b.sampled_at
  AND a.measurand = b.measurand AND a.phase IS NOT DISTINCT FROM b.phase
  AND a.location IS NOT DISTINCT FROM b.location AND a.context IS NOT DISTINCT FROM b.context;
CREATE UNIQUE INDEX meter_samples_once ON meter_samples
    (charge_point_id, COALESCE(evse, 0), sampled_at, measurand, COALESCE(phase, ''),
     COALESCE(location, ''), COALESCE(context, ''));
