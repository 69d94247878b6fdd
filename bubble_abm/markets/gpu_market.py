"""GPU market: orders into chipmakers' backlogs, cancellations, shipments, payment (DESIGN §5).

Buyers split orders across chipmakers by market share. Each chipmaker ships up to its capacity
from its backlog, pro rata across buyers; a buyer pays on delivery at the chipmaker's current
price, issuing bonds if its cash falls short, and takes delivery only of what it can pay for
(the rest stays queued). Chipmakers pay their production cost to the foundries and suppliers
(rest of the economy).
"""

from __future__ import annotations

import functools

import numpy as np


@functools.lru_cache(maxsize=16)
def _normalised_shares(shares: tuple[float, ...]) -> tuple[float, ...]:
    """Market shares over their sum (Python floats: the orders and backlogs computed from them
    are scalars, cheaper as floats). The shares never change in a run, so this is computed
    once."""
    array = np.array(shares, dtype=float)
    return tuple((array / array.sum()).tolist())


def place_orders(buyers: list, chipmakers: list) -> None:
    """Route each buyer's orders and cancellations to chipmakers by market share."""
    shares = _normalised_shares(tuple([c.market_share for c in chipmakers]))
    pairs = list(zip(chipmakers, shares, strict=True))
    for buyer in buyers:  # each chipmaker gets the buyer's order, then its cancellation
        orders, cancelled = buyer.orders_h100e, buyer.cancelled_h100e
        if orders > 0.0:
            for chipmaker, share in pairs:
                chipmaker.receive_order(buyer.unique_id, orders * share)
        if cancelled > 0.0:
            for chipmaker, share in pairs:
                chipmaker.cancel_order(buyer.unique_id, cancelled * share)


def ship(chipmakers: list, buyers_by_id: dict, ledger) -> None:
    """Ship from backlogs up to capacity; buyers pay on delivery and install the GPUs.

    A chipmaker's sales and production costs are booked in one ledger call once its buyers
    have been served, or before a buyer raises funds: each buyer is served once per chipmaker
    and only its own cash decides what it can pay for, so every balance, flow and tally sees
    the same payments in the same order as one transfer per sale would give."""
    roe = ledger.rest_of_economy
    for chipmaker in chipmakers:
        queued = {k: v for k, v in chipmaker.backlog_h100e.items() if v > 0.0}
        total = sum(queued.values())
        if total <= 0.0:
            continue
        capacity = chipmaker.effective_capacity_h100e()
        fill = 1.0 if capacity >= total else capacity / total
        price = chipmaker.price_usd_per_h100e
        unit_cost = chipmaker.unit_cost_usd
        generation = chipmaker.generation
        backlog = chipmaker.backlog_h100e
        account = chipmaker.account
        # The chipmaker's running totals kept in locals: the same additions in the same order.
        shipments = chipmaker.shipments_h100e
        revenue = chipmaker.revenue_usd_b
        profit = chipmaker.profit_usd_b
        sales: list[tuple[int, float, float]] = []  # (buyer's account, price paid, its cost)
        for buyer_id, units in queued.items():
            buyer = buyers_by_id.get(buyer_id)
            if buyer is None:
                backlog[buyer_id] = 0.0
                continue
            wanted = units * fill
            bill = wanted * price / 1e9
            spendable = buyer.spendable_cash_usd_b()
            if bill > spendable:
                # The buyer raises funds first (spendable_after_raising_usd_b): the sales so
                # far are booked before its bonds, in the order one transfer per sale gives.
                if sales:
                    ledger.transfer_sales_and_costs(account, roe, sales, "gpu_sales",
                                                    "chip_production_cost")
                    sales = []
                spendable = buyer.spendable_after_raising_usd_b(bill)
            # a Python float: the arithmetic below is cheaper than in numpy scalars
            affordable = float(spendable) * 1e9 / price
            delivered = min(wanted, affordable)
            if delivered <= 0.0:
                continue
            cost = delivered * price / 1e9
            production_cost = delivered * unit_cost / 1e9
            sales.append((buyer.account, cost, production_cost))
            buyer.install(delivered, generation, cost)
            backlog[buyer_id] = units - delivered
            shipments += delivered
            revenue += cost
            profit += cost - production_cost
        if sales:
            ledger.transfer_sales_and_costs(account, roe, sales, "gpu_sales",
                                            "chip_production_cost")
        chipmaker.shipments_h100e = shipments
        chipmaker.revenue_usd_b = revenue
        chipmaker.profit_usd_b = profit


def generation_unit_value_usd(newest_price_usd_per_h100e: float,
                              expected_rents_usd_per_hour: np.ndarray, generation: int,
                              h100e_per_unit: float = 1.0) -> float:
    """Market value of one unit of an older generation ($), e.g. the H100 once Blackwell ships.

    A buyer choosing between compute of two generations pays for each in proportion to the rent
    it is expected to earn (DESIGN §11 items 3, 4, 10): the newest generation's price per H100e
    times the generation's expected rent per H100e-hour over the newest one's, times the unit's
    H100e. While ``generation`` is the newest it is the chipmaker's own price. Expected (not spot)
    rents, as in the owners' return test.
    """
    rents = np.asarray(expected_rents_usd_per_hour, dtype=float)
    newest = rents.size - 1
    if generation < 0 or generation > newest:
        raise ValueError(f"generation must be in 0..{newest}, got {generation}")
    if generation == newest or rents[newest] <= 0.0:
        return float(newest_price_usd_per_h100e * h100e_per_unit)
    return float(newest_price_usd_per_h100e * rents[generation] / rents[newest] * h100e_per_unit)
