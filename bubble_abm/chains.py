"""The spend chain and the collapse chain, as dated events (DESIGN §8), read off a model table.

Pure pandas/numpy: every function takes a run's per-quarter *model table* (one row per quarter,
``step`` as a column or the index, a ``quarter`` label like ``"2026Q3"``, flows in $B per
quarter) and never touches the model itself, so it works just as well on a table read back from
``model_table.parquet``.

- :func:`detect_events` names each link of the chains and the quarter it happened in: one row
  per event at the first quarter of the first *sustained spell* of its condition (the condition
  holds for ``sustain_quarters`` consecutive quarters; the spell is dated by its first quarter).
- :func:`summarize_chain` turns those events into the chain summary: spend chain seen (and when),
  the collapse links around the capex peak in time order with their lags, whether they came in
  the order of DESIGN §1, and the verdict of DESIGN §8 (bust, soft landing, no turn, not yet
  decided) with the links that decided it.
- :func:`format_chain` renders the summary as a short text block (CLI and ``summary.txt``).

Every threshold is a field of :class:`ChainThresholds` with a documented default;
:data:`EVENT_DEFINITIONS` and :data:`VERDICT_DEFINITIONS` hold the one-line definitions that the
README and ``bubble-abm events`` print. An event whose input columns are missing from the table
is simply not detected (listed as ``events_unavailable`` in the summary).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "COLLAPSE_ORDER",
    "CORE_BUST_LINKS",
    "EVENT_COLUMNS",
    "EVENT_DEFINITIONS",
    "EVENT_LABELS",
    "EVENT_NOTES",
    "SECTORS",
    "SPEND_CHAIN",
    "SPEND_CHAIN_OPTIONAL",
    "VERDICTS",
    "VERDICT_DEFINITIONS",
    "ChainThresholds",
    "detect_and_summarize",
    "detect_events",
    "format_chain",
    "model_table_view",
    "summarize_chain",
    "unavailable_events",
]

_QUARTER = re.compile(r"^(\d{4})Q([1-4])$")
_YEAR = 4  # quarters per year: every "trailing" window and year-on-year change is 4 quarters


# --- thresholds -------------------------------------------------------------------------------
@dataclass(frozen=True)
class ChainThresholds:
    """Every threshold and persistence of the event detector, with its default.

    Fractions are plain numbers (0.2 = 20%). "Trailing 4-quarter" means the sum (flows) or mean
    over the quarter in question and the three before it; "running peak" is the highest value
    so far in the run (including the quarter in question).
    """

    #: A condition must hold this many consecutive quarters to count; the event is dated by the
    #: first quarter of that spell (``defaults`` needs one quarter).
    sustain_quarters: int = 2
    #: Down events measured from a running peak or minimum are not evaluated in the first
    #: quarters of a run, while the peak is being established.
    warmup_quarters: int = 4
    #: Up events on flows (capex, GPU orders, chip revenue, lab funding): trailing 4-quarter
    #: sum up more than this fraction on the same sum a year earlier.
    rising_flow_growth_per_year: float = 0.20
    #: ``equity_rising``: equity index up more than this fraction on a year earlier.
    rising_equity_growth_per_year: float = 0.10
    #: ``capability_gain_per_dollar_falls``: frontier logit gain over 4 quarters per $B of lab
    #: training spend in those quarters below this fraction of its running peak.
    capability_gain_per_dollar_fraction_of_peak: float = 0.5
    #: ``frontier_open_gap_narrows``: trailing 4-quarter mean of the frontier-open logit gap
    #: below this fraction of its running peak.
    gap_fraction_of_peak: float = 0.5
    #: ``lab_margin_falls``: labs' trailing 4-quarter serving margin more than this (absolute,
    #: in margin points: 0.25 = 25 points) below its running peak.
    lab_margin_drop_from_peak: float = 0.25
    #: ``funding_drought`` reads funding raised and requested summed over this many quarters
    #: (a half-year: a drought is a shortfall that lasts, but it is dated when it starts).
    funding_window_quarters: int = 2
    #: ``funding_drought``, first test: funding raised over the window below this share of
    #: funding requested, and below the same window's a year earlier, ...
    funding_raised_share_of_requested: float = 0.5
    #: ... while requests are material: requests over the window at least this, $B per year.
    funding_requested_material_usd_b_per_year: float = 1.0
    #: ``funding_drought``, second test: funding raised over the window below this fraction
    #: of its running peak.
    funding_raised_fraction_of_peak: float = 0.5
    #: ``utilization_falls``: fleet utilization more than this fraction below its running peak
    #: (0.2: a fleet run full in the boom is below the ~80% a cloud normally runs at).
    utilization_fall_from_peak: float = 0.20
    #: ``rental_price_falls``: rents more than this fraction below their highest in the
    #: previous ``rental_peak_window_quarters`` quarters (rents relative to trend,
    #: ``rent_cycle_index``, when the table has it; else the H100 and newest-generation rents).
    rental_price_fall_from_recent_peak: float = 0.30
    rental_peak_window_quarters: int = 4
    #: ``rental_price_falls`` on ``rent_cycle_index`` (rents relative to their generation's
    #: trend, 1 at normal utilization): the fall must also take the index below this level
    #: (1: below the rent that pays for a GPU at normal utilization, a glut; a fall from a
    #: shortage premium down to trend is the boom easing, not the collapse).
    rent_cycle_floor: float = 1.0
    #: ``stranded_assets_rise``: stranded GPU assets above this share of GPU fleet book value.
    stranded_share_of_book: float = 0.15
    #: ``capex_cut``: trailing 4-quarter AI capex more than this fraction below its running peak.
    capex_cut_from_peak: float = 0.20
    #: ``chip_orders_fall``: trailing 4-quarter GPU orders (H100e) more than this fraction below
    #: their running peak.
    chip_orders_fall_from_peak: float = 0.30
    #: ``equity_drawdown``: equity index drawdown from its running peak above this fraction.
    equity_drawdown_from_peak: float = 0.25
    #: Sector drawdown events: a listed sector's market value this fraction below its running
    #: peak.
    sector_drawdown_from_peak: float = 0.40
    #: ``credit_spread_widens``: credit spread more than this (absolute, fraction per year:
    #: 0.01 = 100 basis points) above its running minimum.
    credit_spread_widening_above_min: float = 0.01
    #: Verdicts: the collapse links must be in force within this many quarters of the capex
    #: peak (before or after; a ``capex_cut`` after it), and a run needs this many quarters
    #: after its peak to be decided.
    bust_window_quarters: int = 12
    #: ``no_turn``: trailing 4-quarter capex at the end still within this fraction of its peak,
    #: and the peak less than ``bust_window_quarters`` before the end.
    no_turn_capex_within_of_peak: float = 0.05
    #: Spend chain: its four links must have fired by this quarter (inclusive).
    spend_chain_end_quarter: str = "2026Q4"
    #: Bust: DESIGN §8 asks for falling rents *and* utilization; False accepts either.
    bust_requires_rent_and_utilization: bool = True
    #: Bust and ordering: the equity link is the index drawdown or any listed sector's drawdown
    #: (False: the index only).
    equity_link_includes_sectors: bool = True

    def __post_init__(self) -> None:
        problems: list[str] = []
        for f in fields(self):
            value = getattr(self, f.name)
            rule = _THRESHOLD_RULES[f.name]
            message = rule(value)
            if message:
                problems.append(f"{f.name}: {message}, got {value!r}")
        if problems:
            raise ValueError("invalid chain thresholds: " + "; ".join(problems))


def _int_range(low: int, high: int) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            return f"must be an integer in [{low}, {high}]"
        return "" if low <= value <= high else f"must be in [{low}, {high}]"

    return check


def _float_range(low: float, high: float, open_low: bool = True) -> Callable[[Any], str]:
    bracket = "(" if open_low else "["

    def check(value: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, int | float | np.number):
            return f"must be a number in {bracket}{low:g}, {high:g}]"
        v = float(value)
        ok = math.isfinite(v) and (v > low if open_low else v >= low) and v <= high
        return "" if ok else f"must be in {bracket}{low:g}, {high:g}]"

    return check


def _quarter_rule(value: Any) -> str:
    if isinstance(value, str) and _QUARTER.match(value):
        return ""
    return "must be a calendar quarter like '2026Q4'"


def _bool_rule(value: Any) -> str:
    return "" if isinstance(value, bool) else "must be True or False"


_THRESHOLD_RULES: dict[str, Callable[[Any], str]] = {
    "sustain_quarters": _int_range(1, 40),
    "warmup_quarters": _int_range(0, 40),
    "rising_flow_growth_per_year": _float_range(0.0, 10.0),
    "rising_equity_growth_per_year": _float_range(0.0, 10.0),
    "capability_gain_per_dollar_fraction_of_peak": _float_range(0.0, 1.0),
    "gap_fraction_of_peak": _float_range(0.0, 1.0),
    "lab_margin_drop_from_peak": _float_range(0.0, 10.0),
    "funding_window_quarters": _int_range(1, 40),
    "funding_raised_share_of_requested": _float_range(0.0, 1.0),
    "funding_requested_material_usd_b_per_year": _float_range(0.0, 1e6, open_low=False),
    "funding_raised_fraction_of_peak": _float_range(0.0, 1.0),
    "utilization_fall_from_peak": _float_range(0.0, 1.0),
    "rental_price_fall_from_recent_peak": _float_range(0.0, 1.0),
    "rental_peak_window_quarters": _int_range(1, 40),
    "rent_cycle_floor": _float_range(0.0, 10.0),
    "stranded_share_of_book": _float_range(0.0, 10.0),
    "capex_cut_from_peak": _float_range(0.0, 1.0),
    "chip_orders_fall_from_peak": _float_range(0.0, 1.0),
    "equity_drawdown_from_peak": _float_range(0.0, 1.0),
    "sector_drawdown_from_peak": _float_range(0.0, 1.0),
    "credit_spread_widening_above_min": _float_range(0.0, 1.0),
    "bust_window_quarters": _int_range(1, 400),
    "no_turn_capex_within_of_peak": _float_range(0.0, 1.0, open_low=False),
    "spend_chain_end_quarter": _quarter_rule,
    "bust_requires_rent_and_utilization": _bool_rule,
    "equity_link_includes_sectors": _bool_rule,
}


# --- names, chains, definitions ------------------------------------------------------------------
#: Listed sectors with an equity drawdown event: sector -> model-table column of its market value.
#: ``levered``: the Oracle-like cloud carrying debt; ``other_owner``: neoclouds, sovereign and
#: enterprise GPU buyers (DESIGN §11 items 13, 19).
SECTORS: dict[str, str] = {
    "chipmaker": "chipmaker_equity_usd_b",
    "big_four": "big_four_equity_usd_b",
    "levered": "levered_equity_usd_b",
    "other_owner": "other_owner_equity_usd_b",
}
_SECTOR_EVENTS = tuple(f"{s}_equity_drawdown" for s in SECTORS)
_SECTOR_NAMES = {
    "chipmaker": "chipmakers",
    "big_four": "the big four hyperscalers",
    "levered": "the levered (Oracle-like) cloud",
    "other_owner": "other GPU owners (neoclouds, sovereign, enterprise)",
}

#: Spend-chain links that must all fire by ``spend_chain_end_quarter`` (DESIGN §1, issue 3).
SPEND_CHAIN: tuple[str, ...] = (
    "capex_rising",
    "gpu_orders_rising",
    "chip_revenue_rising",
    "equity_rising",
)
#: Reported with the spend chain but not required for it.
SPEND_CHAIN_OPTIONAL: tuple[str, ...] = ("lab_funding_rising",)

#: The collapse chain in the order of DESIGN §1, as stages; links in one stage are parallel
#: (their relative order is not checked). The last stage is the equity link: the index drawdown
#: or, with ``equity_link_includes_sectors``, a listed sector's drawdown. ``credit_spread_widens``
#: and ``defaults`` are optional tail links (reported, ordered last, not needed for a bust).
COLLAPSE_ORDER: tuple[tuple[str, ...], ...] = (
    ("capability_gain_per_dollar_falls",),
    ("frontier_open_gap_narrows",),
    ("lab_margin_falls",),
    ("funding_drought",),
    ("utilization_falls", "rental_price_falls"),
    ("stranded_assets_rise",),
    ("capex_cut",),
    ("chip_orders_fall",),
    ("equity_drawdown", *_SECTOR_EVENTS),
    ("credit_spread_widens", "defaults"),
)
_STAGE: dict[str, int] = {name: i for i, stage in enumerate(COLLAPSE_ORDER) for name in stage}

#: The links whose order is checked: the issue's chain, capability gains per dollar slow ->
#: gap narrows -> lab margins fall -> funding dries up -> utilization and rents fall ->
#: stranded assets rise -> capex cut -> chip orders fall -> equity drawdown, where the equity
#: link is the index or the chipmakers (the chain's own sector). Other sectors' drawdowns,
#: credit spreads and defaults are reported with their quarters but not ordered: a levered
#: neocloud can fail before the big four cut capex (DESIGN §11 item 19).
ORDER_CHECKED: frozenset[str] = frozenset(
    name for stage in COLLAPSE_ORDER[:-2] for name in stage
) | {"equity_drawdown", "chipmaker_equity_drawdown"}

#: The links a bust needs (DESIGN §8), each a group of events any of which satisfies it.
CORE_BUST_LINKS: tuple[str, ...] = (
    "capex_cut",
    "stranded_assets_rise",
    "utilization_falls",
    "rental_price_falls",
    "funding_drought",
    "equity_drawdown",
)

VERDICTS: tuple[str, ...] = ("bust", "soft_landing", "no_turn", "not_yet_decided")

EVENT_COLUMNS: tuple[str, ...] = (
    "event",
    "quarter",
    "step",
    "value",
    "threshold",
    "direction",
    "end_quarter",
    "end_step",
)

#: Short labels for chart annotations.
EVENT_LABELS: dict[str, str] = {
    "capex_rising": "capex up",
    "gpu_orders_rising": "orders up",
    "chip_revenue_rising": "chip rev up",
    "equity_rising": "equity up",
    "lab_funding_rising": "lab funding up",
    "capability_gain_per_dollar_falls": "gain/$ falls",
    "frontier_open_gap_narrows": "gap narrows",
    "lab_margin_falls": "lab margin falls",
    "funding_drought": "funding drought",
    "utilization_falls": "utilization falls",
    "rental_price_falls": "rent falls",
    "stranded_assets_rise": "stranded",
    "capex_cut": "capex cut",
    "chip_orders_fall": "orders fall",
    "equity_drawdown": "index drawdown",
    "chipmaker_equity_drawdown": "chipmakers fall",
    "big_four_equity_drawdown": "big four fall",
    "levered_equity_drawdown": "levered fall",
    "other_owner_equity_drawdown": "other owners fall",
    "credit_spread_widens": "spread widens",
    "defaults": "default",
}


def _pct(x: float) -> str:
    return f"{100.0 * x:g}%"


def _definitions(t: ChainThresholds) -> dict[str, str]:
    s = t.sustain_quarters
    sus = f"for {s} quarter{'s' if s != 1 else ''}"
    fw = f"{t.funding_window_quarters} quarter{'s' if t.funding_window_quarters != 1 else ''}"
    flow = _pct(t.rising_flow_growth_per_year)
    defs = {
        "capex_rising": f"trailing 4-quarter AI capex (ai_capex_usd_b) up more than {flow} on "
        f"a year earlier [rising_flow_growth_per_year], {sus}. value: growth.",
        "gpu_orders_rising": f"trailing 4-quarter GPU orders (gpu_orders_h100e) up more than "
        f"{flow} on a year earlier [rising_flow_growth_per_year], {sus}. value: growth.",
        "chip_revenue_rising": f"trailing 4-quarter chipmaker revenue (chip_revenue_usd_b) up "
        f"more than {flow} on a year earlier [rising_flow_growth_per_year], {sus}. "
        "value: growth.",
        "equity_rising": f"equity index up more than {_pct(t.rising_equity_growth_per_year)} "
        f"on 4 quarters earlier [rising_equity_growth_per_year], {sus}. value: growth.",
        "lab_funding_rising": "trailing 4-quarter lab funding raised (lab_funding_raised_usd_b: "
        f"rounds plus strategic stakes) up more than {flow} on a year earlier, or up from zero "
        f"[rising_flow_growth_per_year], {sus}. value: growth (inf from zero).",
        "capability_gain_per_dollar_falls": "frontier logit gain over 4 quarters per $B of lab "
        "training spend in those 4 quarters below "
        f"{_pct(t.capability_gain_per_dollar_fraction_of_peak)} of its running peak "
        f"[capability_gain_per_dollar_fraction_of_peak], {sus}. value: ratio to peak.",
        "frontier_open_gap_narrows": "trailing 4-quarter mean of the frontier-open logit gap "
        f"(capability_gap) below {_pct(t.gap_fraction_of_peak)} of its running peak "
        f"[gap_fraction_of_peak], {sus}. value: ratio to peak.",
        "lab_margin_falls": "trailing 4-quarter mean of the closed labs' pricing margin over "
        "serving cost (frontier_pricing_margin) — or, if the table lacks it, labs' trailing "
        "4-quarter serving margin, (lab revenue - inference compute spend) / lab revenue — more "
        f"than {t.lab_margin_drop_from_peak:g} below its running peak "
        f"[lab_margin_drop_from_peak], {sus}. The price-premium margin of DESIGN §1: the "
        "all-in lab_margin (after training) falls in every boom as training scales. value: drop.",
        "funding_drought": f"lab funding raised (lab_funding_raised_usd_b) summed over "
        f"{fw} [funding_window_quarters] below {_pct(t.funding_raised_share_of_requested)} of "
        "funding requested over the same quarters while requests exceed "
        f"${t.funding_requested_material_usd_b_per_year:g}B/yr and the amount raised is below "
        "the same quarters' a year earlier [funding_raised_share_of_requested, "
        "funding_requested_material_usd_b_per_year], or below "
        f"{_pct(t.funding_raised_fraction_of_peak)} of its running peak "
        f"[funding_raised_fraction_of_peak], {sus}. Rationing alone is not a drought: labs "
        "ask for more than they get all through a boom. value: raised/requested (or "
        "raised/peak).",
        "utilization_falls": "GPU fleet utilization (utilization) more than "
        f"{_pct(t.utilization_fall_from_peak)} below its running peak "
        f"[utilization_fall_from_peak], {sus}: a fleet run full in the boom falls below the "
        "~80% a cloud normally runs at. value: fall.",
        "rental_price_falls": "rents relative to their trend — the capacity-weighted ratio of "
        "each generation's rent to its cost-based trend (rent_cycle_index), the cyclical part "
        "of rents of DESIGN §11 item 4 — more than "
        f"{_pct(t.rental_price_fall_from_recent_peak)} below their highest in the previous "
        f"{t.rental_peak_window_quarters} quarters and below {t.rent_cycle_floor:g} "
        "(below the rent that pays for a GPU at normal utilization: a glut, not a shortage "
        "premium easing) [rental_price_fall_from_recent_peak, rental_peak_window_quarters, "
        f"rent_cycle_floor], {sus}. Without that column: the H100 rent "
        "(gpu_rental_price_usd_per_hour) and the newest generation's rent "
        "(newest_rental_price_usd_per_hour, if in the table) both that far below their "
        "recent highs. A recent peak, not the running one: a fall is a move, and rents fall "
        "structurally with hardware deflation; both raw series, because the newest one jumps "
        "at each generation launch. value: the (smaller) fall.",
        "stranded_assets_rise": "stranded GPU assets (idle book beyond normal slack, judged "
        "on each generation's expected utilization as impairment is, plus book written off "
        f"as impaired) above {_pct(t.stranded_share_of_book)} of the "
        "fleet's gross book value (book plus written off; column stranded_share_of_fleet) "
        f"[stranded_share_of_book], {sus}. value: share.",
        "capex_cut": "trailing 4-quarter AI capex (ai_capex_usd_b) more than "
        f"{_pct(t.capex_cut_from_peak)} below its running peak [capex_cut_from_peak], {sus}. "
        "value: fall.",
        "chip_orders_fall": "trailing 4-quarter GPU orders (gpu_orders_h100e) more than "
        f"{_pct(t.chip_orders_fall_from_peak)} below their running peak "
        f"[chip_orders_fall_from_peak], {sus}. value: fall.",
        "equity_drawdown": "equity index drawdown from its running peak (equity_drawdown) above "
        f"{_pct(t.equity_drawdown_from_peak)} [equity_drawdown_from_peak], {sus}. "
        "value: drawdown.",
        "credit_spread_widens": "GPU owners' debt-weighted credit spread (credit_spread) more "
        f"than {t.credit_spread_widening_above_min * 1e4:g} basis points above its running "
        f"minimum [credit_spread_widening_above_min], {sus}. value: widening.",
        "defaults": "cumulative defaults (defaults) increase; one quarter is enough. "
        "value: defaults so far.",
    }
    for sector, column in SECTORS.items():
        defs[f"{sector}_equity_drawdown"] = (
            f"listed equity of {_SECTOR_NAMES[sector]} ({column}) more than "
            f"{_pct(t.sector_drawdown_from_peak)} below its running peak "
            f"[sector_drawdown_from_peak], {sus}. value: drawdown."
        )
    return defs


#: One-line definition of every event at the default thresholds (README, ``bubble-abm events``).
#: Field names of :class:`ChainThresholds` are in brackets.
EVENT_DEFINITIONS: dict[str, str] = _definitions(ChainThresholds())


def _event_notes(t: ChainThresholds) -> str:
    s = t.sustain_quarters
    return (
        f"Every event is dated by the first quarter of a spell in which its condition holds "
        f"for {s} consecutive quarter{'s' if s != 1 else ''} [sustain_quarters]. 'Trailing "
        "4-quarter' is the sum (flows) or mean over the quarter and the three before it; a "
        "'running peak' is the highest value so far. Collapse events other than defaults are "
        f"not evaluated in the first {t.warmup_quarters} quarters of a run [warmup_quarters]. "
        "Up events form the spend chain, down events the collapse chain."
    )


#: What every definition assumes (printed before them).
EVENT_NOTES: str = _event_notes(ChainThresholds())


def _verdict_definitions(t: ChainThresholds) -> dict[str, str]:
    w = t.bust_window_quarters
    rent_util = "and" if t.bust_requires_rent_and_utilization else "or"
    return {
        "bust": f"capex_cut within {w} quarters after the capex peak (the global peak of "
        f"trailing 4-quarter AI capex), with stranded_assets_rise, rental_price_falls "
        f"{rent_util} utilization_falls, funding_drought and an equity drawdown (the index or a "
        f"listed sector) all in force within {w} quarters of the peak [bust_window_quarters].",
        "soft_landing": f"no bust, and the peak is at least {w} quarters before the end: "
        "capex fell or plateaued; the summary says which bust links were missing and whether "
        "the fleet stayed busy.",
        "no_turn": f"no bust, and capex is still within "
        f"{_pct(t.no_turn_capex_within_of_peak)} of a peak less than {w} quarters old at the "
        "end [no_turn_capex_within_of_peak]: capex kept rising through the horizon.",
        "not_yet_decided": f"no bust, capex has turned, but fewer than {w} quarters remain "
        "after the peak: lengthen the horizon.",
    }


#: One-line definition of every verdict at the default thresholds.
VERDICT_DEFINITIONS: dict[str, str] = _verdict_definitions(ChainThresholds())


# --- series helpers -----------------------------------------------------------------------------
def normalise_model_table(model_table: pd.DataFrame) -> pd.DataFrame:
    """Copy with ``step`` as a column, sorted by step, on a RangeIndex."""
    df = model_table.copy()
    if "step" not in df.columns:
        if "step" in (df.index.names or []):
            df = df.reset_index()
        else:
            df = df.reset_index(drop=True)
            df.insert(0, "step", np.arange(1, len(df) + 1))
    return df.sort_values("step", kind="stable").reset_index(drop=True)


def model_table_view(model_table: pd.DataFrame) -> pd.DataFrame:
    """The table itself when it already has ``step`` as a sorted column (read-only use), else
    :func:`normalise_model_table`: a model's own table is read without a copy."""
    if "step" in model_table.columns:
        steps = model_table["step"].to_numpy()
        if steps.dtype.kind in "iu" and (len(steps) < 2 or bool((steps[1:] >= steps[:-1]).all())):
            return model_table
    return normalise_model_table(model_table)


