"""Batch runs: scenarios x parameter points x seeds, streamed to Parquet, resumable (issue 5).

Pure orchestration: the model is reached only through :class:`~bubble_abm.model.BubbleModel`,
the run summary through :func:`bubble_abm.report.run_summary` and the chain through
:func:`bubble_abm.chains.detect_events` / :func:`~bubble_abm.chains.summarize_chain`.

Public API
==========

Plan (what to run)
    :func:`make_plan` ``(scenarios, seeds, grid=None, sample=None, n=None, method="lhs",
    sample_seed=0, overrides=None, quarters=None) -> BatchPlan``. ``seeds`` is a count N (seeds
    1..N, as ``bubble-abm calibrate``) or a list. Parameter points come from a ``grid``
    (``{key: [values]}``, cartesian product over keys) or a ``sample`` (``{key: (low, high)}``,
    ``n`` points by Latin hypercube ``"lhs"`` or scrambled Sobol ``"sobol"``, scipy.stats.qmc
    seeded with ``sample_seed``; integer parameters rounded), or neither (one point: the
    scenario as it is). ``overrides`` apply to every run (``--set``), ``quarters`` sets
    ``n_quarters``. Every (scenario, point) is validated here: an unknown key or a value outside
    the parameter's range raises :class:`BatchError` naming the field and its allowed range.
    :class:`BatchPlan`: ``len(plan)`` runs, ``plan.jobs()`` yields :class:`RunJob` in plan order
    (scenario, then point, then seed), ``plan.swept`` (the grid/sample keys),
    ``plan.param_columns`` (every parameter that differs from its default in some run),
    ``plan.to_spec()`` / ``BatchPlan.from_spec()`` (the manifest's JSON form).
    :func:`parse_grid` (``"key=v1,v2"``) and :func:`parse_sample` (``"key=low:high"``) read the
    command-line forms.

One run
    :func:`run_one` ``(job) -> RunResult``: builds ``BubbleModel(params, rng=job.seed)``, runs
    ``n_quarters`` and returns ``RunResult(row, quarters, events)`` (the three tables below for
    one run). :func:`summarize_run` ``(job, model_table)`` does the same from a finished model
    table (for custom run functions).

A batch
    :func:`run_batch` ``(plan, out, processes=1, scheduler=None, dask_local=None, ...) ->
    BatchOutcome``: runs every job whose ``run_id`` is not yet in ``out``, serially,
    in a process pool (``processes`` > 1, spawned workers) or on Dask (``scheduler`` address of
    an existing cluster, or ``dask_local`` workers in a LocalCluster), writing results as they
    finish. ``run_function`` replaces :func:`run_one` (a top-level function ``job ->
    RunResult``, picklable for pools). :func:`make_executor` gives the executors on their own
    (``with make_executor(processes=2) as ex: for item, result in ex.imap_unordered(fn,
    items)``); ``bubble_abm.calibration.run_seeds`` uses them too.

Read back
    :func:`load_batch` ``(out, quarter_columns=None) -> BatchTables(runs, quarters, events)``
    with pandas dtypes (below); :func:`read_manifest` ``(out)`` gives the manifest.

Layout of a batch folder ``out/``
=================================

- ``manifest.json``: the batch spec (:meth:`BatchPlan.to_spec`: scenarios and their resolved
  parameter values, parameter points, seeds, overrides, design), package version, creation time.
- ``runs/part-NNNNNN.parquet``, ``quarters/part-NNNNNN.parquet``,
  ``events/part-NNNNNN.parquet``: one part per chunk of finished runs (``chunk_runs``, and at
  least every ``flush_seconds``). Each part is written under a temporary name and renamed into
  place; the runs part is renamed last, so a chunk counts as done only once its runs part
  exists. Quarters/events parts without their runs part (a process killed in between) are
  removed when the batch is opened again and ignored by the loader.

Resume: running the same plan into the same folder skips the ``run_id`` already in ``runs/``
and runs the rest; nothing is lost or written twice. A different plan into an existing batch
folder is an error (:class:`BatchError` listing what differs): start a new folder. A lock file
keeps two processes from writing the same folder at once. Runs that raised are recorded
(``status == "failed"``) and count as done: the same parameters and seed fail the same way
(``run_batch(..., retry_failed=True)``, ``--retry-failed``, runs them again).

Tables (columns; dtypes as returned by :func:`load_batch`)
==========================================================

``runs``: one row per run, sorted by ``run_index``.
    ``run_id`` (str: 16 hex digits hashing scenario, point index, all parameter values and seed),
    ``run_index`` (int64, position in the plan), ``scenario`` (category, in plan order),
    ``point`` (int64, index of the parameter point), ``seed`` (int64); then one typed column per
    parameter in ``plan.param_columns`` (the swept keys first, then every other parameter that
    differs from its default in some run, e.g. a scenario file's values; each holds the run's
    actual value); ``overrides`` (str, JSON object of every parameter of the run that differs
    from the defaults); ``package_version`` (str); ``status`` (category ``ok``/``failed``),
    ``error`` (str, ``Type: message`` of a failed run, else missing), ``traceback`` (str);
    ``run_seconds`` (float64, wall time of the run: the one column that is not reproducible);
    ``quarters_run`` (Int64); the run summary of :func:`bubble_abm.report.run_summary`:
    ``peak_capex_usd_b_per_quarter``, ``peak_capex_quarter``, ``peak_capex_annualised_usd_b``,
    ``final_quarter``, ``ai_revenue_usd_b_per_year_final``,
    ``ai_revenue_usd_b_at_peak_capex_year``, ``capex_to_ai_revenue_at_peak``,
    ``stranded_gpu_assets_peak_usd_b``, ``stranded_gpu_assets_peak_quarter``,
    ``stranded_gpu_assets_final_usd_b``, ``max_equity_drawdown``,
    ``max_equity_drawdown_quarter``, ``defaults`` (Int64, cumulative at the end),
    ``min_utilization``, ``min_utilization_quarter``; the equity trough
    ``equity_index_trough`` and ``equity_index_trough_quarter``; and the chain summary of
    :func:`bubble_abm.chains.summarize_chain`: ``verdict`` (category, one of
    :data:`bubble_abm.chains.VERDICTS`), ``bust`` (boolean: verdict is ``bust``),
    ``verdict_at_first_drop`` (category), ``verdict_reason``, ``collapse_chain_seen``,
    ``collapse_in_order``, ``fleet_stayed_busy``, ``spend_chain_seen`` (boolean),
    ``spend_chain_quarter``, ``chain_capex_peak_quarter``, ``chain_capex_peak_step`` (Int64: the
    peak of trailing 4-quarter AI capex the chain is judged around),
    ``chain_capex_peak_usd_b_per_year``, ``quarters_after_peak`` (Int64), ``collapse_links``
    (Int64, links seen near the peak), ``first_sector_to_fall``, ``stranded_at_peak_usd_b``,
    ``stranded_max_after_peak_usd_b``, ``chain_json`` (str: the whole chain summary as JSON,
    with each collapse link's quarter and lag). Summary columns are missing for failed runs.
``quarters``: one row per run and quarter, sorted by run then ``step``.
    ``run_id`` (str), ``scenario`` (category), ``seed`` (int64), then every column of the
    model table (``BubbleModel.model_table()``: ``step`` int64, ``quarter`` ordered category,
    the model's series as float64/int64).
``events``: one row per sustained spell of each chain event of each run
    (``detect_events(all_spells=True)``), sorted by run then ``step``.
    ``run_id`` (str), ``scenario`` (category), ``seed`` (int64), ``event`` (category, the names
    of :data:`bubble_abm.chains.EVENT_DEFINITIONS`), ``spell`` (int64: 0 for the event's first
    spell, which is what ``detect_events`` reports by default), ``quarter`` (ordered category),
    ``step`` (int64), ``value``, ``threshold`` (float64), ``direction`` (category ``up``/
    ``down``), ``end_quarter`` (ordered category), ``end_step`` (int64). A link's lead or lag
    relative to the capex peak is ``step - chain_capex_peak_step`` of its run.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import itertools
import json
import math
import multiprocessing
import os
import re
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, NamedTuple, get_args, get_origin

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute  # noqa: F401 - pa.compute
import pyarrow.parquet as pq

from bubble_abm.params import ParameterError, Params, field_range, make_params
from bubble_abm.scenarios import load_scenario, scenario_name

__all__ = [
    "DATASETS",
    "EVENT_TABLE_COLUMNS",
    "METHODS",
    "SUMMARY_COLUMNS",
    "BatchError",
    "BatchInterrupted",
    "BatchOutcome",
    "BatchPlan",
    "BatchTables",
    "DaskExecutor",
    "ProcessExecutor",
    "RunJob",
    "RunResult",
    "SerialExecutor",
    "grid_points",
    "load_batch",
    "make_executor",
    "make_plan",
    "parse_grid",
    "parse_sample",
    "read_manifest",
    "run_batch",
    "run_one",
    "sample_points",
    "simulate",
    "summarize_run",
]

#: The three datasets of a batch folder, one sub-folder each.
DATASETS = ("runs", "quarters", "events")
#: Sampling methods of :func:`sample_points`.
METHODS = ("lhs", "sobol")
MANIFEST = "manifest.json"
SPEC_FORMAT = "bubble_abm.batch/1"
LOCK = ".lock"
PART_PREFIX = "part-"
PART_SUFFIX = ".parquet"

#: Runs per part file and the longest time results wait in memory before they are written.
DEFAULT_CHUNK_RUNS = 20
DEFAULT_FLUSH_SECONDS = 10.0

_ID_COLUMNS: dict[str, pa.DataType] = {
    "run_id": pa.string(),
    "run_index": pa.int64(),
    "scenario": pa.string(),
    "point": pa.int64(),
    "seed": pa.int64(),
}
_RUN_INFO_COLUMNS: dict[str, pa.DataType] = {
    "overrides": pa.string(),
    "package_version": pa.string(),
    "status": pa.string(),
    "error": pa.string(),
    "traceback": pa.string(),
    "run_seconds": pa.float64(),
    "quarters_run": pa.int64(),
}
#: Run-summary columns of the runs table and their Arrow types (see the module docstring).
SUMMARY_COLUMNS: dict[str, pa.DataType] = {
    "peak_capex_usd_b_per_quarter": pa.float64(),
    "peak_capex_quarter": pa.string(),
    "peak_capex_annualised_usd_b": pa.float64(),
    "final_quarter": pa.string(),
    "ai_revenue_usd_b_per_year_final": pa.float64(),
    "ai_revenue_usd_b_at_peak_capex_year": pa.float64(),
    "capex_to_ai_revenue_at_peak": pa.float64(),
    "stranded_gpu_assets_peak_usd_b": pa.float64(),
    "stranded_gpu_assets_peak_quarter": pa.string(),
    "stranded_gpu_assets_final_usd_b": pa.float64(),
    "max_equity_drawdown": pa.float64(),
    "max_equity_drawdown_quarter": pa.string(),
    "defaults": pa.int64(),
    "min_utilization": pa.float64(),
    "min_utilization_quarter": pa.string(),
    "equity_index_trough": pa.float64(),
    "equity_index_trough_quarter": pa.string(),
    "verdict": pa.string(),
    "bust": pa.bool_(),
    "verdict_at_first_drop": pa.string(),
    "verdict_reason": pa.string(),
    "collapse_chain_seen": pa.bool_(),
    "collapse_in_order": pa.bool_(),
    "fleet_stayed_busy": pa.bool_(),
    "spend_chain_seen": pa.bool_(),
    "spend_chain_quarter": pa.string(),
    "chain_capex_peak_quarter": pa.string(),
    "chain_capex_peak_step": pa.int64(),
    "chain_capex_peak_usd_b_per_year": pa.float64(),
    "quarters_after_peak": pa.int64(),
    "collapse_links": pa.int64(),
    "first_sector_to_fall": pa.string(),
    "stranded_at_peak_usd_b": pa.float64(),
    "stranded_max_after_peak_usd_b": pa.float64(),
    "chain_json": pa.string(),
}
#: Keys of :func:`summarize_chain` copied under another name (the rest keep theirs).
_CHAIN_RENAMES = {
    "capex_peak_quarter": "chain_capex_peak_quarter",
    "capex_peak_step": "chain_capex_peak_step",
    "capex_peak_usd_b_per_year": "chain_capex_peak_usd_b_per_year",
}
#: Columns of the events table and their Arrow types.
EVENT_TABLE_COLUMNS: dict[str, pa.DataType] = {
    "run_id": pa.string(),
    "scenario": pa.string(),
    "seed": pa.int64(),
    "event": pa.string(),
    "spell": pa.int64(),
    "quarter": pa.string(),
    "step": pa.int64(),
    "value": pa.float64(),
    "threshold": pa.float64(),
    "direction": pa.string(),
    "end_quarter": pa.string(),
    "end_step": pa.int64(),
}
_QUARTER_ID_COLUMNS = ("run_id", "scenario", "seed")


class BatchError(ValueError):
    """A batch that cannot be planned or written (the message names the field or the folder)."""


class BatchInterrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`run_batch`; ``outcome`` counts what was written before stopping."""

    def __init__(self, outcome: BatchOutcome):
        super().__init__(f"interrupted after {outcome.completed} new runs")
        self.outcome = outcome


