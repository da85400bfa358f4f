"""Benchmarks: they start the system, drive it over real WebSockets on 127.0.0.1 and print figures."""
