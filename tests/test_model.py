"""The model end to end: its tables, its Mesa API, and the chain moving in the right directions."""

from __future__ import annotations

import numpy as np
import pytest
from mesa import Model

from bubble_abm import BubbleModel
from bubble_abm.agents import AppCompany, Chipmaker, Hyperscaler, Investor, ModelLab
from bubble_abm.core.ledger import LedgerError

REQUIRED_COLUMNS = [
    "quarter", "hyperscaler_capex_usd_b", "ai_capex_usd_b", "gpu_orders_h100e",
    "gpu_shipments_h100e", "installed_gpus_h100e", "chip_revenue_usd_b", "gpu_price_usd",
    "utilization", "gpu_rental_price_usd_per_hour", "frontier_loss", "frontier_capability",
    "open_capability", "capability_gap", "lab_revenue_usd_b", "app_revenue_usd_b",
    "ai_revenue_usd_b", "capex_to_ai_revenue", "hyperscaler_debt_usd_b", "credit_spread",
    "equity_index", "equity_drawdown", "stranded_gpu_assets_usd_b", "impairments_usd_b",
    "defaults", "total_money_usd_b",
]


@pytest.fixture(scope="module")
def baseline_runs():
    runs = []
    for seed in range(4):
        model = BubbleModel(rng=seed, n_app_companies=40, n_investors=40)
        model.run_for(16)
        runs.append(model)
    return runs


def test_model_is_a_mesa_model_with_the_five_agent_types(baseline_runs):
    model = baseline_runs[0]
    assert isinstance(model, Model)
    counts = {t: len(model.agents_by_type.get(t, [])) for t in
              (Chipmaker, Hyperscaler, ModelLab, AppCompany, Investor)}
    assert counts[Chipmaker] == 3 and counts[Hyperscaler] == 7
    assert counts[ModelLab] >= 1 and counts[Investor] == 40 and counts[AppCompany] >= 1


def test_model_table_has_the_required_columns_and_calendar_quarters(baseline_runs):
    table = baseline_runs[0].datacollector.get_model_vars_dataframe()
    assert [c for c in REQUIRED_COLUMNS if c not in table.columns] == []
    assert list(table["quarter"][:5]) == ["2023Q1", "2023Q2", "2023Q3", "2023Q4", "2024Q1"]
    assert len(table) == 16


def test_stocks_and_prices_stay_in_their_domains(baseline_runs):
    for model in baseline_runs:
        table = model.model_table()
        assert table["utilization"].between(0.0, 1.0).all()
        assert table["frontier_capability"].between(0.0, 1.0).all()
        assert table["equity_drawdown"].between(0.0, 1.0).all()
        assert (table["stranded_gpu_assets_usd_b"] >= 0).all()
        assert (table["installed_gpus_h100e"] > 0).all()
        assert table["defaults"].is_monotonic_increasing


def test_spend_chain_money_reaches_chipmakers_in_the_first_years(baseline_runs):
    """Investors and legacy cash fund capex; chip revenue and installed GPUs rise (2023-26)."""
    for model in baseline_runs:
        table = model.model_table()
        assert table["chip_revenue_usd_b"].iloc[-4:].mean() > 3 * table[
            "chip_revenue_usd_b"].iloc[1:4].mean()
        assert table["installed_gpus_h100e"].iloc[-1] > 5 * table["installed_gpus_h100e"].iloc[0]
        assert table["ai_capex_usd_b"].iloc[-4:].mean() > table["ai_capex_usd_b"].iloc[1:4].mean()


def test_frontier_capability_rises_and_open_models_trail(baseline_runs):
    for model in baseline_runs:
        table = model.model_table()
        assert table["frontier_capability"].iloc[-1] > table["frontier_capability"].iloc[0]
        assert (table["open_capability"] <= table["frontier_capability"] + 1e-9).mean() > 0.8


