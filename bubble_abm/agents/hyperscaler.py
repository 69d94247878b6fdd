"""Hyperscaler (and other GPU owners): GPU fleet by vintage, data centres, capex, bonds.

DESIGN §4 and §11 items 3, 8, 11-13, 17-18. Capex is planned from *expected* demand growth
(adaptive), the expected return of a new GPU over its economic life (expected, not spot rents),
peers' capex (fear of falling behind), investor sentiment and financing (legacy cash flow, cash,
bonds), with real-world inertia: a replacement floor, partial adjustment of orders toward the
target, and data-centre projects that continue once started.

``kind`` is "big_four" (large legacy cash flow), "levered" (an Oracle-like cloud with debt) or
"other" (neoclouds, sovereign and enterprise buyers: no legacy business, funded by equity and
debt).
"""

from __future__ import annotations

import functools
from collections import deque

import numpy as np
from mesa import Agent

from bubble_abm.core.fleet import GpuFleet
from bubble_abm.core.valuation import growth_rate

DATACENTER_LIFE_QUARTERS = 60  # buildings and power: ~15 years
NON_AI_ASSET_LIFE_QUARTERS = 24  # servers, networks, offices: ~6 years blended
CASH_BUFFER_SHARE_OF_CAPEX = 0.5  # cash kept against a quarter's capex before payouts
PAYOUT_SHARE = 0.35  # share of excess cash returned to shareholders each quarter
DEBT_AMORTISATION_PER_QUARTER = 0.025  # ~10-year average maturity
DEBT_SERVICE_RESERVE_QUARTERS = 2.0  # cash kept back for coupons and amortisation
EXPECTED_UTILIZATION_WEIGHT = 0.3  # adaptive expectation of the fleet's utilization
CANCEL_SHARE_OF_SURPLUS = 0.5  # share of an unwanted backlog cancelled per quarter (§11.12)
MAX_PLANNED_GROWTH_PER_QUARTER = 0.2
MIN_PLANNED_GROWTH_PER_QUARTER = -0.15


@functools.lru_cache(maxsize=16)
def _quarters_and_powers(n_quarters: int, base: float) -> tuple[np.ndarray, np.ndarray]:
    """``k = 1..n_quarters`` and ``base**k`` (read-only; the same few are asked for every
    quarter by every owner)."""
    k = np.arange(1, n_quarters + 1)
    powers = base**k
    k.flags.writeable = False
    powers.flags.writeable = False
    return k, powers


def expected_values_per_price(owners: list[Hyperscaler], rent_usd_per_hour: float,
                              price_usd: float) -> np.ndarray:
    """Each owner's expected net rent of a new GPU over an accounting life, per dollar of GPU
    price (>1: worth buying).

    Discounted at the owner's cost of capital: today's risk-free rate (with any rate shock),
    its own credit spread (with any spread shock) and an equity premium. A new GPU adds
    capacity to the whole fleet: it earns at the fleet's expected use. The rent path is the
    same for every owner, so all owners are valued at once.
    """
    if not owners:
        return np.zeros(0)
    model = owners[0].model
    p = model.params
    opex = float(model.opex_by_generation()[-1])
    quarters = p.gpu_accounting_life_years * 4.0
    decay = p.older_generation_rent_discount ** (1.0 / p.generation_cadence_quarters)
    one_plus_rate = 1.0 + model.risk_free_rate
    target_use = p.target_utilization
    discount, use = [], []  # per owner, in Python floats
    for owner in owners:
        discount.append((one_plus_rate + owner.credit_spread + 0.04) ** -0.25)
        expected_use = owner.expected_utilization
        use.append(target_use if target_use < expected_use else expected_use)  # their min
    k, decay_k = _quarters_and_powers(int(quarters), decay)
    net = np.maximum(rent_usd_per_hour * decay_k - opex, 0.0)
    # net × use × 2190 × discount**k, left to right as before, in place (fewer temporaries)
    value = net * np.array(use)[:, None]
    value *= 2190.0
    value *= np.array(discount)[:, None] ** k
    return value.sum(axis=1) / max(
        price_usd * (1.0 + p.datacenter_cost_per_gpu_dollar), 1.0)


