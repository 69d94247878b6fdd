"""Do the chains depend on the labs training in step? The same runs with the labs' first
training runs in step (the baseline's initial condition) and staggered.

Every lab starts a ``training_run_quarters`` run in 2023Q1 by default, so their training demand
rises and falls together; ``training_start_stagger_quarters=1`` starts every other lab one
quarter into its first run (README "What the model shows today"). This runs each scenario x
seed with both values (or reads such a batch with --batch DIR: it must sweep that parameter)
and writes training_synchrony.csv (per scenario and stagger: runs, busts, the bust probability
with its 95% Wilson interval, busts with the collapse links in design order and their share)
and training_synchrony.png (fan charts of AI capex, one panel per scenario).

    python analysis/training_synchrony.py                   # data_wall x 20 seeds x 2, ~1 minute
    python analysis/training_synchrony.py --scenarios baseline data_wall --seeds 40
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from bubble_abm.batch import BatchError, load_batch, make_plan, run_batch  # noqa: E402
from bubble_abm.cli import add_batch_source_arguments, run_analysis_script  # noqa: E402
from bubble_abm.outcomes import bust_probability, fan_chart  # noqa: E402

STAGGER = "training_start_stagger_quarters"
LABELS = {0: "in step (baseline)", 1: "staggered"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_batch_source_arguments(parser, ["data_wall"], 20, Path("runs/output/training_synchrony"))
    return parser.parse_args(argv)


def batch_folder(args: argparse.Namespace) -> Path:
    """``--batch`` if given, else the scenarios x seeds x both staggers run (or resumed) into
    OUT/batch."""
    if args.batch is not None:
        return args.batch
    plan = make_plan(list(args.scenarios), args.seeds, grid={STAGGER: [0, 1]},
                     overrides=dict(args.overrides), quarters=args.quarters)
    folder = args.out / "batch"
    print(f"running {len(plan)} runs into {folder} ...", flush=True)
    run_batch(plan, folder, processes=args.processes)
    return folder


def synchrony_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per scenario and stagger: bust probability (Wilson 95%) and busts in design order."""
    if STAGGER not in runs.columns:
        raise BatchError(f"the batch does not sweep `{STAGGER}`: run this script without "
                         "--batch, or `bubble-abm batch --grid " + STAGGER + "=0,1 ...`")
    table = bust_probability(runs, by=["scenario", STAGGER])
    ok = runs[runs["status"].astype(str) == "ok"]
    in_order = (ok["bust"].astype(bool) & ok["collapse_in_order"].astype("boolean")
                .fillna(False).astype(bool))
    ordered = in_order.groupby([ok["scenario"], ok[STAGGER]], observed=True).sum()
    table["busts_in_design_order"] = [int(ordered.get((s, g), 0))
                                      for s, g in zip(table["scenario"], table[STAGGER],
                                                      strict=True)]
    table["in_order_share"] = table["busts_in_design_order"] / table["runs"]
    return table


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    batch = load_batch(batch_folder(args), quarter_columns=["ai_capex_usd_b"])
    table = synchrony_table(batch.runs)
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "training_synchrony.csv", index=False)

    labels = batch.runs.set_index("run_id")[STAGGER].map(LABELS)
    quarters = batch.quarters.assign(labs=batch.quarters["run_id"].map(labels))
    scenarios = list(dict.fromkeys(table["scenario"]))
    fig, axes = plt.subplots(len(scenarios), 1, figsize=(9, 3.6 * len(scenarios)),
                             layout="constrained", squeeze=False)
    for ax, scenario in zip(axes[:, 0], scenarios, strict=True):
        fan_chart(quarters[quarters["scenario"] == scenario], "ai_capex_usd_b", by="labs",
                  ax=ax, title=f"{scenario}: AI capex ($B a quarter), median and 10-90%")
    fig.savefig(args.out / "training_synchrony.png", dpi=120)

    print(table.round(3).to_string(index=False))
    print(f"\nwritten to {args.out}: training_synchrony.csv, training_synchrony.png")


if __name__ == "__main__":
    run_analysis_script(main, __file__)  # bad input: one line, exit 1
