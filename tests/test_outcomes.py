"""The pandas helpers of bubble_abm.outcomes: on hand-made tables with known answers and on a
small real batch (2 scenarios x 4 seeds, 20 app companies, 20 investors, 10 quarters)."""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")
from matplotlib.collections import PolyCollection  # noqa: E402

from bubble_abm import outcomes  # noqa: E402
from bubble_abm.batch import load_batch, make_plan, run_batch  # noqa: E402

SMALL = {"n_app_companies": 20, "n_investors": 20}
SCENARIOS = ("baseline", "data_wall")


@pytest.fixture(scope="module")
def batch_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("outcomes") / "batch"
    run_batch(make_plan(SCENARIOS, 4, overrides=SMALL, quarters=10), out)
    return out


@pytest.fixture(scope="module")
def tables(batch_dir):
    return load_batch(batch_dir)


# --- bust probability ---------------------------------------------------------------------------
def hand_made_runs() -> pd.DataFrame:
    """Scenario a: 3 busts in 10 finished runs plus 1 failed run; scenario b: 0 of 5."""
    bust = [True] * 3 + [False] * 7 + [pd.NA] + [False] * 5
    return pd.DataFrame({
        "scenario": pd.Categorical(["a"] * 11 + ["b"] * 5, categories=["a", "b"]),
        "status": ["ok"] * 10 + ["failed"] + ["ok"] * 5,
        "bust": pd.array(bust, dtype="boolean"),
    })


def test_bust_probability_of_a_known_runs_table():
    table = outcomes.bust_probability(hand_made_runs()).set_index("scenario")
    assert table.loc["a", ["runs", "busts", "failed"]].tolist() == [10, 3, 1]
    assert table.loc["a", "bust_probability"] == pytest.approx(0.3)
    # Wilson 95% interval of 3/10 (Newcombe 1998, table I): 0.1078 to 0.6032
    assert table.loc["a", "ci_low"] == pytest.approx(0.1078, abs=5e-4)
    assert table.loc["a", "ci_high"] == pytest.approx(0.6032, abs=5e-4)
    assert table.loc["b", "bust_probability"] == 0.0
    assert table.loc["b", "ci_low"] == 0.0 and 0.0 < table.loc["b", "ci_high"] < 1.0


def test_clopper_pearson_interval_is_exact_and_wider_than_wilson():
    # Clopper-Pearson 95% of 3/10 (Newcombe 1998, table I): 0.0667 to 0.6525
    low, high = outcomes.proportion_interval(3, 10, method="clopper-pearson")
    assert (low, high) == pytest.approx((0.0667, 0.6525), abs=5e-4)
    # 0 of n: the upper bound solves (1 - p)^n = alpha / 2
    assert outcomes.proportion_interval(0, 5, method="clopper-pearson") == pytest.approx(
        (0.0, 1 - 0.025 ** (1 / 5)))
    wilson = outcomes.proportion_interval(3, 10)
    assert low < wilson[0] and high > wilson[1]


def test_interval_narrows_with_more_runs_and_rejects_bad_counts():
    narrow = outcomes.proportion_interval(30, 100)
    wide = outcomes.proportion_interval(3, 10)
    assert narrow[1] - narrow[0] < wide[1] - wide[0]
    assert narrow[0] < 0.3 < narrow[1]
    assert all(math.isnan(v) for v in outcomes.proportion_interval(0, 0))
    with pytest.raises(ValueError, match="successes"):
        outcomes.proportion_interval(4, 3)
    with pytest.raises(ValueError, match="method"):
        outcomes.proportion_interval(1, 3, method="normal")


def test_bust_probability_of_a_real_batch(tables, batch_dir):
    runs = tables.runs
    table = outcomes.bust_probability(runs)
    assert table["scenario"].tolist() == list(SCENARIOS)
    assert table["runs"].tolist() == [4, 4]
    expected = runs.groupby("scenario", observed=True)["bust"].mean().astype(float)
    assert table["bust_probability"].tolist() == pytest.approx(expected.tolist())
    assert ((table["ci_low"] <= table["bust_probability"])
            & (table["bust_probability"] <= table["ci_high"])).all()
    assert ((table["ci_low"] >= 0) & (table["ci_high"] <= 1)).all()
    from_folder = outcomes.bust_probability(batch_dir, method="clopper-pearson")
    assert from_folder["busts"].tolist() == table["busts"].tolist()
    pooled = outcomes.bust_probability(runs, by=None)
    assert pooled["runs"].tolist() == [8]


