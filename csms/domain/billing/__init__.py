"""What charging costs: tariffs, which one applies, and a session's cost."""
