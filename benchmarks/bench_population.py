"""How run time and memory grow with the number of application companies and investors.

Usage::

    python benchmarks/bench_population.py [--sizes 1000 10000 50000] [--quarters 40]
                                          [--repeats 1] [--no-agent-table] [--small]

Each size N is the total of app companies and investors, split evenly
(``n_app_companies = n_investors = N / 2``); every other parameter is the default scenario's.
Each size runs in a fresh subprocess (so peak memory is that run's alone): it builds the model,
runs the quarters and builds the agent table (one row per agent per quarter), timing the run
and the table separately. Printed per size: wall and CPU seconds of the run (median over
``--repeats``), microseconds per agent-quarter, the agent table's build time and rows, and
the process's peak resident memory (``ru_maxrss``). ``growth`` compares each size with the
previous one: the ratio of run times divided by the ratio of sizes (1.0 = linear, above 1 =
faster than linear). ``import_only`` is the peak memory of a subprocess that only imports
the package. Nothing here asserts a timing; the numbers are for the notes.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

SEED = 42


def peak_rss_mib() -> float:
    """Peak resident set size of this process (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def child(size: int, quarters: int, repeats: int, agent_table: bool) -> dict:
    """Run one size in this process and return its figures."""
    from bubble_abm import BubbleModel, make_params

    if size == 0:
        return {"peak_rss_mib": peak_rss_mib()}
    half = size // 2
    params = make_params({"n_quarters": quarters, "n_app_companies": half,
                          "n_investors": size - half})
    walls, cpus, table_s, rows = [], [], 0.0, 0
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        model = BubbleModel(params, rng=SEED)
        model.run_for(quarters)
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - start_cpu)
        if agent_table:
            start = time.perf_counter()
            rows = len(model.agent_table())
            table_s = time.perf_counter() - start
        del model
    return {"wall_s": statistics.median(walls), "cpu_s": statistics.median(cpus),
            "table_s": table_s, "table_rows": rows, "peak_rss_mib": peak_rss_mib()}


def run_child(size: int, quarters: int, repeats: int, agent_table: bool) -> dict:
    command = [sys.executable, __file__, "--child", str(size), "--quarters", str(quarters),
               "--repeats", str(repeats)] + ([] if agent_table else ["--no-agent-table"])
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 50000],
                        help="app companies + investors (split evenly)")
    parser.add_argument("--quarters", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=1, help="timed runs per size (median)")
    parser.add_argument("--no-agent-table", action="store_true",
                        help="skip building the agent table")
    parser.add_argument("--small", action="store_true", help="sizes 200 and 1000, 4 quarters")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        print(json.dumps(child(args.child, args.quarters, args.repeats,
                               not args.no_agent_table)))
        return
    sizes, quarters = ([200, 1000], 4) if args.small else (args.sizes, args.quarters)

    base = run_child(0, quarters, 1, False)
    print(f"{quarters} quarters, default scenario, apps = investors = size / 2, seed {SEED}; "
          f"one fresh process per size; import_only peak_rss_mib={base['peak_rss_mib']:.0f}")
    header = (f"{'size':>8}{'wall_s':>9}{'cpu_s':>9}{'us_per_agent_q':>16}{'growth':>8}"
              f"{'table_s':>9}{'table_rows':>12}{'peak_rss_mib':>14}")
    print(header)
    print("-" * len(header))
    previous = None
    for size in sizes:
        r = run_child(size, quarters, args.repeats, not args.no_agent_table)
        per_agent_quarter = r["cpu_s"] / (size * quarters) * 1e6
        growth = "" if previous is None else (
            f"{(r['cpu_s'] / previous[1]) / (size / previous[0]):.2f}")
        print(f"{size:>8d}{r['wall_s']:>9.2f}{r['cpu_s']:>9.2f}{per_agent_quarter:>16.2f}"
              f"{growth:>8}{r['table_s']:>9.2f}{r['table_rows']:>12d}"
              f"{r['peak_rss_mib']:>14.0f}")
        previous = (size, r["cpu_s"])


if __name__ == "__main__":
    main()
