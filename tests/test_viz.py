"""The dashboard without a browser: sliders, the model SolaraViz rebuilds, figures, components.

Solara renders the components into widgets in this process (``solara.render``); buttons are
clicked and sliders moved on the widgets. The browser tests (test_viz_browser.py) check the
same page in Chromium; when both fail, these say which piece broke.
"""

from __future__ import annotations

import math
import re

import ipyvuetify as v
import ipywidgets
import numpy as np
import pandas as pd
import pytest
import solara
import solara.widgets

from bubble_abm import ParameterError
from bubble_abm.accounts import SECTORS, balance_sheet_matrix, transactions_flow_matrix
from bubble_abm.cli import main, viz_command
from bubble_abm.params import Params, field_range
from bubble_abm.scenarios import list_scenarios, load_scenario
from bubble_abm.viz import app
from bubble_abm.viz.components import (
    BalanceSheets,
    ChainPanel,
    MoneyFlows,
    SeriesPlot,
    StatusPanel,
    dashboard_components,
)
from bubble_abm.viz.controls import (
    SLIDERS,
    DashboardModel,
    model_params,
    scenario_names,
    slider_overrides,
)
from bubble_abm.viz.figures import (
    PLOTS,
    balance_sheet_figure,
    balance_sheet_summary,
    flow_figure,
    sector_flows,
    series_figure,
)

# parameters issue 6 asks for (data wall = extra_data_worth and data_stock_tokens)
ISSUE_PARAMETERS = {
    "extra_data_worth",
    "data_stock_tokens",
    "algorithmic_doubling_years",
    "gpu_accounting_life_years",
    "open_model_lag_quarters",
    "initial_trend_follower_share",
    "risk_free_rate",
    "customer_wtp_share_of_gdp",
}
ISSUE_PLOT_COLUMNS = {
    "hyperscaler_capex_usd_b", "ai_capex_usd_b", "ai_revenue_usd_b", "gpu_orders_h100e",
    "gpu_shipments_h100e", "utilization", "gpu_rental_price_usd_per_hour",
    "frontier_capability", "open_capability", "capability_gap", "equity_index",
    "equity_drawdown", "stranded_gpu_assets_usd_b", "impairments_usd_b", "defaults",
}


def slider_values(params: dict) -> dict:
    """What SolaraViz's Reset passes: fixed values as they are, inputs at their value."""
    return {k: (p["value"] if isinstance(p, dict) else p) for k, p in params.items()}


@pytest.fixture(scope="module")
def stepped_model() -> DashboardModel:
    model = DashboardModel(rng=1)
    for _ in range(6):
        model.step()
    return model


# --- controls ---------------------------------------------------------------------------------
def test_sliders_are_the_issue_parameters_with_ranges_from_the_parameter_object():
    assert {spec.field for spec in SLIDERS} == ISSUE_PARAMETERS
    params = model_params("baseline")
    assert params["scenario_name"] == "baseline"
    assert params["rng"]["type"] == "SliderInt"  # the seed is an integer slider
    for spec in SLIDERS:
        entry = params[spec.name]
        low, high = field_range(spec.field)
        if spec.log10:
            assert (entry["min"], entry["max"]) == (math.log10(low), math.log10(high))
        else:
            assert (entry["min"], entry["max"]) == (low, high)
        default = Params.model_fields[spec.field].default
        assert spec.to_param(entry["value"]) == default  # baseline = the parameter defaults
        assert entry["min"] <= entry["value"] <= entry["max"]
        assert 0 < entry["step"] < entry["max"] - entry["min"]


@pytest.mark.parametrize("name", [name for name, _ in list_scenarios()])
def test_sliders_start_at_each_scenarios_values(name):
    params = model_params(name)
    for spec in SLIDERS:  # on the slider's grid: the browser would snap it otherwise
        entry = params[spec.name]
        steps = (entry["value"] - entry["min"]) / entry["step"]
        assert steps == pytest.approx(round(steps), abs=1e-6), (spec.name, entry)
    model = DashboardModel(**slider_values(params))
    assert model.params == load_scenario(name)
    assert model.scenario_name == name


def test_scenario_names_lead_with_baseline():
    names = scenario_names()
    assert names[0] == "baseline"
    assert set(names) == {name for name, _ in list_scenarios()}


def test_dashboard_model_takes_what_solaraviz_reset_passes():
    from mesa.experimental.scenarios import Scenario

    # Mesa 3.5's Reset adds its own Scenario object; it must not reach the parameter object
    model = DashboardModel(scenario_name="data_wall", rng=3, scenario=Scenario(),
                           risk_free_rate=0.05, log10_data_stock_tokens=13.0)
    assert model.params.risk_free_rate == 0.05
    assert model.params.data_stock_tokens == 1e13
    assert model.params.extra_data_worth == load_scenario("data_wall").extra_data_worth
    # slider arithmetic noise and the ends of the range stay valid
    assert slider_overrides({"initial_trend_follower_share": 1.0000000000000002}) == {
        "initial_trend_follower_share": 1.0}
    assert slider_overrides({"log10_data_stock_tokens": 13.176091259055681}) == {
        "data_stock_tokens": 1.5e13}
    with pytest.raises(ParameterError, match="n_investors"):
        DashboardModel(n_investors=-1)


