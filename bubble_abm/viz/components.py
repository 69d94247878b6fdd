"""Solara components of the dashboard: status, chain panel, plots, balance sheets, money flows.

Each component takes the model and reads it only through its public API (the data collector's
model table, ``model.params``, :mod:`bubble_abm.accounts`, :mod:`bubble_abm.chains`). They
subscribe to Mesa's ``update_counter`` like Mesa's own plot components, so SolaraViz redraws
them after every Step and during Play. Tiles carry a ``bubble-*`` CSS class for the tests.
"""

from __future__ import annotations

import html
from typing import Any

import pandas as pd
import reacton
import solara
from mesa.visualization.utils import update_counter

from bubble_abm.accounts import balance_sheet_matrix, transactions_flow_matrix
from bubble_abm.chains import EVENT_DEFINITIONS, EVENT_LABELS, detect_events, summarize_chain
from bubble_abm.scenarios import list_scenarios, load_scenario
from bubble_abm.viz.figures import (
    PLOTS,
    PlotSpec,
    balance_sheet_figure,
    flow_figure,
    sector_flows,
    series_figure,
)

__all__ = [
    "BalanceSheets",
    "ChainPanel",
    "MoneyFlows",
    "SeriesPlot",
    "StatusPanel",
    "dashboard_components",
    "model_table",
    "parameter_changes",
]


# --- reading the model ------------------------------------------------------------------------
def model_table(model) -> pd.DataFrame:
    """The data collector's model variables (one row per simulated quarter; may be empty)."""
    return model.datacollector.get_model_vars_dataframe()


def parameter_changes(model) -> list[tuple[str, Any, Any]]:
    """``(name, value, scenario value)`` for every parameter that differs from the scenario."""
    name = getattr(model, "scenario_name", None)
    if name is None:
        return []
    base = load_scenario(name).model_dump()
    return [(k, v, base[k]) for k, v in model.params.model_dump().items() if base.get(k) != v]


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


# --- status -----------------------------------------------------------------------------------
_HEADLINE = (
    ("ai_capex_usd_b", "AI capex", "${:,.1f}B"),
    ("ai_revenue_usd_b", "AI revenue", "${:,.1f}B"),
    ("utilization", "utilization", "{:.0%}"),
    ("equity_index", "equity index", "{:.0f}"),
)


@solara.component
def StatusPanel(model):
    """Scenario, seed, the last simulated quarter, headline numbers, changed parameters."""
    update_counter.get()
    table = model_table(model)
    p = model.params
    name = getattr(model, "scenario_name", "")
    description = dict(list_scenarios()).get(name, "")
    if table.empty:
        quarter = "none yet"
        headline = f"starts {p.start_quarter}; press Step or \u25b6"
    else:
        last = table.iloc[-1]
        quarter = str(last["quarter"])
        headline = " \u00b7 ".join(
            f"{label} <span class='bubble-{col}'>{fmt.format(float(last[col]))}</span>"
            for col, label, fmt in _HEADLINE if col in table
        )
    changes = parameter_changes(model)
    changed = (
        "; ".join(f"{html.escape(k)} = {_fmt(v)} (scenario {_fmt(b)})" for k, v, b in changes)
        or "none"
    )
    body = (
        f"<div style='font-size:1.4em;margin-bottom:4px'>Quarter "
        f"<b class='bubble-quarter'>{html.escape(quarter)}</b>"
        f" <span style='color:#777;font-size:0.7em'>(step {model.steps} of "
        f"{p.n_quarters})</span></div>"
        f"<div>Scenario <b class='bubble-scenario'>{html.escape(name)}</b>"
        f"{': ' + html.escape(description) if description else ''}</div>"
        f"<div>Seed <span class='bubble-seed'>{html.escape(str(getattr(model, 'seed', '')))}"
        f"</span></div>"
        f"<div style='margin-top:6px'>This quarter: {headline}</div>"
        f"<div style='margin-top:6px;color:#555'>Parameters changed from the scenario: "
        f"<span class='bubble-changes'>{changed}</span></div>"
        "<div style='margin-top:6px;color:#777;font-size:0.85em'>Sliders take effect on Reset; "
        "picking a scenario loads its values into the sliders and restarts the run.</div>"
    )
    solara.HTML(tag="div", unsafe_innerHTML=body, classes=["bubble-status"],
                style="padding:8px;width:100%")