def test_a_harder_data_wall_slows_capability_across_seeds():
    """Direction of effect: the same seeds reach lower frontier capability behind a hard wall."""
    lower = 0
    for seed in range(5):
        easy = BubbleModel(rng=seed, n_app_companies=30, n_investors=30, extra_data_worth=5.0,
                           data_stock_tokens=5e13)
        hard = BubbleModel(rng=seed, n_app_companies=30, n_investors=30, extra_data_worth=0.0,
                           data_stock_tokens=5e12)
        easy.run_for(20)
        hard.run_for(20)
        lower += (hard.model_table()["frontier_loss"].iloc[-1]
                  > easy.model_table()["frontier_loss"].iloc[-1])
    assert lower >= 4


def test_kwargs_construction_works_like_mesa_batch_run():
    model = BubbleModel(n_investors=12, n_app_companies=12, rng=7)
    model.run_for(2)
    assert np.isfinite(model.model_table()["ai_capex_usd_b"]).all()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_generation_with_nothing_installed_keeps_its_launch_rent(seed):
    """The quarter a generation launches nothing of it is installed yet: it had no market, so
    its posted rent and expected utilization carry over instead of reading as an idle fleet
    (before this, its rent was cut toward the idle floor every launch)."""
    from bubble_abm import make_params

    model = BubbleModel(make_params({"n_app_companies": 20, "n_investors": 20}), rng=seed)
    launches = 0
    for _ in range(24):
        generations = model.rents_usd_per_hour.size
        model.step()
        installed = model.compute_result.capacity_hours.sum(axis=0)
        if model.rents_usd_per_hour.size > generations and installed[-1] == 0.0:
            launches += 1
            assert model.expected_utilization[-1] == 1.0
            assert model.rents_usd_per_hour[-1] == model.expected_rents_usd_per_hour[-1]
    assert launches >= 2


def test_big_four_fleet_share_sets_the_opening_fleet_split():
    for share in (0.5, 0.75):
        model = BubbleModel(rng=1, n_app_companies=5, n_investors=5, big_four_fleet_share=share)
        installed = {kind: sum(o.fleet.installed_h100e for o in model.gpu_owners
                               if o.kind == kind) for kind in ("big_four", "levered", "other")}
        total = sum(installed.values())
        assert installed["big_four"] / total == pytest.approx(share)
        assert installed["levered"] / total == pytest.approx(0.05)


@pytest.mark.parametrize("stagger", [0, 1])
def test_labs_finish_their_runs_together_unless_staggered(stagger):
    # The baseline's labs all start a run in 2023Q1 (their training demand moves in step);
    # training_start_stagger_quarters=1 puts every other lab one quarter into its first run.
    model = BubbleModel(n_app_companies=20, n_investors=20,
                        training_start_stagger_quarters=stagger, rng=3)
    finished = {lab.unique_id: [] for lab in model.labs}
    for _ in range(4):
        model.step()
        for lab in model.labs:
            if lab.run_quarters_done == 0:
                finished[lab.unique_id].append(model.quarter_label)
    patterns = {tuple(quarters) for quarters in finished.values()}
    if stagger == 0:
        assert patterns == {("2023Q2", "2023Q4")}
    else:
        assert patterns == {("2023Q2", "2023Q4"), ("2023Q1", "2023Q3")}


def test_a_run_without_agent_rows_is_the_same_run(baseline_runs):
    """record_agents=False (batches, calibration) skips only the agent table's rows."""
    model = BubbleModel(rng=0, n_app_companies=40, n_investors=40, record_agents=False)
    model.run_for(16)
    recorded = baseline_runs[0].model_table()
    assert recorded.equals(model.model_table())
    assert len(baseline_runs[0].agent_table()) > 0
    with pytest.raises(RuntimeError, match="record_agents=False"):
        model.agent_table()


@pytest.mark.parametrize("record_agents", [True, False])
def test_non_finite_cash_stops_the_run_with_or_without_agent_rows(record_agents):
    """The quarter's observation checks the whole ledger's cash either way; a payment out of
    NaN cash fails before that."""
    model = BubbleModel(rng=0, n_app_companies=40, n_investors=40, record_agents=record_agents)
    model.run_for(2)
    model.ledger.balances_usd_b[model.labs[0].account] = np.nan
    with pytest.raises(FloatingPointError, match="non-finite cash"):
        model._collect()
    with pytest.raises((FloatingPointError, LedgerError)):
        model.run_for(1)
