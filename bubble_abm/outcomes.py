"""Answers to the questions users ask of a batch, in pandas and matplotlib (issue 5).

Built on :func:`bubble_abm.batch.load_batch`: every function takes the DataFrames it reads
(``runs``, ``quarters`` or ``events`` of a batch) or a batch folder, and returns a DataFrame or
a matplotlib Figure.

- :func:`bust_probability`: share of runs whose chain verdict is ``bust``, per scenario (or any
  grouping), with a Wilson score or Clopper-Pearson interval.
- :func:`outcome_quantiles`: quantile tables of peak capex, peak stranded GPU assets and the
  largest equity drawdown (or any runs-table column).
- :func:`link_onsets`, :func:`chain_link_onsets`, :func:`lead_lag`, :func:`first_links`: when
  each collapse-chain link started in each run, and for every pair of links the share of runs in
  which one came first and the lag between them; which link came first most often.
- :func:`fan_table`, :func:`fan_chart`: median and 10-90 % band of a model column per scenario
  over calendar quarters.

Example::

    from bubble_abm.batch import load_batch
    from bubble_abm import outcomes
    runs, quarters, events = load_batch("runs/output/my-batch")
    outcomes.bust_probability(runs)
    outcomes.lead_lag(outcomes.link_onsets(events))
    outcomes.fan_chart(quarters, "ai_capex_usd_b").savefig("capex.png")
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "COLLAPSE_LINKS",
    "OUTCOME_COLUMNS",
    "bust_probability",
    "chain_link_onsets",
    "fan_chart",
    "fan_table",
    "first_links",
    "lead_lag",
    "link_onsets",
    "outcome_quantiles",
    "proportion_interval",
]

Source = pd.DataFrame | str | Path
Interval = Literal["wilson", "clopper-pearson"]


def _collapse_links() -> tuple[str, ...]:
    from bubble_abm.chains import COLLAPSE_ORDER

    return tuple(name for stage in COLLAPSE_ORDER for name in stage)


#: Collapse-chain events in chain order (DESIGN §1; :data:`bubble_abm.chains.COLLAPSE_ORDER`).
COLLAPSE_LINKS: tuple[str, ...] = _collapse_links()

#: Default columns of :func:`outcome_quantiles`: peak capex (annualised), peak stranded GPU
#: assets and the largest fall of the AI equity index from its running peak (a fraction).
OUTCOME_COLUMNS: tuple[str, ...] = (
    "peak_capex_annualised_usd_b",
    "stranded_gpu_assets_peak_usd_b",
    "max_equity_drawdown",
)


def _table(source: Source, name: str, quarter_columns: Sequence[str] | None = None
           ) -> pd.DataFrame:
    """``source`` itself if it is a DataFrame, else that table of the batch folder."""
    if isinstance(source, pd.DataFrame):
        return source
    from bubble_abm.batch import load_batch

    if name == "quarters":
        return load_batch(source, quarter_columns=quarter_columns).quarters
    return getattr(load_batch(source, quarter_columns=[]), name)


def _ok(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs that finished (failed runs have no summary)."""
    if "status" not in runs.columns:
        return runs
    return runs[runs["status"].astype(str) == "ok"]


def _groups(by: str | Sequence[str] | None) -> list[str]:
    if by is None:
        return []
    return [by] if isinstance(by, str) else list(by)


# --- bust probability ---------------------------------------------------------------------------
def proportion_interval(
    successes: int, trials: int, confidence: float = 0.95, method: Interval = "wilson"
) -> tuple[float, float]:
    """Two-sided confidence interval of a binomial proportion.

    ``wilson``: the Wilson (1927) score interval, good coverage at small n and near 0 or 1.
    ``clopper-pearson``: the exact interval from beta quantiles (Clopper & Pearson 1934),
    conservative (coverage at least ``confidence``). ``(nan, nan)`` when ``trials`` is 0.
    """
    from scipy import stats

    if not 0 < confidence < 1:
        raise ValueError(f"confidence {confidence}: must be in (0, 1)")
    if trials < 0 or not 0 <= successes <= trials:
        raise ValueError(f"successes {successes}, trials {trials}: need 0 <= successes <= trials")
    if trials == 0:
        return math.nan, math.nan
    alpha = 1.0 - confidence
    if method == "wilson":
        z = float(stats.norm.ppf(1.0 - alpha / 2.0))
        p = successes / trials
        denominator = 1.0 + z * z / trials
        centre = (p + z * z / (2 * trials)) / denominator
        half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
        return max(0.0, centre - half), min(1.0, centre + half)
    if method == "clopper-pearson":
        low = 0.0 if successes == 0 else float(
            stats.beta.ppf(alpha / 2, successes, trials - successes + 1))
        high = 1.0 if successes == trials else float(
            stats.beta.ppf(1 - alpha / 2, successes + 1, trials - successes))
        return low, high
    raise ValueError(f"method {method!r}: allowed 'wilson', 'clopper-pearson'")


