"""Verdicts of the chain detector for every scenario over a set of seeds, and the baseline's
2023-2026 path by calendar year. Built only on the public API.

    python analysis/scenario_overview.py --seeds 10 --out runs/output/overview

Prints two tables and writes them as CSV (runs take ~0.5 s each; two processes by default).
"""

from __future__ import annotations

import argparse
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd

from bubble_abm import BubbleModel
from bubble_abm.chains import summarize_chain
from bubble_abm.scenarios import list_scenarios, load_scenario


def run_one(job: tuple[str, int]) -> tuple[dict, pd.DataFrame]:
    scenario, seed = job
    params = load_scenario(scenario)
    model = BubbleModel(params, rng=seed)
    model.run_for(params.n_quarters)
    table = model.model_table()
    chain = summarize_chain(table)
    row = {
        "scenario": scenario,
        "seed": seed,
        "verdict": chain["verdict"],
        "verdict_at_first_drop": chain["verdict_at_first_drop"],
        "spend_chain_seen": chain["spend_chain_seen"],
        "collapse_in_order": chain["collapse_in_order"],
        "capex_peak_quarter": chain["capex_peak_quarter"],
        "max_stranded_usd_b": table["stranded_gpu_assets_usd_b"].max(),
        "min_utilization": table["utilization"].min(),
        "cumulative_ai_capex_usd_b": table["ai_capex_usd_b"].sum(),
        "defaults": int(table["defaults"].iloc[-1]),
    }
    table = table.assign(scenario=scenario, seed=seed)
    return row, table


def yearly_path(tables: pd.DataFrame) -> pd.DataFrame:
    """Median over seeds of yearly sums (flows) and means (rates) for 2023-2026."""
    frame = tables[tables.quarter.str[:4].astype(int) <= 2026].copy()
    frame["year"] = frame.quarter.str[:4]
    yearly = frame.groupby(["seed", "year"]).agg(
        big_four_capex_usd_b=("big_four_capex_usd_b", "sum"),
        ai_capex_usd_b=("ai_capex_usd_b", "sum"),
        chip_revenue_usd_b=("chip_revenue_usd_b", "sum"),
        ai_revenue_usd_b=("ai_revenue_usd_b", "sum"),
        lab_revenue_usd_b=("lab_revenue_usd_b", "sum"),
        utilization=("utilization", "mean"),
        h100_rent_usd_per_hour=("gpu_rental_price_usd_per_hour", "mean"),
    )
    return yearly.groupby(level="year").median().T


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10, help="seeds per scenario (default 10)")
    parser.add_argument("--processes", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--out", type=Path, default=Path("runs/output/overview"))
    args = parser.parse_args()
    jobs = [(name, seed) for name, _ in list_scenarios() for seed in range(args.seeds)]
    with ProcessPoolExecutor(args.processes) as pool:
        results = list(pool.map(run_one, jobs))
    runs = pd.DataFrame([row for row, _ in results])
    tables = pd.concat([table for _, table in results], ignore_index=True)
    verdicts = runs.pivot_table(index="scenario", columns="verdict", values="seed",
                                aggfunc="count", fill_value=0)
    verdicts["spend_chain_seen"] = runs.groupby("scenario").spend_chain_seen.sum()
    verdicts["collapse_in_order"] = runs.groupby("scenario").collapse_in_order.sum()
    verdicts["bust_in_design_order"] = (runs.verdict.eq("bust") & runs.collapse_in_order).groupby(
        runs.scenario).sum()
    verdicts["bust_at_first_drop"] = runs.groupby("scenario").verdict_at_first_drop.apply(
        lambda v: int((v == "bust").sum()))
    medians = runs.groupby("scenario")[["max_stranded_usd_b", "min_utilization",
                                       "cumulative_ai_capex_usd_b", "defaults"]].median()
    path = yearly_path(tables[tables.scenario == "baseline"])
    args.out.mkdir(parents=True, exist_ok=True)
    runs.to_csv(args.out / "runs.csv", index=False)
    verdicts.to_csv(args.out / "verdicts.csv")
    path.to_csv(args.out / "baseline_2023_2026.csv")
    pd.set_option("display.width", 200)
    print(f"Verdicts over {args.seeds} seeds (counts of runs):")
    print(verdicts.to_string())
    print("\nMedians per scenario:")
    print(medians.round(2).to_string())
    print("\nBaseline 2023-2026, median over seeds (flows summed per year, $B):")
    print(path.round(2).to_string())
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
