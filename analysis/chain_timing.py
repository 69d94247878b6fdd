"""Timing of the collapse chain: which link comes first, and how many quarters lead to the next.

Runs a small batch (or reads one with --batch DIR) and writes lead_lag.csv (for every pair of
collapse links A, B in chain order: runs with both, share of runs in which A came first, same
quarter or B first, median and IQR lag of B after A in quarters), first_links.csv (how often
each link came first) and chain_timing.png (left: when each link starts relative to the capex
peak, median and IQR; right: share of runs in which the row link came before the column link).

By default the links are those the chain detector judged near each run's capex peak (the
runs table's chain summary); --source events uses every event's first sustained spell instead.

    python analysis/chain_timing.py                         # baseline and data_wall, 8 seeds
    python analysis/chain_timing.py --batch runs/output/batch-1234abcd --source events
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from bubble_abm.batch import load_batch  # noqa: E402
from bubble_abm.cli import (  # noqa: E402
    add_batch_source_arguments,
    batch_from_arguments,
    run_analysis_script,
)
from bubble_abm.outcomes import (  # noqa: E402
    chain_link_onsets,
    first_links,
    lead_lag,
    link_onsets,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_batch_source_arguments(parser, ["baseline", "data_wall"], 8,
                               Path("runs/output/chain_timing"))
    parser.add_argument("--source", choices=["chain", "events"], default="chain",
                        help="links near the capex peak (chain) or first spells (events)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    folder = batch_from_arguments(args)
    runs, _, events = load_batch(folder, quarter_columns=[])
    onsets = chain_link_onsets(runs) if args.source == "chain" else link_onsets(events)
    pairs = lead_lag(onsets)
    first = first_links(onsets)
    args.out.mkdir(parents=True, exist_ok=True)
    pairs.to_csv(args.out / "lead_lag.csv", index=False)
    first.to_csv(args.out / "first_links.csv", index=False)

    links = list(dict.fromkeys([*pairs["link_a"], *pairs["link_b"]])) or list(first["event"])
    peak = runs.set_index("run_id")["chain_capex_peak_step"].astype(float)
    relative = onsets.assign(lag=onsets["step"] - onsets["run_id"].map(peak))
    stats = relative.groupby("event")["lag"].quantile([0.25, 0.5, 0.75]).unstack()
    stats = stats.reindex(links)
    share = np.full((len(links), len(links)), np.nan)
    index = {name: i for i, name in enumerate(links)}
    for row in pairs.itertuples():
        a, b = index[row.link_a], index[row.link_b]
        share[a, b], share[b, a] = row.a_first_share, row.b_first_share

    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 5.5), layout="constrained")
    y = np.arange(len(links))
    left.errorbar(stats[0.5], y, xerr=[stats[0.5] - stats[0.25], stats[0.75] - stats[0.5]],
                  fmt="o", capsize=3)
    left.axvline(0, color="grey", lw=1, ls="--")
    left.set_yticks(y, links, fontsize="small")
    left.invert_yaxis()
    left.set_xlabel("onset, quarters from the capex peak (median, IQR)")
    image = right.imshow(share, vmin=0, vmax=1, cmap="RdBu_r")
    right.set_xticks(y, links, rotation=60, ha="right", fontsize="x-small")
    right.set_yticks(y, links, fontsize="x-small")
    right.set_title("share of runs in which the row link came first", fontsize="medium")
    fig.colorbar(image, ax=right, shrink=0.8)
    fig.suptitle(f"Collapse-chain timing ({runs['status'].eq('ok').sum()} runs, "
                 f"links from {args.source})")
    fig.savefig(args.out / "chain_timing.png", dpi=120)

    print("Which link came first:")
    print(first.round(3).to_string(index=False))
    print("\nLead-lag of link pairs (lag of B after A, quarters):")
    print(pairs.round(2).to_string(index=False))
    print(f"\nwritten to {args.out}: lead_lag.csv, first_links.csv, chain_timing.png")


if __name__ == "__main__":
    run_analysis_script(main, __file__)  # bad input: one line, exit 1
