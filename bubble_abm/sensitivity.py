"""Global sensitivity analysis with SALib on top of the batch engine (issue 5).

SALib draws the sample (Morris trajectories, or Saltelli/Sobol' points for first- and
total-order indices); each sample row becomes a parameter point of a
:class:`bubble_abm.batch.BatchPlan` run over ``seeds`` seeds, so the runs stream to Parquet,
resume after an interruption and run in a process pool or on Dask like any batch. Each output
is averaged over the seeds of a point (the bust indicator becomes a bust probability) and
SALib's ``analyze`` reads those averages back.

Methods and references:

- ``morris``: elementary effects on a ``num_levels`` grid (Morris 1991), ``mu_star`` the mean
  absolute effect with a bootstrap confidence interval, ``sigma`` its spread (Campolongo et al.
  2007). Cost: ``n`` trajectories x (parameters + 1) points.
- ``sobol``: Saltelli's (2010) estimators of first-order ``S1`` and total-order ``ST`` indices
  with bootstrap confidence intervals, on scrambled Sobol' points (SALib ``sample.sobol``).
  Cost: ``n`` x (parameters + 2) points; ``n`` must be a power of two.

``n`` is SALib's base sample size (trajectories for Morris); every point runs ``seeds`` seeds.
Outputs are in :data:`OUTPUTS`; parameters must be numeric fields of
:class:`bubble_abm.params.Params`, sampled inside their allowed ranges (integers rounded).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bubble_abm.batch import (
    BatchError,
    BatchOutcome,
    BatchPlan,
    load_batch,
    make_plan,
    run_batch,
)
from bubble_abm.params import Params, field_range, make_params

__all__ = [
    "DEFAULT_PARAMS",
    "IncompleteSampleError",
    "METHODS",
    "OUTPUTS",
    "SensitivityError",
    "SensitivityResult",
    "analyze",
    "indices_chart",
    "point_outputs",
    "run_sensitivity",
    "sample",
    "sensitivity_plan",
    "validate_ranges",
]

METHODS = ("morris", "sobol")

#: Outputs: name -> (runs-table column, description). Each is averaged over the seeds of a point.
OUTPUTS: dict[str, tuple[str, str]] = {
    "bust_probability": ("bust", "share of seeds whose chain verdict is bust"),
    "peak_stranded_usd_b": ("stranded_gpu_assets_peak_usd_b",
                            "peak stranded GPU assets, $B (mean over seeds)"),
    "peak_capex_usd_b_per_year": ("peak_capex_annualised_usd_b",
                                  "peak capex, annualised $B (mean over seeds)"),
    "max_equity_drawdown": ("max_equity_drawdown",
                            "largest fall of the AI equity index from its peak (mean over seeds)"),
}

#: Default parameters and ranges (inside the allowed ranges; `bubble-abm params`): the data
#: wall, the pace of efficiency, price elasticity of token demand, how strongly sentiment drives
#: capex, and the Brock-Hommes intensity of choice of investors.
DEFAULT_PARAMS: dict[str, tuple[float, float]] = {
    "extra_data_worth": (0.1, 3.0),
    "algorithmic_doubling_years": (0.4, 1.5),
    "token_price_elasticity": (0.8, 1.6),
    "sentiment_capex_weight": (0.1, 1.0),
    "intensity_of_choice": (0.5, 10.0),
}

MORRIS_LEVELS = 4


class SensitivityError(BatchError):
    """A sensitivity design that cannot run (the message names the field and allowed range)."""


class IncompleteSampleError(RuntimeError):
    """A parameter point with no finished run: SALib needs an output for every point."""


@dataclass
class SensitivityResult:
    """Indices table, per-point outputs (the SALib ``Y``), the sample ``X`` and the batch."""

    indices: pd.DataFrame
    points: pd.DataFrame
    sample: np.ndarray
    plan: BatchPlan
    batch: BatchOutcome | None = None


def validate_ranges(ranges: Mapping[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
    """Check every ``name: (low, high)``: a numeric parameter, low < high inside its range."""
    if len(ranges) < 2:
        raise SensitivityError(f"--param: give at least 2 parameters (got {len(ranges)})")
    checked = {}
    for name, (low, high) in ranges.items():
        if name not in Params.model_fields:
            raise SensitivityError(f"--param {name}: unknown parameter "
                                   "(see `bubble-abm params`)")
        allowed = field_range(name)
        if allowed is None:
            raise SensitivityError(f"--param {name}: not a numeric parameter")
        kind = "an integer" if Params.model_fields[name].annotation is int else "a number"
        if not (allowed[0] <= low < high <= allowed[1]):
            raise SensitivityError(
                f"--param {name}={low:g}:{high:g}: need low < high inside the allowed range; "
                f"`{name}` is {kind} in [{allowed[0]:g}, {allowed[1]:g}]")
        checked[name] = (float(low), float(high))
    return checked


def _problem(ranges: Mapping[str, tuple[float, float]]) -> dict[str, Any]:
    return {"num_vars": len(ranges), "names": list(ranges),
            "bounds": [[low, high] for low, high in ranges.values()]}


def sample(ranges: Mapping[str, tuple[float, float]], n: int, method: str = "morris",
           seed: int = 0) -> np.ndarray:
    """SALib's sample for ``method`` (rows are parameter points, columns follow ``ranges``)."""
    if method not in METHODS:
        raise SensitivityError(f"--method {method!r}: allowed {', '.join(METHODS)}")
    problem = _problem(validate_ranges(ranges))
    if method == "morris":
        from SALib.sample import morris

        if n < 2:
            raise SensitivityError(f"--n {n}: Morris needs at least 2 trajectories")
        return morris.sample(problem, int(n), num_levels=MORRIS_LEVELS, seed=int(seed))
    from SALib.sample import sobol

    if n < 2 or n & (n - 1):
        raise SensitivityError(f"--n {n}: Sobol' sampling needs a power of two >= 2 "
                               "(e.g. 8, 16, 32, 64)")
    return sobol.sample(problem, int(n), calc_second_order=False, scramble=True, seed=int(seed))


