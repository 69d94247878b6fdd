"""Method of simulated moments: fit chosen parameters to calibration targets (issue 4).

``bubble-abm fit`` estimates a few parameters of a scenario against a targets file (the same
file ``bubble-abm calibrate`` reads). It sets parameters only; it never changes a mechanism.

**Moments.** A candidate parameter set is run over the same seeds 1..N (common random numbers:
every candidate sees the same random draws, so the objective changes with the parameters and not
with the noise) through :func:`bubble_abm.calibration.run_seeds`; every target's statistic is
read from every run by :func:`bubble_abm.calibration.model_statistics`, and the model moment is
the median across seeds (:func:`bubble_abm.calibration.summarize_statistics`), as in the report.

**Objective** (:func:`objective`). For a target with range [low, high] and model median m::

    distance = max(low - m, 0, m - high) / width,   width = high - low
    objective = sum over targets of distance ** 2

so a target whose median is inside its range adds zero, and one outside adds the squared
distance to the nearest edge in units of the range's width (scale-free: a $24B miss on a $20B-wide
capex range weighs as much as a $1.2k miss on a $1k-wide price range). A range narrower than 1%
of the target's size counts as 1% wide. A target the model cannot produce (median not a number)
adds :data:`NOT_COMPARABLE_PENALTY` (as if 10 widths away). Parameter-type targets (read from the
scenario, ``how`` = "parameter (input)") are included by default: they are constant unless the
fit moves the parameter they read, and then they keep it inside its published range;
``include_parameter_targets=False`` leaves them out.

**Search** (:func:`fit`). Each parameter is searched between its bounds (by default its allowed
range from :mod:`bubble_abm.params`, narrowed by the user), on a linear scale, or a log scale
when the bounds are positive and span a factor of 100 or more. First the scenario's own values
(if inside the bounds), then a Latin hypercube of ``samples`` points (``scipy.stats.qmc``,
seeded by ``sample_seed``), then a bounded local optimiser (Nelder-Mead or Powell from
``scipy.optimize``) from each of the ``starts`` best points so far, with ``local_evals``
objective evaluations each. Candidate values are rounded to 4 significant digits (integers to
whole numbers) before they are run, so that the scenario file written holds exactly what was
evaluated; repeated candidates are not run twice. Same inputs and seeds give the same fit.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import re
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize
from scipy.stats import qmc

from bubble_abm.batch import make_executor
from bubble_abm.calibration import (
    _PARAMETER_HOW,
    _as_targets,
    count_in_range,
    horizon_quarters,
    model_statistics,
    run_seeds,
    summarize_statistics,
)
from bubble_abm.params import Params, field_range
from bubble_abm.scenarios import _read, _scenario_file, load_scenario, scenario_name

__all__ = [
    "LOCAL_METHODS",
    "NOT_COMPARABLE_PENALTY",
    "FitError",
    "FitResult",
    "ParameterBounds",
    "fit",
    "format_fitted_scenario",
    "objective",
    "parse_bounds",
    "target_distances",
    "write_fit_outputs",
]

#: Objective contribution of a target the model cannot produce (a median that is not a number).
NOT_COMPARABLE_PENALTY = 100.0

#: Local optimisers offered (``scipy.optimize.minimize`` methods that accept bounds).
LOCAL_METHODS = ("nelder-mead", "powell")

_MIN_RELATIVE_WIDTH = 0.01
_LOG_SCALE_RATIO = 100.0
_SIGNIFICANT_DIGITS = 4


class FitError(ValueError):
    """Bad fit input (a parameter or bound); the message names the field and the allowed range."""


# --- the objective -----------------------------------------------------------------------------
def target_distances(report: pd.DataFrame, include_parameter_targets: bool = True) -> pd.Series:
    """Each target's contribution to the objective (see the module docstring), report order.

    ``report`` has the columns of :func:`bubble_abm.calibration.summarize_statistics`
    (low, high, model_median, how). Excluded parameter targets contribute 0.
    """
    low = report["low"].to_numpy(dtype=float)
    high = report["high"].to_numpy(dtype=float)
    median = report["model_median"].to_numpy(dtype=float)
    size = np.maximum(np.abs(low), np.abs(high))
    width = np.maximum.reduce([high - low, _MIN_RELATIVE_WIDTH * size, np.full_like(low, 1e-12)])
    outside = np.maximum.reduce([low - median, np.zeros_like(low), median - high])
    contribution = np.where(np.isfinite(median), (outside / width) ** 2, NOT_COMPARABLE_PENALTY)
    if not include_parameter_targets:
        contribution = np.where(report["how"].to_numpy() == _PARAMETER_HOW, 0.0, contribution)
    return pd.Series(contribution, index=report.index, name="objective_contribution")


def objective(report: pd.DataFrame, include_parameter_targets: bool = True) -> float:
    """Sum over targets of (distance of the model median outside the range / range width)^2."""
    return float(target_distances(report, include_parameter_targets).sum())


# --- parameters and bounds ---------------------------------------------------------------------
@dataclass(frozen=True)
class ParameterBounds:
    """A fitted parameter: its search bounds, whether it is an integer, and the search scale."""

    name: str
    low: float
    high: float
    integer: bool

    @property
    def log_scale(self) -> bool:
        """Searched on a log scale when positive bounds span a factor of 100 or more."""
        return self.low > 0.0 and self.high / self.low >= _LOG_SCALE_RATIO

    def from_unit(self, u: float) -> float | int:
        """The parameter value at position ``u`` in [0, 1] of the search interval (rounded)."""
        u = min(max(float(u), 0.0), 1.0)
        if self.log_scale:
            value = self.low * (self.high / self.low) ** u
        else:
            value = self.low + u * (self.high - self.low)
        if self.integer:
            return int(min(max(round(value), math.ceil(self.low)), math.floor(self.high)))
        return min(max(_round_sig(value), self.low), self.high)

    def to_unit(self, value: float) -> float:
        """Position of ``value`` in [0, 1] of the search interval."""
        if self.log_scale:
            return math.log(value / self.low) / math.log(self.high / self.low)
        return (value - self.low) / (self.high - self.low)

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


def _round_sig(value: float, digits: int = _SIGNIFICANT_DIGITS) -> float:
    if value == 0.0 or not math.isfinite(value):
        return float(value)
    return float(f"{value:.{digits - 1}e}")


def _numeric_fields() -> list[str]:
    return [name for name, f in Params.model_fields.items()
            if f.annotation in (int, float) and field_range(name) is not None]


def parse_bounds(specs: Iterable[str | tuple[str, float | None, float | None]]
                 ) -> list[ParameterBounds]:
    """Parameters to fit from ``"name"`` or ``"name=low:high"`` (or ``(name, low, high)``).

    Bounds default to the parameter's allowed range and must lie inside it, with low < high.
    Raises :class:`FitError` naming the parameter and its allowed range.
    """
    import difflib

    numeric = _numeric_fields()
    result: list[ParameterBounds] = []
    errors: list[str] = []
    for spec in specs:
        if isinstance(spec, tuple):
            name, low, high = spec
            text = f"{name}={low}:{high}"
        else:
            text = str(spec).strip()
            name, sep, rest = text.partition("=")
            name = name.strip()
            low = high = None
            if sep:
                low_text, colon, high_text = rest.partition(":")
                if not colon:
                    errors.append(f"--param {text!r}: expected name or name=low:high")
                    continue
                try:
                    low, high = float(low_text), float(high_text)
                except ValueError:
                    errors.append(f"--param {text!r}: bounds of `{name}` must be numbers "
                                  f"(name=low:high)")
                    continue
        if name not in Params.model_fields:
            close = difflib.get_close_matches(name, numeric, n=1)
            hint = f" (did you mean `{close[0]}`?)" if close else ""
            errors.append(f"--param: unknown parameter `{name}`{hint}")
            continue
        if name not in numeric:
            errors.append(f"--param: `{name}` is not a numeric parameter and cannot be fitted")
            continue
        if any(b.name == name for b in result):
            errors.append(f"--param: `{name}` given twice")
            continue
        allowed_low, allowed_high = field_range(name)  # type: ignore[misc]
        low = allowed_low if low is None else low
        high = allowed_high if high is None else high
        allowed = f"allowed range [{allowed_low:g}, {allowed_high:g}] of `{name}`"
        if not (math.isfinite(low) and math.isfinite(high)):
            errors.append(f"--param {text!r}: bounds must be finite, inside the {allowed}")
        elif not low < high:
            errors.append(f"--param {text!r}: low ({low:g}) must be below high ({high:g})")
        elif low < allowed_low or high > allowed_high:
            errors.append(f"--param {text!r}: bounds [{low:g}, {high:g}] outside the {allowed}")
        else:
            integer = Params.model_fields[name].annotation is int
            if integer and math.floor(high) < math.ceil(low):
                errors.append(f"--param {text!r}: no integer between the bounds of `{name}`")
                continue
            result.append(ParameterBounds(name, float(low), float(high), integer))
    if errors:
        raise FitError("\n".join(errors))
    if not result:
        raise FitError("no parameter to fit: give at least one --param name[=low:high]")
    return result


# --- the fit ------------------------------------------------------------------------------------
@dataclass
class FitResult:
    """What a fit found: the best values, its report, and every candidate evaluated."""

    scenario: str
    bounds: list[ParameterBounds]
    best: dict[str, float | int]
    best_objective: float
    best_report: pd.DataFrame
    start_objective: float | None
    candidates: pd.DataFrame
    seeds: list[int]
    overrides: dict[str, Any]
    include_parameter_targets: bool
    settings: dict[str, Any] = field(default_factory=dict)


class _Evaluator:
    """Runs candidates over fixed seeds, caches them and records a row per evaluation."""

    def __init__(self, scenario: str | Path, frame: pd.DataFrame, bounds: list[ParameterBounds],
                 seeds: list[int], overrides: dict[str, Any], include_parameter_targets: bool,
                 executor: Any, progress: Callable[[], None] | None) -> None:
        self.scenario, self.frame, self.bounds = scenario, frame, bounds
        self.seeds, self.overrides = seeds, overrides
        self.include = include_parameter_targets
        self.executor, self.progress = executor, progress
        self.quarters = horizon_quarters(frame, load_scenario(scenario, overrides))
        self.cache: dict[tuple, tuple[float, pd.DataFrame]] = {}
        self.rows: list[dict[str, Any]] = []

    def values(self, unit: Sequence[float]) -> dict[str, float | int]:
        return {b.name: b.from_unit(u) for b, u in zip(self.bounds, unit, strict=True)}

    def calibration_report(self, values: dict[str, float | int]) -> pd.DataFrame:
        """The calibration report of one candidate over the fit's seeds."""
        overrides = {**self.overrides, **values}
        params = load_scenario(self.scenario, overrides)
        runs = run_seeds(self.scenario, self.seeds, overrides, self.quarters,
                         executor=self.executor)
        statistics = model_statistics([r.table for r in runs], params, targets=self.frame,
                                      seeds=[r.seed for r in runs])
        return summarize_statistics(statistics, self.frame)

    def __call__(self, values: dict[str, float | int], stage: str) -> float:
        key = tuple(values[b.name] for b in self.bounds)
        if key in self.cache:
            return self.cache[key][0]
        report = self.calibration_report(values)
        value = objective(report, self.include)
        self.cache[key] = (value, report)
        inside, total = count_in_range(report)
        row: dict[str, Any] = {"evaluation": len(self.rows) + 1, "stage": stage, **values,
                               "objective": value, "targets_in_range": inside,
                               "targets": total}
        for _, r in report.iterrows():
            row[f"median {r['metric']} {r['period']}"] = r["model_median"]
        self.rows.append(row)
        if self.progress is not None:
            self.progress()
        return value