def bust_probability(
    runs: Source,
    by: str | Sequence[str] | None = "scenario",
    confidence: float = 0.95,
    method: Interval = "wilson",
) -> pd.DataFrame:
    """Share of runs with a ``bust`` verdict per group, with a ``confidence`` interval.

    Columns: the ``by`` keys, ``runs`` (finished runs), ``busts``, ``failed`` (runs that
    raised, left out), ``bust_probability``, ``ci_low``, ``ci_high`` (:func:`proportion_interval`
    with ``method``). ``by=None`` pools every run.
    """
    table = _table(runs, "runs")
    keys = _groups(by)
    status = (table["status"].astype(str) if "status" in table.columns
              else pd.Series("ok", index=table.index))
    frame = pd.DataFrame({k: table[k] for k in keys})
    frame["ok"] = status == "ok"
    frame["bust"] = table["bust"].astype("boolean").fillna(False).astype(bool) & frame["ok"]
    if keys:
        grouped = frame.groupby(keys, observed=True, sort=True)
        counts = grouped.agg(runs=("ok", "sum"), busts=("bust", "sum"), total=("ok", "size"))
        counts = counts.reset_index()
    else:
        counts = pd.DataFrame({"runs": [int(frame["ok"].sum())],
                               "busts": [int(frame["bust"].sum())], "total": [len(frame)]})
    counts["failed"] = counts.pop("total") - counts["runs"]
    counts["runs"] = counts["runs"].astype("int64")
    counts["busts"] = counts["busts"].astype("int64")
    counts["failed"] = counts["failed"].astype("int64")
    counts["bust_probability"] = counts["busts"] / counts["runs"].where(counts["runs"] > 0)
    bounds = [proportion_interval(int(b), int(n), confidence, method)
              for b, n in zip(counts["busts"], counts["runs"], strict=True)]
    counts["ci_low"] = [lo for lo, _ in bounds]
    counts["ci_high"] = [hi for _, hi in bounds]
    counts.attrs.update(confidence=confidence, method=method)
    return counts


# --- distributions ------------------------------------------------------------------------------
def outcome_quantiles(
    runs: Source,
    columns: Sequence[str] = OUTCOME_COLUMNS,
    by: str | Sequence[str] | None = "scenario",
    quantiles: Sequence[float] = (0.1, 0.25, 0.5, 0.75, 0.9),
) -> pd.DataFrame:
    """Quantiles of run-summary ``columns`` over the finished runs of each group.

    One row per group and column (``measure``), with ``runs``, ``mean`` and ``q10``, ``q25``,
    ... (percent labels of ``quantiles``).
    """
    table = _ok(_table(runs, "runs"))
    keys = _groups(by)
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise KeyError(f"not columns of the runs table: {missing}")
    long = table[keys + list(columns)].melt(id_vars=keys, var_name="measure",
                                             value_name="value")
    long["value"] = pd.to_numeric(long["value"], errors="coerce").astype(float)
    long["measure"] = pd.Categorical(long["measure"], categories=list(columns))
    grouped = long.groupby([*keys, "measure"], observed=True, sort=True)["value"]
    result = grouped.agg(runs="count", mean="mean")
    for q in quantiles:
        result[f"q{round(100 * q):g}"] = grouped.quantile(q)
    return result.reset_index()


