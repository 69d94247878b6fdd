"""Application companies: model choice by capability per dollar, end-customer sales, entry/exit.

DESIGN §4. Apps are many, so their state lives in arrays of an :class:`AppPopulation` and their
decisions are vectorized; each app is still a Mesa :class:`AppCompany` agent whose attributes
read its row. An app buys tokens from one lab; when it reviews its choice (with probability
``app_review_probability`` a quarter) it switches to the lab with the best capability per dollar
only if that beats its current lab by more than the switching cost. Apps enter when incumbents
are profitable and exit when their cash runs out.
"""

from __future__ import annotations

import math

import numpy as np
from mesa import Agent

from bubble_abm.core.sampling import choose_by_probability


class AppCompany(Agent):
    """One application company; its state is row ``index`` of the model's AppPopulation."""

    def __init__(self, model, index: int) -> None:
        super().__init__(model)
        self.index = index

    @property
    def _population(self) -> AppPopulation:
        return self.model.apps

    @property
    def cash_usd_b(self) -> float:
        return self.model.ledger.balance(int(self._population.account[self.index]))

    @property
    def lab_index(self) -> int:
        return int(self._population.lab[self.index])

    @property
    def revenue_usd_b(self) -> float:
        return float(self._population.revenue_usd_b[self.index])


class AppPopulation:
    """Array state and vectorized decisions of all application companies."""

    def __init__(self, model, n: int) -> None:
        self.model = model
        rng = model.rng
        self.size = np.zeros(0)
        self.account = np.zeros(0, dtype=np.int64)
        self.agent_id = np.zeros(0, dtype=np.int64)  # Mesa unique_id of each row's agent
        self.lab = np.zeros(0, dtype=np.int64)
        self.alive = np.zeros(0, dtype=bool)
        self.revenue_usd_b = np.zeros(0)
        self.token_cost_usd_b = np.zeros(0)
        self.profit_usd_b = np.zeros(0)
        self.tokens_t = np.zeros(0)
        self.agents: list[AppCompany] = []
        self.exits = 0
        self.entries = 0
        self.switches = 0
        self.add(n, initial_lab=rng.integers(0, model.n_labs, size=n))

    @property
    def n(self) -> int:
        return int(self.alive.size)

    def add(self, count: int, initial_lab: np.ndarray) -> np.ndarray:
        """Create ``count`` apps (sizes lognormal: a few large, many small), seeded with cash."""
        model = self.model
        p = model.params
        first = self.n
        indices = np.arange(first, first + count)
        accounts = model.ledger.open_accounts([f"app_{i}" for i in indices], "apps")
        self.size = np.concatenate([self.size, model.rng.lognormal(0.0, 1.0, count)])
        # The first apps' accounts stay the ledger's block (transfers to or from all of them
        # then take its faster path, with the same books) until entrants are added.
        self.account = (accounts if self.account.size == 0
                        else np.concatenate([self.account, accounts]))
        self.lab = np.concatenate([self.lab, initial_lab])
        self.alive = np.concatenate([self.alive, np.ones(count, dtype=bool)])
        for name in ("revenue_usd_b", "token_cost_usd_b", "profit_usd_b", "tokens_t"):
            setattr(self, name, np.concatenate([getattr(self, name), np.zeros(count)]))
        model.ledger.transfer_many(model.ledger.rest_of_economy, accounts,
                                   np.full(count, p.app_initial_cash_usd_b), "app_seed_funding")
        created = AppCompany.create_agents(model, count, index=list(indices))
        self.agents.extend(created)
        self.agent_id = np.concatenate([self.agent_id,
                                        np.array([a.unique_id for a in created], dtype=np.int64)])
        return indices

    def cash_usd_b(self) -> np.ndarray:
        return self.model.ledger.balances_usd_b[self.account]

    def choose_models(self, capability_logit: np.ndarray, price_usd_per_m_tokens: np.ndarray,
                      lab_alive: np.ndarray) -> None:
        """Reviewing apps switch to the best capability per dollar beyond the switching cost."""
        p = self.model.params
        alive_labs = lab_alive.tolist()
        if not any(alive_labs):
            self.switches = 0
            return
        # Each live lab's log score relative to the best one (so no overflow), in Python floats
        # (a handful of labs); a failed lab scores 0.
        value = p.capability_value_per_logit
        # math.log(max(price, 1e-12)), the max written out (no builtin call per lab)
        log_score = [value * logit - math.log(1e-12 if price < 1e-12 else price) if alive
                     else -math.inf
                     for logit, price, alive in zip(capability_logit.tolist(),
                                                    price_usd_per_m_tokens.tolist(), alive_labs,
                                                    strict=True)]
        top = max(log_score)
        scores = [math.exp(x - top) for x in log_score]
        best_score = max(scores)
        score = np.array(scores)
        all_alive = all(alive_labs)  # the usual case: no lab to mask out, no app forced
        reviewing = self.model.rng.random(self.alive.size) < p.app_review_probability
        app_lab = self.lab
        better = best_score > score[app_lab] * (1.0 + p.app_switching_cost)
        if all_alive:
            switch = self.alive & (reviewing & better)
        else:
            switch = self.alive & (~lab_alive[app_lab] | (reviewing & better))
        # Not every reviewer lands on the single best lab: pick among labs by score share.
        switches = int(np.count_nonzero(switch))  # switch.sum(), faster for booleans
        if switches:
            score_4 = score**4
            weights = score_4 / score_4.sum()
            self.lab[switch] = choose_by_probability(self.model.rng, weights, switches)
            self.switches = switches
        else:
            self.switches = 0

    def pay_overheads(self) -> None:
        """Staff, sales and hosting as a share of revenue, to the rest of the economy."""
        p = self.model.params
        ledger = self.model.ledger
        cash = self.cash_usd_b()
        overhead = np.minimum(p.app_overhead_share * self.revenue_usd_b + 0.002 * self.size,
                              np.maximum(cash, 0.0))
        overhead = np.where(self.alive, overhead, 0.0)
        ledger.transfer_many(self.account, ledger.rest_of_economy, overhead, "wages_and_opex")
        self.profit_usd_b = self.revenue_usd_b - self.token_cost_usd_b - overhead

    def exit_and_enter(self) -> None:
        """Apps with no cash left exit; entrants arrive in proportion to incumbents' margins."""
        model = self.model
        p = model.params
        ledger = model.ledger
        cash = self.cash_usd_b()
        broke = self.alive & (cash <= 1e-6) & (self.profit_usd_b <= 0.0)
        if broke.any():
            self.alive[broke] = False
            for index in np.flatnonzero(broke):
                self.agents[index].remove()
            self.exits += int(broke.sum())
        alive = self.alive
        revenue = self.revenue_usd_b[alive].sum()
        # Profit never exceeds revenue, so a margin over a vanishing revenue is 0 or a loss
        # (both attract no entrants); dividing by a denormal revenue would overflow.
        margin = self.profit_usd_b[alive].sum() / revenue if revenue > 1e-12 else 0.0
        # np.count_nonzero: the same count as alive.sum(), without its wrapper
        expected = p.app_entry_rate * np.count_nonzero(self.alive) * max(margin, 0.0)
        count = int(model.rng.poisson(expected))
        if count > 0:
            _ = ledger  # entrants are seeded by the rest of the economy (venture money outside)
            self.add(count, initial_lab=np.full(count, model.best_lab_index()))
            self.entries += count
