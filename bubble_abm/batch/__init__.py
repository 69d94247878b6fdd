"""Batch runs: scenarios x parameter points x seeds, streamed to Parquet, resumable (issue 5).

Pure orchestration: the model is reached only through :class:`~bubble_abm.model.BubbleModel`,
the run summary through :func:`bubble_abm.report.run_summary` and the chain through
:func:`bubble_abm.chains.detect_events` / :func:`~bubble_abm.chains.summarize_chain`.

The code is in four modules: :mod:`~bubble_abm.batch.plan` (what to run),
:mod:`~bubble_abm.batch.run` (one run and the table schemas), :mod:`~bubble_abm.batch.executors`
(serial, process pool, Dask) and :mod:`~bubble_abm.batch.store` (the batch folder and the
loader); this package module wires them in :func:`run_batch` and re-exports the public names.

Public API
==========

Plan (what to run)
    :func:`make_plan` ``(scenarios, seeds, grid=None, sample=None, n=None, method="lhs",
    sample_seed=0, overrides=None, quarters=None, points=None) -> BatchPlan``. ``seeds`` is a
    count N (seeds 1..N, as ``bubble-abm calibrate``) or a list. Parameter points come from a
    ``grid`` (``{key: [values]}``, cartesian product over keys) or a ``sample`` (``{key: (low,
    high)}``, ``n`` points by Latin hypercube ``"lhs"`` or scrambled Sobol ``"sobol"``,
    scipy.stats.qmc seeded with ``sample_seed``; integer parameters rounded), or neither (one
    point: the scenario as it is). ``overrides`` apply to every run (``--set``), ``quarters``
    sets ``n_quarters``. Every (scenario, point) is validated here: a bad design or an unknown
    key raises :class:`BatchError`, a value outside a parameter's range
    :class:`~bubble_abm.params.ParameterError`, both naming the field and its allowed range.
    :class:`BatchPlan`: ``len(plan)`` runs, ``plan.jobs()`` yields :class:`RunJob` in plan order
    (scenario, then point, then seed), ``plan.swept`` (the grid/sample keys),
    ``plan.param_columns`` (every parameter that differs from its default in some run),
    ``plan.to_spec()`` / ``BatchPlan.from_spec()`` (the manifest's JSON form). ``points=[{key:
    value}, ...]`` gives the parameter points explicitly instead (e.g. a SALib design).
    :func:`parse_grid` (``"key=v1,v2"``) and :func:`parse_sample` (``"key=low:high"``) read the
    command-line forms.

One run
    :func:`run_one` ``(job) -> RunResult``: builds ``BubbleModel(params, rng=job.seed,
    record_agents=False)`` (no agent table), runs ``n_quarters`` and returns
    ``RunResult(row, quarters, events)`` (the three tables below for one run).
    :func:`summarize_run` ``(job, model_table)`` does the same from a finished model
    table (for custom run functions).

A batch
    :func:`run_batch` ``(plan, out, processes=1, scheduler=None, dask_local=None, ...) ->
    BatchOutcome``: runs every job whose ``run_id`` is not yet in ``out``, serially,
    in a process pool (``processes`` > 1, spawned workers) or on Dask (``scheduler`` address of
    an existing cluster, or ``dask_local`` workers in a LocalCluster), writing results as they
    finish. ``run_function`` replaces :func:`run_one` (a top-level function ``job ->
    RunResult``, picklable for pools). :func:`make_executor` gives the executors on their own
    (``with make_executor(processes=2) as ex: for item, result in ex.imap_unordered(fn,
    items)``); ``bubble_abm.calibration.run_seeds`` uses them too. :func:`resume_batch`
    ``(out, **kwargs)`` completes a batch from its manifest alone; :func:`compact_batch`
    ``(out, runs_per_part=1000)`` merges its part files (``--compact``).

Read back
    :func:`load_batch` ``(out, quarter_columns=None) -> BatchTables(runs, quarters, events)``
    with pandas dtypes (below); :func:`read_manifest` ``(out)`` gives the manifest;
    :func:`collapse_links` ``(runs)`` unpacks each run's collapse links (event, stage, quarter,
    step, quarters from the capex peak, lag after the previous link) from ``chain_json``.

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
keeps two processes from writing the same folder at once. An error outside a run (a worker
process killed, a lost Dask cluster) stops the batch after the finished runs are written;
re-running resumes. Runs that raised are recorded (``status == "failed"``) and count as done:
the same parameters and seed fail the same way (``run_batch(..., retry_failed=True)``,
``--retry-failed``, runs them again).

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

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bubble_abm.batch.executors import (
    DaskExecutor,
    ProcessExecutor,
    SerialExecutor,
    make_executor,
)
from bubble_abm.batch.plan import (
    METHODS,
    BatchError,
    BatchPlan,
    RunJob,
    grid_points,
    make_plan,
    parse_grid,
    parse_sample,
    sample_points,
)
from bubble_abm.batch.run import (
    EVENT_TABLE_COLUMNS,
    SUMMARY_COLUMNS,
    RunResult,
    _guarded,
    run_one,
    simulate,
    summarize_run,
)
from bubble_abm.batch.store import (
    DATASETS,
    DEFAULT_CHUNK_RUNS,
    DEFAULT_FLUSH_SECONDS,
    BatchTables,
    _Store,
    collapse_links,
    load_batch,
    read_manifest,
)

__all__ = [
    "DATASETS",
    "DEFAULT_CHUNK_RUNS",
    "DEFAULT_FLUSH_SECONDS",
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
    "collapse_links",
    "compact_batch",
    "ensure_batch",
    "grid_points",
    "load_batch",
    "make_executor",
    "make_plan",
    "parse_grid",
    "parse_sample",
    "read_manifest",
    "resume_batch",
    "run_batch",
    "run_one",
    "sample_points",
    "simulate",
    "summarize_run",
]


class BatchInterrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`run_batch`; ``outcome`` counts what was written before stopping."""

    def __init__(self, outcome: BatchOutcome):
        super().__init__(f"interrupted after {outcome.completed} new runs")
        self.outcome = outcome


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
    if not retry_failed and not {job.run_id for job in plan.jobs()} - set(
            store.finished()["run_id"]):
        executor = SerialExecutor()  # nothing left to run: start no workers
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


