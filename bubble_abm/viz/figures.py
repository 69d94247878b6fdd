"""Matplotlib figures of the dashboard, drawn from the model's public tables only.

Pure functions of pandas tables (no Solara), so they are tested without a server:

- :func:`series_figure`: one of :data:`PLOTS` (model-table columns against calendar quarters);
  an empty table (no quarter simulated yet) gives axes with a hint instead of lines.
- :func:`balance_sheet_figure`: cash, other assets and debt by agent type, from
  :func:`bubble_abm.accounts.balance_sheet_matrix`.
- :func:`sector_flows` and :func:`flow_figure`: who paid whom last quarter, read off the
  transactions-flow matrix (:func:`bubble_abm.accounts.transactions_flow_matrix`).

Figures are :class:`matplotlib.figure.Figure` objects (no pyplot state), sized to fit one tile
of the SolaraViz grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullLocator

from bubble_abm.calendar import quarter_index, quarter_label

__all__ = [
    "AGENT_SECTORS",
    "PLOTS",
    "SECTOR_LABELS",
    "PlotSpec",
    "Series",
    "balance_sheet_figure",
    "balance_sheet_summary",
    "flow_figure",
    "sector_flows",
    "series_figure",
]

FIGSIZE = (6.0, 4.4)  # inches at DPI: 480 x 352 px, one tile of the SolaraViz grid
DPI = 80
EMPTY_HINT = "no quarter simulated yet:\npress Step or \u25b6"


@dataclass(frozen=True)
class Series:
    column: str
    label: str
    color: str
    scale: float = 1.0  # multiply the column by this before plotting
    style: str = "-"


@dataclass(frozen=True)
class PlotSpec:
    """A time-series tile: left-axis series and optional right-axis series."""

    key: str
    title: str
    left: tuple[Series, ...]
    left_label: str
    right: tuple[Series, ...] = ()
    right_label: str = ""
    drawstyle: str = "default"  # "steps-post" for counts

    @property
    def columns(self) -> list[str]:
        return [s.column for s in (*self.left, *self.right)]


#: The plots of issue 6, in the order they appear.
PLOTS: tuple[PlotSpec, ...] = (
    PlotSpec(
        "capex_revenue",
        "Capex vs AI revenue",
        (
            Series("hyperscaler_capex_usd_b", "hyperscaler capex (all)", "#9ecae1"),
            Series("ai_capex_usd_b", "AI capex", "#1f77b4"),
            Series("ai_revenue_usd_b", "AI revenue", "#d62728"),
        ),
        "$B per quarter",
    ),
    PlotSpec(
        "gpu_orders",
        "GPU orders and shipments",
        (
            Series("gpu_orders_h100e", "orders", "#2ca02c", 1e-6),
            Series("gpu_shipments_h100e", "shipments", "#8c564b", 1e-6, "--"),
        ),
        "million H100e per quarter",
    ),
    PlotSpec(
        "utilization_rent",
        "Utilization and rental price",
        (Series("utilization", "utilization", "#1f77b4", 100.0),),
        "utilization, %",
        (
            Series("gpu_rental_price_usd_per_hour", "rent, fleet average", "#ff7f0e"),
            Series("newest_rental_price_usd_per_hour", "rent, newest GPU", "#ffbb78", 1.0, "--"),
        ),
        "$ per H100e-hour",
    ),
    PlotSpec(
        "capability",
        "Frontier vs open capability",
        (
            Series("frontier_capability", "frontier", "#9467bd"),
            Series("open_capability", "open weights", "#17becf"),
        ),
        "capability (0-1)",
        (Series("capability_gap", "gap (logit)", "#7f7f7f", 1.0, ":"),),
        "gap, logit",
    ),
    PlotSpec(
        "equity",
        "Equity index and drawdown",
        (Series("equity_index", "equity index", "#1f77b4"),),
        "index (start = 100)",
        (Series("equity_drawdown", "drawdown", "#d62728", 100.0, "--"),),
        "drawdown from peak, %",
    ),
    PlotSpec(
        "stranded",
        "Stranded GPU assets and impairments",
        (
            Series("stranded_gpu_assets_usd_b", "stranded GPU assets (book)", "#8c564b"),
            Series("impairments_usd_b", "impairments this quarter", "#e377c2", 1.0, "--"),
        ),
        "$B",
    ),
    PlotSpec(
        "defaults",
        "Defaults",
        (Series("defaults", "defaults to date", "#d62728"),),
        "count (cumulative)",
        drawstyle="steps-post",
    ),
)

#: Modelled agent types, in the order of the chain (accounts.SECTORS without the outside world).
AGENT_SECTORS = ("investors", "labs", "apps", "hyperscalers", "other_owners", "chipmakers")
SECTOR_LABELS = {
    "investors": "investors",
    "labs": "labs",
    "apps": "apps",
    "hyperscalers": "hyperscalers",
    "other_owners": "other GPU owners",
    "chipmakers": "chipmakers",
    "rest_of_economy": "end customers &\nrest of economy",
}


def _new_figure(left: float = 0.12, right: float = 0.97, bottom: float = 0.16,
                top: float = 0.9) -> Figure:
    """A figure with fixed margins (a layout engine would triple the time to draw it)."""
    fig = Figure(figsize=FIGSIZE, dpi=DPI)
    fig.subplots_adjust(left=left, right=right, bottom=bottom, top=top)
    return fig


def _quarter_axis(ax, start_quarter: str, n_positions: int) -> None:
    """x positions 0, 1, ... labelled with calendar quarters from ``start_quarter``."""
    start = quarter_index(start_quarter)
    ax.set_xlim(-0.5, max(n_positions, 1) - 0.5)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))
    ax.xaxis.set_major_formatter(
        FuncFormatter(lambda x, _pos: quarter_label(start + round(x)) if x >= 0 else "")
    )
    ax.set_xlabel("calendar quarter")


def series_figure(
    table: pd.DataFrame, spec: PlotSpec, start_quarter: str = "2023Q1", n_quarters: int = 40
) -> Figure:
    """One plot of :data:`PLOTS` from a model table (the data collector's model variables).

    The x axis spans the run's horizon (``n_quarters`` from ``start_quarter``), so the lines
    grow quarter by quarter; a table longer than the horizon widens it.
    """
    fig = _new_figure(right=0.88 if spec.right else 0.97, top=0.82)
    ax = fig.subplots()
    fig.suptitle(spec.title, fontsize=11, y=0.985)
    n = len(table)
    _quarter_axis(ax, start_quarter, max(n_quarters, n))
    x = np.arange(n)
    marker = "o" if n < 12 else None
    handles = []
    for s in spec.left:
        if s.column in table:
            y = pd.to_numeric(table[s.column], errors="coerce").to_numpy(float) * s.scale
            handles += ax.plot(x, y, s.style, color=s.color, label=s.label, marker=marker,
                               markersize=3, drawstyle=spec.drawstyle)
    ax.set_ylabel(spec.left_label)
    ax.grid(alpha=0.3)
    if spec.drawstyle == "steps-post":  # a count: integer ticks from zero
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        top = max((float(np.nanmax(line.get_ydata())) for line in handles if n), default=0.0)
        ax.set_ylim(0, max(top, 1.0) * 1.1)
    if spec.right:
        twin = ax.twinx()
        for s in spec.right:
            if s.column in table:
                y = pd.to_numeric(table[s.column], errors="coerce").to_numpy(float) * s.scale
                handles += twin.plot(x, y, s.style, color=s.color, label=s.label, marker=marker,
                                     markersize=3)
        twin.set_ylabel(spec.right_label)
    if n == 0:
        ax.set_ylim(0, 1)
        ax.text(0.5, 0.5, EMPTY_HINT, transform=ax.transAxes, ha="center", va="center",
                color="#777777")
    if handles:  # one row between title and axes: it never hides the newest quarters
        fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.925),
                   ncol=len(handles), fontsize=8, frameon=False, handlelength=1.8,
                   columnspacing=1.2)
    return fig


# --- agents: balance sheets and money flows ---------------------------------------------------
def balance_sheet_summary(sheet: pd.DataFrame) -> pd.DataFrame:
    """Cash, other assets and debt ($B) by agent type, from a balance-sheet matrix.

    ``sheet`` is :func:`bubble_abm.accounts.balance_sheet_matrix` (stocks by sector, assets
    positive, liabilities negative). *Other assets* are the positive non-cash entries (GPUs,
    data centres, other fixed assets, equity and bonds held); *debt* is bonds issued.
    """
    stocks = sheet.drop(index=["net_worth"], errors="ignore")
    cash = stocks.loc["cash"] if "cash" in stocks.index else pd.Series(0.0, stocks.columns)
    other = stocks.drop(index=["cash"], errors="ignore").clip(lower=0.0).sum(axis=0)
    bonds = stocks.loc["bonds"] if "bonds" in stocks.index else pd.Series(0.0, stocks.columns)
    out = pd.DataFrame({"cash": cash, "other assets": other, "debt": (-bonds).clip(lower=0.0)})
    return out.reindex([s for s in AGENT_SECTORS if s in out.index])


def _money_tick(x: float, _pos: int) -> str:
    if x >= 1000:
        return f"{x / 1000:g}k"
    return f"{x:g}"


def balance_sheet_figure(sheet: pd.DataFrame | None, quarter: str | None = None) -> Figure:
    """Grouped bars (log scale) of :func:`balance_sheet_summary`, one group per agent type."""
    fig = _new_figure(left=0.24, bottom=0.14)
    ax = fig.subplots()
    ax.set_title(f"Balance sheets by agent type{f', end of {quarter}' if quarter else ''}",
                 fontsize=11)
    if sheet is None:
        ax.text(0.5, 0.5, EMPTY_HINT, transform=ax.transAxes, ha="center", va="center",
                color="#777777")
        ax.set_xticks([])
        ax.set_yticks([])
        return fig
    summary = balance_sheet_summary(sheet)
    colors = {"cash": "#2ca02c", "other assets": "#1f77b4", "debt": "#d62728"}
    y = np.arange(len(summary))
    height = 0.27
    for i, column in enumerate(summary.columns):
        values = summary[column].to_numpy(float)
        shown = np.where(values > 0, values, np.nan)
        ax.barh(y + (i - 1) * height, shown, height, color=colors[column], label=column)
        for yi, v in zip(y + (i - 1) * height, values, strict=True):
            if v > 0:
                ax.text(v * 1.08, yi, f"{v:,.0f}" if v >= 10 else f"{v:.1f}", va="center",
                        fontsize=7)
    ax.set_xscale("log")
    # plain tick labels: the default 10^k labels go through mathtext, which is slow to draw
    ax.xaxis.set_major_formatter(FuncFormatter(_money_tick))
    ax.xaxis.set_minor_locator(NullLocator())
    finite = summary.to_numpy(float)
    top = float(np.nanmax(finite)) if np.any(finite > 0) else 1.0
    ax.set_xlim(left=0.1, right=top * 20)
    ax.set_yticks(y, [SECTOR_LABELS[s] for s in summary.index])
    ax.invert_yaxis()
    ax.set_xlabel("$B (log scale)")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    return fig


def sector_flows(flow_matrix: pd.DataFrame, tolerance: float = 1e-9) -> pd.DataFrame:
    """Payments between sectors in one quarter, from a transactions-flow matrix.

    Each row of the matrix (a kind of flow) has sources positive (sectors that receive money)
    and uses negative (sectors that pay); ``change_in_cash`` is skipped. Within a row each
    payer's outflow is split over the receivers in proportion to what they receive (exact when
    a row has one payer or one receiver, as most rows do). Returns one row per (payer, payee)
    with ``usd_b`` and ``kinds`` (the kinds of flow, largest first), largest first.
    """
    columns = ["payer", "payee", "usd_b", "kinds"]
    totals: dict[tuple[str, str], dict[str, float]] = {}
    for kind, row in flow_matrix.iterrows():
        if kind == "change_in_cash":
            continue
        values = pd.to_numeric(row, errors="coerce").fillna(0.0)
        receivers = values[values > tolerance]
        payers = -values[values < -tolerance]
        received = float(receivers.sum())
        if received <= tolerance or payers.empty:
            continue
        for payer, paid in payers.items():
            for payee, got in receivers.items():
                if payer == payee:
                    continue
                by_kind = totals.setdefault((str(payer), str(payee)), {})
                by_kind[str(kind)] = by_kind.get(str(kind), 0.0) + paid * got / received
    rows = []
    for (payer, payee), by_kind in totals.items():
        kinds = sorted(by_kind, key=by_kind.get, reverse=True)
        rows.append((payer, payee, sum(by_kind.values()), kinds))
    if not rows:
        return pd.DataFrame(columns=columns)
    out = pd.DataFrame(rows, columns=columns)
    return out.sort_values("usd_b", ascending=False, kind="stable").reset_index(drop=True)


# Where each sector sits in the flow diagram: the spend chain left to right along the top
# (investors -> labs -> hyperscalers -> chipmakers), end customers -> apps -> labs below it,
# the rest of the economy (wages, legacy business, savings) at the bottom.
_NODE_XY = {
    "investors": (0.0, 1.0),
    "labs": (1.3, 1.0),
    "hyperscalers": (2.6, 1.0),
    "chipmakers": (3.9, 1.0),
    "apps": (0.65, 0.15),
    "other_owners": (3.25, 0.15),
    "rest_of_economy": (1.95, -0.7),
}
_ARC = 0.2  # curvature: flows in opposite directions between two sectors take different arcs


def _arc_label_xy(ax, start, end) -> tuple[float, float]:
    """Data coordinates of the middle of an ``arc3`` arrow from ``start`` to ``end``."""
    (x1, y1), (x2, y2) = ax.transData.transform([start, end])
    dx, dy = x2 - x1, y2 - y1
    # arc3: quadratic Bezier through the control point mid + rad * (dy, -dx); its middle is
    # halfway between the chord's midpoint and the control point (display coordinates)
    mid = ((x1 + x2) / 2 + 0.5 * _ARC * dy, (y1 + y2) / 2 - 0.5 * _ARC * dx)
    x, y = ax.transData.inverted().transform(mid)
    return float(x), float(y)


def flow_figure(flows: pd.DataFrame | None, quarter: str | None = None, max_arrows: int = 12,
                min_share: float = 0.01) -> Figure:
    """Directed-flow diagram of :func:`sector_flows`: arrow width proportional to $B paid.

    Shows the ``max_arrows`` largest flows that are at least ``min_share`` of the largest;
    each arrow is labelled with its amount and its largest kind of flow.
    """
    fig = _new_figure(left=0.01, right=0.99, bottom=0.01, top=0.92)
    ax = fig.subplots()
    ax.set_title(f"Money flows between agent types{f', {quarter}' if quarter else ''} ($B)",
                 fontsize=11)
    ax.set_xlim(-0.6, 4.5)
    ax.set_ylim(-1.0, 1.35)
    ax.axis("off")
    if flows is None or flows.empty:
        ax.text(0.5, 0.5, EMPTY_HINT, transform=ax.transAxes, ha="center", va="center",
                color="#777777")
        return fig
    known = flows[flows["payer"].isin(_NODE_XY) & flows["payee"].isin(_NODE_XY)]
    top = float(known["usd_b"].max()) if not known.empty else 0.0
    shown = known[known["usd_b"] >= min_share * top].head(max_arrows)
    for name, (x, y) in _NODE_XY.items():
        ax.text(x, y, SECTOR_LABELS[name], ha="center", va="center", fontsize=9, zorder=3,
                bbox={"boxstyle": "round,pad=0.3", "fc": "#f3f3f3", "ec": "#555555"})
    for row in shown.itertuples():
        start, end = _NODE_XY[row.payer], _NODE_XY[row.payee]
        width = 0.6 + 5.0 * row.usd_b / top
        ax.add_patch(FancyArrowPatch(
            start, end, connectionstyle=f"arc3,rad={_ARC}", arrowstyle="-|>",
            mutation_scale=8 + 2 * width, linewidth=width, color="#1f77b4", alpha=0.5,
            shrinkA=16, shrinkB=16, zorder=1,
        ))
        amount = f"{row.usd_b:,.0f}" if row.usd_b >= 10 else f"{row.usd_b:.1f}"
        kind = str(row.kinds[0]).replace("_", " ") if len(row.kinds) else ""
        lx, ly = _arc_label_xy(ax, start, end)
        ax.text(lx, ly, f"{amount} {kind}", ha="center", va="center", fontsize=7.5,
                color="#08306b", zorder=2,
                bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.7})
    hidden = len(known) - len(shown)
    if hidden > 0:
        ax.text(1.0, -0.02, f"{hidden} smaller flows not drawn", transform=ax.transAxes,
                ha="right", va="top", fontsize=7, color="#777777")
    return fig
