"""Repositories for running a fleet: configuration, device model, jobs, local lists, certificates."""