def _points(ranges: Mapping[str, tuple[float, float]], x: np.ndarray) -> list[dict[str, Any]]:
    """Sample rows as parameter points; integer parameters rounded."""
    names = list(ranges)
    integer = [Params.model_fields[k].annotation is int for k in names]
    return [{k: int(round(v)) if is_int else float(v)
             for k, v, is_int in zip(names, row, integer, strict=True)} for row in x]


def sensitivity_plan(
    ranges: Mapping[str, tuple[float, float]] | None = None,
    n: int = 8,
    method: str = "morris",
    seeds: int | Sequence[int] = 4,
    scenario: str | Path = "baseline",
    overrides: Mapping[str, Any] | None = None,
    quarters: int | None = None,
    sample_seed: int = 0,
) -> tuple[BatchPlan, np.ndarray]:
    """The batch plan of a sensitivity design (SALib's rows as its parameter points) and ``X``.

    The plan is :func:`bubble_abm.batch.make_plan` for the scenario, seeds and overrides, with
    the SALib sample as points and the sampled parameters as swept columns; every point is
    validated against the scenario's parameters.
    """
    ranges = validate_ranges(DEFAULT_PARAMS if ranges is None else ranges)
    clash = sorted(set(ranges) & set(overrides or {}))
    if clash:
        raise SensitivityError(f"parameter(s) both sampled (--param) and fixed (--set): "
                               f"{', '.join(clash)}")
    x = sample(ranges, n, method, sample_seed)
    base = make_plan([scenario], seeds, overrides=overrides, quarters=quarters)
    points = _points(ranges, x)
    params = make_params(base.base_values[base.scenarios[0]])
    for point in points:  # inside the allowed ranges already; this checks cross-field rules
        params.with_overrides(**point)
    swept = tuple(ranges)
    design = {"method": f"salib-{method}", "n": int(n), "sample_seed": int(sample_seed),
              "sample": {k: [lo, hi] for k, (lo, hi) in ranges.items()}}
    if method == "morris":
        design["num_levels"] = MORRIS_LEVELS
    columns = swept + tuple(c for c in base.param_columns if c not in swept)
    plan = replace(base, points=tuple(points), swept=swept, design=design,
                   param_columns=columns)
    return plan, x