# --- lead-lag of the collapse chain ---------------------------------------------------------------
def link_onsets(
    events: Source, links: Sequence[str] | None = COLLAPSE_LINKS, first_spell_only: bool = True
) -> pd.DataFrame:
    """When each link started in each run, from the events table.

    The onset is the ``step`` of the event's first sustained spell (``first_spell_only``; else
    the earliest spell, the same thing unless the table was filtered). ``links`` limits the
    events (default: the collapse chain; ``None`` keeps all). Columns: ``run_id``, ``scenario``
    (if present), ``event``, ``step``, ``quarter``.
    """
    table = _table(events, "events")
    if first_spell_only and "spell" in table.columns:
        table = table[table["spell"] == 0]
    if links is not None:
        table = table[table["event"].astype(str).isin(list(links))]
    keep = [c for c in ("run_id", "scenario", "event", "step", "quarter") if c in table.columns]
    table = table[keep].assign(event=table["event"].astype(str))
    first = table.groupby(["run_id", "event"], sort=False)["step"].idxmin()
    return table.loc[sorted(first)].reset_index(drop=True)


def chain_link_onsets(runs: Source) -> pd.DataFrame:
    """The collapse links the chain detector judged near each run's capex peak, for the
    finished runs: :func:`bubble_abm.batch.collapse_links` (``run_id``, ``scenario``, ``seed``,
    ``point``, ``event``, ``stage``, ``step``, ``quarter``, ``quarters_from_peak``, ``lag``).
    """
    from bubble_abm.batch import collapse_links

    return collapse_links(_ok(_table(runs, "runs")))


def _link_order(onsets: pd.DataFrame, links: Sequence[str] | None) -> list[str]:
    seen = set(onsets["event"].astype(str))
    if links is None:
        links = [*COLLAPSE_LINKS, *sorted(seen - set(COLLAPSE_LINKS))]
    return [name for name in links if name in seen]


def lead_lag(
    onsets: pd.DataFrame,
    links: Sequence[str] | None = None,
    by: str | Sequence[str] | None = None,
) -> pd.DataFrame:
    """For every pair of links A, B (A before B in chain order): who came first, by how much.

    ``onsets`` is :func:`link_onsets` or :func:`chain_link_onsets` (one row per run and link).
    Only runs in which both links occurred count. Columns: the ``by`` keys, ``link_a``,
    ``link_b``, ``runs_both``, ``a_first_share`` (A strictly earlier), ``same_quarter_share``,
    ``b_first_share``, and the lag of B after A in quarters (``lag_median``, ``lag_q25``,
    ``lag_q75``; positive when A led). ``links`` fixes the links and their order (default: the
    collapse chain order, then any other event, of those present).
    """
    keys = _groups(by)
    order = _link_order(onsets, links)
    wide = onsets.assign(event=onsets["event"].astype(str)).pivot_table(
        index=["run_id", *keys], columns="event", values="step", aggfunc="min", observed=True)
    rows = []
    for i, a in enumerate(order):
        for b in order[i + 1:]:
            pair = wide[[a, b]].dropna() if {a, b} <= set(wide.columns) else wide.iloc[:0]
            lag = (pair[b] - pair[a]).astype(float).to_frame("lag")
            groups = lag.groupby(level=keys, observed=True) if keys else [((), lag)]
            for key, part in groups:
                lags = part["lag"]
                n = len(lags)
                key = key if isinstance(key, tuple) else (key,)
                rows.append({
                    **dict(zip(keys, key, strict=True)), "link_a": a, "link_b": b,
                    "runs_both": n,
                    "a_first_share": float((lags > 0).mean()) if n else math.nan,
                    "same_quarter_share": float((lags == 0).mean()) if n else math.nan,
                    "b_first_share": float((lags < 0).mean()) if n else math.nan,
                    "lag_median": float(lags.median()) if n else math.nan,
                    "lag_q25": float(lags.quantile(0.25)) if n else math.nan,
                    "lag_q75": float(lags.quantile(0.75)) if n else math.nan,
                })
    columns = [*keys, "link_a", "link_b", "runs_both", "a_first_share", "same_quarter_share",
               "b_first_share", "lag_median", "lag_q25", "lag_q75"]
    return pd.DataFrame(rows, columns=columns)