def _labels(df: pd.DataFrame) -> list[str]:
    if "quarter" in df.columns:
        return [str(q) for q in df["quarter"].tolist()]
    return [str(s) for s in df["step"].tolist()]


def _quarter_number(label: str) -> int | None:
    m = _QUARTER.match(label)
    return int(m.group(1)) * 4 + int(m.group(2)) - 1 if m else None


class _Run:
    """A run's model table as float arrays, each column read once (the detectors' input)."""

    def __init__(self, model_table: pd.DataFrame) -> None:
        self.frame = model_table_view(model_table)
        self.n = len(self.frame)
        self.columns = frozenset(self.frame.columns.tolist())
        self.steps = self.frame["step"].to_numpy()
        self.labels = _labels(self.frame)
        self._arrays: dict[tuple[str, str], np.ndarray] = {}

    def col(self, name: str) -> np.ndarray:
        """Column ``name`` as float64 (non-numbers become NaN). Callers must not modify it."""
        key = ("col", name)
        if key not in self._arrays:
            values = self.frame[name].to_numpy()
            if values.dtype.kind in "fiub":
                values = values.astype(float)
            else:
                values = pd.to_numeric(self.frame[name], errors="coerce").astype(float).to_numpy()
            self._arrays[key] = values
        return self._arrays[key]

    def trailing_sum(self, name: str, window: int = _YEAR) -> np.ndarray:
        key = (f"sum{window}", name)
        if key not in self._arrays:
            self._arrays[key] = _rolling(self.col(name), mean=False, window=window)
        return self._arrays[key]

    def trailing_mean(self, name: str) -> np.ndarray:
        key = ("mean", name)
        if key not in self._arrays:
            self._arrays[key] = _rolling(self.col(name), mean=True)
        return self._arrays[key]

    def warm(self, t: ChainThresholds) -> np.ndarray:
        return np.arange(self.n) >= t.warmup_quarters


