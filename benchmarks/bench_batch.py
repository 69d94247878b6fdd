"""Wall time and parallel efficiency of a batch, and peak memory of a large batch.

Usage::

    python benchmarks/bench_batch.py                 # 1,000 baseline runs x 1 and 2 processes,
                                                     # then 10,000 short runs for memory
    python benchmarks/bench_batch.py --runs 200 --memory-runs 2000
    python benchmarks/bench_batch.py --small         # 10 runs, 20 short runs (CI smoke test)

Timing: the same N-run batch of the baseline (seeds 1..N, ``--quarters`` quarters, default the
scenario's 40) is run with ``bubble_abm.batch.run_batch`` into a fresh folder with 1 and then
with ``--processes`` (default 2) worker processes; the wall time includes starting the pool and
writing the Parquet parts; the median time of one run inside the workers (``run_seconds``) is
printed too. Parallel efficiency is ``t1 / (2 * t2)`` (1.0 = perfect use of two processes).

Memory: a batch of ``--memory-runs`` short runs (``--memory-quarters`` quarters, reduced
populations, so that the batch engine and not the model dominates) runs in a child Python
process with ``--memory-processes`` workers; a thread samples the resident set size (VmRSS
from /proc) of the child and all its descendants every 0.2 s. It prints the peak of that sum
(the process tree), the peak of the parent alone, and the tree's RSS after 10%, 50% and 90% of
the elapsed time: flat figures mean memory does not grow with the number of runs, so the same
peak holds for a longer batch of the same runs (that is the extrapolation, if any).

The machine's load (``os.getloadavg``) is printed with the figures. Nothing here asserts a
timing or a memory figure.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bubble_abm.batch import load_batch, make_plan, run_batch

SMALL_POPULATION = {"n_app_companies": 20, "n_investors": 20}

_CHILD = """
import sys
from bubble_abm.batch import load_batch, make_plan, run_batch
runs, quarters, processes, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
plan = make_plan(["baseline"], runs, overrides={small}, quarters=quarters)
outcome = run_batch(plan, out, processes=processes)
print(outcome.completed, outcome.failed)
"""


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs"


def time_batch(runs: int, quarters: int | None, processes: int, overrides: dict
               ) -> tuple[float, float]:
    """(wall seconds, median seconds of one run) of an N-run baseline batch in a fresh folder."""
    plan = make_plan(["baseline"], runs, overrides=overrides, quarters=quarters)
    with tempfile.TemporaryDirectory(prefix="bench_batch_") as tmp:
        start = time.perf_counter()
        outcome = run_batch(plan, Path(tmp) / "batch", processes=processes)
        seconds = time.perf_counter() - start
        per_run = load_batch(Path(tmp) / "batch", quarter_columns=[]).runs["run_seconds"]
    if outcome.failed:
        print(f"warning: {outcome.failed} runs failed", file=sys.stderr)
    return seconds, float(per_run.median())


def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss_kib(root: int) -> tuple[int, int]:
    """(RSS of ``root`` and all its descendants, RSS of ``root``) in KiB, from /proc."""
    parent_of: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            parent_of[int(entry)] = int(fields[1])
        except (OSError, IndexError, ValueError):
            continue
    tree, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        children = [c for c, p in parent_of.items() if p == pid and c not in tree]
        tree.update(children)
        frontier.extend(children)
    return sum(_rss_kib(pid) for pid in tree), _rss_kib(root)


def memory_batch(runs: int, quarters: int, processes: int) -> dict[str, float]:
    """Run the memory batch in a child process and sample its tree's RSS (MiB)."""
    samples: list[tuple[float, int, int]] = []
    code = _CHILD.replace("{small}", repr(SMALL_POPULATION))
    with tempfile.TemporaryDirectory(prefix="bench_batch_mem_") as tmp:
        start = time.perf_counter()
        child = subprocess.Popen([sys.executable, "-c", code, str(runs), str(quarters),
                                  str(processes), str(Path(tmp) / "batch")],
                                 stdout=subprocess.PIPE, text=True)
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                tree, parent = tree_rss_kib(child.pid)
                samples.append((time.perf_counter() - start, tree, parent))
                done.wait(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        output, _ = child.communicate()
        done.set()
        sampler.join()
        seconds = time.perf_counter() - start
        size = sum(p.stat().st_size for p in (Path(tmp) / "batch").rglob("*") if p.is_file())
    if child.returncode != 0:
        raise SystemExit(f"memory batch failed (exit {child.returncode})")
    samples = [s for s in samples if s[1] > 0] or [(0.0, 0, 0)]

    def tree_at(fraction: float) -> float:
        wanted = fraction * samples[-1][0]
        return min(samples, key=lambda s: abs(s[0] - wanted))[1] / 1024

    return {"seconds": seconds, "completed": float(output.split()[0]),
            "peak_tree_mib": max(s[1] for s in samples) / 1024,
            "peak_parent_mib": max(s[2] for s in samples) / 1024,
            "at_10": tree_at(0.1), "at_50": tree_at(0.5), "at_90": tree_at(0.9),
            "folder_mib": size / 2**20, "samples": float(len(samples))}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000, help="runs of the timed batch")
    parser.add_argument("--quarters", type=int, default=None,
                        help="quarters per timed run (default: the baseline's 40)")
    parser.add_argument("--processes", type=int, default=2,
                        help="worker processes of the parallel timing (default 2)")
    parser.add_argument("--small-population", action="store_true",
                        help="20 app companies and 20 investors in the timed runs")
    parser.add_argument("--memory-runs", type=int, default=10_000,
                        help="runs of the memory batch (0 skips it)")
    parser.add_argument("--memory-quarters", type=int, default=2,
                        help="quarters per run of the memory batch (default 2)")
    parser.add_argument("--memory-processes", type=int, default=2)
    parser.add_argument("--small", action="store_true",
                        help="CI smoke mode: 10 runs of 2 quarters, 20 memory runs serially")
    args = parser.parse_args(argv)
    overrides = SMALL_POPULATION if (args.small or args.small_population) else {}
    runs, quarters = (10, 2) if args.small else (args.runs, args.quarters)
    memory_runs = 20 if args.small else args.memory_runs
    memory_processes = 1 if args.small else args.memory_processes

    print(f"machine: {load()}")
    shape = f"{quarters or 40} quarters" + (", 20 apps + 20 investors" if overrides else "")
    print(f"timed batch: baseline, {runs} runs, {shape}")
    p = args.processes
    t1, run1 = time_batch(runs, quarters, 1, overrides)
    print(f"processes=1 wall_s={t1:.2f} runs_per_s={runs / t1:.2f} "
          f"median_run_s={run1:.3f}", flush=True)
    t2, run2 = time_batch(runs, quarters, p, overrides)
    print(f"processes={p} wall_s={t2:.2f} runs_per_s={runs / t2:.2f} "
          f"median_run_s={run2:.3f}", flush=True)
    print(f"parallel_efficiency={t1 / (p * t2):.2f}  (t1 / ({p} * t{p}))")
    print(f"machine after timing: {load()}")
    if memory_runs > 0:
        m = memory_batch(memory_runs, args.memory_quarters, memory_processes)
        print(f"memory batch: {memory_runs} runs of {args.memory_quarters} quarters "
              f"(20 apps + 20 investors), {memory_processes} process(es), "
              f"wall_s={m['seconds']:.1f}, {int(m['completed'])} runs completed, "
              f"folder {m['folder_mib']:.1f} MiB")
        print(f"peak_rss_tree_mib={m['peak_tree_mib']:.0f} peak_rss_parent_mib="
              f"{m['peak_parent_mib']:.0f} (sampled {int(m['samples'])} times)")
        print(f"tree rss at 10%/50%/90% of the time: {m['at_10']:.0f} / {m['at_50']:.0f} / "
              f"{m['at_90']:.0f} MiB")
        print(f"machine after memory batch: {load()}")


if __name__ == "__main__":
    main()