def test_dashboard_model_stops_at_the_scenarios_horizon():
    model = DashboardModel(n_quarters=2)
    model.step()
    assert model.running
    model.step()
    assert not model.running


def test_same_seed_and_sliders_give_the_same_run_and_a_slider_changes_it():
    def capex(**overrides):
        model = DashboardModel(rng=1, **overrides)
        for _ in range(4):  # a year: the algorithmic trend reaches capex through capability
            model.step()
        return model.datacollector.get_model_vars_dataframe()["ai_capex_usd_b"].tolist()

    assert capex() == capex()
    assert capex() != capex(algorithmic_doubling_years=0.75)


# --- figures ----------------------------------------------------------------------------------
def _lines_with_data(fig) -> list:
    return [line for ax in fig.axes for line in ax.get_lines() if len(line.get_xdata())]


def test_plots_cover_the_issue_series():
    columns = {c for spec in PLOTS for c in spec.columns}
    assert columns >= ISSUE_PLOT_COLUMNS
    assert len(PLOTS) == 7


def test_series_figures_handle_an_empty_table_and_label_quarters(stepped_model):
    empty = stepped_model.datacollector.get_model_vars_dataframe().iloc[:0]
    for spec in PLOTS:
        fig = series_figure(empty, spec)
        assert _lines_with_data(fig) == []
        assert any("press Step" in t.get_text() for t in fig.axes[0].texts)
    table = stepped_model.datacollector.get_model_vars_dataframe()
    for spec in PLOTS:
        fig = series_figure(table, spec, "2023Q1", 40)
        lines = _lines_with_data(fig)
        assert len(lines) == len(spec.columns)
        assert all(len(line.get_xdata()) == len(table) for line in lines)
        fig.canvas.draw()
        labels = [t.get_text() for t in fig.axes[0].get_xticklabels() if t.get_text()]
        assert labels and all(re.fullmatch(r"\d{4}Q[1-4]", s) for s in labels), labels
        assert labels[0] == "2023Q1"


def test_sector_flows_split_each_row_between_payers_and_receivers():
    matrix = pd.DataFrame(
        {"a": [-10.0, 3.0, 0.0], "b": [6.0, -3.0, 1.0], "c": [4.0, 0.0, -1.0]},
        index=["gpu_sales", "interest", "change_in_cash"],
    )
    flows = sector_flows(matrix).set_index(["payer", "payee"])["usd_b"]
    assert flows.to_dict() == pytest.approx({("a", "b"): 6.0, ("a", "c"): 4.0, ("b", "a"): 3.0})


def test_sector_flows_account_for_every_payment_of_the_quarter(stepped_model):
    matrix = transactions_flow_matrix(stepped_model)
    assert set(matrix.columns) == set(SECTORS)
    flows = sector_flows(matrix)
    paid = matrix.drop(index="change_in_cash").clip(lower=0).to_numpy().sum()
    assert flows["usd_b"].sum() == pytest.approx(paid, rel=1e-9)
    assert (flows["usd_b"] > 0).all()
    pairs = set(zip(flows["payer"], flows["payee"], strict=True))
    assert ("investors", "labs") in pairs or ("hyperscalers", "chipmakers") in pairs
    fig = flow_figure(flows, "2024Q2")
    assert fig.axes[0].patches  # arrows drawn


def test_balance_sheets_by_agent_type(stepped_model):
    sheet = balance_sheet_matrix(stepped_model)
    summary = balance_sheet_summary(sheet)
    assert list(summary.columns) == ["cash", "other assets", "debt"]
    assert "rest_of_economy" not in summary.index and "labs" in summary.index
    assert summary.loc["hyperscalers", "debt"] == pytest.approx(-sheet.loc["bonds",
                                                                           "hyperscalers"])
    assert (summary.to_numpy() >= 0).all()
    fig = balance_sheet_figure(sheet, "2024Q2")
    assert fig.axes[0].patches
    assert not balance_sheet_figure(None).axes[0].patches


# --- components -------------------------------------------------------------------------------
def _html(rc, css_class: str) -> str:
    found = [w.unsafe_innerHTML for w in rc.find(solara.widgets.HTML).widgets
             if css_class in (w.attributes.get("class") or "")]
    assert len(found) == 1, css_class
    return found[0]