# --- parameters -------------------------------------------------------------------------------
_DEFAULTS: dict[str, Any] = make_params().model_dump()


def _allowed(name: str) -> str:
    """``[low, high] (unit)`` of a numeric parameter, else a short description."""
    field_info = Params.model_fields[name]
    rng = field_range(name)
    unit = (field_info.json_schema_extra or {}).get("unit", "")
    if rng is not None:
        kind = "an integer" if field_info.annotation is int else "a number"
        return f"{kind} in [{rng[0]:g}, {rng[1]:g}] ({unit})"
    if get_origin(field_info.annotation) is Literal:
        return "one of " + ", ".join(repr(v) for v in get_args(field_info.annotation))
    return "a calendar quarter like 2027Q1"


def _check_key(name: str, option: str) -> None:
    if name not in Params.model_fields:
        try:
            make_params({name: None})
        except ParameterError as exc:  # "unknown parameter `x` (did you mean `y`?)"
            raise BatchError(f"{option} {name}: {exc}") from None
        raise BatchError(f"{option} {name}: unknown parameter")  # pragma: no cover


def _plain(value: Any) -> Any:
    """numpy scalars to Python ones (JSON, hashing and pydantic's strict mode want those)."""
    return value.item() if isinstance(value, np.generic) else value


def _arrow_type(name: str) -> pa.DataType:
    annotation = Params.model_fields[name].annotation
    if annotation is int:
        return pa.int64()
    if annotation is float:
        return pa.float64()
    return pa.string()


