"""Investors: fundamentalists, trend followers and narrative investors with logit switching.

DESIGN §4, after Brock & Hommes (1998). Each investor follows one strategy that forms an
expected return for every listed firm:

- fundamentalist: the gap between a DCF value on cash-flow *levels* and the price (§11.2);
- trend follower: the recent price trend, extrapolated;
- narrative: capability news (the frontier's logit gain over the past year vs a normal year),
  scaled by each firm's AI exposure.

Allocation between AI equities, lab rounds, bonds and cash tilts with expected returns. Each
quarter a share of investors reviews its strategy and picks one with logit probabilities in
the strategies' realised performance (intensity of choice ``intensity_of_choice``).
"""

from __future__ import annotations

import numpy as np
from mesa import Agent

from bubble_abm.core.sampling import choose_by_probability

FUNDAMENTALIST, TREND_FOLLOWER, NARRATIVE = 0, 1, 2
STRATEGY_NAMES = ("fundamentalist", "trend_follower", "narrative")
FUNDAMENTAL_REVERSION_PER_QUARTER = 0.3  # share of the value gap expected to close a quarter
TREND_EXTRAPOLATION = 0.6  # expected return per unit of last half-year's quarterly return
NARRATIVE_RETURN_PER_LOGIT = 0.12  # expected return per logit of surprise capability gain
NORMAL_LOGIT_GAIN_PER_YEAR = 0.5  # the capability gain narrative investors take as normal
MAX_TILT = 3.0  # an investor holds at most 3x its base weight in one asset


class Investor(Agent):
    """One investor; its state is row ``index`` of the model's InvestorPopulation."""

    def __init__(self, model, index: int) -> None:
        super().__init__(model)
        self.index = index

    @property
    def strategy(self) -> str:
        return STRATEGY_NAMES[int(self.model.investors.strategy[self.index])]

    @property
    def cash_usd_b(self) -> float:
        return self.model.ledger.balance(int(self.model.investors.account[self.index]))


def strategy_expected_returns(
    fundamental_gap: np.ndarray, price_trend: np.ndarray, capability_news_logit: float,
    ai_exposure: np.ndarray,
) -> np.ndarray:
    """Expected quarterly return of each listed firm under each strategy, shape (3, n_firms).

    ``fundamental_gap`` = value / price − 1; ``price_trend`` = mean quarterly log return of the
    last two quarters; ``capability_news_logit`` = frontier logit gain over the last four
    quarters minus a normal year's gain.
    """
    fundamental = FUNDAMENTAL_REVERSION_PER_QUARTER * np.minimum(np.maximum(fundamental_gap,
                                                                             -0.9), 1.0)
    trend = TREND_EXTRAPOLATION * price_trend
    narrative = NARRATIVE_RETURN_PER_LOGIT * capability_news_logit * ai_exposure
    return np.array((fundamental, trend, narrative))  # np.vstack's rows, with less overhead


def sector_expected_returns(fundamental_gap: float, price_trend: float,
                            capability_news_logit: float) -> np.ndarray:
    """:func:`strategy_expected_returns` of one asset of AI exposure 1 (a whole sector, such
    as the private labs), shape (3, 1): the same numbers, from Python floats."""
    fundamental = FUNDAMENTAL_REVERSION_PER_QUARTER * min(max(fundamental_gap, -0.9), 1.0)
    return np.array(((fundamental,), (TREND_EXTRAPOLATION * price_trend,),
                     (NARRATIVE_RETURN_PER_LOGIT * capability_news_logit,)))


def logit_strategy_shares(performance: np.ndarray, intensity_of_choice: float) -> np.ndarray:
    """Brock-Hommes discrete choice: share_h ∝ exp(β · U_h)."""
    z = intensity_of_choice * (performance - performance.max())
    weights = np.exp(z)
    return weights / weights.sum()


class InvestorPopulation:
    """Array state of all investors and their vectorized decisions."""

    def __init__(self, model, n: int, wealth_usd_b: float) -> None:
        p = model.params
        rng = model.rng
        self.model = model
        self.account = model.ledger.open_accounts([f"investor_{i}" for i in range(n)],
                                                  "investors")
        self.wealth_weight = rng.pareto(1.5, n) + 1.0
        self.wealth_weight /= self.wealth_weight.sum()
        model.ledger.transfer_many(model.ledger.rest_of_economy, self.account,
                                   wealth_usd_b * self.wealth_weight, "savings_inflow")
        shares = np.array([1.0 - p.initial_trend_follower_share - p.initial_narrative_share,
                           p.initial_trend_follower_share, p.initial_narrative_share])
        shares = np.clip(shares, 0.0, None)
        shares = shares / shares.sum() if shares.sum() > 0 else np.full(3, 1 / 3)
        self.strategy = rng.choice(3, size=n, p=shares)
        self.risk_appetite = rng.uniform(0.6, 1.4, n)
        self.performance = np.zeros(3)
        self.agents = list(Investor.create_agents(model, n, index=list(range(n))))
        self.agent_id = np.array([a.unique_id for a in self.agents], dtype=np.int64)

    @property
    def n(self) -> int:
        return int(self.account.size)

    def cash_usd_b(self) -> np.ndarray:
        return self.model.ledger.balances_usd_b[self.account]

    def strategy_shares(self) -> np.ndarray:
        return np.bincount(self.strategy, minlength=3) / max(self.n, 1)

    def desired_tilt(self, expected_returns: np.ndarray) -> np.ndarray:
        """Per-investor multiplier on base weights, shape (n_assets, n), from own strategy."""
        p = self.model.params
        # Each strategy's column first, floored at zero (risk appetites are positive: the same
        # numbers as flooring the product), then one column per investor.
        tilt = np.maximum(1.0 + p.allocation_return_sensitivity * expected_returns.T, 0.0)
        tilt = tilt.take(self.strategy, axis=1)  # tilt[:, self.strategy], C-contiguous
        tilt *= self.risk_appetite
        return np.minimum(tilt, MAX_TILT, out=tilt)

    def review_strategies(self, realised_returns: np.ndarray, last_expected: np.ndarray) -> None:
        """Score each strategy by the return of the tilt it advised last quarter; switch by logit.

        U_h = Σ_f w_hf r_f with w_hf ∝ base weight × tilt_hf (the strategy's own portfolio).
        """
        p = self.model.params
        tilts = np.minimum(np.maximum(1.0 + p.allocation_return_sensitivity * last_expected, 0.0),
                           MAX_TILT)
        # Each strategy's portfolio return: Σ_f tilt_hf r_f / Σ_f tilt_hf.
        self.performance = 0.5 * self.performance + (tilts @ realised_returns) / np.maximum(
            np.add.reduce(tilts, axis=1), 1e-12)
        shares = logit_strategy_shares(4.0 * self.performance, p.intensity_of_choice)
        rng = self.model.rng
        reviewing = rng.random(self.n) < p.strategy_review_probability
        count = int(np.count_nonzero(reviewing))
        if count:
            self.strategy[reviewing] = choose_by_probability(rng, shares, count)