def _rolling(x: np.ndarray, mean: bool, window: int = _YEAR) -> np.ndarray:
    """Trailing ``window``-quarter sum or mean (NaN until ``window`` values are in it).

    The arithmetic of pandas' ``rolling(window, min_periods=window).sum()`` / ``.mean()``
    (a running sum with Kahan compensation, NaNs skipped, equal values summed exactly), so the
    events are the same to the last bit as when the detector ran on pandas Series.
    """
    values = x.tolist()
    out = [math.nan] * len(values)
    total = comp_add = comp_remove = 0.0
    nobs = same = negative = 0
    prev = values[0] if values else math.nan
    for i, v in enumerate(values):
        if i >= window:
            old = values[i - window]
            if old == old:
                nobs -= 1
                y = -old - comp_remove
                s = total + y
                comp_remove = s - total - y
                total = s
                if mean:
                    negative -= math.copysign(1.0, old) < 0
        if v == v:
            nobs += 1
            y = v - comp_add
            s = total + y
            comp_add = s - total - y
            total = s
            same = same + 1 if v == prev else 1
            prev = v
            if mean:
                negative += math.copysign(1.0, v) < 0
        if nobs >= window:
            if not mean:
                out[i] = prev * nobs if same >= nobs else total
            elif same >= nobs:
                out[i] = prev
            else:
                r = total / nobs
                if (negative == 0 and r < 0) or (negative == nobs and r > 0):
                    r = 0.0
                out[i] = r
    return np.array(out, dtype=float)


