"""The `csms` commands for power: charging profiles and site limits."""
