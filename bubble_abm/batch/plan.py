"""Batch plans: scenarios x parameter points (grid, Latin hypercube, Sobol) x seeds.

:func:`make_plan` validates and expands a batch into a :class:`BatchPlan`, whose
:meth:`~BatchPlan.jobs` are the runs (:class:`RunJob`, each with a reproducible ``run_id``).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import numpy as np

from bubble_abm.params import ParameterError, Params, field_range, make_params
from bubble_abm.scenarios import load_scenario, scenario_name

#: Sampling methods of :func:`sample_points`.
METHODS = ("lhs", "sobol")
SPEC_FORMAT = "bubble_abm.batch/1"
#: Spec keys recorded but not compared when a batch is resumed.
UNCOMPARED_SPEC_KEYS = frozenset({"sources"})


class BatchError(ValueError):
    """A batch that cannot be planned or written (the message names the field or the folder)."""


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


def _typed(key: str, value: Any) -> Any:
    """A parameter value as the model stores it: ``1`` for a float parameter becomes ``1.0``
    (so ``--grid x=1,2`` and ``x=1.0,2.0`` are the same runs)."""
    value = _plain(value)
    field_info = Params.model_fields.get(key)
    if field_info is not None and field_info.annotation is float and type(value) is int:
        return float(value)
    return value


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
        shown = [json.dumps(_typed(key, v), sort_keys=True) for v in values]
        if len(set(shown)) < len(shown):
            raise BatchError(f"--grid {key}: a value is repeated ({', '.join(shown)})")
    keys = list(grid)
    combos = itertools.product(*(list(grid[k]) for k in keys))
    return [{k: _typed(k, v) for k, v in zip(keys, combo, strict=True)} for combo in combos]


def sample_points(
    ranges: Mapping[str, tuple[float, float]], n: int, method: str = "lhs", seed: int = 0
) -> list[dict[str, Any]]:
    """``n`` points in the box ``{key: (low, high)}`` by Latin hypercube or scrambled Sobol.

    Reproducible from ``seed`` (scipy.stats.qmc). Integer parameters are drawn over
    ``[low - 0.5, high + 0.5]`` and rounded, so every integer in range is equally likely; each
    range must lie inside the parameter's allowed range. Sobol points are balanced only when
    ``n`` is a power of two, so another ``n`` is refused (Latin hypercube takes any ``n``).
    """
    from scipy.stats import qmc

    if method not in METHODS:
        raise BatchError(f"--method {method!r}: allowed {', '.join(METHODS)}")
    if n < 1:
        raise BatchError(f"--n {n}: must be >= 1")
    if method == "sobol" and n & (n - 1):
        raise BatchError(f"--n {n}: Sobol' sampling needs a power of two (e.g. "
                         f"{1 << (n.bit_length() - 1)} or {1 << n.bit_length()}); "
                         "--method lhs takes any n")
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

    def digest(self) -> str:
        """Short hash of the spec (without ``sources``: a name and its file path are the same
        batch); the CLI's default output folder is named by it."""
        spec = {k: v for k, v in self.to_spec().items() if k not in UNCOMPARED_SPEC_KEYS}
        text = json.dumps(spec, sort_keys=True)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]

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


def _explicit_points(points: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Check a list of parameter points: known keys, the same keys in each point."""
    result = [{k: _typed(k, v) for k, v in dict(point).items()} for point in points]
    keys = list(result[0])
    if not keys:
        raise BatchError("points: the first point sets no parameter")
    for key in keys:
        _check_key(key, "points")
    for i, point in enumerate(result):
        if set(point) != set(keys):
            raise BatchError(f"points: point {i} sets {sorted(point)}, the first sets "
                             f"{sorted(keys)}; every point must set the same parameters")
    return [{k: point[k] for k in keys} for point in result]


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
    points: Sequence[Mapping[str, Any]] | None = None,
) -> BatchPlan:
    """Validate and expand a batch: scenarios x parameter points x seeds (see module docs).

    ``points`` gives the parameter points explicitly instead of a grid or sample (e.g. a
    SALib design): a list of ``{key: value}`` with the same keys in every point.

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
    fixed = {k: _typed(k, v) for k, v in dict(overrides or {}).items()}
    if quarters is not None:
        if "n_quarters" in fixed and fixed["n_quarters"] != quarters:
            raise BatchError("--quarters and --set n_quarters disagree; give one of them")
        fixed["n_quarters"] = int(quarters)
    for key in fixed:
        _check_key(key, "--set")

    designs = [name for name, given in (("--grid", grid), ("--sample", sample),
                                        ("points", points)) if given]
    if len(designs) > 1:
        raise BatchError(f"give one of --grid, --sample or points, not {' and '.join(designs)}")
    if sample is None and n is not None:
        raise BatchError("--n needs --sample (the ranges to sample)")
    if grid:
        point_list = grid_points(grid)
        design: dict[str, Any] = {"method": "grid",
                                  "grid": {k: [_typed(k, v) for v in vs]
                                           for k, vs in grid.items()}}
    elif sample:
        if n is None:
            raise BatchError("--sample needs --n (the number of parameter points)")
        point_list = sample_points(sample, int(n), method, int(sample_seed))
        design = {"method": method, "n": int(n), "sample_seed": int(sample_seed),
                  "sample": {k: [float(lo), float(hi)] for k, (lo, hi) in sample.items()}}
    elif points:
        point_list = _explicit_points(points)
        design = {"method": "points", "n": len(point_list)}
    else:
        point_list, design = [{}], {"method": "none"}
    points = point_list
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
