"""Run reporting: headline summary, text block, six-panel chain chart and output bundle.

The chain events (``bubble_abm.chains``) are annotated on the chart and written with the other
outputs (``events.csv``, ``chain.json``, and the chain block of ``summary.txt``).

All functions take the per-quarter *model table* (one row per quarter, ``step`` 1..N as a column
or as the index, flows in $B per quarter, not annualised) produced by the model's data collector.
Plotting uses ``matplotlib.figure.Figure`` with the Agg canvas directly, so it never touches
pyplot's global state and works headless.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from bubble_abm.chains import (
    EVENT_LABELS,
    ChainThresholds,
    detect_events,
    format_chain,
    model_table_view,
    normalise_model_table,
    summarize_chain,
)

__all__ = ["format_summary", "plot_chain", "run_summary", "write_run_outputs"]

#: Chart panel (row, column) on which each chain event is marked.
EVENT_PANELS: dict[str, tuple[int, int]] = {
    "capex_rising": (0, 0),
    "lab_funding_rising": (0, 0),
    "funding_drought": (0, 0),
    "capex_cut": (0, 0),
    "gpu_orders_rising": (0, 1),
    "chip_revenue_rising": (0, 1),
    "chip_orders_fall": (0, 1),
    "utilization_falls": (1, 0),
    "rental_price_falls": (1, 0),
    "capability_gain_per_dollar_falls": (1, 1),
    "frontier_open_gap_narrows": (1, 1),
    "lab_margin_falls": (1, 1),
    "equity_rising": (2, 0),
    "equity_drawdown": (2, 0),
    "chipmaker_equity_drawdown": (2, 0),
    "big_four_equity_drawdown": (2, 0),
    "levered_equity_drawdown": (2, 0),
    "other_owner_equity_drawdown": (2, 0),
    "credit_spread_widens": (2, 0),
    "defaults": (2, 0),
    "stranded_assets_rise": (2, 1),
}

#: Column that defines the "peak capex" quarter in :func:`run_summary`.
PEAK_CAPEX_COLUMN = "ai_capex_usd_b"

_WINDOW = 4  # quarters per year


def _labels(df: pd.DataFrame) -> list[str]:
    """Calendar-quarter labels (``quarter`` column, else ``step`` numbers)."""
    if "quarter" in df.columns:
        return [str(q) for q in df["quarter"]]
    return [str(s) for s in df["step"]]


def _trailing_sum(values: np.ndarray, end: int, window: int = _WINDOW) -> float:
    """Sum of ``values[end - window + 1 : end + 1]`` (fewer terms near the start)."""
    start = max(0, end - window + 1)
    return float(np.sum(values[start : end + 1]))


def _ratio(num: float, den: float) -> float:
    if den > 0:
        return num / den
    return math.inf if num > 0 else math.nan


def run_summary(
    model_table: pd.DataFrame, capex_column: str = PEAK_CAPEX_COLUMN
) -> dict[str, float | int | str]:
    """Headline numbers of one run.

    The peak-capex quarter is the first quarter at which ``capex_column`` (default
    ``ai_capex_usd_b``) is maximal. "Year" figures are sums over the 4 quarters ending at the
    quarter in question (fewer when the table is shorter). Values are plain Python scalars, so the
    result is JSON-serialisable (a zero-revenue ratio is ``inf``/``nan``).
    """
    df = model_table_view(model_table)
    if df.empty:
        raise ValueError("model_table has no rows")
    labels = _labels(df)
    last = len(df) - 1

    capex = df[capex_column].to_numpy(dtype=float)
    ai_capex = df["ai_capex_usd_b"].to_numpy(dtype=float)
    ai_rev = df["ai_revenue_usd_b"].to_numpy(dtype=float)
    stranded = df["stranded_gpu_assets_usd_b"].to_numpy(dtype=float)
    drawdown = df["equity_drawdown"].to_numpy(dtype=float)
    util = df["utilization"].to_numpy(dtype=float)

    i_peak = int(np.argmax(capex))
    i_str = int(np.argmax(stranded))
    i_dd = int(np.argmax(drawdown))
    i_util = int(np.argmin(util))

    return {
        "peak_capex_usd_b_per_quarter": float(capex[i_peak]),
        "peak_capex_quarter": labels[i_peak],
        "peak_capex_annualised_usd_b": float(_WINDOW * capex[i_peak]),
        "final_quarter": labels[last],
        "ai_revenue_usd_b_per_year_final": _trailing_sum(ai_rev, last),
        "ai_revenue_usd_b_at_peak_capex_year": _trailing_sum(ai_rev, i_peak),
        "capex_to_ai_revenue_at_peak": _ratio(
            _trailing_sum(ai_capex, i_peak), _trailing_sum(ai_rev, i_peak)
        ),
        "stranded_gpu_assets_peak_usd_b": float(stranded[i_str]),
        "stranded_gpu_assets_peak_quarter": labels[i_str],
        "stranded_gpu_assets_final_usd_b": float(stranded[last]),
        "max_equity_drawdown": float(drawdown[i_dd]),
        "max_equity_drawdown_quarter": labels[i_dd],
        "defaults": int(round(float(df["defaults"].iloc[last]))),
        "min_utilization": float(util[i_util]),
        "min_utilization_quarter": labels[i_util],
    }


def _is_missing(x: object) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def _usd(x: object) -> str:
    """$B with 1 decimal below $100B, 0 decimals above."""
    if _is_missing(x):
        return "n/a"
    v = float(x)  # type: ignore[arg-type]
    return f"${v:,.0f}B" if abs(v) >= 100 else f"${v:,.1f}B"


def _pct(x: object) -> str:
    return "n/a" if _is_missing(x) else f"{100.0 * float(x):.1f}%"  # type: ignore[arg-type]


def _times(x: object) -> str:
    if _is_missing(x):
        return "n/a"
    v = float(x)  # type: ignore[arg-type]
    return "inf" if math.isinf(v) else f"{v:.1f}x"


def format_summary(summary: dict, title: str = "bubble_abm run") -> str:
    """Render a :func:`run_summary` dict as a short aligned text block."""
    s = summary
    rows = [
        (
            "Peak AI capex",
            f"{_usd(s.get('peak_capex_usd_b_per_quarter'))}/qtr in {s.get('peak_capex_quarter')}"
            f" ({_usd(s.get('peak_capex_annualised_usd_b'))}/yr annualised)",
        ),
        ("AI revenue, peak year", f"{_usd(s.get('ai_revenue_usd_b_at_peak_capex_year'))}/yr"),
        ("Capex / AI revenue", f"{_times(s.get('capex_to_ai_revenue_at_peak'))} (4 qtrs to peak)"),
        (
            "AI revenue, final year",
            f"{_usd(s.get('ai_revenue_usd_b_per_year_final'))}/yr (to {s.get('final_quarter')})",
        ),
        (
            "Stranded GPU assets",
            f"peak {_usd(s.get('stranded_gpu_assets_peak_usd_b'))} in "
            f"{s.get('stranded_gpu_assets_peak_quarter')}, "
            f"final {_usd(s.get('stranded_gpu_assets_final_usd_b'))}",
        ),
        (
            "Max equity drawdown",
            f"{_pct(s.get('max_equity_drawdown'))} in {s.get('max_equity_drawdown_quarter')}",
        ),
        (
            "Min GPU utilization",
            f"{_pct(s.get('min_utilization'))} in {s.get('min_utilization_quarter')}",
        ),
        ("Defaults (cumulative)", f"{s.get('defaults')}"),
    ]
    width = max(len(k) for k, _ in rows)
    lines = [title, "=" * max(len(title), 8)]
    lines += [f"{k:<{width}} : {v}" for k, v in rows]
    return "\n".join(lines)


def _legend(ax, ax2=None) -> None:
    """One legend for a panel (and its twin), drawn on whichever axes is on top."""
    handles, labels = ax.get_legend_handles_labels()
    top = ax
    if ax2 is not None:
        h2, l2 = ax2.get_legend_handles_labels()
        handles += h2
        labels += l2
        if ax2.get_zorder() >= ax.get_zorder():
            top = ax2
    top.legend(handles, labels, loc="best", fontsize=8, framealpha=0.9)


def _annotate_events(ax, marks: list[tuple[int, str, str]]) -> None:
    """Thin dashed vertical lines at event quarters with short rotated labels.

    ``marks`` are (x position, label, direction); events in the same quarter share one line
    and one label. Spend-chain (up) events are green, collapse (down) events red, other marks
    (direction ``"peak"``: the capex peak) grey and dotted.
    """
    by_x: dict[int, list[tuple[str, str]]] = {}
    for x, label, direction in marks:
        by_x.setdefault(x, []).append((label, direction))
    transform = ax.get_xaxis_transform()  # x in data, y in axes fraction
    for x, items in sorted(by_x.items()):
        kinds = {d for _, d in items}
        color = "tab:red" if "down" in kinds else "tab:green" if "up" in kinds else "tab:gray"
        style = "--" if kinds & {"up", "down"} else ":"
        ax.axvline(x, color=color, linestyle=style, linewidth=0.8, alpha=0.7, zorder=1)
        ax.text(
            x + 0.15,
            0.97,
            ", ".join(label for label, _ in items),
            transform=transform,
            rotation=90,
            va="top",
            ha="left",
            fontsize=6.5,
            color=color,
            alpha=0.9,
            clip_on=True,
        )


def _event_marks(
    df: pd.DataFrame, events: pd.DataFrame | None
) -> dict[tuple[int, int], list[tuple[int, str, str]]]:
    """Panel -> [(x position, short label, direction)] of each event (first spell only)."""
    if events is None:
        events = detect_events(df)
    position = {int(step): i for i, step in enumerate(df["step"].to_numpy())}
    marks: dict[tuple[int, int], list[tuple[int, str, str]]] = {}
    seen: set[str] = set()
    for rec in events.sort_values("step", kind="stable").to_dict("records"):
        name = str(rec["event"])
        panel = EVENT_PANELS.get(name)
        x = position.get(int(rec["step"]))
        if panel is None or x is None or name in seen:
            continue
        seen.add(name)
        marks.setdefault(panel, []).append(
            (x, EVENT_LABELS.get(name, name), str(rec.get("direction", "down")))
        )
    return marks


def plot_chain(
    model_table: pd.DataFrame,
    path: str | Path,
    title: str = "",
    events: pd.DataFrame | None = None,
) -> Path:
    """Six-panel PNG of the spend/collapse chain over calendar quarters; returns ``path``.

    Chain events are marked on their panel (capex and funding on 1, orders and chip revenue on
    2, utilization and rent on 3, capability, gap and lab margin on 4, equity, credit and
    defaults on 5, stranded assets on 6) at the first quarter of each event; ``events`` is a
    :func:`bubble_abm.chains.detect_events` table, computed from ``model_table`` if omitted.
    """
    df = normalise_model_table(model_table)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    x = np.arange(len(df))
    labels = _labels(df)

    def col(name: str) -> np.ndarray:
        return df[name].to_numpy(dtype=float)

    fig = Figure(figsize=(14, 10), dpi=110)
    FigureCanvasAgg(fig)
    axes = fig.subplots(3, 2, sharex=True)
    top = {(r, c): axes[r, c] for r in range(3) for c in range(2)}  # axes that holds the legend

    # 1. capex vs AI revenue
    ax = axes[0, 0]
    ax.plot(x, col("hyperscaler_capex_usd_b"), label="Hyperscaler capex", color="tab:blue")
    ax.plot(x, col("ai_capex_usd_b"), label="AI capex", color="tab:orange")
    ax.plot(x, col("ai_revenue_usd_b"), label="AI revenue", color="tab:green")
    ax.set_title("Capex vs AI revenue")
    ax.set_ylabel("$B per quarter")
    _legend(ax)

    # 2. GPU orders and shipments
    ax = axes[0, 1]
    ax.plot(x, col("gpu_orders_h100e") / 1e6, label="GPU orders", color="tab:purple")
    ax.plot(x, col("gpu_shipments_h100e") / 1e6, label="GPU shipments", color="tab:brown")
    ax.set_title("GPU orders and shipments")
    ax.set_ylabel("H100e (millions) per quarter")
    _legend(ax)

    # 3. utilization and rental price
    ax = axes[1, 0]
    ax.plot(x, 100.0 * col("utilization"), label="Utilization (%)", color="tab:blue")
    ax.set_ylabel("Utilization (%)")
    ax2 = ax.twinx()
    ax2.plot(
        x,
        col("gpu_rental_price_usd_per_hour"),
        label="Rental price ($/GPU-h)",
        color="tab:red",
        linestyle="--",
    )
    if "newest_rental_price_usd_per_hour" in df.columns:
        ax2.plot(
            x,
            col("newest_rental_price_usd_per_hour"),
            label="Newest generation ($/H100e-h)",
            color="tab:orange",
            linestyle=":",
        )
    ax2.set_ylabel("$ per GPU-hour")
    ax.set_title("GPU utilization and rental price")
    _legend(ax, ax2)
    top[1, 0] = ax2

    # 4. capability
    ax = axes[1, 1]
    ax.plot(x, col("frontier_capability"), label="Frontier capability", color="tab:blue")
    ax.plot(x, col("open_capability"), label="Open capability", color="tab:green")
    ax.set_ylabel("Capability (0-1)")
    ax2 = ax.twinx()
    ax2.plot(x, col("capability_gap"), label="Gap (logit)", color="tab:gray", linestyle="--")
    ax2.set_ylabel("Capability gap (logit)")
    ax.set_title("Frontier vs open capability")
    _legend(ax, ax2)
    top[1, 1] = ax2

    # 5. equity index and drawdown
    ax = axes[2, 0]
    ax2 = ax.twinx()
    ax2.fill_between(
        x, 0.0, 100.0 * col("equity_drawdown"), color="tab:red", alpha=0.2, label="Drawdown (%)"
    )
    ax2.set_ylabel("Drawdown from peak (%)")
    ax2.set_ylim(bottom=0.0)
    ax.set_zorder(ax2.get_zorder() + 1)
    ax.patch.set_visible(False)
    ax.plot(x, col("equity_index"), label="Equity index", color="tab:blue")
    ax.set_ylabel("Index (start = 100)")
    ax.set_title("Equity index and drawdown")
    _legend(ax, ax2)

    # 6. stranded assets and impairments
    ax = axes[2, 1]
    ax.plot(x, col("stranded_gpu_assets_usd_b"), label="Stranded GPU assets", color="tab:red")
    ax.bar(x, col("impairments_usd_b"), label="Impairments (per qtr)", color="tab:gray", alpha=0.6)
    ax.set_ylabel("$B")
    ax.set_title("Stranded GPU assets and impairments")
    _legend(ax)

    marks = _event_marks(df, events)
    trailing = pd.Series(col("ai_capex_usd_b")).rolling(4, min_periods=4).sum()
    if trailing.notna().any():
        marks.setdefault((0, 0), []).append((int(trailing.idxmax()), "4-qtr capex peak", "peak"))
    for panel, panel_marks in marks.items():
        _annotate_events(top[panel], panel_marks)

    ticks = x[::4]
    for ax in axes[-1, :]:
        ax.set_xticks(ticks)
        ax.set_xticklabels([labels[i] for i in ticks], rotation=45, ha="right")
    for ax in axes.flat:
        ax.grid(True, alpha=0.3)
        if len(x) > 1:
            ax.set_xlim(x[0], x[-1])

    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def _to_parquet(df: pd.DataFrame, path: Path, index: bool) -> None:
    """Write parquet; object columns pyarrow cannot type are stored as strings."""
    try:
        df.to_parquet(path, engine="pyarrow", index=index)
    except (TypeError, ValueError):  # pyarrow.ArrowInvalid/ArrowTypeError subclass these
        fixed = df.copy()
        for name in fixed.select_dtypes(include="object").columns:
            fixed[name] = fixed[name].map(lambda v: None if v is None else str(v))
        fixed.to_parquet(path, engine="pyarrow", index=index)


def _json_safe(value: object) -> object:
    """Non-finite floats become None, numpy scalars Python ones, recursively."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_run_outputs(
    model_table: pd.DataFrame,
    agent_table: pd.DataFrame | None,
    out_dir: str | Path,
    title: str = "",
    thresholds: ChainThresholds | None = None,
) -> dict[str, Path]:
    """Write model/agent tables, chain chart and summaries into ``out_dir``; return the paths.

    Files: ``model_table.parquet``, ``model_table.csv``, ``agent_table.parquet`` (skipped if
    ``agent_table`` is None), ``events.csv`` (:func:`bubble_abm.chains.detect_events`, one row
    per event), ``chain.json`` (:func:`bubble_abm.chains.summarize_chain`), ``chain.png``
    (events marked), ``summary.txt`` (headline numbers, then the chain block) and
    ``summary.json`` (headline numbers). Non-finite numbers are written to JSON as ``null``.
    ``thresholds`` are the chain-event thresholds (defaults if omitted). If ``step`` is the
    model table's index it becomes a column.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    mt = model_table
    if "step" not in mt.columns and "step" in (mt.index.names or []):
        mt = mt.reset_index()
    paths: dict[str, Path] = {}

    paths["model_table.parquet"] = out / "model_table.parquet"
    _to_parquet(mt, paths["model_table.parquet"], index=False)
    paths["model_table.csv"] = out / "model_table.csv"
    mt.to_csv(paths["model_table.csv"], index=False)

    if agent_table is not None:
        paths["agent_table.parquet"] = out / "agent_table.parquet"
        keep_index = not isinstance(agent_table.index, pd.RangeIndex)
        _to_parquet(agent_table, paths["agent_table.parquet"], index=keep_index)

    thresholds = thresholds if thresholds is not None else ChainThresholds()
    events = detect_events(mt, thresholds)
    chain = summarize_chain(mt, thresholds=thresholds)
    paths["events.csv"] = out / "events.csv"
    events.to_csv(paths["events.csv"], index=False)
    paths["chain.json"] = out / "chain.json"
    paths["chain.json"].write_text(json.dumps(_json_safe(chain), indent=2) + "\n", encoding="utf-8")

    paths["chain.png"] = plot_chain(mt, out / "chain.png", title=title, events=events)

    summary = run_summary(mt)
    paths["summary.txt"] = out / "summary.txt"
    paths["summary.txt"].write_text(
        format_summary(summary, title=title or "bubble_abm run")
        + "\n\n"
        + format_chain(chain, events)
        + "\n",
        encoding="utf-8",
    )
    paths["summary.json"] = out / "summary.json"
    paths["summary.json"].write_text(
        json.dumps({k: _json_safe(v) for k, v in summary.items()}, indent=2) + "\n",
        encoding="utf-8",
    )
    return paths


def write_stranded_by_vintage(model, out_dir: str | Path) -> dict[str, Path]:
    """Write the final quarter's stranded-asset table per owner and vintage (DESIGN §7)."""
    from bubble_abm.accounts import stranded_assets_by_vintage

    path = Path(out_dir) / "stranded_by_vintage.csv"
    stranded_assets_by_vintage(model).to_csv(path, index=False)
    return {"stranded_by_vintage.csv": path}


