"""Our layer over the ocpp library: frames, schema validation, key casing, routing, signatures, responses."""
