"""Which parameters drive busts, stranded assets, capex and drawdowns: a small Morris screen.

Calls the sensitivity API (bubble_abm.sensitivity.run_sensitivity, the same as
`bubble-abm sensitivity`): SALib's sample becomes the parameter points of a batch (resumable,
in OUT/batch), each point runs --seeds seeds, and SALib's analyze reads the averaged outputs.
Writes sensitivity.csv (indices with confidence half-widths), sensitivity_points.csv and
sensitivity.png, and prints the parameters ranked by their effect on each output.

    python analysis/sensitivity.py                          # Morris, 3 parameters, ~1-2 minutes
    python analysis/sensitivity.py --method sobol --n 16 --seeds 4
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from bubble_abm.batch import parse_sample  # noqa: E402
from bubble_abm.cli import parse_assignment  # noqa: E402
from bubble_abm.sensitivity import run_sensitivity  # noqa: E402

PARAMS = ["extra_data_worth=0.1:3", "token_price_elasticity=0.8:1.6",
          "sentiment_capex_weight=0.1:1"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--param", action="append", default=None, metavar="KEY=LOW:HIGH",
                        help=f"parameter range, repeatable (default: {' '.join(PARAMS)})")
    parser.add_argument("--method", choices=["morris", "sobol"], default="morris")
    parser.add_argument("--n", type=int, default=4,
                        help="Morris trajectories or Sobol base sample (default 4)")
    parser.add_argument("--seeds", type=int, default=2, help="seeds per point (default 2)")
    parser.add_argument("--scenario", default="baseline")
    parser.add_argument("--quarters", type=int, default=None, help="quarters per run")
    parser.add_argument("--set", action="append", type=parse_assignment, default=[],
                        metavar="KEY=VALUE", help="override a parameter in every run")
    parser.add_argument("--processes", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--out", type=Path, default=Path("runs/output/sensitivity"))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    ranges = dict(parse_sample(text) for text in (args.param or PARAMS))
    print(f"{args.method}: n={args.n}, {len(ranges)} parameters, {args.seeds} seeds per point, "
          f"batch in {args.out / 'batch'} ...", flush=True)
    result = run_sensitivity(args.out, ranges, n=args.n, method=args.method, seeds=args.seeds,
                             scenario=args.scenario, overrides=dict(args.set),
                             quarters=args.quarters, processes=args.processes)
    key = "mu_star" if args.method == "morris" else "ST"
    ranked = result.indices.sort_values(["output", key], ascending=[True, False])
    print(f"{len(result.plan)} runs; parameters ranked by {key} per output:")
    print(ranked.drop(columns="method").round(3).to_string(index=False))
    print(f"\nwritten to {args.out}: sensitivity.csv, sensitivity_points.csv, sensitivity.png")


if __name__ == "__main__":
    main()
