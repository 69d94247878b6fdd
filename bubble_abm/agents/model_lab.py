"""Model lab: closed frontier or open-weights; training budget, API price, funding, burn.

DESIGN §3-§4. Each quarter a lab decides the training budget of its next model (a scale-up
limited by cash), prices its API (cost plus markup, a premium for its capability lead that the
open models cap), serves the tokens its customers buy on rented GPUs, and raises money when its
runway is short. A finished run sets its capability from the scaling laws. A lab that cannot pay
its bills fails.
"""

from __future__ import annotations

import math

from mesa import Agent

from bubble_abm.core import scaling

FLOP_PER_TOKEN_SIZE_EXPONENT = 0.5  # serving cost grows with parameters N ~ C**0.5 (Chinchilla)
INFERENCE_EFFICIENCY_SHARE = 0.5  # share of algorithmic progress that cuts serving FLOP/token
OPEN_LAB_MARKUP = 0.1  # open weights are served near cost
MIN_MARKUP = 0.05  # no lab sells tokens below serving cost plus 5%
RETURNS_LEARNING_WEIGHT = 0.5  # adaptive expectation of capability gained per compute doubling
SCALING_CONFIDENCE_BOUNDS = (0.1, 1.0)  # share of the usual scale-up exponent a lab attempts
MAX_ROUND_SHARE_OF_VALUATION = 0.5  # a round raises at most half the lab's current mark
PRICE_ADJUSTMENT = 0.5  # share of the way to the target price each quarter
TRAINING_SHARE_OF_FUNDS = 0.5  # at most this share of cash goes to one quarter of training
OPEX_SHARE_OF_REVENUE = 0.15  # sales, support, safety, research beyond compute


def _clipped(value: float, lower: float, upper: float) -> float:
    """``float(min(max(value, lower), upper))`` with the conversion first: the same
    comparisons (max keeps ``value`` unless ``lower`` is greater, min unless ``upper`` is
    smaller; a NaN stays), on a Python float rather than a numpy scalar."""
    value = float(value)
    if value < lower:
        value = lower
    if value > upper:
        value = upper
    return value


def _scaling_confidence(expected_logit_per_doubling: float, reference: float) -> float:
    """:meth:`ModelLab.scaling_confidence` of a lab's expectation and the reference."""
    # _clipped, inlined (a lab's plan asks for this many times a quarter); both are floats
    ratio = expected_logit_per_doubling / reference if reference > 0 else 1.0
    lower, upper = SCALING_CONFIDENCE_BOUNDS
    if ratio < lower:
        return lower
    return upper if ratio > upper else ratio


