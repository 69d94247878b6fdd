"""Calibration report: the model's 2023-2026 path next to public figures (issue 4).

The targets (``runs/calibration/targets.csv``: metric, period, low, high, unit, source, note) are
public figures with their sources. This module runs a scenario over many seeds, turns each run
into the statistic that each target measures, and reports the model's median and 10th-90th
percentile across seeds next to the target range, marking the median inside or outside it.

How each target is read from the model (DESIGN §11 item 10 fixes the conventions; the model
table's flows are per quarter in $B, so annual flows are sums of four quarters):

===================================== ==========================================================
target (unit)                         model statistic
===================================== ==========================================================
hyperscaler_capex ($B/yr)             sum of ``big_four_capex_usd_b`` over the calendar year's
                                      four quarters: the four ``big_four`` GPU owners, all capex
                                      (AI plus non-AI), like the filings of Microsoft, Alphabet,
                                      Amazon and Meta. The levered cloud and the other owners
                                      are not in it.
ai_share_of_hyperscaler_capex (frac.) the big four's AI capex (GPUs plus data centres) summed
                                      over the year, over their total capex summed over the year.
nvidia_datacenter_revenue ($B/yr)     ``leader_market_share`` x ``chip_revenue_usd_b`` (the
                                      leading chipmaker gets that share of every order) summed
                                      over NVIDIA's fiscal year, February to January: target
                                      period Y is Feb Y - Jan Y+1 (FY Y+1). Its four fiscal
                                      quarters are each one month later than calendar quarters;
                                      reading a calendar quarter as three equal months, the sum
                                      is 2/3 Q1 + Q2 + Q3 + Q4 of year Y + 1/3 Q1 of year Y+1.
                                      (The calendar year alone covers 11 of the 12 months;
                                      Q2..Q1 of the next year only 10.)
h100_purchase_price ($/unit)          average over the period's quarters of the H100's market
                                      value (``h100_market_price_usd``): the leading
                                      chipmaker's price per H100e of the newest generation x
                                      the H100's expected rent over the newest generation's
                                      (``markets.gpu_market.generation_unit_value_usd``; equal
                                      to ``gpu_price_usd`` while the H100 is the newest).
                                      Not ``gpu_price_usd`` alone: that falls by the
                                      price-performance gain once a new generation ships
                                      (2024Q4). From a plain model table without
                                      ``h100_market_price_usd``, ``gpu_price_usd`` is used for
                                      quarters in which generation 0 is still the newest, and
                                      later periods are not comparable.
h100_rental_price ($/GPU-hour)        average of ``gpu_rental_price_usd_per_hour`` (the H100's
                                      posted rent) over the year's quarters; a quarter target
                                      (2025Q1) reads that quarter.
frontier_training_compute_growth      growth per year of ``frontier_training_flop`` (physical
(x/yr)                                FLOP of the frontier lab's last finished run): geometric
                                      mean over the last year's quarters over that of the first
                                      year's, to the power 1 / (years between them).
frontier_training_run_cost ($M/run)   average over the period's quarters of the frontier run's
                                      rented cost: ``frontier_training_flop`` / (FLOP per
                                      H100e-hour = ``gpu_flop_per_second_h100e`` x
                                      ``model_flops_utilization`` x 3600) x
                                      ``newest_rental_price_usd_per_hour`` (training runs on the
                                      newest GPUs; rent stands for amortised hardware and energy).
                                      The final run only, not the R&D compute around it.
algorithmic_efficiency_halving_time,  parameters (inputs): ``algorithmic_doubling_years`` x 12
gpu_price_performance_doubling_time,  months, ``gpu_price_performance_doubling_years``,
open_model_lag, gpu_accounting_life   ``open_model_lag_quarters`` x 3 months,
                                      ``gpu_accounting_life_years``. In range by construction
                                      when the scenario is; listed so the report is complete.
openai_revenue ($B/yr)                sum over the calendar year's quarters of the revenue of
                                      the closed lab with the highest revenue that quarter.
===================================== ==========================================================

Four of these need a series the model table does not have (:data:`EXTRA_COLUMNS`:
``h100_market_price_usd``, ``leader_chip_revenue_usd_b``, ``big_four_ai_capex_usd_b``,
``largest_closed_lab_revenue_usd_b``). :func:`run_model` steps a model quarter by quarter and
reads them from the model object (:func:`quarter_extras`); a model table that carries a column
of that name is used as it is.

Each run also accumulates the ledger's flows per calendar year (:func:`chain_flows`): who paid
whom how much along the spend chain, with each flow's share of the payer's chain spending and
of the payee's chain receipts.

Plotting uses ``matplotlib.figure.Figure`` with the Agg canvas (no pyplot).
"""

from __future__ import annotations

import contextlib
import csv
import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from bubble_abm.calendar import H100_LAUNCH_QUARTER, quarter_index, quarter_label
from bubble_abm.core.hardware import newest_generation
from bubble_abm.markets.gpu_market import generation_unit_value_usd
from bubble_abm.params import Params
from bubble_abm.scenarios import SCENARIO_DIR, load_scenario

__all__ = [
    "CHAIN_FLOWS",
    "CHAIN_YEARS",
    "DEFAULT_TARGETS",
    "EXTRA_COLUMNS",
    "LEADER_NETWORKING_PER_GPU_DOLLAR",
    "MAPPINGS",
    "REPORT_COLUMNS",
    "CalibrationResult",
    "SeedRun",
    "TargetsError",
    "calibrate",
    "calibration_report",
    "chain_flows",
    "count_in_range",
    "describe_mappings",
    "format_chain_flows",
    "format_report",
    "horizon_quarters",
    "load_targets",
    "model_statistics",
    "parse_period",
    "plot_chain_flows",
    "plot_report",
    "quarter_extras",
    "run_model",
    "run_seeds",
    "summarize_statistics",
    "write_calibration_outputs",
]

#: The shipped targets: public 2023-2026 figures with their sources.
DEFAULT_TARGETS = SCENARIO_DIR / "calibration" / "targets.csv"

REQUIRED_COLUMNS = ("metric", "period", "low", "high", "unit", "source")
OPTIONAL_COLUMNS = ("note",)
REPORT_COLUMNS = ("metric", "period", "low", "high", "unit", "model_median", "model_p10",
                  "model_p90", "in_range", "how", "source", "comment")

