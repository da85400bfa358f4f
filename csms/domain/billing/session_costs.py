"""What a session has cost so far and in the end, for the charger to show its driver."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from csms.domain.billing.cost import Costing, costing
from csms.domain.billing.pricing import readings, session_pricing
from csms.domain.billing.tariffs import ALL
from csms.storage import store


@dataclass(frozen=True)
class ShownCost:
    total: float  # including taxes where the tariff states its VAT, else excluding
    currency: str


def shown_total(cost: Costing) -> float:
    """What a driver is shown: OCPP 2.0.1 totalCost is "including taxes"; a tariff without VAT
    has no incl_vat, and its excl_vat is then the best we know."""
    total = cost.total_cost
    return total.incl_vat if total.incl_vat is not None else total.excl_vat


class SessionCosts:
    """Costs only sessions on an EVSE with a tariff: without one we do not know a price to show
    (the roaming CDRs cost them with a zero tariff, a charger must not show that as 'free')."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def so_far(self, charge_point_id: str, transaction_id: str, at: datetime,
                     energy_wh: float | None) -> ShownCost | None:
        """The cost of an active session up to `at`, its meter then reading energy_wh (None: the
        last reading known)."""
        session = await store.session_by_transaction(self.pool, charge_point_id, transaction_id)
        if session is None or session["stopped_at"] is not None or session["started_at"] is None \
                or at <= session["started_at"]:
            return None
        return await self._cost(session, at, energy_wh)

    async def final(self, charge_point_id: str, transaction_id: str) -> ShownCost | None:
        """The cost of an ended session, exactly as its CDR states it (the same inputs)."""
        session = await store.session_by_transaction(self.pool, charge_point_id, transaction_id)
        if session is None or session["stopped_at"] is None:
            return None
        return await self._cost(session, session["stopped_at"], session["meter_stop_wh"])

    async def _cost(self, session: asyncpg.Record, until: datetime,
                    energy_wh: float | None) -> ShownCost | None:
        started = session["started_at"] or session["stopped_at"]
        pricing = await session_pricing(self.pool, session["charge_point_id"], session["evse_id"],
                                        started, "", ALL)
        if pricing.tariff is None:
            return None
        cost = costing(pricing.tariff, pricing.currency, started, until,
                       await readings(self.pool, str(session["id"]), started,
                                      session["meter_start_wh"], until, energy_wh),
                       pricing.time_zone)
        return ShownCost(shown_total(cost), pricing.currency)
