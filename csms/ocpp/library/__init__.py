"""The ocpp library's per-message work made cheaper without changing what it does."""