def _text_of(html: str, css_class: str) -> str:
    match = re.search(rf"class='{css_class}'>([^<]*)<", html)
    assert match, css_class
    return match.group(1)


def _images(rc) -> list[bytes]:
    return [bytes(w.value) for w in rc.find(ipywidgets.Image).widgets]


def test_each_component_renders_before_and_after_a_quarter():
    model = DashboardModel(rng=1)
    components = [StatusPanel, ChainPanel, BalanceSheets, MoneyFlows]
    for steps in (0, 2):
        while model.steps < steps:
            model.step()
        for component in components:
            box, rc = solara.render(component(model), handle_error=False)
            rc.close()
        for spec in PLOTS:
            box, rc = solara.render(SeriesPlot(model, spec), handle_error=False)
            (image,) = _images(rc)
            assert image.startswith(b"\x89PNG")
            rc.close()
    box, rc = solara.render(StatusPanel(model), handle_error=False)
    assert _text_of(_html(rc, "bubble-status"), "bubble-quarter") == "2023Q2"
    rc.close()
    assert len(dashboard_components()) == 2 + len(PLOTS) + 2


@pytest.fixture
def page():
    box, rc = solara.render(app.Page(), handle_error=False)
    yield rc
    rc.close()


def _click(rc, label: str) -> None:
    rc.find(v.Btn, children=[label]).widget.click()


def test_page_steps_and_every_plot_updates(page):
    status = _html(page, "bubble-status")
    assert _text_of(status, "bubble-quarter") == "none yet"
    before = _images(page)
    assert len(before) == len(PLOTS) + 2
    _click(page, "Step")
    assert _text_of(_html(page, "bubble-status"), "bubble-quarter") == "2023Q1"
    _click(page, "Step")
    assert _text_of(_html(page, "bubble-status"), "bubble-quarter") == "2023Q2"
    after = _images(page)
    assert all(a != b for a, b in zip(before, after, strict=True))
    chain = _html(page, "bubble-chain")
    assert "Spend chain" in chain and "Collapse chain" in chain and "Verdict so far" in chain


def test_page_reset_uses_the_moved_slider(page):
    # The trend followers move the first quarter's equity index; with the calibrated baseline
    # the algorithmic trend does not change any first-quarter headline at display precision.
    _click(page, "Step")
    equity = _text_of(_html(page, "bubble-status"), "bubble-equity_index")
    page.find(v.Slider, label="Trend followers (share)").widget.v_model = 0.35
    _click(page, "Reset")
    status = _html(page, "bubble-status")
    assert _text_of(status, "bubble-quarter") == "none yet"
    assert "initial_trend_follower_share = 0.35 (scenario 0.3)" in status
    _click(page, "Step")
    assert _text_of(_html(page, "bubble-status"), "bubble-equity_index") != equity


def test_page_scenario_picker_loads_the_scenarios_values(page):
    page.find(v.Slider, label="Algo. doubling (years)").widget.v_model = 0.75
    page.find(v.Select, label="Scenario").widget.v_model = "data_wall"
    status = _html(page, "bubble-status")
    assert _text_of(status, "bubble-scenario") == "data_wall"
    assert _text_of(status, "bubble-quarter") == "none yet"
    wall = load_scenario("data_wall")
    assert page.find(v.Slider, label="Extra data worth (x stock)").widget.v_model == (
        wall.extra_data_worth)
    # the page was rebuilt: the moved slider is back at the scenario's value
    assert page.find(v.Slider, label="Algo. doubling (years)").widget.v_model == (
        wall.algorithmic_doubling_years)
    _click(page, "Reset")  # Reset keeps the scenario
    status = _html(page, "bubble-status")
    assert _text_of(status, "bubble-scenario") == "data_wall"
    assert _text_of(status, "bubble-changes") == "none"


# --- command line -----------------------------------------------------------------------------
def test_viz_command_runs_solara_on_the_app_module(monkeypatch, capsys):
    calls = []

    def fake_call(command, env):
        calls.append((command, env))
        return 0

    monkeypatch.setattr("subprocess.call", fake_call)
    assert main(["viz", "--port", "8801"]) == 0
    (command, env), = calls
    assert command == viz_command("127.0.0.1", 8801)
    assert command[1:5] == ["-m", "solara", "run", "bubble_abm.viz.app"]
    assert "--production" in command
    assert env["SOLARA_TELEMETRY_MIXPANEL_ENABLE"] == "false"
    assert "http://127.0.0.1:8801/" in capsys.readouterr().out


def test_viz_command_rejects_a_bad_port(capsys):
    assert main(["viz", "--port", "70000"]) == 2
    assert "--port" in capsys.readouterr().err


def test_flows_and_figures_are_finite(stepped_model):
    flows = sector_flows(transactions_flow_matrix(stepped_model))
    assert np.isfinite(flows["usd_b"]).all()
