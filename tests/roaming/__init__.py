"""What both roaming bridges share: the outbox, egress rules, delivery errors, wiring, the specifications."""