def format_stranded_by_owner(model) -> str:
    """Stranded GPU assets per GPU owner at the end of the run, with idle units and the
    accounting vs (book-weighted) economic life of its fleet."""
    from bubble_abm.accounts import stranded_assets_by_vintage

    table = stranded_assets_by_vintage(model)
    lines = [f"Stranded GPU assets by owner, {model.quarter_label}"]
    if table.empty:
        return lines[0] + ": no GPUs installed"
    table["weighted_life"] = table.economic_life_years * table.units_h100e
    grouped = table.groupby(["owner_id", "owner_kind"], sort=True).agg(
        units=("units_h100e", "sum"), idle=("idle_units_h100e", "sum"),
        book=("book_value_usd_b", "sum"), stranded=("stranded_usd_b", "sum"),
        impaired=("impairment_to_date_usd_b", "sum"), weighted_life=("weighted_life", "sum"))
    accounting = model.params.gpu_accounting_life_years
    for (owner_id, kind), row in grouped.iterrows():
        life = row.weighted_life / row.units if row.units > 0 else 0.0
        lines.append(
            f"  {kind:<9} #{owner_id:<3} stranded ${row.stranded:,.1f}B "
            f"(impaired ${row.impaired:,.1f}B), idle {row.idle / 1e6:,.2f}M of "
            f"{row.units / 1e6:,.2f}M H100e, economic life {_life_text(life)} vs accounting "
            f"{accounting:.1f} y")
    return "\n".join(lines)


def _life_text(years: float) -> str:
    """An economic life in years; one that reaches the formula's cap is not a number of years
    but a rent that never falls to the running cost (e.g. an older-generation rent multiple
    of 1 or more, README "What the model shows today")."""
    from bubble_abm.core.fleet import MAX_ECONOMIC_LIFE_QUARTERS

    if years >= MAX_ECONOMIC_LIFE_QUARTERS / 4.0:
        return "unbounded (expected rent never falls to running cost)"
    return f"{years:.1f} y"
