"""What we publish to OCPI partners: Locations, EVSE statuses, whole-object syncs, session places."""
