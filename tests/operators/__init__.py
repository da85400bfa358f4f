"""The operator's surfaces: the admin API, users, the CLI, metrics, masking secrets, exposure checks."""
