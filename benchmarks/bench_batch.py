"""Wall time, parallel efficiency and memory of a batch (bubble_abm.batch).

Usage::

    python benchmarks/bench_batch.py [--runs 100] [--processes 2] [--quarters 40] [--small]
                                     [--skip-serial]

Runs the baseline scenario for seeds 1..RUNS into a temporary folder, first in one process
(serially) and then with a pool of PROCESSES spawned workers, through the same engine as
``bubble-abm batch`` (streamed to Parquet). For each it prints the wall time, runs per second
and the peak resident memory of this process; after the pool, the largest peak of a worker.
The last line, ``parallel_efficiency=X.XX``, is serial time / (PROCESSES x pool time): 1.0 is
perfect scaling. ``--small`` uses 20 app companies and 20 investors (fast, for a dry run).
Nothing here asserts a timing; the numbers are for the notes. On a shared machine the figures
move with the other load (``os.getloadavg()`` is printed with them).
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

from bubble_abm.batch import load_batch, make_plan, run_batch


def peak_rss_mib(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident set size in MiB (Linux reports KiB) of this process or its children."""
    return resource.getrusage(who).ru_maxrss / 1024.0


def timed_batch(plan, out: Path, processes: int) -> float:
    start = time.perf_counter()
    outcome = run_batch(plan, out, processes=processes)
    elapsed = time.perf_counter() - start
    if outcome.completed != len(plan) or outcome.failed:
        raise SystemExit(f"batch incomplete: {outcome}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--quarters", type=int, default=40)
    parser.add_argument("--small", action="store_true", help="20 apps and 20 investors")
    parser.add_argument("--skip-serial", action="store_true", help="time the pool only")
    args = parser.parse_args()

    overrides = {"n_app_companies": 20, "n_investors": 20} if args.small else {}
    plan = make_plan(["baseline"], args.runs, overrides=overrides, quarters=args.quarters)
    print(f"batch: baseline, {len(plan)} runs of {args.quarters} quarters"
          f"{' (small populations)' if args.small else ''}; cpus={os.cpu_count()}, "
          f"load before={os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        serial = None
        if not args.skip_serial:
            serial = timed_batch(plan, Path(tmp) / "serial", processes=1)
            print(f"serial: wall={serial:.1f}s runs_per_s={len(plan) / serial:.2f} "
                  f"peak_rss_mib={peak_rss_mib():.0f} load={os.getloadavg()[0]:.1f}")
        pool = timed_batch(plan, Path(tmp) / "pool", processes=args.processes)
        print(f"pool({args.processes}): wall={pool:.1f}s runs_per_s={len(plan) / pool:.2f} "
              f"peak_rss_mib={peak_rss_mib():.0f} "
              f"worker_peak_rss_mib={peak_rss_mib(resource.RUSAGE_CHILDREN):.0f} "
              f"load={os.getloadavg()[0]:.1f}")
        runs = load_batch(Path(tmp) / "pool", quarter_columns=[]).runs
        print(f"median run_seconds in the pool: {runs['run_seconds'].median():.2f}s")
        if serial is not None:
            print(f"parallel_efficiency={serial / (args.processes * pool):.2f}")


if __name__ == "__main__":
    main()