class _BudgetSpentError(Exception):
    """The local optimiser has used its budget of new runs."""


def _local_search(evaluate: _Evaluator, start: np.ndarray, method: str, budget: int) -> None:
    """A bounded local optimiser in the unit cube from ``start``, at most ``budget`` runs."""
    d = len(start)
    used = {"n": 0}

    def f(unit: np.ndarray) -> float:
        values = evaluate.values(unit)
        key = tuple(values[b.name] for b in evaluate.bounds)
        if key not in evaluate.cache:
            if used["n"] >= budget:
                raise _BudgetSpentError
            used["n"] += 1
        return evaluate(values, "local")

    bounds = [(0.0, 1.0)] * d
    options: dict[str, Any]
    if method == "nelder-mead":
        step = 0.1  # first simplex: 10% of each interval, pointing inward
        simplex = [start.copy()]
        for i in range(d):
            vertex = start.copy()
            vertex[i] += step if start[i] + step <= 1.0 else -step
            simplex.append(vertex)
        options = {"initial_simplex": np.array(simplex), "xatol": 1e-3, "fatol": 1e-9}
    else:
        options = {"xtol": 1e-3, "ftol": 1e-9}
    with contextlib.suppress(_BudgetSpentError):  # the budget counts new runs, not cached repeats
        optimize.minimize(f, start, method="Nelder-Mead" if method == "nelder-mead" else "Powell",
                          bounds=bounds, options={**options, "maxfev": 50 * budget})


