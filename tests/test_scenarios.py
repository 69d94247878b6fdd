"""Every scenario file runs, and the scenarios move the model in the directions they claim.

Shocks are inputs in the scenario files; these tests check the *direction* of the agents'
response across seeds (paired: same seed in both scenarios), never a scripted outcome.
"""

from __future__ import annotations

import numpy as np
import pytest

from bubble_abm import BubbleModel
from bubble_abm.scenarios import list_scenarios, load_scenario

SMALL = {"n_app_companies": 30, "n_investors": 30}
SEEDS = range(5)


def _table(name: str, seed: int, quarters: int):
    params = load_scenario(name, {**SMALL, "n_quarters": quarters})
    model = BubbleModel(params, rng=seed)
    model.run_for(quarters)
    return model.model_table()


def test_the_seven_scenarios_of_the_design_are_shipped():
    names = {name for name, _ in list_scenarios()}
    assert names >= {"baseline", "efficiency_compounds", "data_wall", "efficiency_shock",
                     "credit_shock", "open_catchup", "chip_supply_shock"}


@pytest.mark.parametrize("name", [name for name, _ in list_scenarios()])
def test_every_scenario_runs_and_its_tables_are_finite(name):
    table = _table(name, seed=0, quarters=8)
    numeric = table.select_dtypes("number").to_numpy()
    assert np.isfinite(numeric).all()


def test_chip_supply_shock_raises_gpu_prices_and_cuts_shipments():
    for seed in SEEDS:
        base = _table("baseline", seed, 16).iloc[10:]
        shock = _table("chip_supply_shock", seed, 16).iloc[10:]
        assert shock.gpu_price_usd.mean() > base.gpu_price_usd.mean()
        assert shock.gpu_shipments_h100e.sum() < base.gpu_shipments_h100e.sum()


def test_compounding_efficiency_beats_the_data_wall_on_capability_and_revenue():
    for seed in SEEDS:
        wall = _table("data_wall", seed, 24)
        compounding = _table("efficiency_compounds", seed, 24)
        assert compounding.frontier_logit.iloc[-1] > wall.frontier_logit.iloc[-1]
        assert compounding.ai_revenue_usd_b.iloc[-4:].sum() > wall.ai_revenue_usd_b.iloc[-4:].sum()


def test_open_catchup_closes_the_capability_gap():
    for seed in SEEDS:
        base = _table("baseline", seed, 16)
        catchup = _table("open_catchup", seed, 16)
        assert catchup.capability_gap.iloc[4:].mean() < base.capability_gap.iloc[4:].mean()