def test_outcome_quantiles_of_a_real_batch(tables):
    runs = tables.runs
    table = outcomes.outcome_quantiles(runs)
    assert len(table) == len(SCENARIOS) * len(outcomes.OUTCOME_COLUMNS)
    assert (table["q10"] <= table["q50"]).all() and (table["q50"] <= table["q90"]).all()
    row = table[(table["scenario"] == "data_wall")
                & (table["measure"] == "stranded_gpu_assets_peak_usd_b")]
    median = runs.loc[runs["scenario"] == "data_wall", "stranded_gpu_assets_peak_usd_b"].median()
    assert row["q50"].item() == pytest.approx(median)
    with pytest.raises(KeyError, match="not columns"):
        outcomes.outcome_quantiles(runs, columns=["no_such_column"])


# --- lead-lag -----------------------------------------------------------------------------------
A, B, C = "capability_gain_per_dollar_falls", "funding_drought", "capex_cut"


def hand_made_events() -> pd.DataFrame:
    """Run r1: A at 2, B and C at 5; r2: C at 2, A at 3, B at 4; r3: A at 1, C at 6, no B.

    Also a second spell of A in r1 (ignored: onsets are first spells) and a spend-chain event
    (not a collapse link)."""
    rows = [("r1", A, 0, 2), ("r1", B, 0, 5), ("r1", C, 0, 5), ("r1", A, 1, 9),
            ("r2", C, 0, 2), ("r2", A, 0, 3), ("r2", B, 0, 4), ("r2", "capex_rising", 0, 0),
            ("r3", A, 0, 1), ("r3", C, 0, 6)]
    frame = pd.DataFrame(rows, columns=["run_id", "event", "spell", "step"])
    frame["scenario"] = "s"
    return frame.sort_values(["run_id", "step"]).reset_index(drop=True)


def test_lead_lag_of_a_known_events_table():
    onsets = outcomes.link_onsets(hand_made_events())
    assert set(onsets["event"]) == {A, B, C}
    assert onsets.loc[(onsets["run_id"] == "r1") & (onsets["event"] == A), "step"].item() == 2
    table = outcomes.lead_lag(onsets).set_index(["link_a", "link_b"])
    assert list(table.index) == [(A, B), (A, C), (B, C)]  # chain order
    ab, ac, bc = table.loc[(A, B)], table.loc[(A, C)], table.loc[(B, C)]
    assert ab["runs_both"] == 2 and ab["a_first_share"] == 1.0 and ab["lag_median"] == 2.0
    assert ac["runs_both"] == 3
    assert ac["a_first_share"] == pytest.approx(2 / 3)
    assert ac["b_first_share"] == pytest.approx(1 / 3)
    assert ac["lag_median"] == 3.0 and ac["lag_q25"] == 1.0 and ac["lag_q75"] == 4.0
    assert bc["same_quarter_share"] == 0.5 and bc["b_first_share"] == 0.5
    assert bc["lag_median"] == -1.0


def test_first_links_of_a_known_events_table():
    first = outcomes.first_links(outcomes.link_onsets(hand_made_events()))
    assert first["event"].tolist() == [A, C, B]
    assert first["first_runs"].tolist() == [2, 1, 0]
    assert first["first_share"].tolist() == pytest.approx([2 / 3, 1 / 3, 0.0])
    assert first.loc[first["event"] == B, "seen_share"].item() == pytest.approx(2 / 3)


def test_chain_links_of_a_real_batch_lie_near_the_capex_peak(tables):
    runs, _, events = tables
    links = outcomes.chain_link_onsets(runs)
    assert len(links) > 0
    assert set(links["event"]) <= set(outcomes.COLLAPSE_LINKS)
    peak = runs.set_index("run_id")["chain_capex_peak_step"].astype(float)
    assert (links["step"] - links["run_id"].map(peak) == links["quarters_from_peak"]).all()
    table = outcomes.lead_lag(links, by="scenario")
    assert set(table["scenario"]) <= set(SCENARIOS)
    shares = table[["a_first_share", "same_quarter_share", "b_first_share"]].sum(axis=1)
    assert np.allclose(shares, 1.0)
    onsets = outcomes.link_onsets(events)
    assert not onsets.duplicated(["run_id", "event"]).any()


# --- fan charts ---------------------------------------------------------------------------------
def test_fan_chart_draws_one_median_and_one_band_per_scenario(tables, batch_dir):
    import matplotlib.pyplot as plt

    table = outcomes.fan_table(tables.quarters, "ai_capex_usd_b")
    assert len(table) == len(SCENARIOS) * 10
    assert (table["low"] <= table["median"]).all() and (table["median"] <= table["high"]).all()
    assert (table["runs"] == 4).all()
    fig = outcomes.fan_chart(batch_dir, "ai_capex_usd_b")
    ax = fig.axes[0]
    assert len(ax.lines) == len(SCENARIOS)
    assert sum(isinstance(c, PolyCollection) for c in ax.collections) == len(SCENARIOS)
    assert len(ax.lines[0].get_xdata()) == 10
    plt.close(fig)
    with pytest.raises(KeyError, match="not a column"):
        outcomes.fan_table(tables.quarters, "no_such_column")