def first_links(
    onsets: pd.DataFrame, by: str | Sequence[str] | None = None
) -> pd.DataFrame:
    """Which link came first, and how often: one row per link, most often first on top.

    ``runs`` counts the runs with at least one link; ``first_runs`` those in which the link
    started in the earliest quarter of the run's links (ties all count as first);
    ``first_share = first_runs / runs``; ``seen_share``: runs in which the link occurred.
    Sorted by ``first_share`` (descending), then chain order.
    """
    keys = _groups(by)
    frame = onsets.assign(event=onsets["event"].astype(str))
    earliest = frame.groupby("run_id")["step"].transform("min")
    frame["first"] = frame["step"] == earliest
    group_keys = [*keys, "event"]
    stats = frame.groupby(group_keys, observed=True).agg(
        first_runs=("first", "sum"), seen_runs=("run_id", "nunique"))
    totals = frame.groupby(keys, observed=True)["run_id"].nunique() if keys else None
    stats = stats.reset_index()
    if keys:
        stats = stats.merge(totals.rename("runs").reset_index(), on=keys)
    else:
        stats["runs"] = frame["run_id"].nunique()
    stats["first_share"] = stats["first_runs"] / stats["runs"]
    stats["seen_share"] = stats["seen_runs"] / stats["runs"]
    stats["first_runs"] = stats["first_runs"].astype("int64")
    rank = {name: i for i, name in enumerate(_link_order(frame, None))}
    stats["_rank"] = stats["event"].map(rank)
    stats = stats.sort_values([*keys, "first_share", "_rank"],
                              ascending=[True] * len(keys) + [False, True], kind="stable")
    return stats[[*keys, "event", "runs", "first_runs", "first_share", "seen_runs",
                  "seen_share"]].reset_index(drop=True)


# --- fan charts ---------------------------------------------------------------------------------
def fan_table(
    quarters: Source, column: str, by: str = "scenario", band: tuple[float, float] = (0.1, 0.9)
) -> pd.DataFrame:
    """Median and ``band`` quantiles of a model ``column`` per group and calendar quarter.

    Columns: ``by``, ``quarter``, ``runs``, ``low``, ``median``, ``high``.
    """
    table = _table(quarters, "quarters", quarter_columns=[column])
    if column not in table.columns:
        raise KeyError(f"{column!r} is not a column of the quarters table")
    values = table[[by, "quarter"]].assign(value=pd.to_numeric(table[column], errors="coerce"))
    grouped = values.groupby([by, "quarter"], observed=True, sort=True)["value"]
    result = grouped.agg(runs="count", median="median")
    result["low"] = grouped.quantile(band[0])
    result["high"] = grouped.quantile(band[1])
    result = result.reset_index()
    return result[[by, "quarter", "runs", "low", "median", "high"]]


def fan_chart(
    quarters: Source,
    column: str,
    by: str = "scenario",
    band: tuple[float, float] = (0.1, 0.9),
    ax=None,
    title: str | None = None,
) -> Figure:
    """Fan chart of a model ``column``: per group a median line and a shaded ``band``.

    One line and one band per group (e.g. scenario), over calendar quarters; draws on ``ax`` if
    given (else a new figure) and returns the Figure.
    """
    import matplotlib.pyplot as plt

    table = fan_table(quarters, column, by, band)
    labels = sorted(str(q) for q in table["quarter"].unique())
    x_of = {label: i for i, label in enumerate(labels)}
    if ax is None:
        fig, ax = plt.subplots(figsize=(9, 4.5), layout="constrained")
    else:
        fig = ax.figure
    for name, part in table.groupby(by, observed=True, sort=True):
        x = np.array([x_of[str(q)] for q in part["quarter"]])
        (line,) = ax.plot(x, part["median"], label=f"{name} (median)", lw=1.8)
        ax.fill_between(x, part["low"], part["high"], color=line.get_color(), alpha=0.2,
                        lw=0, label=f"{name} ({100 * band[0]:g}-{100 * band[1]:g}%)")
    step = max(1, len(labels) // 10)
    ax.set_xticks(range(0, len(labels), step), labels[::step], rotation=45, ha="right")
    ax.set_xlabel("quarter")
    ax.set_ylabel(column)
    ax.set_title(title or f"{column}: median and {100 * band[0]:g}-{100 * band[1]:g}% band "
                 f"by {by}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return fig
