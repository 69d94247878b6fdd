"""BubbleModel: wires the agents, markets and ledger, and fixes the order of a quarter.

A quarter (DESIGN §2, §5), in this order:

1. exogenous trends: algorithmic efficiency, GPU roadmap, adoption, usage depth, GDP, scenario
   shocks (inputs from the scenario file, never a scripted outcome);
2. labs decide API prices and training budgets; labs short of runway raise money;
3. apps choose their models; the end-customer and API markets clear;
4. the compute market clears: in-house use, labs' inference and training; rents are paid;
5. labs train and pay staff;
6. GPU owners run their legacy business, plan capex, place and cancel orders, build data centres;
7. chipmakers price, plan capacity and ship; buyers pay on delivery;
8. depreciation, impairment, retirement and stranded assets;
9. capital markets: debt service and defaults, payouts, lab marks, equity prices, savings;
10. exits and entries; then the data collector records the quarter.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
from mesa import Model

from bubble_abm.agents.app_company import AppPopulation
from bubble_abm.agents.chipmaker import Chipmaker
from bubble_abm.agents.hyperscaler import Hyperscaler, expected_values_per_price
from bubble_abm.agents.investor import NORMAL_LOGIT_GAIN_PER_YEAR, InvestorPopulation
from bubble_abm.agents.model_lab import ModelLab
from bubble_abm.calendar import quarter_index, quarter_label
from bubble_abm.core import scaling
from bubble_abm.core.fleet import (
    HOURS_PER_QUARTER,
    depreciate_impair_and_retire,
    units_by_owner_and_generation,
    value_in_use_per_unit_usd,
)
from bubble_abm.core.hardware import (
    newest_generation,
    opex_usd_per_hour,
    rent_by_generation,
    rent_trend_usd_per_hour,
)
from bubble_abm.core.ledger import Ledger
from bubble_abm.markets import compute_market, gpu_market
from bubble_abm.markets.capital_market import CapitalMarket
from bubble_abm.markets.customer_market import clear_customer_market, logistic_adoption
from bubble_abm.observe import ModelTableCollector, agent_rows, agent_table_frame, observe_model
from bubble_abm.params import Params, make_params

EXPECTATION_WEIGHT_RENTS = 0.25  # owners' expected rents follow posted rents slowly (§11.3)
IMPAIRMENT_DISCOUNT_PREMIUM = 0.05  # over the risk-free rate, for value in use
SCRAP_AGE_FACTOR = 2.0  # GPUs are scrapped at twice their accounting life at the latest
LEVERED_FLEET_SHARE = 0.05  # the levered cloud's share of the opening fleet (our estimate)

# The scenario's shock quarters are read every quarter: each label is parsed once.
_shock_quarter_index = functools.lru_cache(maxsize=64)(quarter_index)
# The generation on sale, a pure function of (quarter, cadence) that parses the H100's launch
# label each call: computed once per quarter and cadence.
_newest_generation = functools.lru_cache(maxsize=512)(newest_generation)


class BubbleModel(Model):
    """The AI investment bubble: chipmakers, GPU owners, labs, apps and investors."""

    def __init__(self, params: Params | None = None, *, rng: Any = None,
                 record_agents: bool = True, **overrides: Any):
        """``params`` (default: :func:`make_params`) with any ``overrides`` applied; ``rng`` the
        seed. ``record_agents=False`` skips the per-quarter agent rows behind
        :meth:`agent_table` (a batch or a calibration run reads only the model table); the run
        itself is the same either way."""
        super().__init__(rng=rng)
        self.record_agents = bool(record_agents)
        base = params if params is not None else make_params()
        self.params = base.with_overrides(**overrides) if overrides else base
        p = self.params
        self.ledger = Ledger()
        self.start_index = quarter_index(p.start_quarter)
        self.quarter = self.start_index
        self.running = True
        self._set_exogenous_trends()
        self.anchor_constants = scaling.CHINCHILLA_CONSTANT_SETS[p.chinchilla_constants]
        self.anchor_reducible_loss = (scaling.anchor_loss_for(self.anchor_constants,
                                                              p.anchor_compute_flop)
                                      - self.anchor_constants.E)
        self.anchor_logit = float(scaling.logit(p.anchor_capability))
        self.algorithmic_multiplier = 1.0  # the start quarter's, for the reference below
        self.reference_logit_per_doubling = (  # what one doubling of compute gave in 2023
            self.capability_logit_of(2.0 * p.anchor_compute_flop, self.start_index)
            - self.capability_logit_of(p.anchor_compute_flop, self.start_index))
        self._set_exogenous_trends()
        self.rents_usd_per_hour = np.array([p.initial_rental_price_usd_per_hour])
        self.expected_rents_usd_per_hour = self.rents_usd_per_hour.copy()
        self.expected_utilization = np.array([p.initial_utilization])
        self._create_agents()
        self.capital_market = CapitalMarket(self)
        self._open_balance_sheets()
        self.frontier_base_logit_history: list[float] = []
        self.frontier_run_flop_history: list[float] = []
        self._record_frontier()
        self._calibrate_token_demand()
        self.defaults_seen = 0
        self.impairments_usd_b = 0.0
        self.equity_peak = 100.0
        self.compute_result = None
        self.initial_customer_spend_usd_b: float | None = None
        self.customer_result = {"customer_spend_usd_b": 0.0, "api_fees_usd_b": 0.0,
                                "tokens_t": 0.0, "demand_index": self.initial_demand_index}
        self.observation: dict[str, float | str | int] = {}
        self._agent_tables: list[dict[str, Any]] = []  # observe.agent_rows, per quarter
        self.datacollector = ModelTableCollector()
        self.ledger.start_quarter()
        self.initial_money_usd_b = self.ledger.total_money_usd_b()

    # --- construction --------------------------------------------------------------------------
    def _create_agents(self) -> None:
        p = self.params
        rng = self.rng
        challengers = max(p.n_chipmakers - 1, 1)
        shares = [p.leader_market_share] + [(1 - p.leader_market_share) / challengers] * (
            p.n_chipmakers - 1)
        # Agents' parameters as Python floats (.tolist()): numpy scalars would make every
        # later piece of arithmetic on their state several times slower.
        shares = (np.array(shares) / np.sum(shares)).tolist()
        self.chipmakers = list(Chipmaker.create_agents(
            self, p.n_chipmakers, market_share=shares,
            capacity_h100e=[s * p.initial_chip_capacity_h100e_per_quarter for s in shares]))
        kinds = ["big_four"] * min(4, p.n_hyperscalers) + ["levered"] * max(
            p.n_hyperscalers - 4, 0) + ["other"] * p.n_other_owners
        n_big = kinds.count("big_four")
        big_weights = rng.dirichlet(np.full(n_big, 8.0)).tolist()
        legacy, debt, fleet_share = [], [], []
        big_i = 0
        for kind in kinds:
            if kind == "big_four":
                cash_flow = p.big_four_legacy_cash_flow_usd_b_per_quarter * big_weights[big_i]
                legacy.append(cash_flow)
                debt.append(0.5 * 4.0 * cash_flow)
                fleet_share.append(p.big_four_fleet_share * big_weights[big_i])
                big_i += 1
            elif kind == "levered":
                cash_flow = 0.045 * p.big_four_legacy_cash_flow_usd_b_per_quarter
                legacy.append(cash_flow)
                debt.append(p.levered_debt_to_cash_flow * 4.0 * cash_flow)
                fleet_share.append(LEVERED_FLEET_SHARE)
            else:
                legacy.append(0.0)
                debt.append(0.0)
                fleet_share.append((1.0 - p.big_four_fleet_share - LEVERED_FLEET_SHARE)
                                   / max(p.n_other_owners, 1))
        fleet_share = (np.array(fleet_share) / np.sum(fleet_share)).tolist()
        self.gpu_owners = list(Hyperscaler.create_agents(
            self, len(kinds), kind=kinds, legacy_cash_flow_usd_b=legacy, debt_usd_b=0.0,
            fleet_share=fleet_share))
        self._initial_debt = debt
        self._fleet_share = fleet_share
        big_four = [o for o in self.gpu_owners if o.kind == "big_four"]
        n_labs = p.n_closed_labs + p.n_open_labs
        is_open = [False] * p.n_closed_labs + [True] * p.n_open_labs
        run_flop = [p.anchor_compute_flop * (1.0 if i == 0 else rng.uniform(0.3, 1.0))
                    for i in range(p.n_closed_labs)]
        run_flop += [p.anchor_compute_flop * rng.uniform(0.05, 0.2) for _ in range(p.n_open_labs)]
        partners = [big_four[i % len(big_four)].unique_id if big_four and not is_open[i]
                    else None for i in range(n_labs)]
        sizes = rng.lognormal(0.0, 0.5, n_labs).tolist()
        self.labs = list(ModelLab.create_agents(self, n_labs, is_open=is_open,
                                                run_compute_flop=run_flop, partner_id=partners,
                                                size=sizes))
        self.n_labs = n_labs
        self.lab_accounts = np.array([lab.account for lab in self.labs])
        self.lab_accounts.flags.writeable = False
        for i, lab in enumerate(self.labs):  # how far into its first run each lab is
            lab.run_quarters_done = (i * p.training_start_stagger_quarters
                                     % p.training_run_quarters)
        self.apps = AppPopulation(self, p.n_app_companies)
        self.investors = InvestorPopulation(self, p.n_investors, p.investor_wealth_usd_b)

    def _open_balance_sheets(self) -> None:
        """Opening cash, debt and fleets (before the first quarter, outside the tallies)."""
        p = self.params
        ledger = self.ledger
        roe = ledger.rest_of_economy
        for lab in self.labs:
            cash = p.initial_lab_cash_usd_b * lab.size * (0.5 if lab.is_open else 1.0)
            ledger.transfer(roe, lab.account, cash, "opening_balance")
        price = self.chipmakers[0].price_usd_per_h100e
        life_quarters = p.gpu_accounting_life_years * 4.0
        for owner, debt, share in zip(self.gpu_owners, self._initial_debt, self._fleet_share,
                                      strict=True):
            cash = (4.0 * owner.legacy_cash_flow_usd_b if owner.kind != "other"
                    else p.other_owner_equity_usd_b)
            ledger.transfer(roe, owner.account, cash, "opening_balance")
            self.capital_market.issue_bonds(owner, debt)
            units = share * p.initial_fleet_h100e
            for age in range(8):  # deliveries spread over the previous two years
                cost = units / 8 * price / 1e9
                owner.fleet.add_vintage(units / 8, 0, cost, age_quarters=age,
                                        book_usd_b=cost * max(1.0 - age / life_quarters, 0.0))
            owner.datacenter_book_usd_b = units * price * p.datacenter_cost_per_gpu_dollar / 1e9
        for chipmaker in self.chipmakers:
            ledger.transfer(roe, chipmaker.account, 10.0 * chipmaker.market_share + 2.0,
                            "opening_balance")
        self.capital_market.mark_labs()
        self.capital_market.bonds_issued_usd_b = 0.0

    def _calibrate_token_demand(self) -> None:
        """Scale token demand so that customers' first-quarter spending matches the parameter."""
        p = self.params
        lab_price = np.array([lab.api_price_usd_per_m_tokens for lab in self.labs])
        lab_logit = np.array([lab.capability_logit for lab in self.labs])
        price = (1.0 + p.app_markup) * lab_price[self.apps.lab]
        self.reference_customer_price = float(np.median(price))
        self.initial_app_size_usd = float(self.apps.size.sum())
        from bubble_abm.markets.customer_market import spend_usd_b, token_demand_t
        raw = token_demand_t(self.apps.size, lab_logit[self.apps.lab], price, self.adoption,
                             self.usage_depth, self.anchor_logit, self.reference_customer_price,
                             p)
        self.initial_demand_index = float(raw.sum())
        self.token_demand_scale = p.initial_customer_spend_usd_b_per_quarter / float(
            spend_usd_b(raw, price).sum())

    # --- exogenous inputs -----------------------------------------------------------------------
    def _set_exogenous_trends(self) -> None:
        """Trends and scenario shocks for the current quarter (inputs, not outcomes)."""
        p = self.params
        years = (self.quarter - self.start_index) / 4.0
        jump = (p.efficiency_jump_factor
                if self.quarter >= _shock_quarter_index(p.efficiency_jump_quarter) else 1.0)
        self.algorithmic_multiplier = float(scaling.algorithmic_multiplier(
            years, p.algorithmic_doubling_years)) * jump
        self.roadmap_generation = _newest_generation(self.quarter, p.generation_cadence_quarters)
        self.adoption = logistic_adoption(self.quarter / 4.0 + 0.125, p.adoption_midpoint_year,
                                          p.adoption_speed_per_year)
        self.usage_depth = (1.0 + p.tokens_per_task_growth_per_year) ** years
        self.inference_boost_logit = float(scaling.inference_logit_boost(
            self.usage_depth, p.inference_logit_gain_per_doubling, p.verifier_ceiling_logit))
        self.gdp_usd_b_per_quarter = p.gdp_usd_b_per_year / 4.0 * (
            1.0 + p.gdp_growth_per_year) ** years
        self.legacy_growth_index = (1.0 + p.legacy_cash_flow_growth_per_year) ** years
        shocked = self.quarter >= _shock_quarter_index(p.rate_shock_quarter)
        self.rate_shock_now = p.rate_shock if shocked else 0.0
        self.spread_shock_now = p.spread_shock if shocked else 0.0
        self.risk_free_rate = p.risk_free_rate + self.rate_shock_now
        self.supply_shock_fraction = (
            p.chip_supply_shock_fraction
            if self.quarter >= _shock_quarter_index(p.chip_supply_shock_quarter) else 0.0)

    # --- capability ------------------------------------------------------------------------------
    def capability_logit_of(self, physical_flop: float, quarter: int) -> float:
        """Logit capability of a model trained on ``physical_flop`` now (DESIGN §3).

        Effective compute = physical FLOP × algorithmic multiplier; the loss is the best the
        data wall allows; capability rises with the log of the reducible loss, anchored so the
        2023 frontier (GPT-4, ``anchor_compute_flop``) sits at ``anchor_capability``.
        """
        p = self.params
        _, _, loss = scaling.wall_constrained_optimum(
            physical_flop * self.algorithmic_multiplier, self.anchor_constants,
            p.data_stock_tokens, p.extra_data_worth)
        reducible = max(loss - self.anchor_constants.E, 1e-9)
        return self.anchor_logit + p.logit_per_log_reducible_loss * math.log(
            self.anchor_reducible_loss / reducible)

    def loss_of_logit(self, logit_value: float) -> float:
        """Pretraining loss implied by a base logit capability (inverse of the mapping)."""
        p = self.params
        reducible = self.anchor_reducible_loss * math.exp(
            -(logit_value - self.anchor_logit) / p.logit_per_log_reducible_loss)
        return self.anchor_constants.E + reducible

    def _frontier_base_logit(self) -> float:
        closed = [lab.base_logit for lab in self.labs if not lab.is_open and lab.alive]
        return max(closed) if closed else self.frontier_base_logit_history[-1]

    def _frontier_run_flop(self) -> float:
        """Physical training FLOP of the leading closed model (sets the size of its copies)."""
        closed = [lab for lab in self.labs if not lab.is_open and lab.alive]
        if not closed:
            return self.frontier_run_flop_history[-1]
        return max(closed, key=lambda lab: lab.base_logit).physical_run_flop

    def _record_frontier(self) -> None:
        """Append the closed frontier of the quarter to its histories, and set the lagged
        frontier the open models match from them (read many times a quarter, it changes only
        when the histories grow, here)."""
        self.frontier_base_logit_history.append(self._frontier_base_logit())
        self.frontier_run_flop_history.append(self._frontier_run_flop())
        lag = self.params.open_model_lag_quarters
        self._lagged_frontier_base_logit = scaling.lagged_value(
            self.frontier_base_logit_history, lag)
        self._lagged_frontier_run_flop = scaling.lagged_value(self.frontier_run_flop_history, lag)

    def lagged_frontier_run_flop(self) -> float:
        """The closed frontier's physical run FLOP as it was ``open_model_lag_quarters`` ago
        (0 before the history starts)."""
        return getattr(self, "_lagged_frontier_run_flop", 0.0)

    def lagged_frontier_base_logit(self) -> float:
        """The closed frontier as it was ``open_model_lag_quarters`` ago (open models trail;
        -inf before the history starts)."""
        return getattr(self, "_lagged_frontier_base_logit", -math.inf)

    def lab_offers(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """What apps see of each lab: logit capability as buyers value it (open weights at a
        discount for support and reliability), price per million tokens, and whether it lives."""
        return self._lab_quotes()[1:]

    def _lab_quotes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Each lab's logit capability, then :meth:`lab_offers` (each lab's capability is
        computed once)."""
        penalty = self.params.open_model_adoption_penalty_logit
        labs = self.labs
        capability = [lab.capability_logit for lab in labs]
        logit = np.array([c - (penalty if lab.is_open else 0.0)
                          for c, lab in zip(capability, labs, strict=True)])
        price = np.array([lab.api_price_usd_per_m_tokens for lab in labs])
        alive = np.array([lab.alive for lab in labs])
        return np.array(capability), logit, price, alive

    def capability_news_logit(self) -> float:
        """The frontier's logit gain over the last four quarters minus a normal year's gain:
        the capability news narrative investors trade on."""
        history = self.frontier_base_logit_history
        quarters = min(len(history) - 1, 4)
        return (history[-1] - history[-1 - quarters]
                - NORMAL_LOGIT_GAIN_PER_YEAR * quarters / 4.0)

    def best_lab_index(self) -> int:
        logit, price, alive = self.lab_offers()
        scores = self.params.capability_value_per_logit * logit - np.log(price)
        return int(np.argmax(np.where(alive, scores, -np.inf)))

    def opex_by_generation(self) -> np.ndarray:
        """Running cost per H100e-hour of each generation on the rental market ($/hour).

        Read-only and computed once per set of generations (it is asked for many times a
        quarter)."""
        p = self.params
        key = (self.rents_usd_per_hour.size, p.rent_opex_usd_per_hour,
               p.opex_decline_per_generation)
        if getattr(self, "_opex_key", None) != key:
            self._opex_by_generation = opex_usd_per_hour(np.arange(key[0]), key[1], key[2])
            self._opex_by_generation.flags.writeable = False
            self._opex_key = key
        return self._opex_by_generation

    @property
    def training_flop_per_dollar(self) -> float:
        p = self.params
        flop_per_hour = p.gpu_flop_per_second_h100e * p.model_flops_utilization * 3600.0
        return flop_per_hour / self.rents_usd_per_hour.item(-1)  # .item: a float, cheaper

    @property
    def sentiment(self) -> float:
        return self.capital_market.sentiment

    # --- the quarter -------------------------------------------------------------------------
    def step(self) -> None:
        self._start_quarter()
        self._labs_decide()
        self.capital_market.fund_labs()
        self._apps_buy_tokens()
        self._clear_compute_market()
        self._labs_train_and_pay()
        self._owners_invest()
        self._chipmakers_produce()
        self._depreciate_and_impair()
        self._capital_markets()
        self._exits_and_entries()
        self._collect()

    def _start_quarter(self) -> None:
        self.quarter = self.start_index + self.steps - 1
        self.ledger.start_quarter()
        self._set_exogenous_trends()
        for chipmaker in self.chipmakers:
            chipmaker.start_quarter()
            chipmaker.launch_generation(self.roadmap_generation)
        for owner in self.gpu_owners:
            owner.start_quarter()
        self.capital_market.bonds_issued_usd_b = 0.0
        n = self.roadmap_generation + 1
        if self.rents_usd_per_hour.size < n:  # a new generation enters the rental market
            self.rents_usd_per_hour = compute_market.next_rents(
                self.rents_usd_per_hour, np.append(self.expected_utilization,
                                                   np.ones(n - self.expected_utilization.size)),
                self.roadmap_generation, self.chipmakers[0].price_usd_per_h100e, self.params)
            self.expected_rents_usd_per_hour = np.append(
                self.expected_rents_usd_per_hour, self.rents_usd_per_hour[-1])
            self.expected_utilization = np.append(self.expected_utilization, 1.0)

    def _open_model_offer(self) -> tuple[float, float]:
        open_labs = [lab for lab in self.labs if lab.is_open and lab.alive]
        if not open_labs:  # no open models: the ceiling is the cheapest closed lab's cost × 3
            rents = self.rents_usd_per_hour
            rent = float(rents.sum() / rents.size)  # np.mean's arithmetic, without its overhead
            cost = min(lab.serving_cost_usd_per_m_tokens(rent) for lab in self.labs)
            return 3.0 * cost, self.lagged_frontier_base_logit()
        capability = [lab.capability_logit for lab in open_labs]
        best = max(range(len(open_labs)), key=capability.__getitem__)  # the first on a tie
        return open_labs[best].api_price_usd_per_m_tokens, capability[best]

    def _labs_decide(self) -> None:
        rent = float(self.rents_usd_per_hour[-1])  # serving runs on the newest GPUs first
        open_price, open_logit = self._open_model_offer()
        sentiment = self.sentiment  # labs' prices and budgets do not move it
        for lab in self.labs:
            if lab.alive:
                lab.set_api_price(rent, open_price, open_logit)
                lab.decide_training_budget(sentiment)

    def _apps_buy_tokens(self) -> None:
        capability, logit, price, alive = self._lab_quotes()
        self.apps.choose_models(logit, price, alive)
        # apps choosing labs changes no lab: the customer market uses the same quotes
        self.customer_result = clear_customer_market(self, (capability, price, alive))
        self.apps.pay_overheads()

    def _inhouse_hours(self) -> np.ndarray:
        """GPU-hours the big four's own AI products use (§11.8, §11.17).

        Their compute budget grows with end customers' AI spending (the same adoption,
        capability and willingness-to-pay bounds as apps); it buys GPU-hours at the expected
        rent, so cheaper compute means more of it is used. The products earn
        ``inhouse_revenue_per_rent_dollar`` per dollar of compute used (§11.17).
        """
        p = self.params
        spend = self.customer_result["customer_spend_usd_b"]
        if self.initial_customer_spend_usd_b is None:
            self.initial_customer_spend_usd_b = max(spend, 1e-9)
        compute_budget_usd = (p.initial_inhouse_demand_h100e * HOURS_PER_QUARTER
                              * p.initial_rental_price_usd_per_hour
                              * spend / self.initial_customer_spend_usd_b)
        rent = float(self.expected_rents_usd_per_hour[-1])  # planned on expected, not spot, rent
        total = compute_budget_usd / max(rent, 1e-9)
        weights = np.array([o.legacy_cash_flow_usd_b if o.kind == "big_four" else 0.0
                            for o in self.gpu_owners])
        weight_total = weights.sum()
        return total * weights / weight_total if weight_total > 0 else weights

    def _compute_rent_accounts(self) -> tuple[np.ndarray, np.ndarray]:
        """Payer and payee accounts of the compute rents, one row per (lab, owner): each lab
        paying every owner in turn. Accounts never change, so they are built once."""
        accounts = getattr(self, "_rent_accounts", None)
        if accounts is None:
            lab_accounts = np.array([lab.account for lab in self.labs])
            owner_accounts = np.array([o.account for o in self.gpu_owners])
            accounts = (np.repeat(lab_accounts, owner_accounts.size),
                        np.tile(owner_accounts, lab_accounts.size))
            for array in accounts:
                array.flags.writeable = False
            self._rent_accounts = accounts
        return accounts

    def _clear_compute_market(self) -> None:
        p = self.params
        ledger = self.ledger
        owners = self.gpu_owners
        labs = self.labs
        n_gen = self.rents_usd_per_hour.size
        capacity = compute_market.capacity_hours_by_owner(
            units_by_owner_and_generation([o.fleet for o in owners], n_gen))
        average_rent = float(self.rents_usd_per_hour[-1])
        serving_flop_per_hour = p.gpu_flop_per_second_h100e * p.inference_utilization * 3600.0
        buyer_hours = [lab.tokens_served_t * 1e12 * lab.flop_per_token() / serving_flop_per_hour
                       if lab.alive else 0.0 for lab in labs]  # inference, then training
        buyer_hours += [lab.training_budget_usd_b * 1e9 / average_rent if lab.alive else 0.0
                        for lab in labs]
        inhouse = self._inhouse_hours()
        result = compute_market.clear_compute_market(
            capacity, inhouse, np.array(buyer_hours, dtype=float), self.rents_usd_per_hour)
        self.compute_result = result
        price = result.average_rent_usd_per_hour
        served = result.buyer_hours
        n = self.n_labs
        payments = served * price / 1e9
        owner_revenue = result.owner_revenue_usd_b()
        owner_revenue_total = owner_revenue.sum()
        revenue_share = owner_revenue / owner_revenue_total if owner_revenue_total > 0 else (
            np.full(owner_revenue.size, 1.0 / owner_revenue.size))
        payers, payees = self._compute_rent_accounts()
        # Each lab's inference and training rents in one payment to each owner.
        ledger.transfer_many(payers, payees,
                             np.outer(payments[:n] + payments[n:], revenue_share).ravel(),
                             "compute_rent")
        external_hours = result.external_hours.sum(axis=1)
        inhouse_used = result.used_hours.sum(axis=1) - external_hours
        total_payments = float(payments.sum())
        opex = self.opex_by_generation()
        # All owners' in-house revenue and running costs at once, as Python floats.
        inhouse_revenue = (inhouse_used * (float(self.expected_rents_usd_per_hour[-1])
                                           * p.inhouse_revenue_per_rent_dollar / 1e9)).tolist()
        opex_usd_b = (result.used_hours @ opex / 1e9).tolist()
        roe = ledger.rest_of_economy
        for owner, share, inhouse_i, external_i, revenue_i, opex_i in zip(
                owners, revenue_share.tolist(), inhouse_used.tolist(), external_hours.tolist(),
                inhouse_revenue, opex_usd_b, strict=True):
            owner.rent_revenue_usd_b = total_payments * share
            owner.inhouse_hours = inhouse_i
            owner.inhouse_revenue_usd_b = revenue_i
            ledger.transfer(roe, owner.account, revenue_i, "inhouse_ai_revenue")
            owner.pay_operating_costs(opex_i)
            owner.observe_demand(external_i, inhouse_i)
        flop_per_hour = p.gpu_flop_per_second_h100e * p.model_flops_utilization * 3600.0
        payment_list = payments.tolist()
        training_flop = (served[n:] * (flop_per_hour / p.rd_compute_multiplier)).tolist()
        for i, (lab, flop) in enumerate(zip(labs, training_flop, strict=True)):
            lab.inference_spend_usd_b = payment_list[i]
            lab.training_spend_usd_b = payment_list[n + i]
            lab.training_flop_this_quarter = flop
        # Rents for next quarter, and the slower-moving expectations owners plan with. A
        # generation with nothing installed yet (the quarter it launches) had no market: its
        # posted rent and expected utilization carry over instead of reading as idle.
        utilization = result.utilization_by_generation
        capacity_by_generation = result.capacity_by_generation
        installed = capacity_by_generation > 0.0
        newest_price = self.chipmakers[0].price_usd_per_h100e
        base = compute_market.base_rents(newest_price, self.roadmap_generation, opex, p)
        all_installed = installed.all()  # then the np.where calls below would change nothing
        rents = compute_market.next_rents(
            self.rents_usd_per_hour, utilization, self.roadmap_generation, newest_price, p,
            opex_usd_per_hour_by_generation=opex, base_rents_usd_per_hour=base)
        self.rents_usd_per_hour = (rents if all_installed
                                   else np.where(installed, rents, self.rents_usd_per_hour))
        self.rent_cycle_index = self._rent_cycle_index(
            capacity_by_generation,
            base if self.roadmap_generation >= n_gen - 1 else None)  # then the same trend
        self.expected_rents_usd_per_hour += EXPECTATION_WEIGHT_RENTS * (
            self.rents_usd_per_hour - self.expected_rents_usd_per_hour)
        surprise = utilization - self.expected_utilization
        self.expected_utilization += EXPECTATION_WEIGHT_RENTS * (
            surprise if all_installed else np.where(installed, surprise, 0.0))

    def _rent_cycle_index(self, capacity_hours_by_generation: np.ndarray,
                          base_rents_usd_per_hour: np.ndarray | None = None) -> float:
        """Posted rents relative to their generation's trend, averaged over installed capacity:
        the cyclical part of rents (DESIGN §11 item 4), 1 at normal utilization.

        ``base_rents_usd_per_hour``: the generations' trend rents
        (:func:`compute_market.base_rents`) if the caller has them."""
        p = self.params
        n = self.rents_usd_per_hour.size
        opex = self.opex_by_generation()
        base = base_rents_usd_per_hour
        if base is None:
            trend = rent_trend_usd_per_hour(
                self.chipmakers[0].price_usd_per_h100e, p.rent_capital_charge_per_year,
                float(opex[-1]), p.target_utilization)
            base = rent_by_generation(trend, self.roadmap_generation, n,
                                      p.older_generation_rent_discount)
        weights = capacity_hours_by_generation.tolist()[:n]
        weights += [0.0] * (n - len(weights))
        weight_total = sum(weights)
        if weight_total <= 0.0:
            return 1.0
        # In Python floats (a handful of generations), each rent over its trend floored at opex
        # (max(trend, floor) written out); sum() of a list: the same sum as of a generator
        return sum([rent / (floor if floor > trend else trend) * weight
                    for rent, trend, floor, weight in zip(
                        self.rents_usd_per_hour.tolist(), base.tolist(), opex.tolist(), weights,
                        strict=True)]) / weight_total

    def _labs_train_and_pay(self) -> None:
        for lab in self.labs:
            if lab.alive:
                lab.train(lab.training_flop_this_quarter)
                lab.pay_staff()
                lab.update_expectations()
        self._record_frontier()

    def _owners_invest(self) -> None:
        price = self.chipmakers[0].price_usd_per_h100e
        expected_rent = float(self.expected_rents_usd_per_hour[-1])
        owners = self.gpu_owners
        capex = np.array([o.previous_ai_capex_usd_b for o in owners])
        for owner in owners:
            owner.run_legacy_business()
        paybacks = expected_values_per_price(owners, expected_rent, price).tolist()
        peer_growth = self._peer_capex_growth(capex, getattr(self, "_capex_before", None))
        sentiment = self.sentiment
        for owner, growth, payback in zip(owners, peer_growth, paybacks, strict=True):
            # growth bounded to [-0.5, 1] (min/max written out: Python floats, same compares)
            growth = -0.5 if growth < -0.5 else growth
            owner.plan_capex(sentiment, 1.0 if growth > 1.0 else growth, expected_rent,
                             price, payback)
        self._capex_before = capex
        gpu_market.place_orders(owners, self.chipmakers)
        for owner in owners:
            owner.build_datacentres()

    def _peer_capex_growth(self, capex: np.ndarray, capex_before: np.ndarray | None
                           ) -> list[float]:
        """Each owner's peers' AI capex growth over the quarter (0 without a previous quarter,
        without peers or without peers' capex before).

        Each owner's peers are all the others; their capex is summed as the array of the others
        alone would be (a row sum of the (owners, owners - 1) array of peers is the same sum)."""
        n = capex.size
        if capex_before is None or n < 2:
            return [0.0] * n
        peers = getattr(self, "_peer_index", None)
        if peers is None or peers.shape[0] != n:
            peers = np.array([[j for j in range(n) if j != i] for i in range(n)])
            self._peer_index = peers
        now = capex[peers].sum(axis=1).tolist()
        before = capex_before[peers].sum(axis=1).tolist()
        return [x / b - 1.0 if b > 1e-9 else 0.0 for x, b in zip(now, before, strict=True)]

    def _chipmakers_produce(self) -> None:
        for chipmaker in self.chipmakers:
            chipmaker.set_price()
        gpu_market.ship(self.chipmakers, {o.unique_id: o for o in self.gpu_owners}, self.ledger)
        for chipmaker in self.chipmakers:
            chipmaker.plan_capacity()
            chipmaker.pay_operating_costs()

    def _depreciate_and_impair(self) -> None:
        """Book depreciation, test each vintage for impairment, scrap the uneconomic ones.

        Idle and impaired book are both judged on the same expectations: the impairment test
        on expected rents and expected utilization (§11 item 10), idleness on the expected
        utilization of each vintage's generation, so a GPU counts as stranded when its owner
        expects it to stay idle, not in every weak quarter (a spot test flags most of the
        book in any dip, §11 item 10).
        """
        p = self.params
        life = p.gpu_accounting_life_years * 4.0
        opex_by_generation = self.opex_by_generation()
        expected_use_by_generation = np.minimum(np.maximum(self.expected_utilization, 0.0), 1.0)
        last_generation = self.expected_rents_usd_per_hour.size - 1
        # Value in use depends on a vintage's generation only: once per generation, then
        # each vintage's recoverable value is its units times its generation's value.
        value_per_unit_usd = value_in_use_per_unit_usd(
            self.expected_rents_usd_per_hour, expected_use_by_generation,
            opex_by_generation[: last_generation + 1], p.older_generation_rent_discount,
            p.generation_cadence_quarters, self.risk_free_rate + IMPAIRMENT_DISCOUNT_PREMIUM)
        # Vintages are scrapped when their expected rent no longer covers their running cost.
        economic = self.expected_rents_usd_per_hour > opex_by_generation[: last_generation + 1]
        fleets = depreciate_impair_and_retire(
            [owner.fleet for owner in self.gpu_owners], life, value_per_unit_usd, economic,
            SCRAP_AGE_FACTOR * life, expected_use_by_generation, p.target_utilization)
        impairments = 0.0
        revalue = self.ledger.revalue
        for owner, quarter in zip(self.gpu_owners, fleets, strict=True):
            depreciation, impairment, scrapped, idle_h100e, idle_book, stranded = quarter
            owner.depreciation_usd_b = depreciation
            other = owner.depreciate_other_assets()
            owner.impairment_usd_b = impairment + scrapped
            # depreciation of every asset and the impairment: one revaluation of net worth
            revalue(owner.account, -(depreciation + other + owner.impairment_usd_b))
            impairments += owner.impairment_usd_b
            owner.idle_h100e, owner.idle_book_usd_b, owner.stranded_usd_b = (
                idle_h100e, idle_book, stranded)
        self.impairments_usd_b = impairments

    def _capital_markets(self) -> None:
        p = self.params
        market = self.capital_market
        market.service_debts()
        market.pay_out()
        market.mark_labs()
        market.price_equities(self.capability_news_logit())
        wealth = market.investor_wealth_usd_b()
        self.ledger.transfer_many(self.ledger.rest_of_economy, self.investors.account,
                                  p.investor_inflow_per_quarter * np.maximum(wealth, 0.0),
                                  "savings_inflow")

    def _exits_and_entries(self) -> None:
        ledger = self.ledger
        for i, lab in enumerate(self.labs):
            if lab.alive and lab.insolvent:
                if lab.cash_usd_b < 0.0:  # suppliers and staff are not paid in full
                    ledger.transfer(ledger.rest_of_economy, lab.account, -lab.cash_usd_b,
                                    "unpaid_bills_written_off")
                lab.alive = False
                self.capital_market.lab_failed(i)
                lab.remove()
        self.apps.exit_and_enter()

    # --- observation -----------------------------------------------------------------------------
    def _collect(self) -> None:
        self.observation = observe_model(self)
        self.datacollector.collect(self)
        if not np.isfinite(self.ledger.balances_usd_b).all():  # every agent's cash
            raise FloatingPointError("non-finite cash in the ledger")
        if self.record_agents:
            self._agent_tables.append(agent_rows(self))

    @property
    def quarter_label(self) -> str:
        return quarter_label(self.quarter)

    def agent_table(self):
        """Per-agent, per-quarter table (pandas): type, cash, debt, value, main decision."""
        if not self.record_agents:
            raise RuntimeError("no agent table: this model was built with record_agents=False")
        return agent_table_frame(self._agent_tables)

    def model_table(self):
        """The per-quarter model table (the data collector's model variables, with ``step``)."""
        frame = self.datacollector.get_model_vars_dataframe()
        frame.insert(0, "step", np.arange(1, len(frame) + 1))
        return frame.reset_index(drop=True)