#: Per-quarter series read from the model object that the model table does not carry (yet).
EXTRA_COLUMNS = ("h100_market_price_usd", "leader_chip_revenue_usd_b",
                 "big_four_ai_capex_usd_b", "largest_closed_lab_revenue_usd_b")

#: NVIDIA's data-centre revenue is compute (GPUs and systems) plus networking (InfiniBand,
#: Ethernet, NVLink switches): FY2025 $102.2B compute and $13.0B networking of $115.2B (NVIDIA
#: 10-K, FY2025). The model's GPU price covers compute only; the network is inside its owners'
#: data-centre cost (``datacenter_cost_per_gpu_dollar``, paid to the rest of the economy). So the
#: leader's GPU sales are compared with the target after adding networking at FY2025's ratio
#: (13.0 / 102.2 = 0.127 $ per $ of compute; it rose in FY2026, so this is conservative).
LEADER_NETWORKING_PER_GPU_DOLLAR = 13.0 / 102.2

#: Ledger flows that make up the spend chain, in chain order (end customers to foundries).
CHAIN_FLOWS = ("customer_spending", "inhouse_ai_revenue", "api_fees", "funding_round",
               "strategic_stake", "vendor_financing", "bond_issue", "compute_rent", "gpu_sales",
               "datacenter_capex", "chip_production_cost", "chip_capacity_investment")

#: Years of the chain-flow table and chart written by ``bubble-abm calibrate``.
CHAIN_YEARS = (2025, 2026)

_SECTOR_ORDER = ("rest_of_economy", "investors", "apps", "labs", "hyperscalers", "other_owners",
                 "chipmakers")
_SECTOR_LABELS = {
    "rest_of_economy": "rest of economy",
    "investors": "investors",
    "apps": "apps",
    "labs": "labs",
    "hyperscalers": "hyperscalers (big four + levered)",
    "other_owners": "other GPU owners",
    "chipmakers": "chipmakers",
}


class TargetsError(ValueError):
    """A targets file that cannot be read; the message names the file and the line."""


class NotComparableError(Exception):
    """The model cannot produce this target's statistic (the message says why)."""


# --- periods ---------------------------------------------------------------------------------
_YEAR = re.compile(r"^(\d{4})$")
_QUARTER = re.compile(r"^(\d{4})Q([1-4])$")
_SPAN = re.compile(r"^(\d{4})-(\d{4})$")


@dataclass(frozen=True)
class Period:
    """A target period: a calendar year ``2024``, a quarter ``2025Q1`` or a span ``2023-2026``."""

    label: str
    kind: str  # "year", "quarter" or "span"
    first_year: int
    last_year: int
    quarter: int | None = None  # absolute quarter index for kind "quarter"

    @property
    def quarters(self) -> list[int]:
        """Absolute quarter indices covered by the period."""
        if self.kind == "quarter":
            return [int(self.quarter)]
        return list(range(self.first_year * 4, (self.last_year + 1) * 4))


