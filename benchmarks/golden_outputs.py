"""Write or check golden outputs: the model and agent tables of a few scenarios and seeds.

Usage::

    python benchmarks/golden_outputs.py write DIR    # store reference tables in DIR
    python benchmarks/golden_outputs.py check DIR    # rerun and compare with DIR

Runs ``baseline``, ``data_wall`` and ``efficiency_shock`` with seeds 1 and 2 over their full
horizon (40 quarters), one baseline run with 1,000 apps and 1,000 investors, three baseline
runs with odd populations (13 owners and 9 chipmakers; 3 owners, 1 chipmaker and no open labs;
21 labs) and the four other scenarios (30 quarters each), and compares the model table, the
agent table and the last quarter's transactions-flow matrix. ``check``
prints, per run and table, whether the output is bit-identical and otherwise the largest
relative difference; it exits non-zero unless every table is bit-identical (or within
``--rtol`` if given, ignoring differences up to ``--atol``). Meant for performance work: an
optimisation must not change a single output number, or, if it adds the same numbers in another
order, no more than rounding does (see ``rounding_sensitivity.py``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from bubble_abm import BubbleModel
from bubble_abm.scenarios import load_scenario

RUNS = [(scenario, seed, {}) for scenario in ("baseline", "data_wall", "efficiency_shock")
        for seed in (1, 2)]
RUNS.append(("baseline", 3, {"n_app_companies": 1000, "n_investors": 1000}))
# Odd populations (8 or more owners, a single chipmaker, no open labs, many labs) and the other
# scenarios: NumPy sums 8 or more values pairwise, so an array form that matches on 7 owners
# can differ on 13, and shocks take branches the baseline never does.
RUNS += [
    ("baseline", 5, {"n_hyperscalers": 9, "n_other_owners": 4, "n_chipmakers": 9,
                     "n_quarters": 30}),
    ("baseline", 6, {"n_hyperscalers": 2, "n_other_owners": 1, "n_chipmakers": 1,
                     "n_open_labs": 0, "n_quarters": 30}),
    ("baseline", 7, {"n_closed_labs": 12, "n_open_labs": 9, "n_app_companies": 300,
                     "n_quarters": 30}),
]
RUNS += [(scenario, 8, {"n_quarters": 30}) for scenario in
         ("chip_supply_shock", "credit_shock", "open_catchup", "efficiency_compounds")]


def run_tables(scenario: str, seed: int, overrides: dict) -> dict[str, pd.DataFrame]:
    params = load_scenario(scenario, overrides)
    model = BubbleModel(params, rng=seed)
    model.run_for(params.n_quarters)
    return {"model": model.model_table(), "agent": model.agent_table(),
            "flows": model.ledger.transactions_flow_matrix()}


def max_relative_difference(a: pd.DataFrame, b: pd.DataFrame,
                            atol: float = 0.0) -> float | None:
    """Largest relative difference over numeric columns; None if shapes or text differ.

    Differences of at most ``atol`` (in the column's units) count as none: a residual near zero
    (``total_money_usd_b``) has a large relative difference from rounding alone."""
    if list(a.columns) != list(b.columns) or len(a) != len(b):
        return None
    worst = 0.0
    for column in a.columns:
        x, y = a[column].to_numpy(), b[column].to_numpy()
        if x.dtype.kind in "fiub" and y.dtype.kind in "fiub":
            x, y = x.astype(float), y.astype(float)
            same = (x == y) | (np.isnan(x) & np.isnan(y)) | (np.abs(x - y) <= atol)
            scale = np.maximum(np.maximum(np.abs(x), np.abs(y)), 1e-300)
            diff = np.where(same, 0.0, np.abs(x - y) / scale)
            worst = max(worst, float(diff.max(initial=0.0)))
        elif not np.array_equal(x.astype(str), y.astype(str)):
            return None
    return worst


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("write", "check"))
    parser.add_argument("directory", type=Path)
    parser.add_argument("--rtol", type=float, default=0.0,
                        help="accepted relative difference (default 0: bit-identical)")
    parser.add_argument("--atol", type=float, default=0.0,
                        help="absolute differences ignored, in the column's units (default 0)")
    args = parser.parse_args(argv)
    args.directory.mkdir(parents=True, exist_ok=True)
    failures = 0
    for scenario, seed, overrides in RUNS:
        label = scenario + "".join(f"-{v}" for v in overrides.values())
        for name, table in run_tables(scenario, seed, overrides).items():
            path = args.directory / f"{label}-seed{seed}-{name}.pkl"
            if args.action == "write":
                table.to_pickle(path)
                print(f"wrote {path} {table.shape}")
                continue
            reference = pd.read_pickle(path)
            identical = (list(table.columns) == list(reference.columns)
                         and table.dtypes.equals(reference.dtypes)
                         and table.equals(reference))
            worst = None if identical else max_relative_difference(table, reference, args.atol)
            ok = identical or (worst is not None and worst <= args.rtol)
            failures += not ok
            status = ("bit-identical" if identical else
                      "shape/text differs" if worst is None else f"max rel diff {worst:.3g}")
            print(f"{'ok  ' if ok else 'FAIL'} {label:<22} seed {seed} {name:<6} "
                  f"{table.shape} {status}")
    if args.action == "check":
        print("golden check " + ("passed" if failures == 0 else f"FAILED ({failures} tables)"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
