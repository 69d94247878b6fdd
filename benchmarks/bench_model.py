"""Wall time of the default scenario against Mesa's own floor.

Usage::

    python benchmarks/bench_model.py [--repeats 5] [--quarters 40] [--small]

For the default scenario (``make_params()``) this prints the median wall time of one run
(in-process, construction included, after a warm-up run), the number of agent-steps (agents
alive after each quarter, summed over the run) and the cost per agent-step. It then times a
"Mesa floor": a plain ``mesa.Model`` with the same number of agents of each type, whose
``step`` methods do nothing, activated every quarter with ``agents_by_type[T].shuffle_do("step")``
and recorded by a DataCollector with as many (trivial) model reporters as the model table has
columns. A third row, ``batch_mode``, times the same run without the per-quarter agent rows
(``record_agents=False``, as batches, ``calibrate`` and ``fit`` run it), with its own ratio.
The three are timed in turn (model, batch mode, floor; then batch mode, floor, model; ...), so
each ratio compares runs of the same minutes on a machine whose speed drifts.
The last line, ``ratio_to_mesa_floor=X.X``, is the ratio of the two medians of wall time for
the default run; ``cpu_ratio_to_mesa_floor`` is the same for the process's CPU time, which is
steadier when other programs share the machine, and ``min_cpu_ratio_to_mesa_floor`` the ratio
of the fastest runs (CPU time), the least disturbed by a busy machine. Nothing here asserts a
timing; the numbers are for the notes.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import mesa

from bubble_abm import BubbleModel, make_params

SEED = 42


Timing = tuple[float, float, int]  # wall seconds, CPU seconds, agent-steps
Summary = tuple[float, float, float, int]  # median wall, median CPU, minimum CPU, agent-steps


def run_bubble(quarters: int, record_agents: bool = True) -> Timing:
    """One run of the default scenario (``record_agents=False``: as a batch runs it)."""
    params = make_params({"n_quarters": quarters})
    start, start_cpu = time.perf_counter(), time.process_time()
    model = BubbleModel(params, rng=SEED, record_agents=record_agents)
    agent_steps = 0
    for _ in range(quarters):
        model.step()
        agent_steps += len(model.agents)
    return time.perf_counter() - start, time.process_time() - start_cpu, agent_steps


def floor_model_class(counts: dict[str, int], n_columns: int) -> type[mesa.Model]:
    """A Mesa model with ``counts[name]`` do-nothing agents per type and ``n_columns`` reporters."""
    agent_types = [type(name, (mesa.Agent,), {"step": lambda self: None}) for name in counts]

    class FloorModel(mesa.Model):
        def __init__(self, rng: int) -> None:
            super().__init__(rng=rng)
            self.floor_types = agent_types
            for agent_type, n in zip(agent_types, counts.values(), strict=True):
                agent_type.create_agents(self, n)
            self.datacollector = mesa.DataCollector(
                model_reporters={f"column_{i}": (lambda m: m.steps) for i in range(n_columns)}
            )

        def step(self) -> None:
            for agent_type in self.floor_types:
                self.agents_by_type[agent_type].shuffle_do("step")
            self.datacollector.collect(self)

    return FloorModel


def run_floor(model_class: type[mesa.Model], quarters: int) -> Timing:
    start, start_cpu = time.perf_counter(), time.process_time()
    model = model_class(rng=SEED)
    agent_steps = 0
    for _ in range(quarters):
        model.step()
        agent_steps += len(model.agents)
    return time.perf_counter() - start, time.process_time() - start_cpu, agent_steps


def summarize_timings(results: list[Timing]) -> Summary:
    """Median wall and CPU time, fastest CPU time, agent-steps of the last run."""
    return (statistics.median(r[0] for r in results), statistics.median(r[1] for r in results),
            min(r[1] for r in results), results[-1][2])


def interleaved_median_times(runs: list[Callable[[], Timing]], repeats: int) -> list[Summary]:
    """Median wall and CPU time, fastest CPU time and agent-steps of each run, measured in
    turn after one warm-up each (a b c, b c a, c a b, ...), so that a drifting machine slows
    them all alike and their ratios compare runs of the same minutes."""
    for run in runs:
        run()  # warm-up: imports, caches, first allocations
    results: list[list[Timing]] = [[] for _ in runs]
    for i in range(repeats):
        for k in range(len(runs)):
            which = (i + k) % len(runs)
            results[which].append(runs[which]())
    return [summarize_timings(timings) for timings in results]


def default_shape() -> tuple[dict[str, int], int]:
    """Agents per type at the start of the default scenario; columns of its model table."""
    model = BubbleModel(make_params({"n_quarters": 1}), rng=SEED)
    counts = {
        agent_type.__name__: len(agents) for agent_type, agents in model.agents_by_type.items()
    }
    model.step()
    return counts, len(model.model_table().columns)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs (median taken)")
    parser.add_argument("--quarters", type=int, default=40, help="quarters per run")
    parser.add_argument("--small", action="store_true", help="5 quarters, 2 repeats (for CI)")
    args = parser.parse_args(argv)
    quarters, repeats = (5, 2) if args.small else (args.quarters, args.repeats)

    counts, n_columns = default_shape()
    floor_class = floor_model_class(counts, n_columns)
    ((model_time, model_cpu, model_min, model_steps),
     (batch_time, batch_cpu, batch_min, batch_steps),
     (floor_time, floor_cpu, floor_min, floor_steps)) = interleaved_median_times(
        [lambda: run_bubble(quarters), lambda: run_bubble(quarters, record_agents=False),
         lambda: run_floor(floor_class, quarters)], repeats)

    print(f"default scenario, {quarters} quarters, median of {repeats} runs after a warm-up")
    print(
        "agents per type at start: "
        + ", ".join(f"{k}={v}" for k, v in counts.items())
        + f"; model-table columns: {n_columns}"
    )
    header = (f"{'model':<14}{'median_s':>12}{'median_cpu_s':>14}{'min_cpu_s':>11}"
              f"{'agent_steps':>14}{'us_per_agent_step':>20}")
    print(header)
    print("-" * len(header))
    for name, seconds, cpu, fastest, steps in (
        ("bubble_abm", model_time, model_cpu, model_min, model_steps),
        ("batch_mode", batch_time, batch_cpu, batch_min, batch_steps),
        ("mesa_floor", floor_time, floor_cpu, floor_min, floor_steps),
    ):
        print(f"{name:<14}{seconds:>12.4f}{cpu:>14.4f}{fastest:>11.4f}{steps:>14d}"
              f"{seconds / steps * 1e6:>20.2f}")
    print(f"batch_mode_ratio_to_mesa_floor={batch_time / floor_time:.1f}  "
          "(no agent rows: how batch, calibrate and fit run the model)")
    print(f"min_cpu_ratio_to_mesa_floor={model_min / floor_min:.1f}")
    print(f"cpu_ratio_to_mesa_floor={model_cpu / floor_cpu:.1f}")
    print(f"ratio_to_mesa_floor={model_time / floor_time:.1f}")


if __name__ == "__main__":
    main()
