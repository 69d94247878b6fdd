"""Chipmaker: capacity with a build lead time, backlog, markup pricing, product generations.

DESIGN §4. A leader with most of the market and challengers. Capacity (H100e per quarter) is a
foundry allocation that takes ``chip_capacity_lead_quarters`` to expand; orders beyond it queue
as backlog. The markup rises with the backlog and falls with idle capacity. When a generation
launches, the same wafers deliver ``generation_perf_gain`` times the H100e.
"""

from __future__ import annotations

from collections import deque

from mesa import Agent

from bubble_abm.core.hardware import cost_per_h100e_usd
from bubble_abm.core.valuation import growth_rate

CAPACITY_COST_PER_H100E_COST = 0.25  # expansion cost per unit of quarterly capacity, x unit cost
MARKUP_FLOOR_SHARE = 0.15  # markup never falls below 15% of its base (price war floor)
MARKUP_CEILING_SHARE = 3.0  # nor rises above three times it (allocation, not auctions)
CASH_BUFFER_QUARTERS_OF_REVENUE = 2.0  # cash kept before paying out to shareholders
PAYOUT_SHARE = 0.5  # share of excess cash paid out each quarter (buybacks, dividends)
OPEX_SHARE_OF_REVENUE = 0.1  # R&D and SG&A (NVIDIA ~10-15% of revenue)
# Order growth a chipmaker extrapolates over its capacity lead time, per quarter: the same bounds
# as the hyperscalers' planned growth (agents/hyperscaler.py), so neither side plans on more.
MAX_PLANNED_ORDER_GROWTH_PER_QUARTER = 0.2
MIN_PLANNED_ORDER_GROWTH_PER_QUARTER = -0.15