class Hyperscaler(Agent):
    """An owner of GPUs who rents GPU-hours and uses some for its own AI products."""

    def __init__(self, model, kind: str, legacy_cash_flow_usd_b: float, debt_usd_b: float,
                 fleet_share: float) -> None:
        super().__init__(model)
        p = model.params
        sector = "other_owners" if kind == "other" else "hyperscalers"
        self.account = model.ledger.open_account(f"{kind}_{self.unique_id}", sector)
        self.kind = kind
        self.legacy_cash_flow_usd_b = legacy_cash_flow_usd_b
        self.non_ai_capex_share = (
            legacy_cash_flow_usd_b / max(p.big_four_legacy_cash_flow_usd_b_per_quarter, 1e-9)
        )
        self.debt_usd_b = debt_usd_b
        self.fleet = GpuFleet()
        self.datacenter_book_usd_b = 0.0
        self.other_assets_usd_b = 0.0
        self.datacenter_projects: deque[float] = deque([0.0] * p.datacenter_build_quarters)
        self.expected_growth_per_quarter = p.initial_expected_growth_per_quarter
        self.expected_utilization = p.initial_utilization
        self.demand_h100e = fleet_share * p.initial_fleet_h100e * p.initial_utilization
        self.previous_demand_h100e = self.demand_h100e
        self.orders_h100e = 0.0
        self.last_orders_h100e = 0.0
        self.cancelled_h100e = 0.0
        self.gpu_capex_usd_b = 0.0
        self.datacenter_capex_usd_b = 0.0
        self.non_ai_capex_usd_b = 0.0
        self.previous_ai_capex_usd_b = 0.0
        self.rent_revenue_usd_b = 0.0
        self.inhouse_revenue_usd_b = 0.0
        self.inhouse_hours = 0.0
        self.interest_usd_b = 0.0
        self.credit_spread = p.base_credit_spread
        self.defaulted = False
        self.listed = None
        self.depreciation_usd_b = 0.0
        self.impairment_usd_b = 0.0
        self.stranded_usd_b = 0.0
        self.idle_h100e = 0.0
        self.idle_book_usd_b = 0.0

    # --- observables ---------------------------------------------------------------------
    @property
    def cash_usd_b(self) -> float:
        return self.model.ledger.balances_view[self.account]  # ledger.balance, inlined

    @property
    def is_big_four(self) -> bool:
        return self.kind == "big_four"

    @property
    def ai_capex_usd_b(self) -> float:
        return self.gpu_capex_usd_b + self.datacenter_capex_usd_b

    @property
    def capex_usd_b(self) -> float:
        return self.ai_capex_usd_b + self.non_ai_capex_usd_b

    def spendable_cash_usd_b(self) -> float:
        """Cash beyond a reserve for debt service (never spent on capex)."""
        model = self.model
        rate = model.risk_free_rate + self.credit_spread
        reserve = DEBT_SERVICE_RESERVE_QUARTERS * self.debt_usd_b * (
            rate / 4.0 + DEBT_AMORTISATION_PER_QUARTER)
        # cash_usd_b, inlined: this is asked for dozens of times a quarter
        spendable = model.ledger.balances_view[self.account] - reserve
        return 0.0 if spendable < 0.0 else spendable  # max(spendable, 0.0), written out

    def annual_cash_flow_usd_b(self) -> float:
        """Operating cash flow run rate (legacy plus AI rents and products), per year."""
        return 4.0 * (self.legacy_cash_flow_usd_b + self.rent_revenue_usd_b
                      + self.inhouse_revenue_usd_b)

    def debt_ceiling_usd_b(self) -> float:
        """Most debt lenders allow: a multiple of annual operating cash flow, by kind, and no
        more than the cash flow covers ``min_interest_coverage`` times at today's borrowing
        rate (risk-free plus own spread): dearer money supports less debt."""
        return self._debt_ceiling_for_usd_b(self.annual_cash_flow_usd_b())

    def _debt_ceiling_for_usd_b(self, cash_flow: float) -> float:
        """:meth:`debt_ceiling_usd_b` at an annual operating cash flow the caller has."""
        p = self.model.params
        multiple = (p.big_four_max_debt_to_cash_flow if self.kind == "big_four"
                    else p.max_debt_to_cash_flow)
        rate = self.model.risk_free_rate + self.credit_spread
        if rate < 1e-6:  # max(rate, 1e-6), written out
            rate = 1e-6
        by_multiple = multiple * cash_flow
        by_coverage = cash_flow / (p.min_interest_coverage * rate)
        return by_coverage if by_coverage < by_multiple else by_multiple  # their min

    def leverage(self) -> float:
        cash_flow = self.annual_cash_flow_usd_b()
        return self.debt_usd_b / (0.5 if cash_flow < 0.5 else cash_flow)  # max(cf, 0.5)

    def on_order_h100e(self) -> float:
        unique_id = self.unique_id  # sum() of a list: the same sum as of a generator, faster
        return sum([c.backlog_h100e.get(unique_id, 0.0) for c in self.model.chipmakers])

    def net_worth_usd_b(self) -> float:
        return (self.cash_usd_b + self.fleet.book_value_usd_b + self.datacenter_book_usd_b
                + self.other_assets_usd_b + self.model.capital_market.stake_value_usd_b(self)
                - self.debt_usd_b)

    # --- the legacy business and in-house AI -------------------------------------------
    def run_legacy_business(self) -> None:
        """Legacy cash flow in, non-AI capex out (DESIGN §4: large legacy cash flows)."""
        p = self.model.params
        ledger = self.model.ledger
        ledger.transfer(ledger.rest_of_economy, self.account, self.legacy_cash_flow_usd_b,
                        "legacy_cash_flow")
        self.non_ai_capex_usd_b = p.non_ai_capex_usd_b_per_quarter * self.non_ai_capex_share * (
            self.model.legacy_growth_index)
        planned = self.non_ai_capex_usd_b
        spendable = self.spendable_cash_usd_b()
        spend = spendable if spendable < planned else planned  # their min, written out
        self.non_ai_capex_usd_b = spend
        ledger.transfer(self.account, ledger.rest_of_economy, spend, "non_ai_capex")
        self.other_assets_usd_b += spend
        self.legacy_cash_flow_usd_b *= (1.0 + p.legacy_cash_flow_growth_per_year) ** 0.25

    # --- capex ---------------------------------------------------------------------------
    def plan_capex(self, sentiment: float, peer_capex_growth: float,
                   expected_rent_usd_per_hour: float, gpu_price_usd: float,
                   payback: float | None = None) -> None:
        """Decide this quarter's GPU orders (H100e) and start data-centre projects.

        Target installed base = expected demand ``capex_planning_horizon_quarters`` ahead at
        target utilization; orders close part of the gap (partial adjustment, §11.18) but never
        fall below a replacement floor; the gap is scaled by the expected return of a new GPU
        (expected rent over its economic life vs its price; ``payback`` if the caller has
        computed it with :func:`expected_values_per_price`) and by what can be financed.
        """
        p = self.model.params
        observed_growth = growth_rate(self.demand_h100e, self.previous_demand_h100e)
        expected = self.expected_growth_per_quarter  # adaptive_update in Python floats
        expected += p.demand_expectation_weight * (observed_growth - expected)  # all floats
        self.expected_growth_per_quarter = expected
        # Clamps below are min/max written out (the same comparisons, so the same value, NaN
        # included, without a builtin call: this runs for every owner every quarter):
        # max(x, lo) is ``lo if lo > x else x``, min(x, hi) is ``hi if hi < x else x``.
        planned_growth = float(expected
                               + p.sentiment_capex_weight * 0.1 * (sentiment - 1.0)
                               + p.peer_capex_weight * 0.25 * (peer_capex_growth - expected))
        if planned_growth < MIN_PLANNED_GROWTH_PER_QUARTER:
            planned_growth = MIN_PLANNED_GROWTH_PER_QUARTER
        if planned_growth > MAX_PLANNED_GROWTH_PER_QUARTER:
            planned_growth = MAX_PLANNED_GROWTH_PER_QUARTER
        horizon = p.capex_planning_horizon_quarters
        target_installed = (self.demand_h100e * (1.0 + planned_growth) ** horizon
                            / p.target_utilization)
        installed = self.fleet.installed_h100e
        retiring = installed / (p.gpu_accounting_life_years * 4.0)
        on_order = self.on_order_h100e()
        gap = target_installed - installed - on_order + retiring * horizon
        half_horizon = horizon / 2.0
        desired = gap / (1.0 if half_horizon < 1.0 else half_horizon)  # max(half, 1.0)
        if desired < 0.0:
            desired = 0.0

        # Return test on *expected* rents (§11.3): a GPU earning less than its cost is not bought.
        if payback is None:
            payback = self._expected_value_per_price(expected_rent_usd_per_hour, gpu_price_usd)
        payback = float(payback)
        if payback < 0.0:
            payback = 0.0
        desired *= 1.5 if payback > 1.5 else payback
        floor = p.replacement_floor_share * retiring
        if floor > desired:
            desired = floor
        orders = ((1.0 - p.order_adjustment_speed) * self.last_orders_h100e
                  + p.order_adjustment_speed * desired)
        financeable = self._financeable_h100e(gpu_price_usd)
        if financeable < orders:
            orders = financeable
        if self.defaulted and floor < orders:
            orders = floor
        if orders < 0.0:
            orders = 0.0
        self.orders_h100e = orders
        self.last_orders_h100e = orders
        self.cancelled_h100e = 0.0
        if gap < 0.0 and on_order > 0.0:
            surplus = -gap * CANCEL_SHARE_OF_SURPLUS
            self.cancelled_h100e = surplus if surplus < on_order else on_order
        dc_cost = orders * gpu_price_usd * p.datacenter_cost_per_gpu_dollar / 1e9
        per_quarter = dc_cost / len(self.datacenter_projects)
        self.datacenter_projects = deque([x + per_quarter for x in self.datacenter_projects])

    def _expected_value_per_price(self, rent_usd_per_hour: float, price_usd: float) -> float:
        """Expected net rent over an economic life, per dollar of GPU price (>1: worth buying);
        see :func:`expected_values_per_price`."""
        return float(expected_values_per_price([self], rent_usd_per_hour, price_usd)[0])

    def _financeable_h100e(self, gpu_price_usd: float) -> float:
        """H100e a quarter's financing can pay for: operating cash flow, part of spare cash and
        of spare debt capacity (capex is funded mostly from cash flow; borrowing is spread)."""
        p = self.model.params
        cash_flow = self.annual_cash_flow_usd_b()
        # max(x, 0.0) written out as in plan_capex: ``0.0 if x < 0.0 else x``
        debt_room = self._debt_ceiling_for_usd_b(cash_flow) - self.debt_usd_b
        cash = self.model.ledger.balances_view[self.account]  # cash_usd_b, inlined
        funds = (cash_flow / 4.0 + 0.25 * (0.0 if cash < 0.0 else cash)
                 + (0.0 if debt_room < 0.0 else debt_room) / 8.0 - self.non_ai_capex_usd_b)
        return (0.0 if funds < 0.0 else funds) * 1e9 / (
            gpu_price_usd * (1.0 + p.datacenter_cost_per_gpu_dollar))

    def build_datacentres(self) -> None:
        """Pay this quarter's share of data-centre projects under way (they continue, §11.3)."""
        ledger = self.model.ledger
        due = self.datacenter_projects.popleft()
        self.datacenter_projects.append(0.0)
        spendable = self.spendable_after_raising_usd_b(due)
        paid = spendable if spendable < due else due  # min(due, spendable), written out
        ledger.transfer(self.account, ledger.rest_of_economy, paid, "datacenter_capex")
        self.datacenter_book_usd_b += paid
        self.datacenter_capex_usd_b = paid

    def install(self, units_h100e: float, generation: int, cost_usd_b: float) -> None:
        self.fleet.add_vintage(units_h100e, generation, cost_usd_b)
        self.gpu_capex_usd_b += cost_usd_b

    # --- financing -----------------------------------------------------------------------
    def raise_funds(self, needed_usd_b: float, for_debt_service: bool = False) -> float:
        """Issue bonds to cover a payment beyond spendable cash, within the leverage ceiling.

        Debt service may use the whole cash balance; other payments keep its reserve.
        """
        available = self.cash_usd_b if for_debt_service else self.spendable_cash_usd_b()
        shortfall = needed_usd_b - max(available, 0.0)
        if shortfall <= 0.0 or self.defaulted:
            return 0.0
        room = max(self.debt_ceiling_usd_b() - self.debt_usd_b, 0.0)
        amount = min(shortfall * 1.2, room)
        return self.model.capital_market.issue_bonds(self, amount)

    def spendable_after_raising_usd_b(self, needed_usd_b: float) -> float:
        """:meth:`raise_funds` for a payment (not debt service), then the spendable cash: the
        same as calling the two in turn, with the spendable cash computed once when no bonds
        were issued (then nothing it depends on changed)."""
        spendable = self.spendable_cash_usd_b()  # never below 0
        shortfall = needed_usd_b - spendable
        if shortfall <= 0.0 or self.defaulted:
            return spendable
        room = max(self.debt_ceiling_usd_b() - self.debt_usd_b, 0.0)
        self.model.capital_market.issue_bonds(self, min(shortfall * 1.2, room))
        return self.spendable_cash_usd_b()

    def debt_service_due_usd_b(self) -> tuple[float, float]:
        """This quarter's coupon (risk-free plus own spread, also kept as ``interest_usd_b``)
        and amortisation; the capital market collects them (:meth:`CapitalMarket.service_debts`)."""
        rate = self.model.risk_free_rate + self.credit_spread
        self.interest_usd_b = self.debt_usd_b * rate / 4.0
        return self.interest_usd_b, self.debt_usd_b * DEBT_AMORTISATION_PER_QUARTER

    def update_credit_spread(self) -> None:
        """The spread lenders ask after debt service: leverage, sentiment and any shock."""
        model = self.model
        p = model.params
        gloom = 1.0 - model.sentiment
        self.credit_spread = (p.base_credit_spread + p.spread_per_leverage * self.leverage()
                              + p.spread_per_sentiment * (gloom if gloom > 0.0 else 0.0)
                              + model.spread_shock_now)  # max(0.0, gloom), written out

    def pay_operating_costs(self, opex_usd_b: float) -> None:
        """Power and operations for the GPU-hours run this quarter (``opex_usd_b``: each
        generation's hours at its running cost), as far as cash allows."""
        ledger = self.model.ledger
        cash = self.model.ledger.balances_view[self.account]  # cash_usd_b, inlined
        payable = 0.0 if cash < 0.0 else cash  # min(opex, max(cash, 0)), written out
        ledger.transfer(self.account, ledger.rest_of_economy,
                        payable if payable < opex_usd_b else opex_usd_b, "wages_and_opex")

    def excess_cash_usd_b(self) -> float:
        """Cash beyond a buffer, part of which goes back to shareholders."""
        if self.defaulted or self.kind == "other":
            return 0.0
        buffer = CASH_BUFFER_SHARE_OF_CAPEX * self.capex_usd_b + 5.0
        excess = self.model.ledger.balances_view[self.account] - buffer  # cash_usd_b, inlined
        return (0.0 if excess < 0.0 else excess) * PAYOUT_SHARE  # max(excess, 0.0)

    def strategic_budget_usd_b(self) -> float:
        """Bounded strategic stakes in labs: a share of operating cash flow (§11.14)."""
        if self.kind != "big_four":
            return 0.0
        return self.model.params.strategic_stake_share * self.annual_cash_flow_usd_b() / 4.0

    # --- quarter bookkeeping ---------------------------------------------------------------
    def start_quarter(self) -> None:
        # ai_capex_usd_b, inlined
        self.previous_ai_capex_usd_b = self.gpu_capex_usd_b + self.datacenter_capex_usd_b
        self.gpu_capex_usd_b = 0.0
        self.datacenter_capex_usd_b = 0.0
        self.rent_revenue_usd_b = 0.0
        self.inhouse_revenue_usd_b = 0.0

    def observe_demand(self, hours_sold: float, inhouse_hours: float) -> None:
        self.previous_demand_h100e = self.demand_h100e
        self.demand_h100e = (hours_sold + inhouse_hours) / 2190.0
        installed = self.fleet.installed_h100e
        if installed > 0.0:
            self.expected_utilization += EXPECTED_UTILIZATION_WEIGHT * (
                self.demand_h100e / installed - self.expected_utilization)

    def depreciate_other_assets(self) -> float:
        dc = self.datacenter_book_usd_b / DATACENTER_LIFE_QUARTERS
        other = self.other_assets_usd_b / NON_AI_ASSET_LIFE_QUARTERS
        self.datacenter_book_usd_b -= dc
        self.other_assets_usd_b -= other
        return dc + other

    @property
    def main_decision(self) -> tuple[str, float]:
        return "gpu_orders_h100e", self.orders_h100e
