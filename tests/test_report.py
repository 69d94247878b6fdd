"""Tests for bubble_abm.report on synthetic boom-bust model tables."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from bubble_abm.chains import EVENT_COLUMNS, ChainThresholds, detect_events, summarize_chain
from bubble_abm.report import (
    EVENT_PANELS,
    format_summary,
    plot_chain,
    run_summary,
    write_run_outputs,
)

N = 40
PEAK = 15  # index of peak capex -> 2026Q4
STRANDED_PEAK = 30  # -> 2030Q3
DD_PEAK = 25  # -> 2029Q2
UTIL_MIN = 28  # -> 2030Q1


def _quarters(n: int, start_year: int = 2023) -> list[str]:
    return [f"{start_year + i // 4}Q{i % 4 + 1}" for i in range(n)]


def make_table(n: int = N) -> pd.DataFrame:
    """Boom-bust table; hyperscaler capex peaks at 200 (AI capex 100) in index PEAK."""
    i = np.arange(n, dtype=float)
    capex = np.where(i <= PEAK, 50.0 + 10.0 * i, np.maximum(200.0 - 12.0 * (i - PEAK), 20.0))
    ai_capex = capex / 2.0
    ai_rev = 5.0 + i
    stranded = np.where(i <= PEAK, 0.0, np.maximum(0.0, 300.0 - 20.0 * np.abs(i - STRANDED_PEAK)))
    drawdown = np.clip(0.6 - 0.04 * np.abs(i - DD_PEAK), 0.0, None)
    utilization = 0.95 - 0.4 * np.exp(-0.5 * ((i - UTIL_MIN) / 3.0) ** 2)
    equity = 100.0 * (1.0 - drawdown)
    orders = 1e6 * (0.5 + 0.1 * i)
    return pd.DataFrame(
        {
            "step": np.arange(1, n + 1),
            "quarter": _quarters(n),
            "hyperscaler_capex_usd_b": capex,
            "ai_capex_usd_b": ai_capex,
            "gpu_orders_h100e": orders,
            "gpu_shipments_h100e": orders * 0.9,
            "installed_gpus_h100e": np.cumsum(orders * 0.9),
            "chip_revenue_usd_b": ai_capex * 0.4,
            "gpu_price_usd": 25_000.0 - 100.0 * i,
            "utilization": utilization,
            "gpu_rental_price_usd_per_hour": 2.5 * utilization,
            "frontier_loss": 2.0 - 0.01 * i,
            "frontier_capability": 0.5 + 0.01 * i,
            "open_capability": 0.4 + 0.011 * i,
            "capability_gap": np.maximum(0.0, 0.4 - 0.01 * i),
            "lab_revenue_usd_b": ai_rev * 0.6,
            "app_revenue_usd_b": ai_rev * 0.4,
            "ai_revenue_usd_b": ai_rev,
            "capex_to_ai_revenue": ai_capex / ai_rev,
            "hyperscaler_debt_usd_b": 100.0 + 2.0 * i,
            "credit_spread": 0.012 + 0.01 * drawdown,
            "equity_index": equity,
            "equity_drawdown": drawdown,
            "stranded_gpu_assets_usd_b": stranded,
            "impairments_usd_b": np.where(i > PEAK, 5.0, 0.0),
            "defaults": np.where(i >= 27, 3, 0).astype(int),
            "total_money_usd_b": 1000.0 + 0.0 * i,
        }
    )


def test_quarter_labels() -> None:
    q = _quarters(N)
    assert q[0] == "2023Q1" and q[PEAK] == "2026Q4" and q[-1] == "2032Q4"


def test_summary_peak_and_values() -> None:
    s = run_summary(make_table())
    assert s["peak_capex_quarter"] == "2026Q4"
    assert s["peak_capex_usd_b_per_quarter"] == pytest.approx(100.0)  # AI capex peak
    assert s["peak_capex_annualised_usd_b"] == pytest.approx(400.0)
    assert s["final_quarter"] == "2032Q4"
    # revenue = 5 + i: indices 12..15 -> 17+18+19+20
    assert s["ai_revenue_usd_b_at_peak_capex_year"] == pytest.approx(74.0)
    # indices 36..39 -> 41+42+43+44
    assert s["ai_revenue_usd_b_per_year_final"] == pytest.approx(170.0)
    # AI capex 85+90+95+100 = 370 over revenue 74
    assert s["capex_to_ai_revenue_at_peak"] == pytest.approx(5.0)
    assert s["stranded_gpu_assets_peak_usd_b"] == pytest.approx(300.0)
    assert s["stranded_gpu_assets_peak_quarter"] == "2030Q3"
    assert s["stranded_gpu_assets_final_usd_b"] == pytest.approx(300.0 - 20.0 * 9)
    assert s["max_equity_drawdown"] == pytest.approx(0.6)
    assert s["max_equity_drawdown_quarter"] == "2029Q2"
    assert s["defaults"] == 3 and isinstance(s["defaults"], int)
    assert s["min_utilization"] == pytest.approx(0.55)
    assert s["min_utilization_quarter"] == "2030Q1"
    json.dumps(s)  # plain python scalars


def test_summary_step_as_index_and_unsorted() -> None:
    base = make_table()
    shuffled = base.sample(frac=1.0, random_state=0).set_index("step")
    assert run_summary(shuffled) == run_summary(base)


def test_summary_first_of_tied_peaks() -> None:
    df = make_table()
    df.loc[PEAK + 4, "ai_capex_usd_b"] = 100.0
    assert run_summary(df)["peak_capex_quarter"] == "2026Q4"


@pytest.mark.parametrize("n", [1, 3])
def test_summary_short_tables(n: int) -> None:
    df = make_table(n)
    s = run_summary(df)
    i = np.arange(n)
    rev = 5.0 + i
    assert s["final_quarter"] == _quarters(n)[-1]
    assert s["peak_capex_quarter"] == _quarters(n)[-1]  # capex still rising
    assert s["ai_revenue_usd_b_per_year_final"] == pytest.approx(rev.sum())
    assert s["ai_revenue_usd_b_at_peak_capex_year"] == pytest.approx(rev.sum())
    ai_capex = (50.0 + 10.0 * i) / 2.0
    assert s["capex_to_ai_revenue_at_peak"] == pytest.approx(ai_capex.sum() / rev.sum())
    text = format_summary(s)
    assert _quarters(n)[-1] in text


def test_zero_revenue_ratio_is_inf() -> None:
    df = make_table(4)
    df["ai_revenue_usd_b"] = 0.0
    assert run_summary(df)["capex_to_ai_revenue_at_peak"] == float("inf")


def test_format_summary() -> None:
    text = format_summary(run_summary(make_table()), title="test run")
    lines = text.splitlines()
    assert lines[0] == "test run"
    assert 8 <= len(lines) <= 12
    assert "2026Q4" in text and "$100B/qtr" in text and "$400B" in text and "$74.0B" in text
    assert "5.0x" in text and "60.0%" in text and "55.0%" in text
    # values aligned on the colon
    colons = {line.index(" : ") for line in lines[2:]}
    assert len(colons) == 1


def _assert_png(path) -> None:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 10_000


def test_plot_chain(tmp_path) -> None:
    out = plot_chain(make_table(), tmp_path / "nested" / "dir" / "chain.png", title="synthetic")
    assert out == tmp_path / "nested" / "dir" / "chain.png"
    _assert_png(out)


def test_plot_chain_with_events(tmp_path) -> None:
    mt = make_table()
    events = detect_events(mt)
    assert not events.empty
    _assert_png(plot_chain(mt, tmp_path / "given.png", events=events))
    _assert_png(plot_chain(mt, tmp_path / "none.png", events=events.iloc[:0]))
    # every event the detector knows has a panel
    from bubble_abm.chains import EVENT_DEFINITIONS

    assert set(EVENT_PANELS) == set(EVENT_DEFINITIONS)


def test_write_run_outputs_thresholds(tmp_path) -> None:
    mt = make_table()
    strict = ChainThresholds(utilization_fall_from_peak=0.99)
    paths = write_run_outputs(mt, None, tmp_path, thresholds=strict)
    assert "utilization_falls" not in set(pd.read_csv(paths["events.csv"])["event"])


@pytest.mark.parametrize("n", [1, 3])
def test_plot_chain_short(tmp_path, n: int) -> None:
    _assert_png(plot_chain(make_table(n), str(tmp_path / "c.png")))


def test_write_run_outputs(tmp_path) -> None:
    mt = make_table()
    agents = pd.DataFrame(
        {
            "Step": np.repeat(np.arange(1, 4), 2),
            "AgentID": np.tile([1, 2], 3),
            "cash_usd_b": np.linspace(1.0, 6.0, 6),
            "kind": ["lab", "hyperscaler"] * 3,
        }
    ).set_index(["Step", "AgentID"])
    out_dir = tmp_path / "run"
    paths = write_run_outputs(mt, agents, out_dir, title="synthetic")
    expected = {
        "model_table.parquet",
        "model_table.csv",
        "agent_table.parquet",
        "chain.png",
        "summary.txt",
        "summary.json",
        "events.csv",
        "chain.json",
    }
    assert set(paths) == expected
    for name, p in paths.items():
        assert p == out_dir / name and p.is_file() and p.stat().st_size > 0

    back = pd.read_parquet(paths["model_table.parquet"])
    assert list(back.columns) == list(mt.columns)
    pd.testing.assert_frame_equal(back, mt)
    csv = pd.read_csv(paths["model_table.csv"])
    assert list(csv.columns) == list(mt.columns)
    pd.testing.assert_frame_equal(pd.read_parquet(paths["agent_table.parquet"]), agents)

    _assert_png(paths["chain.png"])
    assert json.loads(paths["summary.json"].read_text()) == run_summary(mt)
    assert paths["summary.txt"].read_text().startswith("synthetic")

    events = pd.read_csv(paths["events.csv"])
    assert list(events.columns) == list(EVENT_COLUMNS)
    expected_events = detect_events(mt)
    assert list(events["event"]) == list(expected_events["event"])
    assert list(events["quarter"]) == list(expected_events["quarter"])
    assert {"capex_cut", "utilization_falls", "equity_drawdown"} <= set(events["event"])
    chain = json.loads(paths["chain.json"].read_text())
    assert chain == json.loads(json.dumps(summarize_chain(mt)))
    # trailing 4-quarter AI capex peaks a quarter after the quarterly peak: 90+95+100+94
    assert chain["capex_peak_quarter"] == "2027Q1"
    text = paths["summary.txt"].read_text()
    assert "Peak AI capex" in text and "Verdict" in text and "Spend chain" in text
    assert text.index("Peak AI capex") < text.index("Verdict")


def test_agent_table_mixed_object_column(tmp_path) -> None:
    agents = pd.DataFrame({"Step": [1, 1, 2], "note": ["a", 1.5, None]})
    paths = write_run_outputs(make_table(8), agents, tmp_path)
    back = pd.read_parquet(paths["agent_table.parquet"])
    assert list(back["note"][:2]) == ["a", "1.5"] and pd.isna(back["note"][2])
    assert list(back.columns) == ["Step", "note"]


@pytest.mark.parametrize(("rent_multiple", "unbounded"), [(1.242, True), (0.5, False)])
def test_stranded_summary_names_an_economic_life_that_never_ends(rent_multiple, unbounded):
    # A rent that never falls to the running cost (a generation behind rents at least as much)
    # has no economic life in years; the summary says so instead of printing the formula's cap.
    from bubble_abm import BubbleModel, make_params
    from bubble_abm.report import format_stranded_by_owner

    model = BubbleModel(make_params({"n_app_companies": 20, "n_investors": 20,
                                     "older_generation_rent_discount": rent_multiple}), rng=1)
    model.run_for(12)
    owner_lines = format_stranded_by_owner(model).splitlines()[1:]
    assert owner_lines
    for line in owner_lines:
        assert ("economic life unbounded" in line) is unbounded
        assert ("y vs accounting 5.5 y" in line) is not unbounded