# --- command-line forms ------------------------------------------------------------------------
def _literal(raw: str) -> Any:
    """A TOML literal (``50``, ``0.2``, ``"x"``, ``true``), else the text itself."""
    import tomllib

    try:
        return tomllib.loads(f"value = {raw}")["value"]
    except tomllib.TOMLDecodeError:
        return raw


def parse_grid(text: str) -> tuple[str, list[Any]]:
    """``"key=v1,v2,..."`` -> ``(key, [v1, v2, ...])``; each value read as a TOML literal."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    values = [part.strip() for part in raw.split(",")]
    if not sep or not key or not raw.strip() or any(not v for v in values):
        raise BatchError(f"--grid {text!r}: expected key=v1,v2,... (comma-separated values)")
    return key, [_literal(v) for v in values]


def parse_sample(text: str) -> tuple[str, tuple[float, float]]:
    """``"key=low:high"`` -> ``(key, (low, high))`` with numbers ``low < high``."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    low_text, colon, high_text = raw.partition(":")
    try:
        if not sep or not key or not colon:
            raise ValueError
        low, high = float(low_text), float(high_text)
    except ValueError:
        raise BatchError(f"--sample {text!r}: expected key=low:high with two numbers") from None
    if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
        raise BatchError(f"--sample {text!r}: need finite low < high")
    return key, (low, high)


