"""How an EVSE's state follows from its connectors': the one most in use, else one still usable."""

from __future__ import annotations

from collections.abc import Iterable

from csms.domain.model import EvseStatus

# First wins: an EVSE is in use while any connector is, usable while any connector is, and out
# of service only when every connector is (2.0.1: ChangeAvailability of one connector leaves the
# EVSE's others as they were).
_PRECEDENCE = (
    EvseStatus.CHARGING, EvseStatus.SUSPENDED, EvseStatus.FINISHING, EvseStatus.PREPARING,
    EvseStatus.OCCUPIED, EvseStatus.RESERVED, EvseStatus.AVAILABLE, EvseStatus.FAULTED,
    EvseStatus.UNAVAILABLE, EvseStatus.UNKNOWN,
)


def evse_status(connectors: Iterable[EvseStatus]) -> EvseStatus:
    """The EVSE's state from its connectors' (none known: unknown)."""
    present = set(connectors)
    return next((s for s in _PRECEDENCE if s in present), EvseStatus.UNKNOWN)