# --- chain panel ------------------------------------------------------------------------------
@solara.component
def ChainPanel(model):
    """The links of the spend and collapse chains detected so far, with their quarters."""
    update_counter.get()
    table = model_table(model)
    events = detect_events(table) if not table.empty else None
    rows = []
    sections = (("up", "Spend chain"), ("down", "Collapse chain"))
    for direction, title in sections:
        rows.append(f"<tr><th colspan='3' style='text-align:left;padding-top:6px'>{title}</th>"
                    "</tr>")
        found = events[events["direction"] == direction] if events is not None else None
        if found is None or found.empty:
            rows.append("<tr><td colspan='3' style='color:#777'>no link yet</td></tr>")
            continue
        for event in found.itertuples():
            label = EVENT_LABELS.get(event.event, event.event)
            definition = EVENT_DEFINITIONS.get(event.event, "")
            ongoing = event.end_step == int(table.index.size)
            until = "ongoing" if ongoing else f"until {event.end_quarter}"
            rows.append(
                f"<tr class='bubble-event' title='{html.escape(definition, quote=True)}'>"
                f"<td style='padding-right:10px'>{html.escape(str(event.quarter))}</td>"
                f"<td style='padding-right:10px'>{html.escape(label)} "
                f"<span style='color:#999;font-size:0.85em'>({html.escape(event.event)})</span>"
                f"</td><td style='color:#777'>{until}</td></tr>"
            )
    verdict = ""
    if not table.empty:
        summary = summarize_chain(table)
        verdict = (f"<div style='margin-top:6px'>Verdict so far: <b class='bubble-verdict'>"
                   f"{html.escape(str(summary['verdict']).replace('_', ' '))}</b> "
                   f"<span style='color:#777'>({html.escape(str(summary['verdict_reason']))})"
                   "</span></div>")
    body = (
        "<div style='font-size:1.1em;font-weight:500'>Chain: links detected so far</div>"
        "<table style='font-size:0.85em;border-collapse:collapse'>" + "".join(rows) + "</table>"
        + verdict
    )
    solara.HTML(tag="div", unsafe_innerHTML=body, classes=["bubble-chain"],
                style="padding:8px;width:100%;max-height:390px;overflow-y:auto")


# --- plots ------------------------------------------------------------------------------------
@solara.component
def SeriesPlot(model, spec: PlotSpec):
    """One time-series plot of :data:`~bubble_abm.viz.figures.PLOTS`."""
    update_counter.get()
    p = model.params
    fig = solara.use_memo(
        lambda: series_figure(model_table(model), spec, p.start_quarter, p.n_quarters),
        [model, model.steps, spec.key],
    )
    with solara.Column(classes=["bubble-plot", f"bubble-plot-{spec.key}"]):
        solara.FigureMatplotlib(fig, format="png", dependencies=[model, model.steps, spec.key])


def _series_component(spec: PlotSpec):
    """A one-argument component for SolaraViz (which calls ``component(model)``)."""

    def Plot(model):
        return SeriesPlot(model, spec)

    Plot.__name__ = Plot.__qualname__ = f"Plot_{spec.key}"
    # reacton.component is what solara.component returns; solara's hook check cannot parse
    # the source of a nested function (it dedents by the body's indentation), so skip it
    return reacton.component(Plot)


# --- agents -----------------------------------------------------------------------------------
def _quarter(model) -> str | None:
    table = model_table(model)
    return None if table.empty else str(table["quarter"].iloc[-1])


@solara.component
def BalanceSheets(model):
    """Cash, other assets and debt by agent type at the end of the last quarter."""
    update_counter.get()
    fig = solara.use_memo(
        lambda: balance_sheet_figure(
            balance_sheet_matrix(model) if model.steps else None, _quarter(model)
        ),
        [model, model.steps],
    )
    with solara.Column(classes=["bubble-plot", "bubble-plot-balance_sheets"]):
        solara.FigureMatplotlib(fig, format="png", dependencies=[model, model.steps])


@solara.component
def MoneyFlows(model):
    """Who paid whom in the last quarter (transactions-flow matrix), as a flow diagram."""
    update_counter.get()
    fig = solara.use_memo(
        lambda: flow_figure(
            sector_flows(transactions_flow_matrix(model)) if model.steps else None,
            _quarter(model),
        ),
        [model, model.steps],
    )
    with solara.Column(classes=["bubble-plot", "bubble-plot-money_flows"]):
        solara.FigureMatplotlib(fig, format="png", dependencies=[model, model.steps])


def dashboard_components() -> list[tuple[Any, int]]:
    """SolaraViz ``components``: (component, page) pairs, all on page 0, in display order."""
    items: list[Any] = [StatusPanel, ChainPanel]
    items += [_series_component(spec) for spec in PLOTS]
    items += [BalanceSheets, MoneyFlows]
    return [(item, 0) for item in items]