def resume_batch(out: str | Path, **kwargs: Any) -> BatchOutcome:
    """Complete the batch in ``out`` from its manifest; keywords as for :func:`run_batch`."""
    plan = BatchPlan.from_spec(read_manifest(out)["spec"])
    return run_batch(plan, out, **kwargs)


def ensure_batch(
    folder: str | Path | None,
    default_folder: str | Path,
    scenarios: Sequence[str | Path],
    seeds: int | Iterable[int],
    *,
    overrides: Mapping[str, Any] | None = None,
    quarters: int | None = None,
    processes: int = 1,
) -> Path:
    """The batch folder an analysis reads: ``folder`` if given, else ``default_folder`` after
    running (or resuming) ``scenarios`` x ``seeds`` into it. Bad input raises as
    :func:`make_plan` does."""
    if folder is not None:
        return Path(folder)
    plan = make_plan(list(scenarios), seeds, overrides=dict(overrides or {}), quarters=quarters)
    print(f"running {len(plan)} runs into {default_folder} ...", flush=True)
    run_batch(plan, default_folder, processes=processes)
    return Path(default_folder)


def compact_batch(out: str | Path, runs_per_part: int = 1000) -> int:
    """Merge the part files of the batch in ``out`` into parts of up to ``runs_per_part`` runs
    (fewer, larger files load faster); returns how many merged parts were written."""
    out = Path(out)
    store = _Store(out, BatchPlan.from_spec(read_manifest(out)["spec"]), 1, 0.0)
    store.open()
    try:
        return store.compact(runs_per_part)
    finally:
        store.close()