def fit(
    scenario: str | Path = "baseline",
    parameters: Iterable[str | tuple[str, float | None, float | None]] | None = None,
    *,
    targets: pd.DataFrame | str | Path | None = None,
    seeds: int | Iterable[int] = 4,
    samples: int = 16,
    starts: int = 1,
    local_evals: int = 24,
    method: str = "nelder-mead",
    sample_seed: int = 0,
    overrides: dict[str, Any] | None = None,
    include_parameter_targets: bool = True,
    processes: int = 1,
    progress: Callable[[], None] | None = None,
) -> FitResult:
    """Fit ``parameters`` (``"name"`` or ``"name=low:high"``) of ``scenario`` to ``targets``.

    See the module docstring for the objective and the search. ``seeds`` (N means 1..N) are the
    same for every candidate; ``overrides`` change the runs (e.g. smaller populations) and are
    not part of the fitted values. ``processes`` > 1 keeps one process pool for the whole fit.
    """
    bounds = parse_bounds(parameters or [])
    if method not in LOCAL_METHODS:
        raise FitError(f"method {method!r}: allowed {', '.join(LOCAL_METHODS)}")
    for name, value, low in (("samples", samples, 0), ("starts", starts, 0),
                             ("local_evals", local_evals, 0), ("processes", processes, 1)):
        if int(value) < low:
            raise FitError(f"`{name}` must be >= {low}, got {value}")
    overrides = dict(overrides or {})
    fitted_names = {b.name for b in bounds}
    clash = sorted(fitted_names & set(overrides))
    if clash:
        raise FitError(f"`{clash[0]}` is both fitted (--param) and set (--set); choose one")
    frame = _as_targets(targets)
    seed_list = list(range(1, int(seeds) + 1)) if isinstance(seeds, int) else [
        int(s) for s in seeds]
    if not seed_list:
        raise FitError("`seeds`: at least one seed")
    base = load_scenario(scenario, overrides)
    with contextlib.ExitStack() as stack:
        executor = None
        if processes > 1:
            executor = stack.enter_context(
                make_executor(processes=min(int(processes), len(seed_list))))
        evaluate = _Evaluator(scenario, frame, bounds, seed_list, overrides,
                              include_parameter_targets, executor, progress)
        start_objective = None
        start_values = {b.name: getattr(base, b.name) for b in bounds}
        if all(b.contains(v) for b, v in zip(bounds, start_values.values(), strict=True)):
            start_objective = evaluate(start_values, "start")
        if samples > 0:
            sampler = qmc.LatinHypercube(d=len(bounds), seed=int(sample_seed))
            for unit in sampler.random(int(samples)):
                evaluate(evaluate.values(unit), "sample")
        if local_evals > 0 and evaluate.cache:
            ranked = sorted(evaluate.cache.items(), key=lambda item: item[1][0])
            for key, _ in ranked[: max(int(starts), 0)]:
                start = np.array([b.to_unit(v) for b, v in zip(bounds, key, strict=True)])
                _local_search(evaluate, start, method, int(local_evals))
    best_key = min(evaluate.cache, key=lambda k: evaluate.cache[k][0])
    best_objective, best_report = evaluate.cache[best_key]
    candidates = pd.DataFrame(evaluate.rows)
    return FitResult(
        scenario=str(scenario), bounds=bounds,
        best=dict(zip((b.name for b in bounds), best_key, strict=True)),
        best_objective=best_objective, best_report=best_report,
        start_objective=start_objective, candidates=candidates, seeds=seed_list,
        overrides=overrides, include_parameter_targets=include_parameter_targets,
        settings={"samples": samples, "starts": starts, "local_evals": local_evals,
                  "method": method, "sample_seed": sample_seed})


