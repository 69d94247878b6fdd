"""What the data collector records: the model table's columns and the agent table's rows.

Flows are per quarter in $B (not annualised). ``ai_revenue_usd_b`` is final spending on AI:
end customers' spending through apps plus the big four's in-house AI product revenue (lab API
fees are paid by apps out of their revenue, so they are not added again).
``gpu_rental_price_usd_per_hour`` is the posted rent of an H100 (generation 0) per hour;
``newest_rental_price_usd_per_hour`` is the newest generation's rent per H100e-hour.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
from mesa import DataCollector

from bubble_abm.core import scaling

MODEL_COLUMNS = (
    "quarter", "hyperscaler_capex_usd_b", "big_four_capex_usd_b", "big_four_ai_capex_usd_b",
    "ai_capex_usd_b",
    "gpu_capex_usd_b", "gpu_orders_h100e", "gpu_cancellations_h100e", "gpu_shipments_h100e",
    "gpu_backlog_h100e",
    "installed_gpus_h100e", "chip_revenue_usd_b", "chip_capacity_h100e", "gpu_price_usd",
    "h100_unit_price_usd",
    "utilization", "gpu_rental_price_usd_per_hour", "newest_rental_price_usd_per_hour",
    "rent_cycle_index",
    "frontier_loss", "frontier_capability", "frontier_logit", "open_capability", "capability_gap",
    "frontier_training_flop", "lab_training_spend_usd_b", "lab_inference_spend_usd_b",
    "lab_revenue_usd_b", "largest_closed_lab_revenue_usd_b", "lab_costs_usd_b", "lab_margin",
    "frontier_gross_margin",
    "frontier_pricing_margin", "labs_alive",
    "lab_funding_requested_usd_b", "lab_funding_raised_usd_b", "strategic_funding_usd_b",
    "api_price_usd_per_m_tokens", "tokens_t", "app_revenue_usd_b", "inhouse_ai_revenue_usd_b",
    "ai_revenue_usd_b", "capex_to_ai_revenue", "ai_capex_share_of_gdp",
    "hyperscaler_debt_usd_b", "credit_spread", "equity_index", "equity_drawdown",
    "chipmaker_equity_usd_b", "big_four_equity_usd_b", "levered_equity_usd_b",
    "other_owner_equity_usd_b", "lab_valuation_usd_b", "sentiment", "trend_follower_share",
    "narrative_share", "gpu_book_value_usd_b", "stranded_gpu_assets_usd_b",
    "stranded_share_of_fleet", "idle_gpus_h100e",
    "impairments_usd_b",
    "defaults", "app_companies", "app_exits", "total_money_usd_b",
)


def read_observation(model, name: str) -> Any:
    """Data-collector reporter (used through functools.partial, which pickles)."""
    return model.observation[name]


def model_reporters() -> dict[str, partial]:
    return {name: partial(read_observation, name=name) for name in MODEL_COLUMNS}


class ModelTableCollector(DataCollector):
    """Mesa's DataCollector for the model table, filled from the quarter's observation row.

    Mesa's ``collect`` calls each of the 66 reporters and deep-copies each value; here every
    value is an immutable number or string that :func:`observe_model` has already computed, so
    one pass over the row records the same table (the reporters stay, for Mesa's tools)."""

    def __init__(self) -> None:
        super().__init__(model_reporters=model_reporters())

    def collect(self, model) -> None:
        self._collection_steps.append(model.time)
        row = model.observation
        for name, column in self.model_vars.items():
            column.append(row[name])


def _safe_ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 1e-9 else 0.0


def observe_model(model) -> dict[str, Any]:
    """One row of the model table for the quarter just finished.

    Totals are Python ``sum`` over lists (not generators: faster, the same additions in the
    same order); a list used by several columns is built once.
    """
    owners = model.gpu_owners
    labs = model.labs
    chipmakers = model.chipmakers
    market = model.capital_market
    compute = model.compute_result
    # Each owner's AI capex and capex, read once for every column that sums them.
    ai_capex_by_owner, hyperscaler_capex, big_four_capex, big_four_ai_capex = [], [], [], []
    for o in owners:
        ai, capex = o.ai_capex_usd_b, o.capex_usd_b
        ai_capex_by_owner.append(ai)
        if o.kind != "other":
            hyperscaler_capex.append(capex)
        if o.kind == "big_four":
            big_four_capex.append(capex)
            big_four_ai_capex.append(ai)
    alive_labs = [lab for lab in labs if lab.alive]
    closed = [lab for lab in alive_labs if not lab.is_open]
    open_labs = [lab for lab in alive_labs if lab.is_open]
    # The frontier: the first closed lab of the highest capability (as max with a key picks)
    closed_logits = [lab.capability_logit for lab in closed]
    frontier_logit = max(closed_logits) if closed else model.anchor_logit
    frontier = closed[closed_logits.index(frontier_logit)] if closed else None
    open_logit = (max([lab.capability_logit for lab in open_labs]) if open_labs
                  else model.lagged_frontier_base_logit() + model.inference_boost_logit)
    ai_capex = sum(ai_capex_by_owner)
    inhouse = sum([o.inhouse_revenue_usd_b for o in owners])
    app_revenue = float(model.apps.revenue_usd_b.sum())
    ai_revenue = app_revenue + inhouse
    lab_revenue = sum([lab.revenue_usd_b for lab in labs])
    lab_costs = sum([lab.costs_usd_b for lab in alive_labs])
    caps = market.price_usd_b
    index = 100.0 * caps.sum() / market.start_price_usd_b.sum()
    model.equity_peak = max(model.equity_peak, index)
    sectors = market.sector_prices()
    served_tokens = sum([lab.tokens_served_t for lab in labs])
    api_price = (sum([lab.api_price_usd_per_m_tokens * lab.tokens_served_t for lab in labs])
                 / served_tokens if served_tokens > 0 else
                 float(np.mean([lab.api_price_usd_per_m_tokens for lab in labs])))
    debt = sum([o.debt_usd_b for o in owners])
    fleets = [o.fleet for o in owners]
    books = [fleet.book_value_usd_b for fleet in fleets]
    closed_revenue = [lab.revenue_usd_b for lab in closed]
    closed_revenue_total = sum(closed_revenue)
    stranded = sum([o.stranded_usd_b for o in owners])
    return {
        "quarter": model.quarter_label,
        "hyperscaler_capex_usd_b": sum(hyperscaler_capex),
        "big_four_capex_usd_b": sum(big_four_capex),
        "big_four_ai_capex_usd_b": sum(big_four_ai_capex),
        "ai_capex_usd_b": ai_capex,
        "gpu_capex_usd_b": sum([o.gpu_capex_usd_b for o in owners]),
        "gpu_orders_h100e": sum([c.orders_h100e for c in chipmakers]),
        "gpu_cancellations_h100e": sum([c.cancelled_h100e for c in chipmakers]),
        "gpu_shipments_h100e": sum([c.shipments_h100e for c in chipmakers]),
        "gpu_backlog_h100e": sum([c.backlog_total_h100e for c in chipmakers]),
        "installed_gpus_h100e": sum([fleet.installed_h100e for fleet in fleets]),
        "chip_revenue_usd_b": sum([c.revenue_usd_b for c in chipmakers]),
        "chip_capacity_h100e": sum([c.effective_capacity_h100e() for c in chipmakers]),
        "gpu_price_usd": chipmakers[0].price_usd_per_h100e,
        # The H100 itself (generation 0) at the leader's current markup: equal to gpu_price_usd
        # until the next generation ships, the older product's price after that.
        "h100_unit_price_usd": model.params.gpu_unit_cost_usd * (1.0 + chipmakers[0].markup),
        "utilization": compute.utilization,
        "gpu_rental_price_usd_per_hour": float(compute.rents_usd_per_hour[0]),
        "newest_rental_price_usd_per_hour": float(compute.rents_usd_per_hour[-1]),
        "rent_cycle_index": model.rent_cycle_index,
        "frontier_loss": model.loss_of_logit(frontier.base_logit if frontier
                                             else model.anchor_logit),
        "frontier_capability": float(scaling.sigmoid(frontier_logit)),
        "open_capability": float(scaling.sigmoid(open_logit)),
        "capability_gap": frontier_logit - open_logit,
        "frontier_logit": frontier_logit,
        "frontier_training_flop": frontier.physical_run_flop if frontier else 0.0,
        "lab_training_spend_usd_b": sum([lab.training_spend_usd_b for lab in alive_labs]),
        "lab_inference_spend_usd_b": sum([lab.inference_spend_usd_b for lab in alive_labs]),
        "labs_alive": len(alive_labs),
        "frontier_pricing_margin": _safe_ratio(
            sum([lab.pricing_margin * lab.revenue_usd_b for lab in closed]),
            closed_revenue_total),
        "frontier_gross_margin": _safe_ratio(
            sum([lab.revenue_usd_b - lab.inference_spend_usd_b for lab in closed]),
            closed_revenue_total),
        "lab_revenue_usd_b": lab_revenue,
        "largest_closed_lab_revenue_usd_b": max(closed_revenue, default=0.0),
        "lab_costs_usd_b": lab_costs,
        "lab_margin": _safe_ratio(lab_revenue - lab_costs, lab_revenue),
        "lab_funding_requested_usd_b": market.funding_requested_usd_b,
        "lab_funding_raised_usd_b": market.funding_raised_usd_b + market.strategic_raised_usd_b,
        "strategic_funding_usd_b": market.strategic_raised_usd_b,
        "api_price_usd_per_m_tokens": api_price,
        "tokens_t": served_tokens,
        "app_revenue_usd_b": app_revenue,
        "inhouse_ai_revenue_usd_b": inhouse,
        "ai_revenue_usd_b": ai_revenue,
        "capex_to_ai_revenue": _safe_ratio(ai_capex, ai_revenue),
        "ai_capex_share_of_gdp": _safe_ratio(ai_capex, model.gdp_usd_b_per_quarter),
        "hyperscaler_debt_usd_b": debt,
        "credit_spread": _safe_ratio(sum([o.debt_usd_b * o.credit_spread for o in owners]),
                                     debt)
        if debt > 0 else model.params.base_credit_spread,
        "equity_index": index,
        "equity_drawdown": 1.0 - index / model.equity_peak,
        "chipmaker_equity_usd_b": sectors["chipmaker"],
        "big_four_equity_usd_b": sectors["big_four"],
        "levered_equity_usd_b": sectors["levered"],
        "other_owner_equity_usd_b": sectors["other"],
        "lab_valuation_usd_b": float(market.lab_valuation_usd_b.sum()),
        "sentiment": market.sentiment,
        "trend_follower_share": market.strategy_share("trend_follower"),
        "narrative_share": market.strategy_share("narrative"),
        "gpu_book_value_usd_b": sum(books),
        "stranded_gpu_assets_usd_b": stranded,
        "stranded_share_of_fleet": _safe_ratio(
            stranded,
            sum([book + fleet.impaired_value_usd_b
                 for book, fleet in zip(books, fleets, strict=True)])),
        "idle_gpus_h100e": sum([o.idle_h100e for o in owners]),
        "impairments_usd_b": model.impairments_usd_b,
        "defaults": market.defaults,
        "app_companies": int(np.count_nonzero(model.apps.alive)),
        "app_exits": model.apps.exits,
        "total_money_usd_b": model.ledger.total_money_usd_b(),
    }


AGENT_COLUMNS = (
    "agent_id", "agent_type", "kind", "cash_usd_b", "debt_usd_b", "value_usd_b",
    "decision", "decision_value", "stranded_gpu_assets_usd_b", "idle_gpus_h100e",
    "impairment_usd_b")
TEXT_COLUMNS = ("agent_type", "kind", "decision", "quarter")
STRATEGY_LABELS = np.array(["fundamentalist", "trend_follower", "narrative"], dtype=object)


def _same_text(n: int, text: str) -> np.ndarray:
    """An object array of ``n`` references to one string (no copy per row, unlike np.full)."""
    column = np.empty(n, dtype=object)
    column.fill(text)
    return column


def agent_rows(model) -> dict[str, Any]:
    """What the agent table needs of this quarter: one row per live agent, kept as a tuple per
    chipmaker, GPU owner and live lab and copies of the app and investor arrays.

    The columns are assembled only when the table is asked for (:func:`agent_table_frame`), so
    a run that never builds it (a batch) pays for a few array copies a quarter.
    """
    market = model.capital_market
    prices = market.price_usd_b.tolist()  # Python floats: the table holds the same values
    cash = model.ledger.balances_view  # each agent's cash_usd_b, read from the ledger at once
    few = []  # one tuple per chipmaker, GPU owner and live lab, in AGENT_COLUMNS order
    for f, (firm, kind) in enumerate(zip(market.firms, market.firm_kinds, strict=True)):
        if kind == "chipmaker":
            few.append((firm.unique_id, "Chipmaker", "chipmaker", cash[firm.account], 0.0,
                        prices[f], *firm.main_decision, 0.0, 0.0, 0.0))
        else:
            few.append((firm.unique_id, "Hyperscaler", firm.kind, cash[firm.account],
                        firm.debt_usd_b, prices[f], *firm.main_decision,
                        firm.stranded_usd_b, firm.idle_h100e, firm.impairment_usd_b))
    for lab in model.labs:
        if lab.alive:
            few.append((lab.unique_id, "ModelLab", "open" if lab.is_open else "closed",
                        cash[lab.account], 0.0, lab.valuation_usd_b, *lab.main_decision,
                        0.0, 0.0, 0.0))
    apps = model.apps
    alive = np.flatnonzero(apps.alive)
    investors = model.investors
    quarter = {
        "few": few, "step": model.steps, "quarter": model.quarter_label,
        "app_id": apps.agent_id[alive], "app_cash_usd_b": apps.cash_usd_b()[alive],
        "app_revenue_usd_b": apps.revenue_usd_b[alive], "app_lab": apps.lab[alive],
        "investor_id": investors.agent_id, "investor_strategy": investors.strategy.copy(),
        "investor_cash_usd_b": investors.cash_usd_b(),
        "investor_wealth_usd_b": market.investor_wealth_usd_b(),
    }
    return quarter


def _app_and_investor_parts(quarter: dict[str, Any], key: str) -> list[np.ndarray]:
    """The apps' and the investors' rows of one column in one quarter.

    Text columns are object arrays whose rows share their strings, so a quarter of many apps
    and investors costs a few numeric arrays, not a Python object per row.
    """
    n_app, n_inv = quarter["app_id"].size, quarter["investor_id"].size
    strategy = quarter["investor_strategy"]
    if key == "agent_id":
        return [quarter["app_id"], quarter["investor_id"]]
    if key == "agent_type":
        return [_same_text(n_app, "AppCompany"), _same_text(n_inv, "Investor")]
    if key == "kind":
        return [_same_text(n_app, "app"), STRATEGY_LABELS[strategy]]
    if key == "cash_usd_b":
        return [quarter["app_cash_usd_b"], quarter["investor_cash_usd_b"]]
    if key == "value_usd_b":
        return [quarter["app_revenue_usd_b"], quarter["investor_wealth_usd_b"]]
    if key == "decision":
        return [_same_text(n_app, "lab_chosen"), _same_text(n_inv, "strategy")]
    if key == "decision_value":
        return [quarter["app_lab"].astype(float), strategy.astype(float)]
    return [np.zeros(n_app), np.zeros(n_inv)]


def agent_table_frame(quarters: list[dict[str, Any]]):
    """The agent table (pandas) from the quarters' :func:`agent_rows`, built one column at a
    time (each quarter: the few large agents' rows, then the apps', then the investors')."""
    import pandas as pd
    if not quarters:
        return pd.DataFrame()
    few_columns = []  # per quarter: column name -> the few large agents' values
    for quarter in quarters:
        few = quarter["few"]
        columns = zip(*few, strict=True) if few else ([] for _ in AGENT_COLUMNS)
        few_columns.append(dict(zip(AGENT_COLUMNS, (list(c) for c in columns), strict=True)))
    table: dict[str, np.ndarray] = {}
    for key in AGENT_COLUMNS:
        parts = []
        for quarter, few in zip(quarters, few_columns, strict=True):
            if key in TEXT_COLUMNS:  # object arrays, so no string is cut to a fixed width
                parts.append(np.asarray(few[key], dtype=object))
            else:
                parts.append(np.asarray(few[key]).astype(float if key != "agent_id"
                                                          else np.int64))
            parts.extend(_app_and_investor_parts(quarter, key))
        table[key] = np.concatenate(parts)
    rows = [len(quarter["few"]) + quarter["app_id"].size + quarter["investor_id"].size
            for quarter in quarters]
    table["step"] = np.concatenate([np.full(n, quarter["step"])
                                    for n, quarter in zip(rows, quarters, strict=True)])
    table["quarter"] = np.concatenate([_same_text(n, quarter["quarter"])
                                       for n, quarter in zip(rows, quarters, strict=True)])
    return pd.DataFrame(table)