class Chipmaker(Agent):
    """A GPU maker selling the newest generation to GPU owners."""

    def __init__(self, model, market_share: float, capacity_h100e: float) -> None:
        super().__init__(model)
        p = model.params
        self.account = model.ledger.open_account(f"chipmaker_{self.unique_id}", "chipmakers")
        self._unit_cost_key: tuple | None = None  # (generation, params) of _unit_cost
        self._unit_cost = 0.0
        self.market_share = market_share
        self.capacity_h100e_per_quarter = capacity_h100e
        self.capacity_pipeline: deque[float] = deque([0.0] * p.chip_capacity_lead_quarters)
        self.backlog_h100e: dict[int, float] = {}  # buyer unique_id -> queued H100e
        self.markup = p.chip_markup
        self.generation = model.roadmap_generation
        self.expected_orders_h100e = capacity_h100e
        self.expected_order_growth_per_quarter = p.initial_expected_growth_per_quarter
        self.previous_net_orders_h100e = 0.0
        self.orders_h100e = 0.0
        self.cancelled_h100e = 0.0
        self.shipments_h100e = 0.0
        self.revenue_usd_b = 0.0
        self.profit_usd_b = 0.0
        self.capacity_investment_usd_b = 0.0
        self.last_profit_usd_b = 0.0
        self.listed = None  # set by the capital market (listed equity record)

    # --- observables ---------------------------------------------------------------------
    @property
    def cash_usd_b(self) -> float:
        return self.model.ledger.balances_view[self.account]  # ledger.balance, inlined

    @property
    def backlog_total_h100e(self) -> float:
        return float(sum(self.backlog_h100e.values()))

    @property
    def unit_cost_usd(self) -> float:
        """Manufacturing cost of one H100e of the generation on sale (computed once per
        generation: it is asked for many times a quarter)."""
        p = self.model.params
        key = (self.generation, p)
        if self._unit_cost_key != key:
            self._unit_cost = float(cost_per_h100e_usd(self.generation, p.gpu_unit_cost_usd,
                                                       p.generation_cadence_quarters,
                                                       p.gpu_price_performance_doubling_years))
            self._unit_cost_key = key
        return self._unit_cost

    @property
    def price_usd_per_h100e(self) -> float:
        return self.unit_cost_usd * (1.0 + self.markup)

    def effective_capacity_h100e(self) -> float:
        """Capacity after any scenario supply shock (a foundry allocation cut)."""
        return self.capacity_h100e_per_quarter * (1.0 - self.model.supply_shock_fraction)

    # --- decisions -----------------------------------------------------------------------
    def receive_order(self, buyer_id: int, units_h100e: float) -> None:
        self.backlog_h100e[buyer_id] = self.backlog_h100e.get(buyer_id, 0.0) + units_h100e
        self.orders_h100e += units_h100e

    def cancel_order(self, buyer_id: int, units_h100e: float) -> float:
        """Buyer withdraws queued units (double-ordering unwinds, §11.12); returns units cut."""
        queued = self.backlog_h100e.get(buyer_id, 0.0)
        cut = min(queued, units_h100e)
        self.backlog_h100e[buyer_id] = queued - cut
        self.cancelled_h100e += cut
        return cut

    def launch_generation(self, generation: int) -> None:
        """A new generation: the same wafers now deliver more H100e."""
        if generation > self.generation:
            gain = self.model.params.generation_perf_gain ** (generation - self.generation)
            self.capacity_h100e_per_quarter *= gain
            self.capacity_pipeline = deque(x * gain for x in self.capacity_pipeline)
            self.expected_orders_h100e *= gain
            self.generation = generation

    def set_price(self) -> None:
        """Markup rises with backlog (quarters of capacity queued) and falls with idle capacity."""
        p = self.model.params
        capacity = max(self.effective_capacity_h100e(), 1e-9)
        backlog_quarters = self.backlog_total_h100e / capacity
        scarcity = p.chip_markup_backlog_sensitivity * (backlog_quarters - 1.0)
        target = p.chip_markup * (1.0 + scarcity)
        target = float(min(max(target, MARKUP_FLOOR_SHARE * p.chip_markup),
                           MARKUP_CEILING_SHARE * p.chip_markup))
        self.markup += 0.5 * (target - self.markup)

    def plan_capacity(self) -> None:
        """Expand capacity toward the orders expected when new capacity arrives; pay the foundry
        up front (lead time applies).

        Like a hyperscaler planning its fleet (DESIGN §4), the chipmaker extrapolates the
        growth of its orders (adaptive expectations of growth) over the capacity lead time:
        capacity ordered now serves the orders of ``chip_capacity_lead_quarters`` from now.
        """
        p = self.model.params
        net_orders = max(self.orders_h100e - self.cancelled_h100e, 0.0)
        observed_growth = growth_rate(net_orders, self.previous_net_orders_h100e)
        self.previous_net_orders_h100e = net_orders
        # adaptive_update's arithmetic in scalars
        weight = p.demand_expectation_weight
        expected = self.expected_order_growth_per_quarter
        self.expected_order_growth_per_quarter = float(
            expected + weight * (observed_growth - expected))
        expected = self.expected_orders_h100e
        self.expected_orders_h100e = (
            expected + weight * (net_orders + 0.25 * self.backlog_total_h100e - expected))
        planned_growth = float(min(max(self.expected_order_growth_per_quarter,
                                       MIN_PLANNED_ORDER_GROWTH_PER_QUARTER),
                                   MAX_PLANNED_ORDER_GROWTH_PER_QUARTER))
        orders_on_arrival = self.expected_orders_h100e * (
            1.0 + planned_growth) ** p.chip_capacity_lead_quarters
        in_pipeline = float(sum(self.capacity_pipeline))
        gap = orders_on_arrival - self.capacity_h100e_per_quarter - in_pipeline
        expansion = float(min(max(gap, 0.0),
                              p.chip_capacity_max_growth_per_quarter
                              * self.capacity_h100e_per_quarter))
        affordable = max(self.cash_usd_b, 0.0) * 1e9 / (
            CAPACITY_COST_PER_H100E_COST * self.unit_cost_usd)
        expansion = min(expansion, affordable)
        cost_usd_b = expansion * CAPACITY_COST_PER_H100E_COST * self.unit_cost_usd / 1e9
        self.model.ledger.transfer(self.account, self.model.ledger.rest_of_economy, cost_usd_b,
                                   "chip_capacity_investment")
        self.capacity_investment_usd_b = cost_usd_b
        self.capacity_pipeline.append(expansion)
        self.capacity_h100e_per_quarter += self.capacity_pipeline.popleft()

    def pay_operating_costs(self) -> None:
        """R&D and overhead to the rest of the economy, then payouts from excess cash."""
        ledger = self.model.ledger
        opex = OPEX_SHARE_OF_REVENUE * self.revenue_usd_b + 0.05 * self.market_share
        opex = min(opex, max(self.cash_usd_b, 0.0))
        ledger.transfer(self.account, ledger.rest_of_economy, opex, "wages_and_opex")
        self.profit_usd_b -= opex

    def excess_cash_usd_b(self) -> float:
        buffer = CASH_BUFFER_QUARTERS_OF_REVENUE * self.revenue_usd_b + 1.0
        return max(self.cash_usd_b - buffer, 0.0) * PAYOUT_SHARE

    def strategic_budget_usd_b(self) -> float:
        """Vendor financing: a share of last quarter's profit for stakes in customers (§4)."""
        return self.model.params.vendor_financing_share * max(self.last_profit_usd_b, 0.0)

    def start_quarter(self) -> None:
        self.last_profit_usd_b = self.profit_usd_b
        self.orders_h100e = 0.0
        self.cancelled_h100e = 0.0
        self.shipments_h100e = 0.0
        self.revenue_usd_b = 0.0
        self.profit_usd_b = 0.0

    def net_worth_usd_b(self) -> float:
        return self.cash_usd_b + self.model.capital_market.stake_value_usd_b(self)

    @property
    def main_decision(self) -> tuple[str, float]:
        return "capacity_expansion_h100e", float(self.capacity_pipeline[-1])
