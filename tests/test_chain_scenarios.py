"""The chains emerge from the agents, as distributions over seeds (issue 3, DESIGN §8-§9).

Each property must hold for most seeds, not for one hand-picked seed. Reduced populations
(40 apps, 40 investors) give the same verdict rates as the default 120/120 here (checked with
analysis/scenario_overview.py) and keep the file to about half a minute.
"""

from __future__ import annotations

import pytest

from bubble_abm import BubbleModel
from bubble_abm.chains import summarize_chain
from bubble_abm.scenarios import load_scenario

SMALL = {"n_app_companies": 40, "n_investors": 40}
SEEDS = range(20)


def _run(scenario: str, seed: int):
    params = load_scenario(scenario, SMALL)
    model = BubbleModel(params, rng=seed)
    model.run_for(params.n_quarters)
    return model.model_table()


@pytest.fixture(scope="module")
def chains() -> dict[str, list[dict]]:
    return {name: [summarize_chain(_run(name, seed)) for seed in SEEDS]
            for name in ("baseline", "data_wall", "efficiency_compounds")}


def test_spend_chain_appears_in_2023_2026_in_the_baseline(chains):
    seen = [c["spend_chain_seen"] for c in chains["baseline"]]
    assert sum(seen) >= 0.9 * len(seen)


def test_data_wall_busts_in_most_seeds(chains):
    verdicts = [c["verdict"] for c in chains["data_wall"]]
    assert verdicts.count("bust") >= 0.8 * len(verdicts), verdicts


def test_stranded_assets_rise_after_the_capex_peak_behind_the_data_wall(chains):
    rising = [c["stranded_max_after_peak_usd_b"] > max(c["stranded_at_peak_usd_b"], 0.0)
              for c in chains["data_wall"]]
    assert sum(rising) >= 0.8 * len(rising)


def test_compounding_efficiency_shows_no_collapse_chain_in_most_seeds(chains):
    verdicts = [c["verdict"] for c in chains["efficiency_compounds"]]
    assert verdicts.count("bust") <= 0.2 * len(verdicts), verdicts


def test_efficiency_shock_idles_gpus_in_the_year_after_it():
    """Same seeds: after the 2027Q1 jump, lower utilization and newest-generation rents and
    more stranded GPU assets than the baseline (labs need far less compute per capability)."""
    lower_use = lower_rent = more_stranded = 0
    seeds = range(10)
    for seed in seeds:
        base, shock = (_run(name, seed) for name in ("baseline", "efficiency_shock"))
        window = slice(16, 20)  # 2027Q1-2027Q4
        b, s = base.iloc[window], shock.iloc[window]
        assert list(s.quarter) == ["2027Q1", "2027Q2", "2027Q3", "2027Q4"]
        lower_use += s.utilization.mean() < b.utilization.mean()
        lower_rent += (s.newest_rental_price_usd_per_hour.mean()
                       < b.newest_rental_price_usd_per_hour.mean())
        more_stranded += s.stranded_gpu_assets_usd_b.mean() > b.stranded_gpu_assets_usd_b.mean()
    assert min(lower_use, lower_rent, more_stranded) >= 0.8 * len(seeds)


def test_open_catchup_lowers_frontier_lab_margins():
    """Same seeds: with open weights at the frontier, closed labs' serving margins in 2024-26
    are lower (their price is capped near the open models')."""
    lower = 0
    seeds = range(10)
    for seed in seeds:
        base, catchup = (_run(name, seed) for name in ("baseline", "open_catchup"))
        window = slice(4, 16)  # 2024Q1-2026Q4
        lower += (catchup.frontier_gross_margin.iloc[window].mean()
                  < base.frontier_gross_margin.iloc[window].mean())
    assert lower >= 0.8 * len(seeds)
