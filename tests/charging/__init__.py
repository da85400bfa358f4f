"""Charging sessions: transactions, resends and seqNo, readings, tokens, reservations, the simulator."""
