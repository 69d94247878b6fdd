"""One run of a batch: the model, its run summary and chain, as three tables.

:func:`run_one` builds ``BubbleModel(params, rng=seed, record_agents=False)``, runs it and returns
a :class:`RunResult`: the runs-table row, the quarters table and the events table (columns in
:mod:`bubble_abm.batch`). The column schemas live here.
"""

from __future__ import annotations

import json
import math
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from bubble_abm.batch.plan import _DEFAULTS, RunJob, _plain
from bubble_abm.params import Params, make_params

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


def _arrow_type(name: str) -> pa.DataType:
    annotation = Params.model_fields[name].annotation
    if annotation is int:
        return pa.int64()
    if annotation is float:
        return pa.float64()
    return pa.string()


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
    from bubble_abm.chains import detect_and_summarize
    from bubble_abm.report import _json_safe, run_summary

    table = model_table.reset_index(drop=True)
    events, chain = detect_and_summarize(table)
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

    quarters = pd.concat([_id_columns(row, table.index), table], axis=1)
    return RunResult(row, quarters, _run_events(events, row))


def _id_columns(row: dict[str, Any], index: pd.Index) -> pd.DataFrame:
    """The run's ids (run_id, scenario, seed) repeated on ``index``, typed as scalars are."""
    return pd.DataFrame({name: row[name] for name in _QUARTER_ID_COLUMNS}, index=index)


def _run_events(events: pd.DataFrame, row: dict[str, Any]) -> pd.DataFrame:
    """The run's events with its ids and each event's spell number (0, 1, ... in time order)."""
    seen: dict[str, int] = {}
    spell = []
    for name in events["event"].tolist():
        seen[name] = seen.get(name, -1) + 1
        spell.append(seen[name])
    columns = {
        name: row[name] if name in _QUARTER_ID_COLUMNS
        else np.array(spell, dtype="int64") if name == "spell"
        else events[name]
        for name in EVENT_TABLE_COLUMNS
    }
    return pd.DataFrame(columns, index=events.index)


def run_one(job: RunJob) -> RunResult:
    """Run one job: ``BubbleModel(params, rng=seed, record_agents=False)`` for ``n_quarters``,
    then its tables (a batch stores the model table, the summary and the events, no agent
    table)."""
    from bubble_abm.model import BubbleModel

    params = make_params(job.values)
    model = BubbleModel(params, rng=job.seed, record_agents=False)
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
