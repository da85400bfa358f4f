"""A running node: config, event loop, memory, shutdown, crashes, database outages, group commit, cluster."""
