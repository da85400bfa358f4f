"""Repositories for power: profiles sent, EVSE caps and allowances, site limits, load manager state."""