# --- parameter points -------------------------------------------------------------------------
def grid_points(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Cartesian product of ``{key: values}`` in key order (the last key varies fastest)."""
    for key, values in grid.items():
        _check_key(key, "--grid")
        values = list(values)
        if not values:
            raise BatchError(f"--grid {key}: no values")
        shown = [json.dumps(_plain(v), sort_keys=True) for v in values]
        if len(set(shown)) < len(shown):
            raise BatchError(f"--grid {key}: a value is repeated ({', '.join(shown)})")
    keys = list(grid)
    combos = itertools.product(*(list(grid[k]) for k in keys))
    return [{k: _plain(v) for k, v in zip(keys, combo, strict=True)} for combo in combos]


def sample_points(
    ranges: Mapping[str, tuple[float, float]], n: int, method: str = "lhs", seed: int = 0
) -> list[dict[str, Any]]:
    """``n`` points in the box ``{key: (low, high)}`` by Latin hypercube or scrambled Sobol.

    Reproducible from ``seed`` (scipy.stats.qmc). Integer parameters are drawn over
    ``[low - 0.5, high + 0.5]`` and rounded, so every integer in range is equally likely; each
    range must lie inside the parameter's allowed range. Sobol points are balanced only when
    ``n`` is a power of two (scipy warns otherwise).
    """
    from scipy.stats import qmc

    if method not in METHODS:
        raise BatchError(f"--method {method!r}: allowed {', '.join(METHODS)}")
    if n < 1:
        raise BatchError(f"--n {n}: must be >= 1")
    if not ranges:
        raise BatchError("--sample: no parameter to sample")
    lows, highs, integer = [], [], []
    for key, (low, high) in ranges.items():
        _check_key(key, "--sample")
        allowed = field_range(key)
        if allowed is None:
            raise BatchError(f"--sample {key}: not a numeric parameter (allowed {_allowed(key)})"
                             "; use --grid for it")
        if not (allowed[0] <= low < high <= allowed[1]):
            raise BatchError(f"--sample {key}={low:g}:{high:g}: outside the allowed range; "
                             f"`{key}` is {_allowed(key)}")
        is_int = Params.model_fields[key].annotation is int
        integer.append(is_int)
        lows.append(low - 0.5 if is_int else low)
        highs.append(high + 0.5 if is_int else high)
    d = len(ranges)
    sampler = (qmc.LatinHypercube(d=d, rng=seed) if method == "lhs"
               else qmc.Sobol(d=d, scramble=True, rng=seed))
    unit = sampler.random(n)
    scaled = qmc.scale(unit, lows, highs) if d else unit
    points = []
    for row in scaled:
        point = {}
        for (key, (low, high)), value, is_int in zip(ranges.items(), row, integer, strict=True):
            point[key] = int(min(max(round(value), low), high)) if is_int else float(value)
        points.append(point)
    return points


# --- the plan ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunJob:
    """One run of a batch: everything a worker needs (no scenario files, no plan)."""

    run_id: str
    run_index: int
    scenario: str  # short name (``baseline`` for runs/baseline.toml)
    point: int  # index of the parameter point
    seed: int
    values: dict[str, Any]  # every parameter, validated
    param_columns: tuple[str, ...] = ()  # parameters written as typed columns of the runs table


def _run_id(scenario: str, point: int, values: Mapping[str, Any], seed: int) -> str:
    text = json.dumps({"scenario": scenario, "point": point, "params": dict(values),
                       "seed": seed}, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class BatchPlan:
    """Scenarios x parameter points x seeds; build with :func:`make_plan`."""

    scenarios: tuple[str, ...]  # short names, in the order given
    seeds: tuple[int, ...]
    points: tuple[dict[str, Any], ...]  # grid/sample points ({} when nothing is swept)
    swept: tuple[str, ...]  # the grid/sample keys
    overrides: dict[str, Any]  # applied to every run (--set, --quarters)
    design: dict[str, Any]  # how the points were made (method, grid, sample ranges, n, seed)
    base_values: dict[str, dict[str, Any]]  # scenario -> its parameters with the overrides
    sources: tuple[str, ...] = ()  # scenarios as given (names or paths), for the record
    param_columns: tuple[str, ...] = field(default=())

    def __len__(self) -> int:
        return len(self.scenarios) * len(self.points) * len(self.seeds)

    def jobs(self) -> Iterator[RunJob]:
        """Every run in plan order: scenario, then parameter point, then seed."""
        index = 0
        for scenario in self.scenarios:
            base = self.base_values[scenario]
            for p, point in enumerate(self.points):
                values = {**base, **point}
                for seed in self.seeds:
                    yield RunJob(_run_id(scenario, p, values, seed), index, scenario, p, seed,
                                 values, self.param_columns)
                    index += 1

    def to_spec(self) -> dict[str, Any]:
        """JSON-safe description; equal specs mean equal plans (the manifest compares them)."""
        return json.loads(json.dumps({
            "format": SPEC_FORMAT,
            "scenarios": list(self.scenarios),
            "sources": list(self.sources),
            "seeds": list(self.seeds),
            "swept": list(self.swept),
            "design": self.design,
            "overrides": self.overrides,
            "points": list(self.points),
            "param_columns": list(self.param_columns),
            "base_values": self.base_values,
            "n_runs": len(self),
        }, sort_keys=True))

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> BatchPlan:
        """The plan a manifest describes (e.g. to resume a batch from Python)."""
        if spec.get("format") != SPEC_FORMAT:
            raise BatchError(f"not a batch spec of format {SPEC_FORMAT}: {spec.get('format')!r}")
        return cls(
            scenarios=tuple(spec["scenarios"]), seeds=tuple(int(s) for s in spec["seeds"]),
            points=tuple(dict(p) for p in spec["points"]), swept=tuple(spec["swept"]),
            overrides=dict(spec["overrides"]), design=dict(spec["design"]),
            base_values={k: dict(v) for k, v in spec["base_values"].items()},
            sources=tuple(spec.get("sources", ())), param_columns=tuple(spec["param_columns"]))


def _seed_list(seeds: int | Iterable[int]) -> tuple[int, ...]:
    if isinstance(seeds, int | np.integer):
        if seeds < 1:
            raise BatchError(f"--seeds {seeds}: must be >= 1 (runs seeds 1..N)")
        return tuple(range(1, int(seeds) + 1))
    values = tuple(int(s) for s in seeds)
    if not values:
        raise BatchError("seeds: the list is empty")
    if any(s < 0 for s in values):
        raise BatchError(f"seeds: must be integers >= 0, got {list(values)}")
    if len(set(values)) < len(values):
        raise BatchError(f"seeds: a seed is repeated in {list(values)}")
    return values


def make_plan(
    scenarios: Sequence[str | Path] | str = ("baseline",),
    seeds: int | Iterable[int] = 1,
    *,
    grid: Mapping[str, Sequence[Any]] | None = None,
    sample: Mapping[str, tuple[float, float]] | None = None,
    n: int | None = None,
    method: str = "lhs",
    sample_seed: int = 0,
    overrides: Mapping[str, Any] | None = None,
    quarters: int | None = None,
) -> BatchPlan:
    """Validate and expand a batch: scenarios x parameter points x seeds (see module docs).

    Raises :class:`BatchError` for a bad design and :class:`~bubble_abm.params.ParameterError`
    / :class:`~bubble_abm.scenarios.ScenarioError` for a bad scenario or parameter value.
    """
    if isinstance(scenarios, str | Path):
        scenarios = [scenarios]
    sources = tuple(str(s) for s in scenarios)
    if not sources:
        raise BatchError("--scenarios: give at least one scenario")
    names = tuple(scenario_name(s) for s in sources)
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise BatchError(f"--scenarios: scenario name(s) given twice: {', '.join(repeated)}")
    seed_list = _seed_list(seeds)
    fixed = {k: _plain(v) for k, v in dict(overrides or {}).items()}
    if quarters is not None:
        if "n_quarters" in fixed and fixed["n_quarters"] != quarters:
            raise BatchError("--quarters and --set n_quarters disagree; give one of them")
        fixed["n_quarters"] = int(quarters)
    for key in fixed:
        _check_key(key, "--set")

    if grid and sample:
        raise BatchError("give either --grid or --sample, not both")
    if sample is None and n is not None:
        raise BatchError("--n needs --sample (the ranges to sample)")
    if grid:
        points = grid_points(grid)
        design: dict[str, Any] = {"method": "grid",
                                  "grid": {k: [_plain(v) for v in vs] for k, vs in grid.items()}}
    elif sample:
        if n is None:
            raise BatchError("--sample needs --n (the number of parameter points)")
        points = sample_points(sample, int(n), method, int(sample_seed))
        design = {"method": method, "n": int(n), "sample_seed": int(sample_seed),
                  "sample": {k: [float(lo), float(hi)] for k, (lo, hi) in sample.items()}}
    else:
        points, design = [{}], {"method": "none"}
    swept = tuple(points[0])
    clash = sorted(set(swept) & set(fixed))
    if clash:
        raise BatchError(f"parameter(s) both swept and fixed (--set/--quarters): "
                         f"{', '.join(clash)}")

    base_values: dict[str, dict[str, Any]] = {}
    for name, source in zip(names, sources, strict=True):
        params = load_scenario(source, fixed)
        base_values[name] = params.model_dump()
        for i, point in enumerate(points):  # each point must be valid in each scenario
            if not point:
                continue
            try:
                params.with_overrides(**point)
            except ParameterError as exc:
                where = f"scenario {name}, parameter point {i} {json.dumps(point)}"
                raise ParameterError("\n".join(f"{where}: {line}"
                                               for line in str(exc).splitlines())) from None
    varied = set(swept)
    for values in base_values.values():
        varied |= {k for k, v in values.items() if v != _DEFAULTS[k]}
    columns = swept + tuple(k for k in Params.model_fields if k in varied and k not in swept)
    return BatchPlan(names, seed_list, tuple(points), swept, fixed, design, base_values, sources,
                     columns)


# --- one run ----------------------------------------------------------------------------------
@dataclass
class RunResult:
    """One run's rows: ``row`` (runs table), ``quarters`` and ``events`` (DataFrames)."""

    row: dict[str, Any]
    quarters: pd.DataFrame
    events: pd.DataFrame


def _package_version() -> str:
    from bubble_abm import __version__

    return __version__


def _job_row(job: RunJob) -> dict[str, Any]:
    """Identity and parameter columns of a run's row (the summary columns are added later)."""
    overrides = {k: v for k, v in job.values.items() if v != _DEFAULTS.get(k)}
    return {
        "run_id": job.run_id, "run_index": job.run_index, "scenario": job.scenario,
        "point": job.point, "seed": job.seed,
        **{k: job.values[k] for k in job.param_columns},
        "overrides": json.dumps(overrides, sort_keys=True),
        "package_version": _package_version(),
        "status": "ok", "error": None, "traceback": None, "run_seconds": None,
        "quarters_run": None,
    }


def simulate(model: Any, n_quarters: int) -> None:
    """Advance ``model`` quarter by quarter, stopping early if it stops ``running``."""
    for _ in range(int(n_quarters)):
        model.run_for(1)
        if not getattr(model, "running", True):
            break


def _finite_or_none(value: Any) -> Any:
    value = _plain(value)
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def summarize_run(job: RunJob, model_table: pd.DataFrame) -> RunResult:
    """The three tables of a finished run from its model table (one row per quarter)."""
    from bubble_abm.chains import detect_events, summarize_chain
    from bubble_abm.report import _json_safe, run_summary

    table = model_table.reset_index(drop=True)
    events = detect_events(table, all_spells=True)
    chain = summarize_chain(table, events)
    summary = run_summary(table)
    equity = table["equity_index"].to_numpy(dtype=float)
    trough = int(np.argmin(equity))

    row = _job_row(job)
    row["quarters_run"] = len(table)
    row.update({k: _finite_or_none(summary[k]) for k in summary if k in SUMMARY_COLUMNS})
    row["equity_index_trough"] = float(equity[trough])
    row["equity_index_trough_quarter"] = str(table["quarter"].iloc[trough])
    for key, value in chain.items():
        name = _CHAIN_RENAMES.get(key, key)
        if name in SUMMARY_COLUMNS and not isinstance(value, dict | list):
            row[name] = _finite_or_none(value)
    row["bust"] = chain["verdict"] == "bust"
    row["collapse_links"] = len(chain.get("collapse_links") or [])
    row["chain_json"] = json.dumps(_json_safe(chain), sort_keys=True)

    quarters = table.copy()
    for i, name in enumerate(_QUARTER_ID_COLUMNS):
        quarters.insert(i, name, row[name])
    events = events.copy()
    events.insert(0, "spell", events.groupby("event", sort=False).cumcount().astype("int64"))
    for i, name in enumerate(_QUARTER_ID_COLUMNS):
        events.insert(i, name, row[name])
    return RunResult(row, quarters, events[list(EVENT_TABLE_COLUMNS)])


def run_one(job: RunJob) -> RunResult:
    """Run one job: ``BubbleModel(params, rng=seed)`` for ``n_quarters``, then its tables."""
    from bubble_abm.model import BubbleModel

    params = make_params(job.values)
    model = BubbleModel(params, rng=job.seed)
    simulate(model, params.n_quarters)
    return summarize_run(job, model.model_table())


def _failed(job: RunJob, exc: BaseException) -> RunResult:
    row = _job_row(job)
    row["status"] = "failed"
    row["error"] = "".join(traceback.format_exception_only(exc)).strip()
    row["traceback"] = "".join(traceback.format_exception(exc)).strip()
    return RunResult(row, pd.DataFrame(), pd.DataFrame())


def _guarded(run_function: Callable[[RunJob], RunResult], job: RunJob) -> RunResult:
    """Call ``run_function``; an exception becomes a failed run (worker side)."""
    start = time.perf_counter()
    try:
        result = run_function(job)
    except Exception as exc:  # noqa: BLE001 - recorded in the runs table, the batch goes on
        result = _failed(job, exc)
    result.row["run_seconds"] = time.perf_counter() - start
    return result


# --- executors --------------------------------------------------------------------------------
def _ignore_sigint() -> None:
    """Worker initializer: Ctrl-C is the parent's to handle (it stops the workers)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Ignore SIGINT while child processes are started (main thread only), then restore it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class SerialExecutor:
    """Runs each item in this process, in order."""

    def __enter__(self) -> SerialExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def imap_unordered(self, fn: Callable[[Any], Any], items: Iterable[Any]
                       ) -> Iterator[tuple[Any, Any]]:
        for item in items:
            yield item, fn(item)


class ProcessExecutor:
    """A pool of spawned worker processes with at most ``max_in_flight`` items submitted."""

    def __init__(self, processes: int, max_in_flight: int | None = None):
        self.processes = max(1, int(processes))
        self.max_in_flight = max_in_flight or 2 * self.processes
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> ProcessExecutor:
        self._pool = ProcessPoolExecutor(self.processes,
                                         mp_context=multiprocessing.get_context("spawn"),
                                         initializer=_ignore_sigint)
        return self

    def __exit__(self, exc_type: Any, *exc: object) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if exc_type is None:
            pool.shutdown(wait=True)
            return
        # interrupted or failed: drop queued work and stop the workers now
        pool.shutdown(wait=False, cancel_futures=True)
        terminate = getattr(pool, "terminate_workers", None)  # Python 3.14+
        if terminate is not None:
            terminate()
        else:
            for process in list((getattr(pool, "_processes", None) or {}).values()):
                process.terminate()

    def imap_unordered(self, fn: Callable[[Any], Any], items: Iterable[Any]
                       ) -> Iterator[tuple[Any, Any]]:
        if self._pool is None:
            raise RuntimeError("use ProcessExecutor in a with block")
        source = iter(items)
        pending: dict[Any, Any] = {}

        def fill() -> None:
            while len(pending) < self.max_in_flight:
                item = next(source, _END)
                if item is _END:
                    return
                pending[self._pool.submit(fn, item)] = item

        fill()
        while pending:
            done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
            for future in done:
                item = pending.pop(future)
                yield item, future.result()
            fill()


_END = object()
_SCHEDULER_ADDRESS = re.compile(r"^([a-z]+://)?(\[[0-9a-fA-F:]+\]|[^:/\s]+):\d{1,5}$")


class DaskExecutor:
    """Items run on a Dask distributed cluster: an existing one (``scheduler`` address) or a
    LocalCluster of ``n_workers`` single-threaded worker processes started here."""

    def __init__(self, scheduler: str | None = None, n_workers: int | None = None,
                 max_in_flight: int | None = None):
        if (scheduler is None) == (n_workers is None):
            raise ValueError("give a scheduler address or a number of local workers")
        if scheduler is not None and not _SCHEDULER_ADDRESS.match(scheduler):
            raise BatchError(f"--scheduler {scheduler!r}: expected an address like "
                             "tcp://HOST:PORT")
        self.scheduler = scheduler
        self.n_workers = n_workers
        self.max_in_flight = max_in_flight
        self.client: Any = None
        self._cluster: Any = None

    def __enter__(self) -> DaskExecutor:
        import logging

        from distributed import Client, LocalCluster

        if self.scheduler is not None:
            try:
                self.client = Client(self.scheduler, timeout="20s")
            except Exception as exc:  # noqa: BLE001 - distributed raises OSError, ValueError...
                raise BatchError(f"--scheduler {self.scheduler}: cannot connect to a Dask "
                                 f"scheduler there ({exc})") from None
        else:
            with _sigint_ignored():  # the workers inherit it: Ctrl-C is the client's to handle
                self._cluster = LocalCluster(n_workers=int(self.n_workers),
                                             threads_per_worker=1, processes=True,
                                             dashboard_address=None,
                                             silence_logs=logging.ERROR)
            self.client = Client(self._cluster)
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            if self.client is not None:
                self.client.close()
        with contextlib.suppress(Exception):
            if self._cluster is not None:
                self._cluster.close()
        self.client = self._cluster = None

    def imap_unordered(self, fn: Callable[[Any], Any], items: Iterable[Any]
                       ) -> Iterator[tuple[Any, Any]]:
        from distributed import as_completed

        if self.client is None:
            raise RuntimeError("use DaskExecutor in a with block")
        threads = sum(self.client.nthreads().values()) or 1
        limit = self.max_in_flight or 2 * threads
        source = iter(items)
        pending: dict[str, Any] = {}
        queue = as_completed()

        def fill() -> None:
            while len(pending) < limit:
                item = next(source, _END)
                if item is _END:
                    return
                future = self.client.submit(fn, item, pure=False)
                pending[future.key] = item
                queue.add(future)

        fill()
        for future in queue:
            item = pending.pop(future.key)
            result = future.result()
            future.release()
            yield item, result
            fill()


def make_executor(processes: int = 1, scheduler: str | None = None,
                  dask_local: int | None = None,
                  max_in_flight: int | None = None
                  ) -> SerialExecutor | ProcessExecutor | DaskExecutor:
    """Dask if ``scheduler`` or ``dask_local`` is given, else a process pool for ``processes``
    > 1, else serial. Use in a ``with`` block; ``imap_unordered(fn, items)`` yields
    ``(item, fn(item))`` as results finish."""
    if scheduler is not None and dask_local is not None:
        raise BatchError("give either --scheduler or --dask-local, not both")
    if scheduler is not None or dask_local is not None:
        return DaskExecutor(scheduler, dask_local, max_in_flight)
    if processes > 1:
        return ProcessExecutor(processes, max_in_flight)
    return SerialExecutor()


# --- the batch folder ---------------------------------------------------------------------------
def read_manifest(out: str | Path) -> dict[str, Any]:
    """The manifest of a batch folder (``spec``, ``package_version``, ``created``)."""
    path = Path(out) / MANIFEST
    if not path.is_file():
        raise BatchError(f"{out}: not a batch folder (no {MANIFEST})")
    return json.loads(path.read_text(encoding="utf-8"))


def _spec_differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    keys = sorted(set(old) | set(new))
    return [key for key in keys if old.get(key) != new.get(key)]


def _parts(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir()
                  if p.name.startswith(PART_PREFIX) and p.name.endswith(PART_SUFFIX))


def _write_atomic(table: pa.Table, path: Path) -> None:
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


class _Store:
    """Writes a batch folder: manifest, lock, part files (see the module docstring)."""

    def __init__(self, out: Path, plan: BatchPlan, chunk_runs: int, flush_seconds: float):
        self.out = out
        self.plan = plan
        self.chunk_runs = max(1, int(chunk_runs))
        self.flush_seconds = float(flush_seconds)
        self.buffer: list[RunResult] = []
        self.last_flush = time.monotonic()
        self.next_part = 0
        self._lock: Any = None
        schema = {**_ID_COLUMNS, **{k: _arrow_type(k) for k in plan.param_columns},
                  **_RUN_INFO_COLUMNS, **SUMMARY_COLUMNS}
        clash = set(plan.param_columns) & (set(_ID_COLUMNS) | set(_RUN_INFO_COLUMNS)
                                           | set(SUMMARY_COLUMNS))
        if clash:  # pragma: no cover - guarded by a test on the column names
            raise BatchError(f"parameter name(s) clash with run columns: {sorted(clash)}")
        self.run_schema = pa.schema(list(schema.items()))
        self.event_schema = pa.schema(list(EVENT_TABLE_COLUMNS.items()))

    # opening: manifest, lock, orphans
    def check(self) -> None:
        """Fail unless ``out`` is new, empty, or a batch folder of the same plan."""
        out = self.out
        if out.exists() and not out.is_dir():
            raise BatchError(f"--out {out}: exists and is not a folder")
        if (out / MANIFEST).is_file():
            differ = _spec_differences(read_manifest(out).get("spec", {}), self.plan.to_spec())
            if differ:
                raise BatchError(
                    f"--out {out} holds a different batch (differs in: {', '.join(differ)}); "
                    "re-run the same command to resume it, or choose a new --out folder")
        elif out.is_dir() and any(out.iterdir()):
            raise BatchError(f"--out {out}: folder is not empty and holds no batch "
                             f"({MANIFEST} missing); choose a new or empty folder")

    def open(self) -> _Store:
        """Check, create the folders, take the lock, write the manifest, drop orphan parts."""
        self.check()
        out = self.out
        spec = self.plan.to_spec()
        manifest = out / MANIFEST
        for name in DATASETS:
            (out / name).mkdir(parents=True, exist_ok=True)
        self._take_lock()
        if not manifest.is_file():
            text = json.dumps({"spec": spec, "package_version": _package_version(),
                               "created": datetime.now(UTC).isoformat(timespec="seconds")},
                              indent=1, sort_keys=True)
            tmp = manifest.with_name(f".tmp-{os.getpid()}-{MANIFEST}")
            tmp.write_text(text + "\n", encoding="utf-8")
            os.replace(tmp, manifest)
        self._clean()
        numbers = [int(p.stem[len(PART_PREFIX):]) for p in _parts(out / "runs")
                   if p.stem[len(PART_PREFIX):].isdigit()]
        self.next_part = max(numbers, default=-1) + 1
        return self

    def _take_lock(self) -> None:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not on POSIX: no lock
            return
        handle = open(self.out / LOCK, "a+")  # noqa: SIM115 - held until close()
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise BatchError(f"--out {self.out}: another batch process is writing there") from None
        self._lock = handle

    def _clean(self) -> None:
        """Remove temporary files and quarters/events parts whose runs part never landed."""
        done = {p.name for p in _parts(self.out / "runs")}
        for name in DATASETS:
            folder = self.out / name
            for path in folder.iterdir():
                if path.name.startswith(".tmp-"):
                    path.unlink(missing_ok=True)
            if name != "runs":
                for path in _parts(folder):
                    if path.name not in done:
                        path.unlink(missing_ok=True)

    def drop_failed(self) -> int:
        """Remove failed runs from the runs parts (they hold no quarters or events), so they
        run again; returns how many were removed."""
        removed = 0
        for path in _parts(self.out / "runs"):
            table = pq.read_table(path)
            failed = pa.compute.equal(table["status"], "failed")
            count = int(pa.compute.sum(failed).as_py() or 0)
            if not count:
                continue
            removed += count
            if count == table.num_rows:
                path.unlink()
            else:
                _write_atomic(table.filter(pa.compute.invert(failed)), path)
        return removed

    def finished(self) -> pd.DataFrame:
        """``run_id`` and ``status`` of every run already written."""
        frames = [pq.read_table(p, columns=["run_id", "status"]).to_pandas()
                  for p in _parts(self.out / "runs")]
        if not frames:
            return pd.DataFrame({"run_id": pd.Series(dtype=str),
                                 "status": pd.Series(dtype=str)})
        return pd.concat(frames, ignore_index=True)

    # writing
    def add(self, result: RunResult) -> None:
        self.buffer.append(result)
        if (len(self.buffer) >= self.chunk_runs
                or time.monotonic() - self.last_flush >= self.flush_seconds):
            self.flush()

    def flush(self) -> None:
        self.last_flush = time.monotonic()
        if not self.buffer:
            return
        results = sorted(self.buffer, key=lambda r: r.row["run_index"])
        name = f"{PART_PREFIX}{self.next_part:06d}{PART_SUFFIX}"
        quarters = [r.quarters for r in results if len(r.quarters)]
        if quarters:
            table = pa.Table.from_pandas(pd.concat(quarters, ignore_index=True),
                                         preserve_index=False)
            _write_atomic(table, self.out / "quarters" / name)
        events = [r.events for r in results if len(r.events)]
        if events:
            frame = pd.concat(events, ignore_index=True)
            table = pa.Table.from_pandas(frame, schema=self.event_schema, preserve_index=False)
            _write_atomic(table, self.out / "events" / name)
        rows = [{k: _plain(v) for k, v in r.row.items()} for r in results]
        _write_atomic(pa.Table.from_pylist(rows, schema=self.run_schema),
                      self.out / "runs" / name)  # last: the chunk is now done
        self.next_part += 1
        self.buffer.clear()

    def close(self) -> None:
        try:
            self.flush()
        finally:
            if self._lock is not None:
                self._lock.close()
                self._lock = None


# --- running a batch ------------------------------------------------------------------------------
@dataclass
class BatchOutcome:
    """What :func:`run_batch` did: runs in the plan, already done before, new ones, failures."""

    out: Path
    total: int
    skipped: int = 0  # already in the folder when the call started
    completed: int = 0  # finished (ok or failed) in this call
    failed: int = 0  # failed in this call
    failed_total: int = 0  # failed runs in the whole folder
    verdicts: dict[str, int] = field(default_factory=dict)  # of the runs of this call

    @property
    def remaining(self) -> int:
        return self.total - self.skipped - self.completed


def run_batch(
    plan: BatchPlan,
    out: str | Path,
    *,
    processes: int = 1,
    scheduler: str | None = None,
    dask_local: int | None = None,
    chunk_runs: int = DEFAULT_CHUNK_RUNS,
    flush_seconds: float = DEFAULT_FLUSH_SECONDS,
    max_in_flight: int | None = None,
    run_function: Callable[[RunJob], RunResult] | None = None,
    retry_failed: bool = False,
    on_start: Callable[[int, int], None] | None = None,
    on_run: Callable[[dict[str, Any]], None] | None = None,
) -> BatchOutcome:
    """Run every job of ``plan`` not yet in ``out``, writing results as they finish.

    ``on_start(total, already_done)`` is called once before the first run, ``on_run(row)``
    after each run with its runs-table row. ``run_function`` (default :func:`run_one`) runs one
    job; it must be a top-level function for process pools and Dask. Results are written in
    parts of ``chunk_runs`` runs (and at least every ``flush_seconds``). A run that raises is
    recorded as failed and the others go on; failed runs count as done unless ``retry_failed``
    (then they are removed from the folder and run again). Ctrl-C writes the finished runs,
    stops the workers and raises :class:`BatchInterrupted` (re-running resumes). Returns a
    :class:`BatchOutcome`.
    """
    out = Path(out)
    store = _Store(out, plan, chunk_runs, flush_seconds)
    executor = make_executor(processes, scheduler, dask_local, max_in_flight)
    store.check()  # a different batch in `out` fails here, before any worker starts
    outcome = BatchOutcome(out, len(plan))
    work = functools.partial(_guarded, run_function or run_one)
    try:
        with executor:
            store.open()
            try:
                if retry_failed:
                    store.drop_failed()
                finished = store.finished()
                done = set(finished["run_id"])
                outcome.skipped = len(done & {job.run_id for job in plan.jobs()})
                outcome.failed_total = int((finished["status"] == "failed").sum())
                if on_start is not None:
                    on_start(outcome.total, outcome.skipped)
                todo = (job for job in plan.jobs() if job.run_id not in done)
                for _job, result in executor.imap_unordered(work, todo):
                    row = result.row
                    outcome.completed += 1  # counted before it is stored: close() writes it
                    if row["status"] == "failed":
                        outcome.failed += 1
                        outcome.failed_total += 1
                    else:
                        verdict = str(row.get("verdict"))
                        outcome.verdicts[verdict] = outcome.verdicts.get(verdict, 0) + 1
                    store.add(result)
                    if on_run is not None:
                        on_run(row)
            finally:
                store.close()  # writes the finished runs, also when interrupted
    except KeyboardInterrupt:
        raise BatchInterrupted(outcome) from None
    return outcome


# --- reading a batch --------------------------------------------------------------------------
class BatchTables(NamedTuple):
    """The three tables of a batch folder (``runs, quarters, events = load_batch(out)``)."""

    runs: pd.DataFrame
    quarters: pd.DataFrame
    events: pd.DataFrame


def _read_parts(paths: list[Path], columns: list[str] | None = None) -> pa.Table | None:
    tables = [pq.read_table(p, columns=columns) for p in paths]
    if not tables:
        return None
    return pa.concat_tables(tables, promote_options="permissive")


def _quarter_category(series: pd.Series) -> pd.Series:
    labels = sorted(str(v) for v in series.dropna().unique())
    return pd.Categorical(series, categories=labels, ordered=True)


def load_batch(out: str | Path, quarter_columns: Sequence[str] | None = None) -> BatchTables:
    """Read a batch folder into pandas (see the module docstring for columns and dtypes).

    ``quarter_columns`` limits the quarters table to these model columns (plus ``run_id``,
    ``scenario``, ``seed``, ``step``, ``quarter``): a large batch then loads in little memory.
    Only finished chunks are read (parts whose runs part exists).
    """
    from bubble_abm.chains import EVENT_DEFINITIONS, VERDICTS

    out = Path(out)
    spec = read_manifest(out)["spec"]
    run_parts = _parts(out / "runs")
    done = {p.name for p in run_parts}
    scenarios = list(spec["scenarios"])

    table = _read_parts(run_parts)
    runs = table.to_pandas() if table is not None else pd.DataFrame(
        {name: pd.Series(dtype=object) for name in _ID_COLUMNS})
    runs = runs.sort_values("run_index", kind="stable").reset_index(drop=True)
    for name in ("run_index", "point", "seed"):
        runs[name] = runs[name].astype("int64")
    runs["scenario"] = pd.Categorical(runs["scenario"], categories=scenarios)
    if len(runs.columns) > len(_ID_COLUMNS):
        runs["status"] = pd.Categorical(runs["status"], categories=["ok", "failed"])
        for name in ("verdict", "verdict_at_first_drop"):
            runs[name] = pd.Categorical(runs[name], categories=list(VERDICTS))
        for name, kind in SUMMARY_COLUMNS.items():
            if kind == pa.bool_():
                runs[name] = runs[name].astype("boolean")
            elif kind == pa.int64():
                runs[name] = runs[name].astype("Int64")
        runs["quarters_run"] = runs["quarters_run"].astype("Int64")
    order = {run_id: i for i, run_id in enumerate(runs["run_id"])}

    def frame(name: str, columns: list[str] | None) -> pd.DataFrame:
        parts = [p for p in _parts(out / name) if p.name in done]
        data = _read_parts(parts, columns)
        if data is None:
            names = columns or list(_QUARTER_ID_COLUMNS)
            return pd.DataFrame({c: pd.Series(dtype=object) for c in names})
        result = data.to_pandas()
        key = result["run_id"].map(order)
        result = result.assign(_order=key).sort_values(["_order", "step"], kind="stable")
        result = result.drop(columns="_order").reset_index(drop=True)
        result["scenario"] = pd.Categorical(result["scenario"], categories=scenarios)
        result["seed"] = result["seed"].astype("int64")
        result["step"] = result["step"].astype("int64")
        return result

    columns = None
    if quarter_columns is not None:
        wanted = [*_QUARTER_ID_COLUMNS, "step", "quarter"]
        columns = wanted + [c for c in quarter_columns if c not in wanted]
    quarters = frame("quarters", columns)
    if "quarter" in quarters.columns and len(quarters):
        quarters["quarter"] = _quarter_category(quarters["quarter"])
    events = frame("events", list(EVENT_TABLE_COLUMNS))
    if len(events):
        events["event"] = pd.Categorical(events["event"], categories=list(EVENT_DEFINITIONS))
        events["direction"] = pd.Categorical(events["direction"], categories=["up", "down"])
        labels = sorted(set(events["quarter"].dropna()) | set(events["end_quarter"].dropna()))
        for name in ("quarter", "end_quarter"):
            events[name] = pd.Categorical(events[name], categories=labels, ordered=True)
        for name in ("spell", "end_step"):
            events[name] = events[name].astype("int64")
    return BatchTables(runs, quarters, events)