def _shift(x: np.ndarray, lag: int) -> np.ndarray:
    """``x`` moved ``lag`` quarters later (NaN in the first ``lag``)."""
    out = np.full(len(x), np.nan)
    if lag < len(x):
        out[lag:] = x[: len(x) - lag]
    return out


def _positive(x: np.ndarray) -> np.ndarray:
    """``x`` where positive, NaN elsewhere (a denominator)."""
    return np.where(x > 0.0, x, np.nan)


def _running(x: np.ndarray, peak: bool = True) -> np.ndarray:
    """Running maximum (or minimum) skipping NaNs; NaN where ``x`` is NaN."""
    missing = np.isnan(x)
    if peak:
        out = np.maximum.accumulate(np.where(missing, -np.inf, x))
    else:
        out = np.minimum.accumulate(np.where(missing, np.inf, x))
    out[missing] = np.nan
    return out


def _growth(s: np.ndarray, lag: int = _YEAR) -> np.ndarray:
    """``s / s[lag quarters earlier] - 1``; from a zero or negative base: +inf if now positive,
    else NaN."""
    prev = _shift(s, lag)
    out = s / prev - 1.0
    gone = prev <= 0.0
    out[gone] = np.where(s[gone] > 0.0, np.inf, np.nan)
    return out


def _ratio_to_running_peak(s: np.ndarray) -> np.ndarray:
    """``s / running max of s`` (NaN where the running peak is not positive)."""
    return s / _positive(_running(s))


# Each detector returns (value, condition, threshold) with value/condition per quarter.
Detector = Callable[[_Run, ChainThresholds], tuple[np.ndarray, np.ndarray, Any]]


def _rising_flow(column: str) -> Detector:
    def detect(run: _Run, t: ChainThresholds):
        g = _growth(run.trailing_sum(column))
        return g, g > t.rising_flow_growth_per_year, t.rising_flow_growth_per_year

    return detect


def _equity_rising(run: _Run, t: ChainThresholds):
    g = _growth(run.col("equity_index"))
    th = t.rising_equity_growth_per_year
    return g, g > th, th


