"""Machine instructions of one default run, counted by valgrind: a figure a busy machine cannot
disturb (for comparing two versions of the code when wall and CPU times vary by ±30%).

Usage::

    python benchmarks/instructions_per_run.py [--source DIR] [--quarters 40]

Runs Python under ``valgrind --tool=cachegrind --cache-sim=no`` twice, importing bubble_abm and
running the default scenario (seed 42) once and then three times, and prints
``instructions_per_run=N``: the difference divided by two, so imports and start-up cancel out.
``--source DIR`` imports bubble_abm from another checkout (e.g. a ``git worktree`` of the code
before a change). Hash randomisation, OpenBLAS threads and address-space randomisation are
switched off (``PYTHONHASHSEED=0``, ``OPENBLAS_NUM_THREADS=1``, ``setarch -R``), which makes the
count repeat to about one part in a million. Needs valgrind (Debian: ``apt-get install
valgrind``); each call takes a few minutes. Instructions are not time, but the model's cost is
Python and NumPy per-call overhead, which they track closely.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

RUNS = """
import sys
sys.path.insert(0, sys.argv[1])
import bubble_abm
from bubble_abm import BubbleModel, make_params
assert bubble_abm.__file__.startswith(sys.argv[1]), bubble_abm.__file__
params = make_params({"n_quarters": int(sys.argv[3])})
for _ in range(int(sys.argv[2])):
    model = BubbleModel(params, rng=42)
    for _ in range(params.n_quarters):
        model.step()
"""


def instructions(source: Path, runs: int, quarters: int) -> int:
    """Instructions of importing bubble_abm from ``source`` and ``runs`` runs."""
    env = dict(os.environ, PYTHONHASHSEED="0", OPENBLAS_NUM_THREADS="1")
    command = ["valgrind", "--tool=cachegrind", "--cache-sim=no",
               "--cachegrind-out-file=/dev/null", sys.executable, "-c", RUNS, str(source),
               str(runs), str(quarters)]
    if shutil.which("setarch"):
        command = ["setarch", "-R", *command]
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    found = re.search(r"I\s+refs:\s+([\d,]+)", result.stderr)
    if result.returncode != 0 or found is None:
        raise SystemExit(f"instructions_per_run: error: valgrind run failed:\n{result.stderr}")
    return int(found.group(1).replace(",", ""))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=Path(__file__).resolve().parents[1],
                        help="checkout to import bubble_abm from (default: this one)")
    parser.add_argument("--quarters", type=int, default=40, help="quarters per run")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        raise SystemExit("instructions_per_run: error: valgrind not found "
                         "(Debian: apt-get install valgrind)")
    source = args.source.resolve()
    one, three = (instructions(source, runs, args.quarters) for runs in (1, 3))
    print(f"source: {source}; default scenario, {args.quarters} quarters, seed 42")
    print(f"instructions_per_run={(three - one) // 2}")


if __name__ == "__main__":
    main()