# --- outputs ------------------------------------------------------------------------------------
def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    return json.dumps(str(value))


_FITTED_SUFFIX = re.compile(r"\s*\[fitted: [^\]]*\]")
_KEY_COMMENT = re.compile(r"^\s*([A-Za-z0-9_]+)\s*=\s*[^#]*?(#.*)$")


def _line_comments(text: str) -> dict[str, str]:
    """Trailing comments of ``key = value  # comment`` lines (kept when a file is rewritten)."""
    comments = {}
    for line in text.splitlines():
        match = _KEY_COMMENT.match(line)
        if match and '"' not in line.split("#", 1)[0]:
            comments[match.group(1)] = match.group(2).rstrip()
    return comments


def format_fitted_scenario(result: FitResult, date: dt.date | None = None) -> str:
    """The fitted scenario as TOML: the base scenario's parameters with the fitted values."""
    date = date or dt.datetime.now(dt.UTC).date()
    path = _scenario_file(result.scenario)
    data = _read(path)
    base_values = dict(data.get("params", {}))
    comments = _line_comments(path.read_text(encoding="utf-8"))
    name = scenario_name(result.scenario)
    fitted = ", ".join(f"{k}" for k in result.best)
    base_description = _FITTED_SUFFIX.sub("", str(data.get("description", name)))
    description = (f"{base_description} [fitted: {fitted}; objective "
                   f"{result.best_objective:.4g}]")
    inside, total = count_in_range(result.best_report)
    seeds = result.seeds
    seed_text = f"{seeds[0]}-{seeds[-1]}" if seeds == list(range(seeds[0], seeds[-1] + 1)) \
        else ",".join(map(str, seeds))
    lines = [
        f"# Written by bubble-abm fit on {date.isoformat()} from scenario {name} ({path.name}).",
        f"# Objective {result.best_objective:.6g} (sum over targets of the squared distance of "
        "the model median outside",
        f"# the target range, in range widths); {inside}/{total} targets in range over seeds "
        f"{seed_text}.",
    ]
    if result.overrides:
        sets = " ".join(f"--set {k}={_toml_value(v)}" for k, v in result.overrides.items())
        lines.append(f"# Runs of the fit used {sets} (not written below).")
    lines += ["", f"description = {json.dumps(description)}", "", "[params]"]
    bound_of = {b.name: b for b in result.bounds}
    for key, value in base_values.items():
        if key not in result.best:
            comment = f"  {comments[key]}" if key in comments else ""
            lines.append(f"{key} = {_toml_value(value)}{comment}")
    for key, value in result.best.items():
        b = bound_of[key]
        lines.append(f"{key} = {_toml_value(value)}  # fitted by bubble-abm fit on "
                     f"{date.isoformat()}, objective {result.best_objective:.4g} "
                     f"(bounds {b.low:g}-{b.high:g})")
    text = "\n".join(lines) + "\n"
    tomllib.loads(text)  # what we write must read back
    return text


def write_fit_outputs(result: FitResult, out_dir: str | Path,
                      date: dt.date | None = None) -> dict[str, Path]:
    """fitted.toml (a scenario file), candidates.csv (every evaluation) and calibration.csv
    (the best candidate's report) in ``out_dir``; returns the paths by file name."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / name for name in ("fitted.toml", "candidates.csv", "calibration.csv")}
    paths["fitted.toml"].write_text(format_fitted_scenario(result, date), encoding="utf-8")
    result.candidates.to_csv(paths["candidates.csv"], index=False)
    result.best_report.to_csv(paths["calibration.csv"], index=False)
    return paths