def _gain_per_dollar(run: _Run, t: ChainThresholds):
    logit = run.col("frontier_logit")
    gain = logit - _shift(logit, _YEAR)
    per_dollar = gain / _positive(run.trailing_sum("lab_training_spend_usd_b"))
    ratio = _ratio_to_running_peak(per_dollar)
    th = t.capability_gain_per_dollar_fraction_of_peak
    return ratio, (ratio < th) & run.warm(t), th


def _gap_narrows(run: _Run, t: ChainThresholds):
    ratio = _ratio_to_running_peak(run.trailing_mean("capability_gap"))
    th = t.gap_fraction_of_peak
    return ratio, (ratio < th) & run.warm(t), th


def _lab_margin(run: _Run, t: ChainThresholds):
    if "frontier_pricing_margin" in run.columns:
        margin = run.trailing_mean("frontier_pricing_margin")
    else:
        revenue = run.trailing_sum("lab_revenue_usd_b")
        serving = run.trailing_sum("lab_inference_spend_usd_b")
        margin = (revenue - serving) / _positive(revenue)
    drop = _running(margin) - margin
    th = t.lab_margin_drop_from_peak
    return drop, (drop > th) & run.warm(t), th


def _funding_drought(run: _Run, t: ChainThresholds):
    w = t.funding_window_quarters
    raised = run.trailing_sum("lab_funding_raised_usd_b", w)
    requested = run.trailing_sum("lab_funding_requested_usd_b", w)
    material = requested * (_YEAR / w) >= max(t.funding_requested_material_usd_b_per_year, 1e-12)
    share = raised / np.where(material, requested, np.nan)
    shrinking = raised < _shift(raised, _YEAR)
    of_peak = _ratio_to_running_peak(raised)
    # the first test: rationed while the flow shrinks; the second: the flow has dried up
    rationed = (share < t.funding_raised_share_of_requested) & shrinking
    dried = of_peak < t.funding_raised_fraction_of_peak
    value = np.where(rationed, share, of_peak)  # the measure of the test that fired (first if both)
    threshold = np.where(
        rationed, t.funding_raised_share_of_requested, t.funding_raised_fraction_of_peak
    )
    return value, (rationed | dried) & run.warm(t), threshold


def _utilization(run: _Run, t: ChainThresholds):
    fall = 1.0 - _ratio_to_running_peak(run.col("utilization"))
    th = t.utilization_fall_from_peak
    return fall, (fall > th) & run.warm(t), th


def _recent_max(x: np.ndarray, window: int) -> np.ndarray:
    """Highest of ``x`` over the ``window`` quarters before each one (NaNs skipped)."""
    padded = np.concatenate([np.full(window, np.nan), x[:-1] if len(x) else x])
    return np.fmax.reduce(np.lib.stride_tricks.sliding_window_view(padded, window), axis=1)


def _rent_falls(run: _Run, t: ChainThresholds):
    """The fall of rents relative to trend (rent_cycle_index) from their recent peak, or else
    the smaller of the H100 and newest-generation rent falls from their recent peaks."""
    columns = ("gpu_rental_price_usd_per_hour", "newest_rental_price_usd_per_hour")
    if "rent_cycle_index" in run.columns:
        index = run.col("rent_cycle_index")
        fall = 1.0 - index / _positive(_recent_max(index, t.rental_peak_window_quarters))
        th = t.rental_price_fall_from_recent_peak
        below = index < t.rent_cycle_floor
        return fall, (fall > th) & below & run.warm(t), th
    fall = None
    for column in columns:
        if column in run.columns:
            rent = run.col(column)
            this = 1.0 - rent / _positive(_recent_max(rent, t.rental_peak_window_quarters))
            fall = this if fall is None else np.minimum(fall, this)
    th = t.rental_price_fall_from_recent_peak
    return fall, (fall > th) & run.warm(t), th


def _stranded(run: _Run, t: ChainThresholds):
    share = run.col("stranded_share_of_fleet")
    return share, (share > t.stranded_share_of_book) & run.warm(t), t.stranded_share_of_book


def _fall_from_peak(column: str, field: str) -> Detector:
    def detect(run: _Run, t: ChainThresholds):
        fall = 1.0 - _ratio_to_running_peak(run.trailing_sum(column))
        th = getattr(t, field)
        return fall, (fall > th) & run.warm(t), th

    return detect


def _equity_drawdown(run: _Run, t: ChainThresholds):
    dd = run.col("equity_drawdown")
    return dd, (dd > t.equity_drawdown_from_peak) & run.warm(t), t.equity_drawdown_from_peak


def _sector_drawdown(column: str) -> Detector:
    def detect(run: _Run, t: ChainThresholds):
        dd = 1.0 - _ratio_to_running_peak(run.col(column))
        return dd, (dd > t.sector_drawdown_from_peak) & run.warm(t), t.sector_drawdown_from_peak

    return detect


def _spread_widens(run: _Run, t: ChainThresholds):
    spread = run.col("credit_spread")
    widening = spread - _running(spread, peak=False)
    th = t.credit_spread_widening_above_min
    return widening, (widening > th) & run.warm(t), th


def _defaults(run: _Run, t: ChainThresholds):
    d = run.col("defaults")
    new = d - _shift(d, 1)
    new = np.where(np.isnan(new), d, new)
    return d, new > 0.0, 0.0


# name -> (direction, required columns, detector, needs sustain)
_DETECTORS: dict[str, tuple[str, tuple[str, ...], Detector, bool]] = {
    "capex_rising": ("up", ("ai_capex_usd_b",), _rising_flow("ai_capex_usd_b"), True),
    "gpu_orders_rising": ("up", ("gpu_orders_h100e",), _rising_flow("gpu_orders_h100e"), True),
    "chip_revenue_rising": (
        "up",
        ("chip_revenue_usd_b",),
        _rising_flow("chip_revenue_usd_b"),
        True,
    ),
    "equity_rising": ("up", ("equity_index",), _equity_rising, True),
    "lab_funding_rising": (
        "up",
        ("lab_funding_raised_usd_b",),
        _rising_flow("lab_funding_raised_usd_b"),
        True,
    ),
    "capability_gain_per_dollar_falls": (
        "down",
        ("frontier_logit", "lab_training_spend_usd_b"),
        _gain_per_dollar,
        True,
    ),
    "frontier_open_gap_narrows": ("down", ("capability_gap",), _gap_narrows, True),
    "lab_margin_falls": (
        "down",
        ("lab_revenue_usd_b", "lab_inference_spend_usd_b"),
        _lab_margin,
        True,
    ),
    "funding_drought": (
        "down",
        ("lab_funding_raised_usd_b", "lab_funding_requested_usd_b"),
        _funding_drought,
        True,
    ),
    "utilization_falls": ("down", ("utilization",), _utilization, True),
    "rental_price_falls": ("down", ("gpu_rental_price_usd_per_hour",), _rent_falls, True),
    "stranded_assets_rise": (
        "down",
        ("stranded_share_of_fleet",),
        _stranded,
        True,
    ),
    "capex_cut": (
        "down",
        ("ai_capex_usd_b",),
        _fall_from_peak("ai_capex_usd_b", "capex_cut_from_peak"),
        True,
    ),
    "chip_orders_fall": (
        "down",
        ("gpu_orders_h100e",),
        _fall_from_peak("gpu_orders_h100e", "chip_orders_fall_from_peak"),
        True,
    ),
    "equity_drawdown": ("down", ("equity_drawdown",), _equity_drawdown, True),
    **{
        f"{sector}_equity_drawdown": ("down", (column,), _sector_drawdown(column), True)
        for sector, column in SECTORS.items()
    },
    "credit_spread_widens": ("down", ("credit_spread",), _spread_widens, True),
    "defaults": ("down", ("defaults",), _defaults, False),
}
if not set(_DETECTORS) == set(EVENT_DEFINITIONS) == set(EVENT_LABELS):  # pragma: no cover
    raise RuntimeError("chains: every event needs a detector, a definition and a label")


