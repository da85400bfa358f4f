"""Managing chargers remotely: commands, availability, jobs, local lists, certificates, device model."""