class ModelLab(Agent):
    """A lab that trains models on rented compute and sells tokens."""

    def __init__(self, model, is_open: bool, run_compute_flop: float, partner_id: int | None,
                 size: float) -> None:
        super().__init__(model)
        p = model.params
        self.account = model.ledger.open_account(f"lab_{self.unique_id}", "labs")
        self.is_open = is_open
        self.size = float(size)  # a Python float: labs' arithmetic stays in Python floats
        self.partner_id = partner_id
        self.physical_run_flop = run_compute_flop
        self.effective_run_flop = run_compute_flop
        self.base_logit = model.capability_logit_of(run_compute_flop, model.quarter)
        self.run_flop_so_far = 0.0
        self.run_quarters_done = 0
        self.training_budget_usd_b = 0.0
        self.training_spend_usd_b = 0.0
        self.inference_spend_usd_b = 0.0
        self.api_price_usd_per_m_tokens = p.initial_api_price_usd_per_m_tokens * (
            0.2 if is_open else 1.0)
        self.tokens_served_t = 0.0  # trillions of tokens this quarter
        self.revenue_usd_b = 0.0
        self.revenue_history: list[float] = []
        self.expected_revenue_growth_per_year = 1.0
        self.costs_usd_b = 0.0
        self.valuation_usd_b = 0.0
        self.raised_usd_b = 0.0
        self.unpaid_bills_usd_b = 0.0
        self.pricing_margin = 0.0
        self.expected_logit_per_doubling = model.reference_logit_per_doubling
        self.alive = True

    # --- observables ---------------------------------------------------------------------
    @property
    def cash_usd_b(self) -> float:
        return self.model.ledger.balances_view[self.account]  # Ledger.balance, inlined

    @property
    def capability_logit(self) -> float:
        """Own model plus inference-time gains (reasoning) available to everyone this quarter."""
        own = self.base_logit
        if self.is_open:
            lagged = self.model.lagged_frontier_base_logit()
            if lagged > own:  # max(own, lagged), without the builtin call
                own = lagged
        return own + self.model.inference_boost_logit

    @property
    def capability(self) -> float:
        return float(scaling.sigmoid(self.capability_logit))

    def burn_usd_b(self) -> float:
        """Cash burned per quarter at the current pace (costs minus revenue), at least staff."""
        staff = self.model.params.lab_staff_cost_usd_b_per_quarter * self.size
        return max(self.costs_usd_b - self.revenue_usd_b, staff)

    def funding_need_usd_b(self) -> float:
        """Money sought this quarter: a round sized to the runway target when runway is short."""
        model = self.model
        p = model.params
        cash = model.ledger.balances_view[self.account]  # self.cash_usd_b
        # self.burn_usd_b(), and below min/max, written out (the same comparisons, without
        # builtin calls: asked for many times a quarter)
        running_burn = self.costs_usd_b - self.revenue_usd_b
        staff = p.lab_staff_cost_usd_b_per_quarter * self.size
        if staff > running_burn:
            running_burn = staff
        burn = running_burn + self.planned_training_usd_b()
        if cash >= p.lab_funding_trigger_quarters * burn:
            return 0.0
        wanted = p.lab_runway_target_quarters * burn - cash
        if wanted < 0.0:
            wanted = 0.0
        valuation = self.valuation_usd_b
        ceiling = MAX_ROUND_SHARE_OF_VALUATION * (
            running_burn if running_burn > valuation else valuation)
        return ceiling if ceiling < wanted else wanted

    def net_worth_usd_b(self) -> float:
        return self.cash_usd_b + self.model.capital_market.stake_value_usd_b(self)

    # --- serving cost and price ---------------------------------------------------------------
    def flop_per_token(self) -> float:
        """Serving FLOP per token: grows with the model's size (N ~ C^0.5), falls with the
        share of algorithmic progress that reaches inference. An open model that matches the
        lagged frontier is about as large as the frontier model it matches."""
        p = self.model.params
        run_flop = self.physical_run_flop
        if self.is_open:
            lagged = self.model.lagged_frontier_run_flop()
            if lagged > run_flop:  # max(run_flop, lagged), without the builtin call
                run_flop = lagged
        size = (run_flop / p.anchor_compute_flop) ** FLOP_PER_TOKEN_SIZE_EXPONENT
        efficiency = self.model.algorithmic_multiplier ** INFERENCE_EFFICIENCY_SHARE
        return p.inference_flop_per_token * size / efficiency

    def serving_cost_usd_per_m_tokens(self, rent_usd_per_hour: float) -> float:
        p = self.model.params
        tokens_per_hour = (p.gpu_flop_per_second_h100e * p.inference_utilization * 3600.0
                           / self.flop_per_token())
        return rent_usd_per_hour * 1e6 / tokens_per_hour

    def set_api_price(self, rent_usd_per_hour: float, open_price: float,
                      open_logit: float) -> None:
        """Cost plus markup, capped by the open models' price plus a premium for the lead."""
        p = self.model.params
        cost = self.serving_cost_usd_per_m_tokens(rent_usd_per_hour)
        if self.is_open:
            target = cost * (1.0 + OPEN_LAB_MARKUP)
        else:
            # min/max written out (the same comparisons, without builtin calls)
            lead = self.capability_logit - open_logit
            if lead < 0.0:
                lead = 0.0
            ceiling = open_price * (1.0 + p.frontier_premium_per_logit * lead) ** 2
            marked_up = cost * (1.0 + p.lab_markup)
            target = ceiling if ceiling < marked_up else marked_up
            lowest = cost * (1.0 + MIN_MARKUP)
            if lowest > target:
                target = lowest
        smoothed = math.exp((1 - PRICE_ADJUSTMENT) * math.log(self.api_price_usd_per_m_tokens)
                            + PRICE_ADJUSTMENT * math.log(target))
        lowest = cost * (1.0 + MIN_MARKUP)
        self.api_price_usd_per_m_tokens = lowest if lowest > smoothed else smoothed
        self.pricing_margin = 1.0 - cost / self.api_price_usd_per_m_tokens

    # --- training -----------------------------------------------------------------------------
    def planned_training_usd_b(self) -> float:
        """Per-quarter spend of the next run.

        Labs buy capability, not FLOP: the next run targets the *effective* compute of the last
        one scaled up at the frontier's usual pace (physical 4-5x a year, Epoch AI, times the
        usual algorithmic progress); the physical FLOP this takes is the target divided by
        today's algorithmic multiplier, so an efficiency jump cuts the compute a lab rents.
        """
        model = self.model
        p = model.params
        usual_algorithmic_gain = 2.0 ** (1.0 / p.algorithmic_doubling_years)
        scaleup = p.training_scaleup_per_year ** _scaling_confidence(
            self.expected_logit_per_doubling, model.reference_logit_per_doubling)
        target_effective = self.effective_run_flop * (
            scaleup * usual_algorithmic_gain) ** (p.training_run_quarters / 4)
        target_flop = target_effective / model.algorithmic_multiplier
        flop_per_dollar = model.training_flop_per_dollar
        return (target_flop * p.rd_compute_multiplier / flop_per_dollar / 1e9
                / p.training_run_quarters)

    def scaling_confidence(self) -> float:
        """How much of the frontier's usual scale-up the lab still attempts, from the capability
        its last runs gained per doubling of effective compute relative to what scaling gave at
        the start (1 = as before; a data wall pushes it toward the floor)."""
        return _scaling_confidence(self.expected_logit_per_doubling,
                                   self.model.reference_logit_per_doubling)

    def decide_training_budget(self, sentiment: float) -> None:
        """Spend on training this quarter: the plan, scaled by sentiment and bounded by cash."""
        plan = self.planned_training_usd_b() * _clipped(sentiment, 0.3, 1.5)
        cash = self.model.ledger.balances_view[self.account]  # cash_usd_b, inlined
        affordable = TRAINING_SHARE_OF_FUNDS * (0.0 if cash < 0.0 else cash)  # max(cash, 0)
        budget = affordable if affordable < plan else plan  # min(plan, affordable)
        self.training_budget_usd_b = 0.0 if budget < 0.0 else budget  # max(budget, 0)

    def train(self, compute_flop: float) -> None:
        """Add this quarter's compute to the run; a finished run sets the new capability."""
        p = self.model.params
        self.run_flop_so_far += compute_flop
        self.run_quarters_done += 1
        if self.run_quarters_done < p.training_run_quarters:
            return
        if self.run_flop_so_far > 0.1 * self.physical_run_flop:
            new_logit = self.model.capability_logit_of(self.run_flop_so_far, self.model.quarter)
            effective = self.run_flop_so_far * self.model.algorithmic_multiplier
            doublings = math.log2(effective / self.effective_run_flop)
            if doublings > 0.25:  # learn the returns to scale from a real scale-up
                observed = (new_logit - self.base_logit) / doublings
                self.expected_logit_per_doubling += RETURNS_LEARNING_WEIGHT * (
                    observed - self.expected_logit_per_doubling)
            if new_logit > self.base_logit:
                self.base_logit = new_logit
                self.physical_run_flop = self.run_flop_so_far
                self.effective_run_flop = max(self.effective_run_flop, effective)
        self.run_flop_so_far = 0.0
        self.run_quarters_done = 0

    # --- books -------------------------------------------------------------------------------
    def record_revenue(self, revenue_usd_b: float, tokens_t: float) -> None:
        self.revenue_usd_b = revenue_usd_b
        self.tokens_served_t = tokens_t

    def pay_staff(self) -> None:
        """Staff and overhead to the rest of the economy."""
        p = self.model.params
        ledger = self.model.ledger
        opex = p.lab_staff_cost_usd_b_per_quarter * self.size + OPEX_SHARE_OF_REVENUE * (
            self.revenue_usd_b)
        cash = self.model.ledger.balances_view[self.account]  # cash_usd_b, inlined
        payable = 0.0 if cash < 0.0 else cash
        paid = payable if payable < opex else opex  # min(opex, max(cash, 0.0)), written out
        ledger.transfer(self.account, ledger.rest_of_economy, paid, "wages_and_opex")
        self.unpaid_bills_usd_b = opex - paid  # a lab that cannot pay its staff fails
        self.costs_usd_b = opex + self.training_spend_usd_b + self.inference_spend_usd_b

    @property
    def insolvent(self) -> bool:
        """Out of cash with bills unpaid (after this quarter's funding round)."""
        return self.cash_usd_b < 0.0 or self.unpaid_bills_usd_b > 1e-9

    def update_expectations(self) -> None:
        """Adaptive expectation of annual revenue growth from the last year's revenue."""
        history = self.revenue_history
        history.append(self.revenue_usd_b)
        if len(history) >= 5 and history[-5] > 1e-6:
            observed = history[-1] / history[-5] - 1.0
            self.expected_revenue_growth_per_year += 0.3 * (
                _clipped(observed, -0.9, 5.0) - self.expected_revenue_growth_per_year)

    def margin(self) -> float:
        """Operating margin of the quarter (revenue minus all costs, over revenue)."""
        if self.revenue_usd_b <= 1e-9:
            return -1.0
        return float(min(max((self.revenue_usd_b - self.costs_usd_b) / self.revenue_usd_b,
                             -10.0), 1.0))

    @property
    def main_decision(self) -> tuple[str, float]:
        return "training_budget_usd_b", self.training_budget_usd_b