def _spells(condition: np.ndarray, sustain: int) -> list[tuple[int, int]]:
    """(first, last) row positions of each run of True at least ``sustain`` long."""
    out: list[tuple[int, int]] = []
    start = None
    for i, c in enumerate([*condition.tolist(), False]):
        if c and start is None:
            start = i
        elif not c and start is not None:
            if i - start >= sustain:
                out.append((start, i - 1))
            start = None
    return out


def _empty_events() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "event": pd.Series(dtype=object),
            "quarter": pd.Series(dtype=object),
            "step": pd.Series(dtype="int64"),
            "value": pd.Series(dtype="float64"),
            "threshold": pd.Series(dtype="float64"),
            "direction": pd.Series(dtype=object),
            "end_quarter": pd.Series(dtype=object),
            "end_step": pd.Series(dtype="int64"),
        }
    )


#: One detected spell: (event, first row, last row, value, threshold), in detector order.
_Spell = tuple[str, int, int, float, float]


def _detect(run: _Run, t: ChainThresholds, all_spells: bool) -> list[_Spell]:
    """Every sustained spell of every event (the first only, unless ``all_spells``), sorted
    by the step it starts in, then in chain order."""
    found: list[tuple[int, int, _Spell]] = []
    if run.n == 0:
        return []
    with np.errstate(divide="ignore", invalid="ignore"):
        for order, (name, (_, columns, detector, sustained)) in enumerate(_DETECTORS.items()):
            if not run.columns.issuperset(columns):
                continue
            value, condition, threshold = detector(run, t)
            spells = _spells(np.asarray(condition, dtype=bool), t.sustain_quarters if sustained
                             else 1)
            for first, last in spells if all_spells else spells[:1]:
                th = threshold[first] if isinstance(threshold, np.ndarray) else threshold
                spell = (name, first, last, float(value[first]), float(th))
                found.append((int(run.steps[first]), order, spell))
    found.sort(key=lambda item: item[:2])
    return [spell for _, _, spell in found]


def _events_frame(spells: list[_Spell], run: _Run) -> pd.DataFrame:
    """The events table (:data:`EVENT_COLUMNS`) of a list of spells, built in one go."""
    if not spells:
        return _empty_events()
    names, firsts, lasts, values, thresholds = zip(*spells, strict=True)
    labels, steps = run.labels, run.steps
    return pd.DataFrame(
        {
            "event": list(names),
            "quarter": [labels[i] for i in firsts],
            "step": np.array([steps[i] for i in firsts], dtype="int64"),
            "value": np.array(values, dtype=float),
            "threshold": np.array(thresholds, dtype=float),
            "direction": [_DETECTORS[name][0] for name in names],
            "end_quarter": [labels[i] for i in lasts],
            "end_step": np.array([steps[i] for i in lasts], dtype="int64"),
        }
    )


def detect_events(
    model_table: pd.DataFrame,
    thresholds: ChainThresholds | None = None,
    all_spells: bool = False,
) -> pd.DataFrame:
    """Events of one run: one row per event, at the first quarter of its first sustained spell.

    Columns: ``event``, ``quarter`` and ``step`` (the first quarter of the spell), ``value``
    (the measure at that quarter, in the units of its threshold; see :data:`EVENT_DEFINITIONS`),
    ``threshold``, ``direction`` (``"up"`` for spend-chain events, ``"down"`` for collapse
    events), and ``end_quarter``/``end_step`` (the spell's last quarter; the table's last quarter
    if it is still in force). Rows are sorted by step, then in chain order. With
    ``all_spells=True`` every sustained spell of every event is a row (an event can start,
    stop and start again); :func:`summarize_chain` uses that form. Events whose input columns
    are missing from the table are skipped.
    """
    t = thresholds if thresholds is not None else ChainThresholds()
    run = _Run(model_table)
    return _events_frame(_detect(run, t, all_spells), run)


def unavailable_events(model_table: pd.DataFrame) -> list[str]:
    """Events that cannot be detected because the table lacks one of their columns."""
    cols = set(model_table_view(model_table).columns)
    return [n for n, (_, need, _, _) in _DETECTORS.items() if not set(need) <= cols]


# --- chain summary ------------------------------------------------------------------------------
def _capex_peak(run: _Run) -> tuple[int | None, np.ndarray]:
    """(row of the global peak of trailing 4-quarter AI capex, that series)."""
    if "ai_capex_usd_b" not in run.columns:
        return None, np.full(run.n, np.nan)
    trailing = run.trailing_sum("ai_capex_usd_b")
    if not np.isfinite(trailing).any():
        return None, trailing
    return int(np.nanargmax(trailing)), trailing


def _spell_rows(events: pd.DataFrame, run: _Run) -> dict[str, list[tuple[int, int]]]:
    """event -> sorted [(first row, last row)] from an events table (steps -> row positions)."""
    position = {int(s): i for i, s in enumerate(run.steps.tolist())}
    names = events["event"].tolist()
    firsts = events["step"].tolist()
    lasts = events["end_step"].tolist() if "end_step" in events.columns else firsts
    out: dict[str, list[tuple[int, int]]] = {}
    for name, step, end_step in zip(names, firsts, lasts, strict=True):
        first = position.get(int(step))
        if first is None:
            continue
        last = position.get(int(end_step), first)
        out.setdefault(str(name), []).append((first, max(first, last)))
    for spells in out.values():
        spells.sort()
    return out


def _link_near_peak(
    spells: list[tuple[int, int]] | None, peak: int, window: int, after_peak: bool = False
) -> int | None:
    """First row of the first spell in force within ``window`` quarters of ``peak``.

    With ``after_peak`` the spell must *start* after the peak, at most ``window`` after it.
    """
    for first, last in spells or []:
        if after_peak:
            if peak < first <= peak + window:
                return first
        elif first <= peak + window and last >= peak - window:
            return first
    return None


def _equity_events(t: ChainThresholds) -> tuple[str, ...]:
    if t.equity_link_includes_sectors:
        return ("equity_drawdown", *_SECTOR_EVENTS)
    return ("equity_drawdown",)


def _collapse_events(t: ChainThresholds) -> list[str]:
    equity = set(_equity_events(t))
    return [
        name
        for stage in COLLAPSE_ORDER
        for name in stage
        if name in equity or name not in _SECTOR_EVENTS
    ]


