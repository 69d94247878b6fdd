"""How far a one-ULP change of a parameter travels: the question before any performance change
that is not bit-identical (one that adds the same numbers in another order).

Usage::

    python benchmarks/rounding_sensitivity.py [--seeds 20] [--processes 2] [--small]

For each perturbation (a parameter moved to the next float up or down; ``none`` is the
reference) it runs ``data_wall`` at the default populations and ``baseline`` and
``credit_shock`` at 40 apps and 40 investors over seeds 0..N-1, exactly as
``tests/test_chain_scenarios.py`` does for its two properties that sit at their bar, and prints:

- ``max_rel_diff``: the largest relative difference from the reference over every numeric
  model-table column and seed (``total_money_usd_b``, a conservation residual near zero, is left
  out); a value near 1e-15..1e-13 means the change stayed at rounding level for the whole run,
  a value near 1 that the path went elsewhere;
- the two properties' counts: data-wall busts with the collapse links in design order, and seeds
  whose credit shock lowers cumulative AI capex against the paired baseline.

Nothing here asserts anything: the numbers are for deciding how to gate a change (e.g.
``benchmarks/golden_outputs.py check DIR --rtol 1e-12`` instead of bit-identity).
"""

from __future__ import annotations

import argparse
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from bubble_abm import BubbleModel, make_params
from bubble_abm.chains import summarize_chain
from bubble_abm.scenarios import load_scenario

sys.path.insert(0, str(Path(__file__).resolve().parent))
from golden_outputs import max_relative_difference  # noqa: E402

SMALL = {"n_app_companies": 40, "n_investors": 40}
#: (label, parameter, direction): the parameter moved one float toward ``direction``.
PERTURBATIONS = [
    ("chip_markup +1 ulp", "chip_markup", np.inf),
    ("chip_markup -1 ulp", "chip_markup", -np.inf),
    ("investor_wealth_usd_b +1 ulp", "investor_wealth_usd_b", np.inf),
    ("risk_free_rate +1 ulp", "risk_free_rate", np.inf),
]
Runs = dict[str, pd.DataFrame]


def run_tables(seed: int, overrides: dict, quarters: int | None) -> Runs:
    """The three model tables the two properties read, for one seed."""
    tables = {}
    for scenario, populations in (("data_wall", {}), ("baseline", SMALL),
                                  ("credit_shock", SMALL)):
        params = load_scenario(scenario, {**populations, **overrides})
        n = params.n_quarters if quarters is None else quarters
        model = BubbleModel(params.with_overrides(n_quarters=n), rng=seed)
        model.run_for(n)
        tables[scenario] = model.model_table()
    return tables


def properties(tables: Runs) -> tuple[bool, bool]:
    chain = summarize_chain(tables["data_wall"])
    in_order = chain["verdict"] == "bust" and bool(chain["collapse_in_order"])
    credit = (tables["credit_shock"]["ai_capex_usd_b"].sum()
              < tables["baseline"]["ai_capex_usd_b"].sum())
    return in_order, bool(credit)


def _job(args: tuple[int, dict, int | None]) -> Runs:
    return run_tables(*args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20, help="seeds 0..N-1 (default 20)")
    parser.add_argument("--processes", type=int, default=2, help="worker processes")
    parser.add_argument("--small", action="store_true", help="2 seeds, 8 quarters (for CI)")
    args = parser.parse_args(argv)
    if args.seeds < 1 or args.processes < 1:
        parser.error("--seeds and --processes must be at least 1")
    seeds, quarters = (range(2), 8) if args.small else (range(args.seeds), None)
    defaults = make_params()
    cases = [("none", {})] + [
        (label, {name: float(np.nextafter(getattr(defaults, name), direction))})
        for label, name, direction in PERTURBATIONS]
    reference: list[Runs] = []
    print(f"seeds 0-{seeds[-1]}; data_wall at default populations, baseline and credit_shock "
          f"at 40 apps + 40 investors")
    print(f"{'perturbation':<30}{'max_rel_diff':>14}{'in_order':>10}{'credit':>8}")
    with ProcessPoolExecutor(args.processes) as pool:
        for label, overrides in cases:
            runs = list(pool.map(_job, [(seed, overrides, quarters) for seed in seeds]))
            worst = 0.0
            if reference:
                for mine, theirs in zip(runs, reference, strict=True):
                    for scenario, table in mine.items():
                        other = theirs[scenario]
                        difference = max_relative_difference(
                            table.drop(columns="total_money_usd_b"),
                            other.drop(columns="total_money_usd_b"))
                        worst = max(worst, np.inf if difference is None else difference)
            else:
                reference = runs
            counts = np.array([properties(tables) for tables in runs]).sum(axis=0)
            shown = "-" if label == "none" else f"{worst:.1e}"
            print(f"{label:<30}{shown:>14}{counts[0]:>7d}/{len(seeds)}"
                  f"{counts[1]:>5d}/{len(seeds)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