def point_outputs(runs: pd.DataFrame, n_points: int,
                  outputs: Sequence[str] = tuple(OUTPUTS)) -> pd.DataFrame:
    """Each output averaged over the finished seeds of each parameter point (one row a point).

    Raises :class:`IncompleteSampleError` if a point has no finished run (SALib needs every
    ``Y``).
    """
    ok = runs[runs["status"].astype(str) == "ok"]
    columns = {name: pd.to_numeric(ok[OUTPUTS[name][0]].astype(float), errors="coerce")
               for name in outputs}
    frame = pd.DataFrame({"point": ok["point"], **columns})
    means = frame.groupby("point").mean().reindex(range(n_points))
    means.insert(0, "seeds", frame.groupby("point").size().reindex(range(n_points)).fillna(0)
                 .astype("int64"))
    missing = means.index[means["seeds"] == 0].tolist()
    if missing:
        raise IncompleteSampleError(f"{len(missing)} parameter point(s) have no finished run "
                               f"(e.g. point {missing[0]}); see the runs table's error column")
    return means


def analyze(
    ranges: Mapping[str, tuple[float, float]],
    x: np.ndarray,
    y: Mapping[str, Sequence[float]] | pd.DataFrame,
    method: str = "morris",
    conf_level: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """SALib's indices for each output column of ``y`` (one value per row of ``x``).

    Morris: ``mu``, ``mu_star``, ``mu_star_conf``, ``sigma`` per output and parameter.
    Sobol: ``S1``, ``S1_conf``, ``ST``, ``ST_conf`` (NaN for an output constant over the sample,
    which has no variance to apportion). ``*_conf`` are half-widths of ``conf_level`` bootstrap
    intervals. One row per output and parameter.
    """
    import warnings

    problem = _problem(ranges)
    frames = []
    for output in list(y.keys()):
        values = np.asarray(y[output], dtype=float)
        if method == "morris":
            from SALib.analyze import morris

            res = morris.analyze(problem, x, values, conf_level=conf_level,
                                 num_levels=MORRIS_LEVELS, seed=seed)
            table = {k: np.asarray(res[k], dtype=float)
                     for k in ("mu", "mu_star", "mu_star_conf", "sigma")}
        elif method == "sobol":
            from SALib.analyze import sobol

            if np.nanstd(values) == 0:
                nan = np.full(len(ranges), np.nan)
                table = {k: nan for k in ("S1", "S1_conf", "ST", "ST_conf")}
            else:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    res = sobol.analyze(problem, values, calc_second_order=False,
                                        conf_level=conf_level, seed=seed)
                table = {k: np.asarray(res[k], dtype=float)
                         for k in ("S1", "S1_conf", "ST", "ST_conf")}
        else:
            raise SensitivityError(f"--method {method!r}: allowed {', '.join(METHODS)}")
        frames.append(pd.DataFrame({"output": output, "parameter": list(ranges), **table}))
    return pd.concat(frames, ignore_index=True)


def run_sensitivity(
    out: str | Path,
    ranges: Mapping[str, tuple[float, float]] | None = None,
    outputs: Sequence[str] = tuple(OUTPUTS),
    n: int = 8,
    method: str = "morris",
    seeds: int | Sequence[int] = 4,
    scenario: str | Path = "baseline",
    overrides: Mapping[str, Any] | None = None,
    quarters: int | None = None,
    sample_seed: int = 0,
    processes: int = 1,
    scheduler: str | None = None,
    dask_local: int | None = None,
    on_start: Callable[[int, int], None] | None = None,
    on_run: Callable[[dict[str, Any]], None] | None = None,
) -> SensitivityResult:
    """Plan, run (as a batch in ``out/batch``, resumable) and analyze; write the outputs.

    Writes ``out/sensitivity.csv`` (the indices), ``out/sensitivity_points.csv`` (the sample
    and each point's outputs), ``out/sensitivity.png`` (:func:`indices_chart`) and
    ``out/sensitivity.json`` (the design). Returns a :class:`SensitivityResult`.
    """
    unknown = [name for name in outputs if name not in OUTPUTS]
    if unknown or not outputs:
        raise SensitivityError(f"--output {', '.join(unknown) or '(none)'}: allowed "
                               f"{', '.join(OUTPUTS)}")
    ranges = validate_ranges(DEFAULT_PARAMS if ranges is None else ranges)
    plan, x = sensitivity_plan(ranges, n, method, seeds, scenario, overrides, quarters,
                               sample_seed)
    out = Path(out)
    outcome = run_batch(plan, out / "batch", processes=processes, scheduler=scheduler,
                        dask_local=dask_local, on_start=on_start, on_run=on_run)
    runs = load_batch(out / "batch", quarter_columns=[]).runs
    y = point_outputs(runs, len(plan.points), outputs)
    indices = analyze(ranges, x, y[list(outputs)], method, seed=sample_seed)
    indices.insert(0, "method", method)
    points = pd.concat([pd.DataFrame(x, columns=list(ranges)), y.reset_index(drop=True)],
                       axis=1)
    points.index.name = "point"
    indices.to_csv(out / "sensitivity.csv", index=False)
    points.to_csv(out / "sensitivity_points.csv")
    fig = indices_chart(indices, method)
    fig.savefig(out / "sensitivity.png", dpi=120)
    import matplotlib.pyplot as plt

    plt.close(fig)
    (out / "sensitivity.json").write_text(json.dumps({
        "method": method, "n": n, "seeds": list(plan.seeds), "scenario": plan.scenarios[0],
        "parameters": {k: list(v) for k, v in ranges.items()}, "outputs": list(outputs),
        "points": len(plan.points), "runs": len(plan), "sample_seed": sample_seed,
    }, indent=1) + "\n", encoding="utf-8")
    return SensitivityResult(indices, points, x, plan, outcome)


def indices_chart(indices: pd.DataFrame, method: str | None = None):
    """Bar chart, one panel per output: Morris ``mu_star`` (and ``sigma``) or Sobol ``S1`` and
    ``ST``, with the confidence half-widths as error bars. Returns the Figure."""
    import matplotlib.pyplot as plt

    method = method or ("morris" if "mu_star" in indices.columns else "sobol")
    outputs = list(dict.fromkeys(indices["output"]))
    fig, axes = plt.subplots(1, len(outputs), figsize=(4.2 * len(outputs), 4.2),
                             layout="constrained", squeeze=False)
    bars = ([("mu_star", "mu_star_conf", "mu*"), ("sigma", None, "sigma")] if method == "morris"
            else [("S1", "S1_conf", "first order S1"), ("ST", "ST_conf", "total order ST")])
    for ax, output in zip(axes[0], outputs, strict=True):
        part = indices[indices["output"] == output]
        y = np.arange(len(part))
        height = 0.8 / len(bars)
        for i, (column, conf, label) in enumerate(bars):
            err = part[conf].to_numpy() if conf else None
            ax.barh(y + (i - (len(bars) - 1) / 2) * height, part[column].to_numpy(), height,
                    xerr=err, label=label, capsize=2)
        ax.set_yticks(y, part["parameter"].tolist(), fontsize="small")
        ax.invert_yaxis()
        ax.set_title(output, fontsize="medium")
        ax.grid(axis="x", alpha=0.3)
    axes[0][0].legend(fontsize="small")
    fig.suptitle(f"Sensitivity ({method}): " + ("elementary effects" if method == "morris"
                                                else "Sobol' indices, 95% CI"))
    return fig
