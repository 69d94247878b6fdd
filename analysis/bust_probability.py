"""Probability of a bust by scenario, with a 95% confidence interval, from a batch.

Runs a small batch (or reads one with --batch DIR) and writes bust_probability.csv (busts,
runs, probability, Wilson or Clopper-Pearson interval), outcome_quantiles.csv (peak capex,
stranded GPU assets, equity drawdown) and bust_probability.png (bars with the interval).

    python analysis/bust_probability.py                     # 4 scenarios x 8 seeds, ~1 minute
    python analysis/bust_probability.py --batch runs/output/batch-1234abcd \
        --interval clopper-pearson
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from bubble_abm.batch import load_batch  # noqa: E402
from bubble_abm.cli import (  # noqa: E402
    add_batch_source_arguments,
    batch_from_arguments,
    run_analysis_script,
)
from bubble_abm.outcomes import bust_probability, outcome_quantiles  # noqa: E402

SCENARIOS = ["baseline", "data_wall", "efficiency_compounds", "credit_shock"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_batch_source_arguments(parser, SCENARIOS, 8, Path("runs/output/bust_probability"))
    parser.add_argument("--interval", choices=["wilson", "clopper-pearson"], default="wilson")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    folder = batch_from_arguments(args)
    runs = load_batch(folder, quarter_columns=[]).runs
    table = bust_probability(runs, method=args.interval)
    quantiles = outcome_quantiles(runs)
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "bust_probability.csv", index=False)
    quantiles.to_csv(args.out / "outcome_quantiles.csv", index=False)

    fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
    x = range(len(table))
    p = table["bust_probability"]
    err = [p - table["ci_low"], table["ci_high"] - p]
    ax.bar(x, p, yerr=err, capsize=4, color="tab:red", alpha=0.8)
    ax.set_xticks(x, [f"{s}\n({n} runs)" for s, n in zip(table["scenario"], table["runs"],
                                                          strict=True)], fontsize="small")
    ax.set_ylim(0, 1)
    ax.set_ylabel("P(bust)")
    ax.set_title(f"Probability of a bust by scenario (95% {args.interval} interval)")
    fig.savefig(args.out / "bust_probability.png", dpi=120)

    print(table.round(3).to_string(index=False))
    print()
    print(quantiles.round(3).to_string(index=False))
    print(f"\nwritten to {args.out}: bust_probability.csv, outcome_quantiles.csv, "
          "bust_probability.png")


if __name__ == "__main__":
    run_analysis_script(main, __file__)  # bad input: one line, exit 1