def _judge(
    peak: int | None,
    trailing: np.ndarray,
    spells: dict[str, list[tuple[int, int]]],
    labels: list[str],
    steps: list[int],
    t: ChainThresholds,
) -> dict[str, Any]:
    """Verdict of DESIGN §8 and the collapse links, judged at the capex peak in row ``peak``."""
    w = t.bust_window_quarters
    n = len(labels)

    def near(name: str) -> int | None:
        if peak is None:
            return spells[name][0][0] if spells.get(name) else None
        return _link_near_peak(spells.get(name), peak, w, after_peak=name == "capex_cut")

    # the collapse links in force near the peak, in time order (ties in chain order)
    links: list[dict[str, Any]] = []
    for name in _collapse_events(t):
        row = near(name)
        if row is not None:
            links.append(
                {
                    "event": name,
                    "quarter": labels[row],
                    "step": steps[row],
                    "stage": _STAGE[name],
                    "quarters_from_peak": None if peak is None else row - peak,
                }
            )
    links.sort(key=lambda d: (d["step"], d["stage"]))
    lags: dict[str, int | None] = {
        link["event"]: None if i == 0 else link["step"] - links[i - 1]["step"]
        for i, link in enumerate(links)
    }
    checked = [link for link in links if link["event"] in ORDER_CHECKED]
    violations = [
        [a["event"], b["event"]]
        for a in checked
        for b in checked
        if a["stage"] < b["stage"] and a["step"] > b["step"]
    ]
    out: dict[str, Any] = {
        "capex_peak_quarter": None if peak is None else labels[peak],
        "capex_peak_step": None if peak is None else steps[peak],
        "capex_peak_usd_b_per_year": None if peak is None else _finite(trailing[peak]),
        "quarters_after_peak": None if peak is None else n - 1 - peak,
        "collapse_links": links,
        "collapse_in_order": not violations,
        "order_violations": violations,
        "lags": lags,
    }
    if peak is None:
        return {
            "verdict": "not_yet_decided",
            "verdict_reason": "the table is too short for a trailing 4-quarter capex peak",
            "deciding_links": list(CORE_BUST_LINKS),
            "collapse_chain_seen": False,
            "fleet_stayed_busy": None,
            **out,
        }

    # bust requirements: requirement -> the earliest event near the peak that meets it
    at = {link["event"]: link["step"] for link in links}
    equity = [e for e in _equity_events(t) if e in at]
    met: dict[str, str] = {
        r: r
        for r in (
            "capex_cut",
            "stranded_assets_rise",
            "utilization_falls",
            "rental_price_falls",
            "funding_drought",
        )
        if r in at
    }
    if equity:
        met["equity_drawdown"] = min(equity, key=lambda e: (at[e], _equity_events(t).index(e)))
    missing = [r for r in ("capex_cut", "stranded_assets_rise") if r not in met]
    rent_util = [r for r in ("utilization_falls", "rental_price_falls") if r in met]
    if t.bust_requires_rent_and_utilization:
        missing += [r for r in ("utilization_falls", "rental_price_falls") if r not in met]
    elif not rent_util:
        missing.append("utilization_falls or rental_price_falls")
    missing += [r for r in ("funding_drought", "equity_drawdown") if r not in met]

    remaining = n - 1 - peak
    near_peak = trailing[-1] >= (1.0 - t.no_turn_capex_within_of_peak) * trailing[peak]
    if not missing:
        verdict, reason = "bust", f"all bust links in force within {w} quarters of the capex peak"
    elif near_peak and remaining < w:
        verdict = "no_turn"
        reason = (
            f"capex at the end is within {_pct(t.no_turn_capex_within_of_peak)} of its peak, "
            f"{remaining} quarter(s) earlier"
        )
    elif remaining < w:
        verdict = "not_yet_decided"
        reason = f"capex turned, but only {remaining} quarter(s) follow the peak (< {w})"
    else:
        verdict = "soft_landing"
        reason = f"capex fell or plateaued after its peak; {len(missing)} bust link(s) missing"
    busy = not any(
        last >= peak and first <= peak + w
        for name in ("utilization_falls", "stranded_assets_rise")
        for first, last in spells.get(name, [])
    )
    return {
        "verdict": verdict,
        "verdict_reason": reason,
        "deciding_links": [met[r] for r in CORE_BUST_LINKS if r in met]
        if verdict == "bust"
        else missing,
        "collapse_chain_seen": verdict == "bust",
        "fleet_stayed_busy": busy,
        **out,
    }


def summarize_chain(
    model_table: pd.DataFrame,
    events: pd.DataFrame | None = None,
    thresholds: ChainThresholds | None = None,
) -> dict[str, Any]:
    """The chain summary of one run, as a JSON-safe dict.

    ``events`` defaults to ``detect_events(model_table, thresholds, all_spells=True)``; pass
    that to reuse it (a first-spell-only table works too, but then an event whose first spell
    ended long before the capex peak is not seen near it again).

    The capex peak is the global peak of trailing 4-quarter AI capex. Keys:

    - ``verdict`` (one of :data:`VERDICTS`, defined in :data:`VERDICT_DEFINITIONS`),
      ``verdict_reason``; ``deciding_links``: for a bust, the events that met each bust
      requirement (e.g. which equity drawdown); otherwise the requirements that were missing;
      ``collapse_chain_seen`` (all bust links seen: the verdict is ``bust``);
      ``fleet_stayed_busy`` (no utilization fall or stranding in force after the peak, within
      the window: the soft landing of DESIGN §8 as opposed to a partial collapse).
    - ``capex_peak_quarter``, ``capex_peak_step``, ``capex_peak_usd_b_per_year``,
      ``quarters_after_peak``.
    - ``collapse_links``: the collapse events in force within ``bust_window_quarters`` of the
      peak (``capex_cut``: starting after it), in time order, each ``{event, quarter, step,
      stage, quarters_from_peak}`` (``stage``: position in :data:`COLLAPSE_ORDER`; a link in
      force since long before the window keeps its onset); ``lags`` (event -> quarters after
      the previous link, None for the first); ``collapse_in_order`` and ``order_violations``:
      pairs ``[a, b]`` where ``a`` comes before ``b`` in the chain but happened later
      (same-quarter links are in order).
    - ``at_first_drop``: the same verdict and link keys judged at the running peak before the
      first ``capex_cut`` (DESIGN §11 item 20; equal to the global judgement when that is the
      global peak); ``verdict_at_first_drop`` and ``first_drop_peak_quarter`` repeat two of them.
    - ``spend_chain_seen`` (all of :data:`SPEND_CHAIN` fired by ``spend_chain_end_quarter``),
      ``spend_chain_quarter`` (the last of their first quarters), ``spend_chain_links``
      (every spend link, optional ones too -> first quarter or None).
    - ``sector_drawdowns`` (listed sector -> largest drawdown from its running peak in the run),
      ``sector_fall_quarters`` (sector -> first quarter of its drawdown event, or None),
      ``first_sector_to_fall``.
    - ``stranded_at_peak_usd_b``, ``stranded_max_after_peak_usd_b``, ``events_unavailable``
      (events the table lacks columns for).
    """
    t = thresholds if thresholds is not None else ChainThresholds()
    run = _Run(model_table)
    if events is None:
        return _summarize(run, _spells_by_event(_detect(run, t, all_spells=True)), t)
    return _summarize(run, _spell_rows(events, run), t)


