"""Pure translations between each OCPP version's vocabulary and the domain's."""
