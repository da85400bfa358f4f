"""The bench's own pieces: the cluster balancer and load generator, the profile summary."""