def detect_and_summarize(
    model_table: pd.DataFrame, thresholds: ChainThresholds | None = None
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """``(detect_events(table, t, all_spells=True), summarize_chain(table, those, t))`` in one
    pass over the table: what a batch records for every run."""
    t = thresholds if thresholds is not None else ChainThresholds()
    run = _Run(model_table)
    spells = _detect(run, t, all_spells=True)
    return _events_frame(spells, run), _summarize(run, _spells_by_event(spells), t)


def _spells_by_event(spells: list[_Spell]) -> dict[str, list[tuple[int, int]]]:
    out: dict[str, list[tuple[int, int]]] = {}
    for name, first, last, _, _ in spells:
        out.setdefault(name, []).append((first, last))
    return out


def _summarize(
    run: _Run, spells: dict[str, list[tuple[int, int]]], t: ChainThresholds
) -> dict[str, Any]:
    """:func:`summarize_chain` of a run's spells (event -> [(first row, last row)], sorted)."""
    labels = run.labels
    steps = [int(s) for s in run.steps.tolist()]
    first_row = {name: rows[0][0] for name, rows in spells.items()}
    peak, trailing = _capex_peak(run)

    judged = _judge(peak, trailing, spells, labels, steps, t)
    first_drop = peak
    cut = first_row.get("capex_cut")
    if cut is not None and np.isfinite(trailing[: cut + 1]).any():
        first_drop = int(np.nanargmax(trailing[: cut + 1]))
    at_first_drop = (
        judged if first_drop == peak else _judge(first_drop, trailing, spells, labels, steps, t)
    )

    # spend chain: first quarters, deadline inclusive
    deadline = _quarter_number(t.spend_chain_end_quarter)
    spend_links = {
        name: labels[first_row[name]] if name in first_row else None
        for name in (*SPEND_CHAIN, *SPEND_CHAIN_OPTIONAL)
    }

    def in_time(name: str) -> bool:
        if name not in first_row:
            return False
        q = _quarter_number(labels[first_row[name]])
        return q is None or deadline is None or q <= deadline

    spend_seen = bool(SPEND_CHAIN) and all(in_time(name) for name in SPEND_CHAIN)
    spend_quarter = labels[max(first_row[name] for name in SPEND_CHAIN)] if spend_seen else None

    # listed sectors
    sector_dd: dict[str, float | None] = {}
    sector_fall: dict[str, str | None] = {}
    for sector, column in SECTORS.items():
        dd = None
        if column in run.columns:
            series = 1.0 - _ratio_to_running_peak(run.col(column))
            dd = _finite(np.nanmax(series)) if not np.isnan(series).all() else None
        sector_dd[sector] = dd
        row = first_row.get(f"{sector}_equity_drawdown")
        sector_fall[sector] = labels[row] if row is not None else None
    fallen = [
        (first_row[f"{s}_equity_drawdown"], i, s)
        for i, s in enumerate(SECTORS)
        if f"{s}_equity_drawdown" in first_row
    ]

    stranded = (
        run.col("stranded_gpu_assets_usd_b")
        if "stranded_gpu_assets_usd_b" in run.columns and peak is not None
        else None
    )
    link_keys = (
        "verdict",
        "verdict_reason",
        "deciding_links",
        "collapse_chain_seen",
        "fleet_stayed_busy",
        "capex_peak_quarter",
        "collapse_links",
        "collapse_in_order",
        "order_violations",
        "lags",
    )
    return {
        **judged,
        "verdict_at_first_drop": at_first_drop["verdict"],
        "first_drop_peak_quarter": at_first_drop["capex_peak_quarter"],
        "at_first_drop": {k: at_first_drop[k] for k in link_keys},
        "spend_chain_seen": spend_seen,
        "spend_chain_quarter": spend_quarter,
        "spend_chain_links": spend_links,
        "sector_drawdowns": sector_dd,
        "sector_fall_quarters": sector_fall,
        "first_sector_to_fall": min(fallen)[2] if fallen else None,
        "stranded_at_peak_usd_b": None if stranded is None else _finite(stranded[peak]),
        "stranded_max_after_peak_usd_b": (
            None if stranded is None else _finite(np.nanmax(stranded[peak:]))
        ),
        "events_unavailable": [
            n for n, (_, need, _, _) in _DETECTORS.items() if not run.columns.issuperset(need)
        ],
    }


def _finite(x: Any) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


# --- text ---------------------------------------------------------------------------------------
def format_chain(summary: dict[str, Any], events: pd.DataFrame | None = None) -> str:
    """A short text block of a :func:`summarize_chain` dict: verdict, spend chain, collapse links.

    ``events`` (optional, from :func:`detect_events`) adds the number of events detected.
    """
    s = summary
    rows: list[tuple[str, str]] = []
    verdict = str(s.get("verdict", "?")).replace("_", " ")
    rows.append(("Verdict", f"{verdict.upper()} ({s.get('verdict_reason', '')})"))
    deciding = ", ".join(s.get("deciding_links") or []) or "-"
    rows.append(("Decided by" if s.get("verdict") == "bust" else "Bust links missing", deciding))
    peak = s.get("capex_peak_quarter")
    peak_text = "n/a"
    if peak:
        peak_text = f"{peak} (${s.get('capex_peak_usd_b_per_year') or 0:,.0f}B/yr)"
        peak_text += f", {s.get('quarters_after_peak')} quarter(s) after it"
    rows.append(("Capex peak (4-qtr AI capex)", peak_text))
    first = s.get("at_first_drop") or {}
    if s.get("first_drop_peak_quarter") not in (None, peak):
        rows.append(
            (
                "At the first capex drop",
                f"peak {s['first_drop_peak_quarter']}: "
                f"{str(first.get('verdict', '?')).replace('_', ' ')}"
                + (
                    f" ({', '.join(first.get('deciding_links') or [])})"
                    if first.get("verdict") != "bust"
                    else ""
                )
                + (
                    ", links in order"
                    if first.get("collapse_in_order")
                    else f", {len(first.get('order_violations') or [])} pair(s) out of order"
                ),
            )
        )
    spend = s.get("spend_chain_links") or {}
    parts = [f"{k.removesuffix('_rising')} {v or '-'}" for k, v in spend.items()]
    seen = "yes" if s.get("spend_chain_seen") else "no"
    when = f", complete {s['spend_chain_quarter']}" if s.get("spend_chain_quarter") else ""
    rows.append(("Spend chain", f"{seen}{when} ({', '.join(parts)})"))
    links = s.get("collapse_links") or []
    if links:
        order = (
            "in order"
            if s.get("collapse_in_order")
            else f"{len(s.get('order_violations') or [])} pair(s) out of order"
        )
        rows.append(
            (
                "Collapse chain",
                f"{'yes' if s.get('collapse_chain_seen') else 'no'}; {len(links)} link(s) near "
                f"the peak, {order}",
            )
        )
    else:
        rows.append(("Collapse chain", "no; no links near the capex peak"))
    dd = s.get("sector_drawdowns") or {}
    dd_text = ", ".join(f"{k} {_pct_text(v)}" for k, v in dd.items() if v is not None)
    fallen = s.get("first_sector_to_fall")
    rows.append(
        ("Sector drawdowns (max)", f"{dd_text or 'n/a'}; first to fall: {fallen or 'none'}")
    )
    if events is not None:
        rows.append(("Events detected", f"{events['event'].nunique()} (see events.csv)"))
    width = max(len(k) for k, _ in rows)
    title = "Chain events (definitions: bubble-abm events)"
    lines = [title, "-" * len(title)]
    lines += [f"{k:<{width}} : {v}" for k, v in rows]
    if links:
        lines.append(
            "Collapse links: quarter, event, quarters after the previous link, "
            "quarters from the capex peak"
        )
        name_w = max(len(link["event"]) for link in links)
        late = {pair[0] for pair in s.get("order_violations") or []}
        lags = s.get("lags") or {}
        for link in links:
            lag = lags.get(link["event"])
            lag_text = "  -" if lag is None else f"{lag:+3d}"
            rel = link.get("quarters_from_peak")
            rel_text = "" if rel is None else f"  peak{rel:+d}"
            flag = "  (late: out of order)" if link["event"] in late else ""
            lines.append(
                f"  {link['quarter']}  {link['event']:<{name_w}}  {lag_text}{rel_text}{flag}"
            )
    return "\n".join(lines)


def _pct_text(x: Any) -> str:
    return "n/a" if x is None else f"{100.0 * float(x):.0f}%"