def parse_period(text: str) -> Period:
    """``"2024"``, ``"2025Q1"`` or ``"2023-2026"`` (ValueError otherwise)."""
    label = str(text).strip()
    if match := _YEAR.match(label):
        year = int(match.group(1))
        return Period(label, "year", year, year)
    if _QUARTER.match(label):
        index = quarter_index(label)
        return Period(label, "quarter", index // 4, index // 4, index)
    if match := _SPAN.match(label):
        first, last = int(match.group(1)), int(match.group(2))
        if last <= first:
            raise ValueError(f"period {label!r}: the span must end after it starts")
        return Period(label, "span", first, last)
    raise ValueError(f"period {label!r} is not a year (2024), a quarter (2025Q1) "
                     "or a span of years (2023-2026)")


# --- targets ---------------------------------------------------------------------------------
def load_targets(path: str | Path | None = None) -> pd.DataFrame:
    """Read and check a targets CSV; one row per target, in file order.

    Columns: ``metric, period, low, high, unit, source`` (required) and ``note`` (optional; other
    columns are kept). ``period`` is a year, a quarter (``2025Q1``) or a span (``2023-2026``);
    ``low <= high`` are finite numbers; (metric, period) pairs are unique. Every problem found is
    reported in one :class:`TargetsError`, one line each, naming the file and line.
    """
    path = Path(DEFAULT_TARGETS if path is None else path).expanduser()
    if not path.is_file():
        raise TargetsError(f"targets file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TargetsError(f"{path}: not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise TargetsError(f"{path}: cannot read: {exc.strerror or exc}") from None
    reader = csv.reader(text.splitlines(), strict=True)
    try:
        header = [name.strip() for name in next(reader, [])]
    except csv.Error as exc:
        raise TargetsError(f"{path}: line 1: malformed CSV: {exc}") from None
    if not any(header):
        raise TargetsError(f"{path}: empty file; expected a header line "
                           f"{','.join(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)}")
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        raise TargetsError(
            f"{path}: missing column(s) {', '.join(missing)}; the header must name "
            f"{','.join(REQUIRED_COLUMNS)} (and optionally note), got {','.join(header)}")
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated:
        raise TargetsError(f"{path}: column(s) named twice: {', '.join(duplicated)}")
    rows: list[dict[str, Any]] = []
    errors: list[str] = []
    seen: dict[tuple[str, str], int] = {}
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append(f"{path}: line {reader.line_num}: malformed CSV: {exc}")
            break
        line = reader.line_num
        if not any(field.strip() for field in fields):
            continue  # blank line
        if len(fields) != len(header):
            errors.append(f"{path}: line {line}: expected {len(header)} fields "
                          f"({','.join(header)}), got {len(fields)}")
            continue
        row: dict[str, Any] = {name: value.strip() for name, value in zip(header, fields,
                                                                          strict=True)}
        problems = _check_row(row)
        key = (row["metric"], row["period"])
        if not problems and key in seen:
            problems.append(f"duplicate target {key[0]} {key[1]} (first on line {seen[key]})")
        seen.setdefault(key, line)
        errors.extend(f"{path}: line {line}: {problem}" for problem in problems)
        row["line"] = line
        rows.append(row)
    if errors:
        raise TargetsError("\n".join(errors))
    if not rows:
        raise TargetsError(f"{path}: no targets (only a header line)")
    frame = pd.DataFrame(rows)
    if "note" not in frame.columns:
        frame["note"] = ""
    frame["low"] = frame["low"].astype(float)
    frame["high"] = frame["high"].astype(float)
    columns = [*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS]
    rest = [c for c in frame.columns if c not in columns and c != "line"]
    return frame[[*columns, *rest]].reset_index(drop=True)


def _check_row(row: dict[str, Any]) -> list[str]:
    problems = []
    for name in ("metric", "period", "unit"):
        if not row[name]:
            problems.append(f"`{name}` is empty")
    if row["period"]:
        try:
            parse_period(row["period"])
        except ValueError as exc:
            problems.append(str(exc))
    bounds = {}
    for name in ("low", "high"):
        try:
            value = float(row[name])
        except ValueError:
            problems.append(f"`{name}` is not a number: {row[name]!r}")
            continue
        if not math.isfinite(value):
            problems.append(f"`{name}` must be finite, got {row[name]!r}")
            continue
        bounds[name] = value
    if len(bounds) == 2 and bounds["low"] > bounds["high"]:
        problems.append(f"low ({row['low']}) is above high ({row['high']})")
    return problems


def _as_targets(targets: pd.DataFrame | str | Path | None) -> pd.DataFrame:
    if isinstance(targets, pd.DataFrame):
        missing = [c for c in REQUIRED_COLUMNS if c not in targets.columns]
        if missing:
            raise TargetsError(f"targets table lacks column(s) {', '.join(missing)}")
        frame = targets.copy()
        frame["period"] = frame["period"].astype(str)
        if "note" not in frame.columns:
            frame["note"] = ""
        return frame.reset_index(drop=True)
    return load_targets(targets)


# --- the mapping from targets to model statistics ---------------------------------------------
Statistic = Callable[[pd.DataFrame, Params, Period], float]


@dataclass(frozen=True)
class Mapping:
    """How one target metric is read from a run."""

    metric: str
    unit: str  # the unit the statistic comes in; a target in another unit is not comparable
    how: str  # short label for the report: sum / average / end / growth / parameter
    periods: tuple[str, ...]  # period kinds accepted: "year", "quarter", "span"
    statistic: Statistic
    description: str
    extra_quarters_after: int = 0  # quarters past the period the statistic reads (fiscal year)


def _column(table: pd.DataFrame, column: str) -> pd.Series:
    if column not in table.columns:
        raise NotComparableError(f"needs model column `{column}`")
    return table[column]


def _values(table: pd.DataFrame, column: str, quarters: Sequence[int]) -> np.ndarray:
    """The column's values in the given quarters (table indexed by quarter label)."""
    series = _column(table, column)
    labels = [quarter_label(q) for q in quarters]
    absent = [label for label in labels if label not in series.index]
    if absent:
        span = f"{series.index[0]}-{series.index[-1]}" if len(series) else "no quarters"
        raise NotComparableError(f"the run ({span}) does not cover {absent[0]}")
    return pd.to_numeric(series.loc[labels], errors="coerce").to_numpy(dtype=float)


def _year_sum(column: str, scale: Callable[[Params], float] | None = None) -> Statistic:
    def statistic(table: pd.DataFrame, params: Params, period: Period) -> float:
        factor = scale(params) if scale else 1.0
        return float(_values(table, column, period.quarters).sum()) * factor
    return statistic


def _fiscal_feb_jan_sum(column: str, scale: Callable[[Params], float]) -> Statistic:
    """Feb Y - Jan Y+1 from calendar quarters read as three equal months each."""
    def statistic(table: pd.DataFrame, params: Params, period: Period) -> float:
        quarters = [*period.quarters, period.quarters[-1] + 1]
        weights = np.array([2.0 / 3.0, 1.0, 1.0, 1.0, 1.0 / 3.0])
        return float(weights @ _values(table, column, quarters)) * scale(params)
    return statistic


def _average(column: str) -> Statistic:
    def statistic(table: pd.DataFrame, params: Params, period: Period) -> float:
        return float(np.mean(_values(table, column, period.quarters)))
    return statistic


def _ratio_of_sums(numerator: str, denominator: str) -> Statistic:
    def statistic(table: pd.DataFrame, params: Params, period: Period) -> float:
        top = _values(table, numerator, period.quarters).sum()
        bottom = _values(table, denominator, period.quarters).sum()
        if bottom <= 0.0:
            raise NotComparableError(f"`{denominator}` sums to zero over {period.label}")
        return float(top / bottom)
    return statistic


def _growth_per_year(column: str) -> Statistic:
    def statistic(table: pd.DataFrame, params: Params, period: Period) -> float:
        first = _values(table, column, range(period.first_year * 4, period.first_year * 4 + 4))
        last = _values(table, column, range(period.last_year * 4, period.last_year * 4 + 4))
        if not (np.all(first > 0.0) and np.all(last > 0.0)):
            raise NotComparableError(f"`{column}` is not positive in every quarter")
        ratio = math.exp(np.mean(np.log(last)) - np.mean(np.log(first)))
        return ratio ** (1.0 / (period.last_year - period.first_year))
    return statistic


def _h100_unit_price(table: pd.DataFrame, params: Params, period: Period) -> float:
    if "h100_market_price_usd" in table.columns:
        return float(np.mean(_values(table, "h100_market_price_usd", period.quarters)))
    cadence = params.generation_cadence_quarters
    if any(newest_generation(q, cadence) > 0 for q in period.quarters):
        successor = quarter_label(quarter_index(H100_LAUNCH_QUARTER) + cadence)
        raise NotComparableError(
            "needs model column `h100_market_price_usd`: gpu_price_usd is the price per H100e "
            f"of the newest generation, which is no longer the H100 from {successor}")
    return float(np.mean(_values(table, "gpu_price_usd", period.quarters)))


def _leader_revenue(table: pd.DataFrame, params: Params, period: Period) -> float:
    """The leading chipmaker's data-centre revenue over NVIDIA's fiscal year (see the table
    above): its own GPU sales plus the networking sold with them
    (:data:`LEADER_NETWORKING_PER_GPU_DOLLAR`); from a table without
    ``leader_chip_revenue_usd_b``, its market share of all chip sales."""
    def with_networking(p: Params) -> float:
        return 1.0 + LEADER_NETWORKING_PER_GPU_DOLLAR
    if "leader_chip_revenue_usd_b" in table.columns:
        return _fiscal_feb_jan_sum("leader_chip_revenue_usd_b", with_networking)(
            table, params, period)
    return _fiscal_feb_jan_sum(
        "chip_revenue_usd_b", lambda p: _leader_share(p) * with_networking(p))(
        table, params, period)


def _frontier_run_cost_usd_m(table: pd.DataFrame, params: Params, period: Period) -> float:
    flop = _values(table, "frontier_training_flop", period.quarters)
    rent = _values(table, "newest_rental_price_usd_per_hour", period.quarters)
    flop_per_hour = params.gpu_flop_per_second_h100e * params.model_flops_utilization * 3600.0
    return float(np.mean(flop / flop_per_hour * rent)) / 1e6


def _parameter(name: str, factor: float = 1.0) -> Statistic:
    def statistic(table: pd.DataFrame, params: Params, period: Period) -> float:
        return float(getattr(params, name)) * factor
    return statistic


def _leader_share(params: Params) -> float:
    return float(params.leader_market_share)


_PARAMETER_HOW = "parameter (input)"
_ANY_PERIOD = ("year", "quarter", "span")

MAPPINGS: dict[str, Mapping] = {m.metric: m for m in (
    Mapping("hyperscaler_capex", "usd_b_per_year", "sum of 4 quarters (calendar year)",
            ("year",), _year_sum("big_four_capex_usd_b"),
            "big_four_capex_usd_b summed over Q1-Q4: the four big_four owners, all capex "
            "(AI + non-AI); the levered cloud and other owners are excluded"),
    Mapping("ai_share_of_hyperscaler_capex", "fraction", "ratio of 4-quarter sums",
            ("year",), _ratio_of_sums("big_four_ai_capex_usd_b", "big_four_capex_usd_b"),
            "big four AI capex (GPUs + data centres) over big four total capex, each summed "
            "over Q1-Q4"),
    Mapping("nvidia_datacenter_revenue", "usd_b_per_year",
            "sum of 4 quarters (fiscal Feb-Jan: 2/3 Q1 + Q2..Q4 + 1/3 next Q1)",
            ("year",), _leader_revenue,
            "leading chipmaker's GPU sales (leader_chip_revenue_usd_b) x (1 + networking 0.127) "
            "over Feb Y - Jan Y+1",
            extra_quarters_after=1),
    Mapping("h100_purchase_price", "usd_per_unit", "average of the period's quarters",
            ("year", "quarter"), _h100_unit_price,
            "H100 market price = newest price per H100e x H100's expected rent / newest's "
            "(h100_market_price_usd), averaged"),
    Mapping("h100_rental_price", "usd_per_gpu_hour", "average of the period's quarters",
            ("year", "quarter"), _average("gpu_rental_price_usd_per_hour"),
            "gpu_rental_price_usd_per_hour (generation 0 = H100), averaged"),
    Mapping("frontier_training_compute_growth", "x_per_year",
            "growth: last year's over first year's average, per year", ("span",),
            _growth_per_year("frontier_training_flop"),
            "geometric mean of frontier_training_flop over the last year's quarters over the "
            "first year's, ^(1/years)"),
    Mapping("frontier_training_run_cost", "usd_m_per_run", "average of the period's quarters",
            ("year", "quarter"), _frontier_run_cost_usd_m,
            "frontier_training_flop / (gpu_flop_per_second_h100e x model_flops_utilization x "
            "3600) x newest_rental_price_usd_per_hour, averaged, in $M"),
    Mapping("algorithmic_efficiency_halving_time", "months", _PARAMETER_HOW, _ANY_PERIOD,
            _parameter("algorithmic_doubling_years", 12.0),
            "algorithmic_doubling_years x 12 (an input)"),
    Mapping("gpu_price_performance_doubling_time", "years", _PARAMETER_HOW, _ANY_PERIOD,
            _parameter("gpu_price_performance_doubling_years"),
            "gpu_price_performance_doubling_years (an input)"),
    Mapping("open_model_lag", "months", _PARAMETER_HOW, _ANY_PERIOD,
            _parameter("open_model_lag_quarters", 3.0),
            "open_model_lag_quarters x 3 (an input)"),
    Mapping("gpu_accounting_life", "years", _PARAMETER_HOW, _ANY_PERIOD,
            _parameter("gpu_accounting_life_years"), "gpu_accounting_life_years (an input)"),
    Mapping("openai_revenue", "usd_b_per_year", "sum of 4 quarters (calendar year)",
            ("year",), _year_sum("largest_closed_lab_revenue_usd_b"),
            "revenue of the closed lab with the highest revenue each quarter, summed over Q1-Q4"),
)}


def describe_mappings() -> pd.DataFrame:
    """One row per known target metric: unit, how it is compared, the model statistic."""
    return pd.DataFrame([{"metric": m.metric, "unit": m.unit, "how": m.how,
                          "statistic": m.description} for m in MAPPINGS.values()])


def _evaluate(mapping: Mapping | None, table: pd.DataFrame, params: Params,
              target: pd.Series) -> float:
    if mapping is None:
        raise NotComparableError(f"no mapping for metric `{target['metric']}`; known: "
                            + ", ".join(MAPPINGS))
    if str(target["unit"]) != mapping.unit:
        raise NotComparableError(f"unit `{target['unit']}` not supported; the model gives "
                            f"`{mapping.unit}`")
    try:
        period = parse_period(str(target["period"]))
    except ValueError as exc:
        raise NotComparableError(str(exc)) from None
    if period.kind not in mapping.periods:
        raise NotComparableError(f"period {period.label} not supported (use a "
                            + " or a ".join(mapping.periods) + ")")
    return mapping.statistic(table, params, period)


# --- statistics over seeds ----------------------------------------------------------------------
def _by_quarter(table: pd.DataFrame, extras: pd.DataFrame | None) -> pd.DataFrame:
    """The table indexed by quarter label, with extra columns it does not already have."""
    if "quarter" not in table.columns:
        raise ValueError("model table has no `quarter` column")
    frame = table.copy()
    if extras is not None and len(extras):
        new = [c for c in extras.columns if c != "quarter" and c not in frame.columns]
        if new:
            frame = frame.merge(extras[["quarter", *new]], on="quarter", how="left")
    return frame.set_index(frame["quarter"].astype(str))


def model_statistics(
    model_tables: Sequence[pd.DataFrame],
    params: Params,
    extras: Sequence[pd.DataFrame | None] | None = None,
    *,
    targets: pd.DataFrame | str | Path | None = None,
    seeds: Sequence[int] | None = None,
) -> pd.DataFrame:
    """The model statistic of every target in every run: one row per target x seed.

    ``model_tables`` are per-quarter model tables (one per seed; a ``quarter`` column is
    needed), ``extras`` optional per-quarter tables of series read from the model object
    (:func:`quarter_extras`; a column of the same name in the model table wins). ``targets``
    is a table from :func:`load_targets` or a path (default: the shipped targets). Columns:
    metric, period, seed, value (NaN when not comparable), how, comment (why not comparable).
    """
    frame = _as_targets(targets)
    tables = list(model_tables)
    extra_list = list(extras) if extras is not None else [None] * len(tables)
    if len(extra_list) != len(tables):
        raise ValueError(f"{len(extra_list)} extras for {len(tables)} model tables")
    labels = list(seeds) if seeds is not None else list(range(len(tables)))
    if len(labels) != len(tables):
        raise ValueError(f"{len(labels)} seeds for {len(tables)} model tables")
    rows = []
    for seed, table, extra in zip(labels, tables, extra_list, strict=True):
        indexed = _by_quarter(table, extra)
        for _, target in frame.iterrows():
            mapping = MAPPINGS.get(str(target["metric"]))
            try:
                value, comment = _evaluate(mapping, indexed, params, target), ""
                if not math.isfinite(value):
                    value, comment = math.nan, "statistic is not finite"
            except NotComparableError as exc:
                value, comment = math.nan, str(exc)
            rows.append({"metric": target["metric"], "period": str(target["period"]),
                         "seed": seed, "value": value,
                         "how": mapping.how if mapping else "", "comment": comment})
    return pd.DataFrame(rows, columns=["metric", "period", "seed", "value", "how", "comment"])


def summarize_statistics(statistics: pd.DataFrame,
                         targets: pd.DataFrame | str | Path | None = None) -> pd.DataFrame:
    """Median and 10th-90th percentile across seeds next to each target (see REPORT_COLUMNS).

    ``in_range`` is True when the median lies in [low, high], False when not, and NA when the
    target is not comparable (``comment`` says why).
    """
    frame = _as_targets(targets)
    rows = []
    grouped = {key: group for key, group in statistics.groupby(["metric", "period"], sort=False)}
    for _, target in frame.iterrows():
        key = (target["metric"], str(target["period"]))
        group = grouped.get(key)
        values = (group["value"].to_numpy(dtype=float) if group is not None
                  else np.array([], dtype=float))
        finite = values[np.isfinite(values)]
        comment = "no statistic computed" if group is None else ""
        reasons = [c for c in group["comment"] if c] if group is not None else []
        if reasons and finite.size:
            comment = f"{values.size - finite.size} of {values.size} seeds: {reasons[0]}"
        elif reasons:
            comment = reasons[0]
        if finite.size:
            p10, median, p90 = np.percentile(finite, [10.0, 50.0, 90.0])
            in_range: Any = bool(target["low"] <= median <= target["high"])
        else:
            p10 = median = p90 = math.nan
            in_range = pd.NA
        mapping = MAPPINGS.get(str(target["metric"]))
        rows.append({
            "metric": target["metric"], "period": str(target["period"]),
            "low": float(target["low"]), "high": float(target["high"]), "unit": target["unit"],
            "model_median": float(median), "model_p10": float(p10), "model_p90": float(p90),
            "in_range": in_range, "how": mapping.how if mapping else "",
            "source": target["source"], "comment": comment,
        })
    report = pd.DataFrame(rows, columns=list(REPORT_COLUMNS))
    report["in_range"] = report["in_range"].astype("boolean")
    return report


# --- running the model ----------------------------------------------------------------------------
def quarter_extras(model) -> dict[str, Any]:
    """Series for the targets that the model table does not carry, read after a quarter.

    - ``h100_market_price_usd``: what one H100 (generation 0) is worth:
      :func:`~bubble_abm.markets.gpu_market.generation_unit_value_usd`, the leading chipmaker's
      price per H100e of the newest generation times the H100's expected rent over the newest
      generation's (equal to ``gpu_price_usd`` while the H100 is the newest generation);
    - ``leader_chip_revenue_usd_b``: the leading chipmaker's own GPU sales;
    - ``big_four_ai_capex_usd_b``: the big four's GPU and data-centre capex;
    - ``largest_closed_lab_revenue_usd_b``: revenue of the live closed lab with the most.
    """
    leader = model.chipmakers[0]
    closed = [lab.revenue_usd_b for lab in model.labs if not lab.is_open and lab.alive]
    return {
        "quarter": model.quarter_label,
        "h100_market_price_usd": generation_unit_value_usd(
            leader.price_usd_per_h100e, model.expected_rents_usd_per_hour, 0),
        "leader_chip_revenue_usd_b": float(leader.revenue_usd_b),
        "big_four_ai_capex_usd_b": float(sum(o.ai_capex_usd_b for o in model.gpu_owners
                                             if o.kind == "big_four")),
        "largest_closed_lab_revenue_usd_b": float(max(closed, default=0.0)),
    }


def run_model(model, n_quarters: int | None = None,
              on_quarter: Callable[[], None] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run ``model`` quarter by quarter; return (model table with :data:`EXTRA_COLUMNS`, flows).

    ``flows`` holds the ledger's flows summed per calendar year (see :func:`chain_flows`).
    ``on_quarter`` is called after every quarter (e.g. a progress bar).
    """
    quarters = model.params.n_quarters if n_quarters is None else int(n_quarters)
    extras = []
    totals: dict[tuple[int, str, str, str], float] = defaultdict(float)
    quarters_in_year: dict[int, int] = defaultdict(int)
    for _ in range(quarters):
        model.run_for(1)
        extras.append(quarter_extras(model))
        year = model.quarter // 4
        quarters_in_year[year] += 1
        for (flow, payer, payee), amount in model.ledger.flows_this_quarter().items():
            totals[(year, flow, payer, payee)] += amount
        if on_quarter is not None:
            on_quarter()
        if not getattr(model, "running", True):
            break
    table = model.model_table()
    extra = pd.DataFrame(extras)
    if len(extra):
        new = [c for c in extra.columns if c != "quarter" and c not in table.columns]
        table = table.merge(extra[["quarter", *new]], on="quarter", how="left")
    return table, _flows_frame(totals, quarters_in_year)


def _flows_frame(totals: dict[tuple[int, str, str, str], float],
                 quarters_in_year: dict[int, int]) -> pd.DataFrame:
    columns = ["year", "quarters", "flow", "payer", "payee", "usd_b", "chain",
               "share_of_payer_chain_spending", "share_of_payee_chain_receipts"]
    rows = [{"year": year, "quarters": quarters_in_year[year], "flow": flow, "payer": payer,
             "payee": payee, "usd_b": amount}
            for (year, flow, payer, payee), amount in totals.items() if amount != 0.0]
    if not rows:
        return pd.DataFrame(columns=columns)
    frame = pd.DataFrame(rows)
    frame["chain"] = frame["flow"].isin(CHAIN_FLOWS)
    chain = frame[frame["chain"]]
    spent = chain.groupby(["year", "payer"])["usd_b"].sum()
    received = chain.groupby(["year", "payee"])["usd_b"].sum()
    frame["share_of_payer_chain_spending"] = [
        amount / spent[(year, payer)] if is_chain else math.nan
        for year, payer, amount, is_chain in zip(frame["year"], frame["payer"], frame["usd_b"],
                                                 frame["chain"], strict=True)]
    frame["share_of_payee_chain_receipts"] = [
        amount / received[(year, payee)] if is_chain else math.nan
        for year, payee, amount, is_chain in zip(frame["year"], frame["payee"], frame["usd_b"],
                                                 frame["chain"], strict=True)]
    order = {name: i for i, name in enumerate(CHAIN_FLOWS)}
    frame["_flow_order"] = frame["flow"].map(order).fillna(len(order))
    sector = {name: i for i, name in enumerate(_SECTOR_ORDER)}
    frame["_payer_order"] = frame["payer"].map(sector).fillna(len(sector))
    frame = frame.sort_values(["year", "chain", "_flow_order", "flow", "_payer_order", "payee"],
                              ascending=[True, False, True, True, True, True], kind="stable")
    return frame[columns].reset_index(drop=True)


def chain_flows(model, n_quarters: int | None = None,
                years: Iterable[int] | None = None) -> pd.DataFrame:
    """Step ``model`` for ``n_quarters`` (default its ``n_quarters``) and sum the ledger's flows
    (``model.ledger.flows_this_quarter()`` after each quarter) per calendar year.

    One row per (year, flow, payer sector, payee sector): ``usd_b`` summed over the year's
    quarters in the run (``quarters`` says how many), ``chain`` (a link of the spend chain,
    :data:`CHAIN_FLOWS`) and, for chain flows, the flow's share of everything the payer spent
    along the chain that year and of everything the payee received along it.
    """
    _, flows = run_model(model, n_quarters)
    if years is not None:
        flows = flows[flows["year"].isin(list(years))].reset_index(drop=True)
    return flows


@dataclass
class SeedRun:
    """One seed's run: model table (with :data:`EXTRA_COLUMNS`) and yearly ledger flows."""

    seed: int
    table: pd.DataFrame
    flows: pd.DataFrame


def _run_seed(job: tuple[str, dict[str, Any], int, int]) -> SeedRun:
    """Worker: load the scenario, run one seed (top level, so a process pool can pickle it)."""
    from bubble_abm.model import BubbleModel

    scenario, overrides, seed, n_quarters = job
    params = load_scenario(scenario, overrides)
    table, flows = run_model(BubbleModel(params, rng=seed, record_agents=False), n_quarters)
    return SeedRun(seed, table, flows)


def _seed_list(seeds: int | Iterable[int]) -> list[int]:
    if isinstance(seeds, int | np.integer):
        if seeds < 1:
            raise ValueError(f"seeds must be >= 1, got {seeds}")
        return list(range(1, int(seeds) + 1))
    values = [int(s) for s in seeds]
    if not values:
        raise ValueError("no seeds")
    return values


def horizon_quarters(targets: pd.DataFrame, params: Params,
                     through_year: int | None = None) -> int:
    """Quarters to run so every target's period (and the calendar year ``through_year``, if
    given) is covered, at most the scenario's horizon.

    The model never looks ahead, so stopping at the last quarter any target reads gives the
    same 2023-2026 path as the full run, faster.
    """
    start = quarter_index(params.start_quarter)
    last = start if through_year is None else max(start, through_year * 4 + 3)
    for _, target in targets.iterrows():
        mapping = MAPPINGS.get(str(target["metric"]))
        if mapping is None or mapping.how == _PARAMETER_HOW:
            continue
        try:
            period = parse_period(str(target["period"]))
        except ValueError:
            continue
        last = max(last, period.quarters[-1] + mapping.extra_quarters_after)
    return int(min(max(last - start + 1, 1), params.n_quarters))


def run_seeds(
    scenario: str | Path = "baseline",
    seeds: int | Iterable[int] = 20,
    overrides: dict[str, Any] | None = None,
    n_quarters: int | None = None,
    processes: int = 1,
    progress: Callable[[], None] | None = None,
    executor: Any = None,
) -> list[SeedRun]:
    """Run a scenario once per seed (``seeds``: a count N for seeds 1..N, or the seeds).

    ``processes`` > 1 uses a process pool (spawned workers); ``executor``, if given (one of
    :func:`bubble_abm.batch.make_executor`'s, already entered), is used instead: e.g. one pool
    kept open across the many evaluations of ``bubble-abm fit``.
    ``progress`` is called once per finished seed. Runs come back in seed order.
    """
    from bubble_abm.batch import make_executor

    seed_list = _seed_list(seeds)
    params = load_scenario(scenario, overrides)  # validate here, before any worker starts
    quarters = params.n_quarters if n_quarters is None else int(n_quarters)
    jobs = [(str(scenario), dict(overrides or {}), seed, quarters) for seed in seed_list]
    by_seed: dict[int, SeedRun] = {}
    with contextlib.ExitStack() as stack:
        if executor is None:
            executor = stack.enter_context(
                make_executor(processes=max(1, min(int(processes), len(jobs)))))
        for _job, run in executor.imap_unordered(_run_seed, jobs):
            by_seed[run.seed] = run
            if progress is not None:
                progress()
    return [by_seed[seed] for seed in seed_list]


@dataclass
class CalibrationResult:
    """Everything ``bubble-abm calibrate`` writes: the report, per-seed statistics, the runs."""

    report: pd.DataFrame
    statistics: pd.DataFrame
    runs: list[SeedRun]
    params: Params
    targets: pd.DataFrame


def calibrate(
    scenario: str | Path = "baseline",
    seeds: int | Iterable[int] = 20,
    targets: pd.DataFrame | str | Path | None = None,
    overrides: dict[str, Any] | None = None,
    processes: int = 1,
    progress: Callable[[], None] | None = None,
    chain_years: Iterable[int] = CHAIN_YEARS,
) -> CalibrationResult:
    """Run the scenario over the seeds and compare every target (see :func:`calibration_report`).

    Each seed runs until the last quarter a target reads or the end of the last of
    ``chain_years``, whichever is later (within the scenario's horizon).
    """
    frame = _as_targets(targets)
    params = load_scenario(scenario, overrides)
    years = list(chain_years)
    horizon = horizon_quarters(frame, params, max(years) if years else None)
    runs = run_seeds(scenario, seeds, overrides, horizon, processes, progress)
    statistics = model_statistics([run.table for run in runs], params, targets=frame,
                                  seeds=[run.seed for run in runs])
    return CalibrationResult(summarize_statistics(statistics, frame), statistics, runs, params,
                             frame)


def calibration_report(
    scenario: str | Path = "baseline",
    seeds: int | Iterable[int] = 20,
    targets: pd.DataFrame | str | Path | None = None,
    overrides: dict[str, Any] | None = None,
    processes: int = 1,
    progress: Callable[[], None] | None = None,
) -> pd.DataFrame:
    """Model vs target for every target: the scenario run over ``seeds`` (N means 1..N).

    ``overrides`` change parameters after the scenario file (e.g. smaller populations
    ``{"n_app_companies": 40, "n_investors": 40}``). Columns: :data:`REPORT_COLUMNS`.
    """
    return calibrate(scenario, seeds, targets, overrides, processes, progress).report


# --- text --------------------------------------------------------------------------------------
def _num(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    value = float(value)
    return f"{value:,.0f}" if abs(value) >= 100.0 else f"{value:.3g}"


def _in_range_text(value: Any) -> str:
    if value is pd.NA or value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return "yes" if bool(value) else "NO"


def count_in_range(report: pd.DataFrame) -> tuple[int, int]:
    """(targets whose median is in range, all targets); not comparable counts as not in range."""
    flags = report["in_range"].astype("boolean")
    return int(flags.fillna(False).sum()), len(report)


def format_report(report: pd.DataFrame, title: str | None = None) -> str:
    """The report as a text table, then the not-comparable reasons, then ``N/M targets in range``.

    M counts every target, so a target the model cannot produce counts as a miss.
    """
    header = ("metric", "period", "target", "unit", "model median [p10, p90]", "in range", "how")
    table = [header]
    for _, row in report.iterrows():
        model = (f"{_num(row['model_median'])} [{_num(row['model_p10'])}, "
                 f"{_num(row['model_p90'])}]" if pd.notna(row["model_median"]) else "-")
        table.append((str(row["metric"]), str(row["period"]),
                      f"{_num(row['low'])}-{_num(row['high'])}", str(row["unit"]), model,
                      _in_range_text(row["in_range"]), str(row["how"])))
    widths = [max(len(r[i]) for r in table) for i in range(len(header) - 1)]
    lines = [title] if title else []
    for i, row in enumerate(table):
        cells = [f"{cell:<{w}}" for cell, w in zip(row[:-1], widths, strict=True)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths) + "  " + "-" * len(header[-1]))
    notes = [(r["metric"], r["period"], r["comment"]) for _, r in report.iterrows()
             if r["comment"]]
    if notes:
        lines.append("")
        lines.append("notes:")
        lines.extend(f"  {metric} {period}: {comment}" for metric, period, comment in notes)
    inside, total = count_in_range(report)
    lines.append("")
    lines.append(f"{inside}/{total} targets in range")
    return "\n".join(lines)


def format_chain_flows(flows: pd.DataFrame, years: Iterable[int] | None = None) -> str:
    """Chain flows per year: payer -> payee, flow, $B, shares of payer spending / payee receipts."""
    chain = flows[flows["chain"].astype(bool)]
    if years is not None:
        chain = chain[chain["year"].isin(list(years))]
    lines = []
    for year, group in chain.groupby("year", sort=True):
        quarters = int(group["quarters"].iloc[0])
        suffix = "" if quarters == 4 else f" ({quarters} quarters)"
        lines.append(f"{year}{suffix}: who paid whom along the spend chain ($B; share of the "
                     "payer's chain spending / of the payee's chain receipts)")
        width = max(len(f"{p} -> {q}") for p, q in zip(group["payer"], group["payee"],
                                                          strict=True))
        flow_width = max(len(f) for f in group["flow"])
        for _, row in group.iterrows():
            pair = f"{row['payer']} -> {row['payee']}"
            lines.append(f"  {pair:<{width}}  {row['flow']:<{flow_width}}  "
                         f"{row['usd_b']:>9,.1f}  {row['share_of_payer_chain_spending']:>4.0%} / "
                         f"{row['share_of_payee_chain_receipts']:>4.0%}")
    return "\n".join(lines) if lines else "(no chain flows in the years asked for)"


# --- charts ------------------------------------------------------------------------------------
_IN = "#2e7d32"
_OUT = "#c62828"
_NA = "#9e9e9e"


def plot_report(report: pd.DataFrame, path: str | Path, title: str | None = None) -> Path:
    """One small panel per target: the target range as a band, the model's 10-90% interval as
    a bar and its median as a point (green inside the range, red outside, grey n/a)."""
    path = Path(path)
    n = max(len(report), 1)
    fig = Figure(figsize=(9.0, 0.62 * n + 1.0), dpi=110)
    FigureCanvasAgg(fig)
    axes = fig.subplots(n, 1, squeeze=False)[:, 0]
    for ax, (_, row) in zip(axes, report.iterrows(), strict=False):
        low, high = float(row["low"]), float(row["high"])
        median, p10, p90 = (float(row[c]) for c in ("model_median", "model_p10", "model_p90"))
        ax.axvspan(low, high, color="#90caf9", alpha=0.6, lw=0)
        flag = row["in_range"]
        color = _NA if flag is pd.NA or pd.isna(flag) else (_IN if bool(flag) else _OUT)
        points = [low, high]
        if math.isfinite(median):
            ax.plot([p10, p90], [0.0, 0.0], color=color, lw=3, solid_capstyle="butt")
            ax.plot([median], [0.0], "o", color=color, ms=6, mec="white", mew=0.8)
            points += [p10, p90, median]
        else:
            ax.text(0.99, 0.5, "not comparable", transform=ax.transAxes, ha="right",
                    va="center", fontsize=7, color=_NA)
        lo, hi = min(points), max(points)
        pad = 0.08 * (hi - lo) if hi > lo else max(abs(hi), 1.0) * 0.1
        ax.set_xlim(lo - pad, hi + pad)
        ax.set_ylim(-1.0, 1.0)
        ax.set_yticks([])
        ax.tick_params(axis="x", labelsize=7, pad=1)
        for side in ("top", "right", "left"):
            ax.spines[side].set_visible(False)
        ax.set_ylabel(f"{row['metric']}\n{row['period']} ({row['unit']})", rotation=0,
                      ha="right", va="center", fontsize=7)
    inside, total = count_in_range(report)
    fig.suptitle(f"{title + ': ' if title else ''}{inside}/{total} targets in range "
                 "(band: target; bar: model p10-p90; dot: median)", fontsize=9)
    fig.subplots_adjust(left=0.32, right=0.98, top=1.0 - 0.45 / (0.62 * n + 1.0),
                        bottom=0.35 / (0.62 * n + 1.0), hspace=1.1)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


def plot_chain_flows(flows: pd.DataFrame, path: str | Path,
                     years: Iterable[int] | None = None, title: str | None = None) -> Path:
    """Stacked bars, one panel per year: what each sector received along the spend chain, by
    payer and flow ($B), with each segment's share of the bar."""
    path = Path(path)
    chain = flows[flows["chain"].astype(bool)]
    if years is not None:
        chain = chain[chain["year"].isin(list(years))]
    year_list = sorted(chain["year"].unique()) or [None]
    payees = [s for s in (*_SECTOR_ORDER[2:], "rest_of_economy") if s in set(chain["payee"])]
    segments = list(dict.fromkeys(zip(chain["flow"], chain["payer"], strict=True)))
    cmap = matplotlib.colormaps["tab20"]
    colors = {seg: cmap(i % 20) for i, seg in enumerate(segments)}
    fig = Figure(figsize=(6.0 * len(year_list) + 1.0, 7.5), dpi=110)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(year_list), squeeze=False, sharey=True)[0]
    labels = [("suppliers, builders\n(rest of economy)" if p == "rest_of_economy"
               else _SECTOR_LABELS.get(p, p).replace(" (", "\n(")) for p in payees]
    for ax, year in zip(axes, year_list, strict=True):
        data = chain[chain["year"] == year] if year is not None else chain
        bottoms = np.zeros(len(payees))
        for seg in segments:
            flow, payer = seg
            part = data[(data["flow"] == flow) & (data["payer"] == payer)]
            heights = np.array([part.loc[part["payee"] == p, "usd_b"].sum() for p in payees])
            if not heights.any():
                continue
            source = ("end customers (rest of economy)" if payer == "rest_of_economy"
                      and flow in ("customer_spending", "inhouse_ai_revenue")
                      else _SECTOR_LABELS.get(payer, payer))
            ax.bar(range(len(payees)), heights, bottom=bottoms, color=colors[seg],
                   label=f"{flow} from {source}", width=0.7)
            totals = np.array([data.loc[data["payee"] == p, "usd_b"].sum() for p in payees])
            for x, (h, b, t) in enumerate(zip(heights, bottoms, totals, strict=True)):
                if t > 0 and h / t >= 0.08:
                    ax.text(x, b + h / 2, f"{h / t:.0%}", ha="center", va="center", fontsize=7)
            bottoms += heights
        ax.set_xticks(range(len(payees)), labels, fontsize=7)
        ax.set_title(f"{year}: received along the chain" if year is not None else "",
                     fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("$B per year")
    handles, names = [], []
    for ax in axes:
        for handle, name in zip(*ax.get_legend_handles_labels(), strict=True):
            if name not in names:
                handles.append(handle)
                names.append(name)
    fig.legend(handles, names, loc="lower center", ncol=3, fontsize=7, frameon=False)
    fig.suptitle(title or "Who paid whom along the spend chain (first seed)", fontsize=10)
    fig.subplots_adjust(left=0.07, right=0.99, bottom=0.27, top=0.91, wspace=0.06)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


def write_calibration_outputs(result: CalibrationResult, out_dir: str | Path,
                              title: str | None = None,
                              years: Iterable[int] = CHAIN_YEARS) -> dict[str, Path]:
    """calibration.csv, calibration_by_seed.csv, calibration.png, chain_flows.csv/.png (first
    seed) in ``out_dir``; returns the paths by file name."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / name for name in ("calibration.csv", "calibration_by_seed.csv",
                                           "calibration.png", "chain_flows.csv",
                                           "chain_flows.png")}
    result.report.to_csv(paths["calibration.csv"], index=False)
    result.statistics.to_csv(paths["calibration_by_seed.csv"], index=False)
    plot_report(result.report, paths["calibration.png"], title=title)
    first = result.runs[0]
    flows = first.flows[first.flows["year"].isin(list(years))].reset_index(drop=True)
    flows.insert(0, "seed", first.seed)
    flows.to_csv(paths["chain_flows.csv"], index=False)
    plot_chain_flows(flows, paths["chain_flows.png"], years=years,
                     title=f"Who paid whom along the spend chain (seed {first.seed})")
    return paths
