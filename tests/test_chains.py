"""Chain events and verdicts (bubble_abm.chains) on synthetic model tables with known quarters.

``boom_bust()`` builds a 40-quarter table (2023Q1..2032Q4) in which every series is flat or
steps once, so each event's quarter follows by hand from its definition (worked out next to
each series). Row i is quarter QUARTERS[i] and step i + 1.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from bubble_abm import BubbleModel, make_params
from bubble_abm.chains import (
    COLLAPSE_ORDER,
    EVENT_COLUMNS,
    EVENT_DEFINITIONS,
    EVENT_LABELS,
    SPEND_CHAIN,
    VERDICT_DEFINITIONS,
    VERDICTS,
    ChainThresholds,
    detect_and_summarize,
    detect_events,
    format_chain,
    summarize_chain,
)

N = 40
QUARTERS = [f"{2023 + i // 4}Q{i % 4 + 1}" for i in range(N)]
ROW = np.arange(N, dtype=float)


def _step_at(before: float, after: float, at: int, n: int = N) -> np.ndarray:
    """``before`` for rows < at, ``after`` from row ``at`` on."""
    return np.where(np.arange(n) < at, before, after).astype(float)


def _grow_then_drop(start: float, peak_row: int, drop_to: float, n: int = N) -> np.ndarray:
    """Grows 10% a quarter up to ``peak_row``, then flat at ``drop_to`` times the peak."""
    i = np.arange(n, dtype=float)
    rising = start * 1.1**i
    return np.where(i <= peak_row, rising, drop_to * start * 1.1**peak_row)


def _equity_falling_from(start_row: int, n: int = N) -> np.ndarray:
    """Up 5% a quarter to ``start_row``, then down 15% a quarter for 6 quarters, then flat."""
    i = np.arange(n, dtype=float)
    up = 100.0 * 1.05 ** np.minimum(i, start_row)
    return up * 0.85 ** np.clip(i - start_row, 0, 6)


def boom_bust(n: int = N) -> pd.DataFrame:
    """A boom to a capex peak in 2027Q4 (row 19) and a full bust, every link in chain order."""
    equity = _equity_falling_from(24, n)
    return pd.DataFrame(
        {
            "step": np.arange(1, n + 1),
            "quarter": QUARTERS[:n],
            # +10%/qtr to row 19, then 40% of the peak. Trailing-4q sums: growth 1.1^4-1 = 46%
            # from row 7 (capex_rising 2024Q4); peak at row 19 (2027Q4); ratio to it 0.90 at
            # row 20, 0.78 at 21, 0.63 at 22 -> capex_cut row 21 (2028Q2).
            "ai_capex_usd_b": _grow_then_drop(10.0, 19, 0.4, n),
            # +10%/qtr to row 21, then 30% -> ratios 0.87, 0.72, 0.54 at rows 22, 23, 24:
            # chip_orders_fall row 24 (2029Q1); gpu_orders_rising row 7.
            "gpu_orders_h100e": _grow_then_drop(1e5, 21, 0.3, n),
            # +10%/qtr to row 19, then flat: chip_revenue_rising row 7, never falls.
            "chip_revenue_usd_b": _grow_then_drop(5.0, 19, 1.0, n),
            # +5%/qtr (21.6% a year) from row 0: equity_rising row 4 (2024Q1). Down 15%/qtr
            # from row 25: drawdown 0.15, 0.28 at rows 25, 26 -> equity_drawdown row 26.
            "equity_index": equity,
            "equity_drawdown": 1.0 - equity / np.maximum.accumulate(equity),
            # sectors: chipmakers halve at row 25 (event 2029Q2), levered at row 27, the big
            # four and other owners flat (no event).
            "chipmaker_equity_usd_b": _step_at(1000.0, 500.0, 25, n),
            "big_four_equity_usd_b": np.full(n, 8000.0),
            "levered_equity_usd_b": _step_at(400.0, 200.0, 27, n),
            "other_owner_equity_usd_b": np.full(n, 50.0),
            # logit +0.2/qtr; training spend 1 -> 4 $B/qtr at row 10: gain per $B over 4 qtrs
            # is 0.8/4 = 0.2 (peak), 0.8/7 at row 10 (ratio 0.57), 0.8/10 at row 11 (0.4):
            # capability_gain_per_dollar_falls row 11 (2025Q4).
            "frontier_logit": 0.2 * np.arange(n),
            "lab_training_spend_usd_b": _step_at(1.0, 4.0, 10, n),
            # gap 0.5 -> 0.1 at row 12: trailing mean ratio 0.8, 0.6, 0.4 at rows 12, 13, 14:
            # frontier_open_gap_narrows row 14 (2026Q3).
            "capability_gap": _step_at(0.5, 0.1, 12, n),
            # revenue 10, inference 2 -> 8 at row 14: trailing serving margin 0.8, 0.65, 0.5:
            # drop 0.3 > 0.25 at row 15 -> lab_margin_falls row 15 (2026Q4).
            "lab_revenue_usd_b": np.full(n, 10.0),
            "lab_inference_spend_usd_b": _step_at(2.0, 8.0, 14, n),
            # requested 10/qtr, raised 10 -> 2 at row 16: share over the trailing 2 quarters
            # 0.6, 0.2 at rows 16, 17 -> funding_drought row 17 (2027Q2).
            "lab_funding_requested_usd_b": np.full(n, 10.0),
            "lab_funding_raised_usd_b": _step_at(10.0, 2.0, 16, n),
            # utilization 0.9 -> 0.5 (44% below its peak), newest rent 4 -> 2.5 (a 37.5% fall)
            # and H100 rent 2 -> 1.2 (40%) at row 19: utilization_falls and rental_price_falls
            # row 19 (2027Q4).
            "utilization": _step_at(0.9, 0.5, 19, n),
            "newest_rental_price_usd_per_hour": _step_at(4.0, 2.5, 19, n),
            "gpu_rental_price_usd_per_hour": _step_at(2.0, 1.2, 19, n),
            # stranded 0 -> 30% of book at row 20: stranded_assets_rise row 20 (2028Q1).
            "gpu_book_value_usd_b": np.full(n, 100.0),
            "stranded_gpu_assets_usd_b": _step_at(0.0, 30.0, 20, n),
            "stranded_share_of_fleet": _step_at(0.0, 0.3, 20, n),
            # spread +150bp at row 28, first default at row 28 (2030Q1).
            "credit_spread": _step_at(0.02, 0.035, 28, n),
            "defaults": _step_at(0, 1, 28, n).astype(int),
        }
    )


EXPECTED = {
    "equity_rising": 4,
    "capex_rising": 7,
    "gpu_orders_rising": 7,
    "chip_revenue_rising": 7,
    "capability_gain_per_dollar_falls": 11,
    "frontier_open_gap_narrows": 14,
    "lab_margin_falls": 15,
    "funding_drought": 17,
    "utilization_falls": 19,
    "rental_price_falls": 19,
    "stranded_assets_rise": 20,
    "capex_cut": 21,
    "chip_orders_fall": 24,
    "chipmaker_equity_drawdown": 25,
    "equity_drawdown": 26,
    "levered_equity_drawdown": 27,
    "credit_spread_widens": 28,
    "defaults": 28,
}


def first_rows(events: pd.DataFrame) -> dict[str, int]:
    return {e: int(s) - 1 for e, s in zip(events["event"], events["step"], strict=True)}


# --- detect_events --------------------------------------------------------------------------
def test_each_event_fires_at_its_quarter() -> None:
    events = detect_events(boom_bust())
    assert first_rows(events) == EXPECTED  # and nothing else (lab funding never grows)
    by_event = events.set_index("event")
    for name, row in EXPECTED.items():
        assert by_event.loc[name, "quarter"] == QUARTERS[row], name
    assert list(events.columns) == list(EVENT_COLUMNS)
    assert events["step"].is_monotonic_increasing


def test_event_values_and_thresholds() -> None:
    ev = detect_events(boom_bust()).set_index("event")
    assert ev.loc["capex_rising", "value"] == pytest.approx(1.1**4 - 1)
    assert ev.loc["capex_rising", "threshold"] == 0.2
    assert ev.loc["utilization_falls", "value"] == pytest.approx(1 - 0.5 / 0.9)
    assert ev.loc["utilization_falls", "threshold"] == 0.2
    assert ev.loc["rental_price_falls", "value"] == pytest.approx(0.375)
    assert ev.loc["stranded_assets_rise", "value"] == pytest.approx(0.3)
    assert ev.loc["funding_drought", "value"] == pytest.approx(0.2)  # raised / requested
    assert ev.loc["funding_drought", "threshold"] == 0.5
    assert ev.loc["capability_gain_per_dollar_falls", "value"] == pytest.approx(0.4)
    assert ev.loc["frontier_open_gap_narrows", "value"] == pytest.approx(0.4)
    assert ev.loc["lab_margin_falls", "value"] == pytest.approx(0.3)
    assert ev.loc["chipmaker_equity_drawdown", "value"] == pytest.approx(0.5)
    assert ev.loc["credit_spread_widens", "value"] == pytest.approx(0.015)
    assert ev.loc["defaults", "value"] == 1.0
    assert set(ev["direction"]) == {"up", "down"}
    for name in (*SPEND_CHAIN,):
        assert ev.loc[name, "direction"] == "up"
    assert ev.loc["capex_cut", "direction"] == "down"
    # spells: rent falls only against the previous 4 quarters (rows 19..22)
    assert ev.loc["rental_price_falls", "end_quarter"] == QUARTERS[22]
    assert ev.loc["utilization_falls", "end_quarter"] == QUARTERS[-1]


def test_not_before_its_quarter_and_sustain() -> None:
    """A one-quarter blip is not an event; with sustain_quarters=1 it is."""
    df = boom_bust()
    df.loc[9, "utilization"] = 0.3  # row 9 only
    assert first_rows(detect_events(df))["utilization_falls"] == 19
    assert (
        first_rows(detect_events(df, ChainThresholds(sustain_quarters=1)))["utilization_falls"] == 9
    )
    # the sustained spell is dated by its first quarter
    df.loc[[30, 31, 32], "utilization"] = 0.95
    spells = detect_events(df, ChainThresholds(sustain_quarters=1), all_spells=True)
    util = spells[spells["event"] == "utilization_falls"]
    assert list(util["step"] - 1) == [9, 19, 33]
    assert list(util["end_step"] - 1) == [9, 29, 39]


def test_warmup_ignores_first_quarters() -> None:
    df = boom_bust()
    df.loc[[1, 2], "utilization"] = 0.3
    assert first_rows(detect_events(df))["utilization_falls"] == 19
    assert (
        first_rows(detect_events(df, ChainThresholds(warmup_quarters=0)))["utilization_falls"] == 1
    )


def test_thresholds_move_events() -> None:
    df = boom_bust()
    # the capex ratio to peak is 0.90 at row 20: a 5% cut threshold fires a quarter earlier
    assert (
        first_rows(detect_events(df, ChainThresholds(capex_cut_from_peak=0.05)))["capex_cut"] == 20
    )
    # utilization 0.9 -> 0.5 is a 44% fall, not more than 50%
    assert "utilization_falls" not in first_rows(
        detect_events(df, ChainThresholds(utilization_fall_from_peak=0.5))
    )
    # funding over 4 quarters: the share is 0.6 at row 17, 0.4 at row 18 (a quarter later)
    four = ChainThresholds(funding_window_quarters=4)
    assert first_rows(detect_events(df, four))["funding_drought"] == 18


def test_rent_falls_needs_both_generations() -> None:
    """A newest-generation rent that drops alone (a launch premium fading) is not an event."""
    df = boom_bust()
    df["gpu_rental_price_usd_per_hour"] = 2.0 * 0.97**ROW  # the H100 only deflates
    assert "rental_price_falls" not in set(detect_events(df)["event"])
    # without the newest-generation column the H100 rent decides alone
    df = boom_bust().drop(columns="newest_rental_price_usd_per_hour")
    ev = detect_events(df).set_index("event")
    assert ev.loc["rental_price_falls", "step"] - 1 == 19
    assert ev.loc["rental_price_falls", "value"] == pytest.approx(0.4)


def test_funding_drought_second_test_and_material_requests() -> None:
    df = boom_bust()
    df["lab_funding_requested_usd_b"] = 0.0  # no requests: only the fall from peak counts
    ev = detect_events(df).set_index("event")
    assert ev.loc["funding_drought", "step"] - 1 == 17  # 4/20 of the peak
    assert ev.loc["funding_drought", "value"] == pytest.approx(0.2)
    df["lab_funding_raised_usd_b"] = 10.0
    assert "funding_drought" not in set(detect_events(df)["event"])
    # rationed all along, but the amount raised keeps growing: no drought
    df["lab_funding_requested_usd_b"] = 1e4
    df["lab_funding_raised_usd_b"] = 10.0 * 1.1**ROW
    assert "funding_drought" not in set(detect_events(df)["event"])


def test_defaults_need_one_quarter_and_lab_funding_from_zero() -> None:
    df = boom_bust()
    df["defaults"] = _step_at(0, 2, 39).astype(int)
    df["lab_funding_raised_usd_b"] = _step_at(0.0, 5.0, 10)
    ev = detect_events(df).set_index("event")
    assert ev.loc["defaults", "step"] - 1 == 39 and ev.loc["defaults", "value"] == 2
    assert ev.loc["lab_funding_rising", "step"] - 1 == 10
    assert np.isinf(ev.loc["lab_funding_rising", "value"])


def test_step_index_unsorted_and_missing_columns() -> None:
    df = boom_bust()
    shuffled = df.sample(frac=1.0, random_state=1).set_index("step")
    pd.testing.assert_frame_equal(detect_events(shuffled), detect_events(df))
    short = df.drop(columns=["chipmaker_equity_usd_b", "lab_inference_spend_usd_b"])
    ev = detect_events(short)
    assert "chipmaker_equity_drawdown" not in set(ev["event"])
    assert "lab_margin_falls" not in set(ev["event"])
    s = summarize_chain(short)
    assert set(s["events_unavailable"]) == {"chipmaker_equity_drawdown", "lab_margin_falls"}


@pytest.mark.parametrize("n", [0, 1, 3])
def test_short_and_empty_tables(n: int) -> None:
    df = boom_bust(max(n, 1)).iloc[:n]
    ev = detect_events(df)
    assert list(ev.columns) == list(EVENT_COLUMNS)
    assert ev.empty
    assert ev["step"].dtype == np.int64 and ev["value"].dtype == np.float64
    s = summarize_chain(df)
    assert s["verdict"] == "not_yet_decided"
    json.dumps(s)


# --- summarize_chain ------------------------------------------------------------------------
def test_full_bust_in_order() -> None:
    s = summarize_chain(boom_bust())
    assert s["verdict"] == "bust" and s["collapse_chain_seen"]
    assert s["capex_peak_quarter"] == QUARTERS[19] and s["quarters_after_peak"] == 20
    assert s["deciding_links"] == [
        "capex_cut",
        "stranded_assets_rise",
        "utilization_falls",
        "rental_price_falls",
        "funding_drought",
        "chipmaker_equity_drawdown",  # the first equity link, before the index drawdown
    ]
    assert s["spend_chain_seen"] and s["spend_chain_quarter"] == "2024Q4"
    assert s["spend_chain_links"]["equity_rising"] == "2024Q1"
    assert s["spend_chain_links"]["lab_funding_rising"] is None
    links = s["collapse_links"]
    assert [link["event"] for link in links][:8] == [
        "capability_gain_per_dollar_falls",
        "frontier_open_gap_narrows",
        "lab_margin_falls",
        "funding_drought",
        "utilization_falls",
        "rental_price_falls",
        "stranded_assets_rise",
        "capex_cut",
    ]
    assert {link["event"]: link["step"] - 1 for link in links} == {
        k: v for k, v in EXPECTED.items() if not k.endswith("_rising")
    }
    assert s["collapse_in_order"] and s["order_violations"] == []
    assert s["lags"]["capability_gain_per_dollar_falls"] is None
    assert s["lags"]["frontier_open_gap_narrows"] == 3
    assert s["lags"]["rental_price_falls"] == 0  # same quarter as utilization
    assert s["lags"]["capex_cut"] == 1
    assert links[0]["quarters_from_peak"] == 11 - 19
    assert s["first_sector_to_fall"] == "chipmaker"
    assert s["sector_fall_quarters"] == {
        "chipmaker": QUARTERS[25],
        "big_four": None,
        "levered": QUARTERS[27],
        "other_owner": None,
    }
    assert s["sector_drawdowns"]["chipmaker"] == pytest.approx(0.5)
    assert s["sector_drawdowns"]["big_four"] == pytest.approx(0.0)
    assert s["stranded_at_peak_usd_b"] == 0.0 and s["stranded_max_after_peak_usd_b"] == 30.0
    assert not s["fleet_stayed_busy"]
    assert s["verdict_at_first_drop"] == "bust"
    assert s["first_drop_peak_quarter"] == s["capex_peak_quarter"]
    assert s["events_unavailable"] == []
    json.dumps(s, allow_nan=False)


def test_out_of_order_links_are_reported() -> None:
    df = boom_bust()
    df["stranded_gpu_assets_usd_b"] = _step_at(0.0, 30.0, 23)  # stranding after the capex cut
    df["stranded_share_of_fleet"] = _step_at(0.0, 0.3, 23)
    s = summarize_chain(df)
    assert not s["collapse_in_order"]
    assert s["order_violations"] == [["stranded_assets_rise", "capex_cut"]]
    assert s["verdict"] == "bust"  # order does not decide the verdict
    assert "(late: out of order)" in format_chain(s)


def test_same_quarter_links_count_as_in_order() -> None:
    df = boom_bust()
    df["stranded_gpu_assets_usd_b"] = _step_at(0.0, 30.0, 21)  # same quarter as capex_cut
    df["stranded_share_of_fleet"] = _step_at(0.0, 0.3, 21)
    s = summarize_chain(df)
    rows = {link["event"]: link["step"] - 1 for link in s["collapse_links"]}
    assert rows["stranded_assets_rise"] == rows["capex_cut"] == 21
    assert s["collapse_in_order"] and s["order_violations"] == []
    # the parallel links of one stage never violate each other
    df["newest_rental_price_usd_per_hour"] = _step_at(4.0, 2.5, 17)  # rents before utilization
    df["gpu_rental_price_usd_per_hour"] = _step_at(2.0, 1.2, 17)
    s = summarize_chain(df)
    rows = {link["event"]: link["step"] - 1 for link in s["collapse_links"]}
    assert rows["rental_price_falls"] == rows["funding_drought"] == 17
    assert rows["utilization_falls"] == 19
    assert s["collapse_in_order"]


def test_equity_link_can_exclude_sectors() -> None:
    s = summarize_chain(boom_bust(), thresholds=ChainThresholds(equity_link_includes_sectors=False))
    assert s["deciding_links"][-1] == "equity_drawdown"
    assert not any(link["event"].endswith("_equity_drawdown") for link in s["collapse_links"])


def test_no_turn_when_capex_keeps_rising() -> None:
    df = boom_bust()
    df["ai_capex_usd_b"] = 10.0 * 1.1**ROW
    s = summarize_chain(df)
    assert s["verdict"] == "no_turn"
    assert s["capex_peak_quarter"] == QUARTERS[-1]
    assert "capex_cut" in s["deciding_links"]
    assert not s["collapse_chain_seen"]


def soft_landing_table() -> pd.DataFrame:
    """Capex peaks at row 19 and halves; the fleet stays busy, funding flows."""
    df = boom_bust()
    # trailing-4q ratio to the peak: 0.83 at row 21, 0.72 at row 22 -> capex_cut row 22
    df["ai_capex_usd_b"] = _grow_then_drop(10.0, 19, 0.5)
    df["utilization"] = 0.9
    df["newest_rental_price_usd_per_hour"] = 4.0 * 0.97**ROW  # deflation, no fall > 30%
    df["gpu_rental_price_usd_per_hour"] = 2.0 * 0.97**ROW
    df["stranded_gpu_assets_usd_b"] = 5.0
    df["stranded_share_of_fleet"] = 0.05
    df["lab_funding_raised_usd_b"] = 10.0
    df["chipmaker_equity_usd_b"] = 1000.0
    df["levered_equity_usd_b"] = 400.0
    df["equity_index"] = 100.0 * 1.05**ROW
    df["equity_drawdown"] = 0.0
    return df


def test_soft_landing() -> None:
    s = summarize_chain(soft_landing_table())
    assert s["verdict"] == "soft_landing"
    assert s["fleet_stayed_busy"]
    assert s["deciding_links"] == [
        "stranded_assets_rise",
        "utilization_falls",
        "rental_price_falls",
        "funding_drought",
        "equity_drawdown",
    ]
    cut = [link for link in s["collapse_links"] if link["event"] == "capex_cut"]
    assert cut and cut[0]["step"] - 1 == 22
    assert "Bust links missing" in format_chain(s)


def test_plateau_is_a_soft_landing_not_no_turn() -> None:
    df = soft_landing_table()
    df["ai_capex_usd_b"] = _grow_then_drop(10.0, 19, 0.97)
    s = summarize_chain(df)
    assert s["verdict"] == "soft_landing"  # 20 quarters after the peak, within 5% of it


def test_peak_too_close_to_the_end_is_not_yet_decided() -> None:
    df = soft_landing_table()
    df["ai_capex_usd_b"] = _grow_then_drop(10.0, 33, 0.5)
    s = summarize_chain(df)
    assert s["capex_peak_quarter"] == QUARTERS[33]
    assert s["verdict"] == "not_yet_decided"
    assert s["quarters_after_peak"] == 6
    # a longer window of judgement makes the same run decided
    s = summarize_chain(df, thresholds=ChainThresholds(bust_window_quarters=6))
    assert s["verdict"] == "soft_landing"


def test_bust_close_to_the_end_is_already_a_bust() -> None:
    s = summarize_chain(boom_bust(28))  # 8 quarters after the peak, all links by row 26
    assert s["quarters_after_peak"] == 8
    assert s["verdict"] == "bust"
    s = summarize_chain(boom_bust(26))  # the first equity link needs rows 25-26
    assert s["verdict"] == "not_yet_decided"
    assert s["deciding_links"] == ["equity_drawdown"]


def test_rent_or_utilization_reading() -> None:
    df = boom_bust()
    df["newest_rental_price_usd_per_hour"] = 4.0
    assert summarize_chain(df)["verdict"] == "soft_landing"  # rents did not fall
    either = ChainThresholds(bust_requires_rent_and_utilization=False)
    s = summarize_chain(df, thresholds=either)
    assert s["verdict"] == "bust"
    assert "rental_price_falls" not in s["deciding_links"]


def test_links_are_taken_near_the_peak() -> None:
    """A spell that ended long before the peak is not a link; a later one is."""
    df = boom_bust()
    util = df["utilization"].to_numpy().copy()
    util[5:7] = 0.4  # an early spell, 2024Q2-Q3, more than 12 quarters before the peak
    df["utilization"] = util
    ev = detect_events(df)
    assert first_rows(ev)["utilization_falls"] == 5
    s = summarize_chain(df)
    rows = {link["event"]: link["step"] - 1 for link in s["collapse_links"]}
    assert rows["utilization_falls"] == 19
    # a first-spell-only events table cannot see the later spell
    s_first = summarize_chain(df, events=ev)
    assert "utilization_falls" not in {link["event"] for link in s_first["collapse_links"]}


def test_verdict_at_first_drop() -> None:
    """Two waves: the first peak (row 11) is cut by 40%, the second peak is higher."""
    capex = np.where(ROW <= 11, 10.0 * 1.1**ROW, 0.6 * 10.0 * 1.1**11)
    capex = np.where(ROW >= 20, 10.0 * 1.1 ** (ROW - 6), capex)
    capex = np.where(ROW >= 30, 0.5 * 10.0 * 1.1**23, capex)
    df = boom_bust()
    df["ai_capex_usd_b"] = capex
    s = summarize_chain(df)
    assert s["capex_peak_quarter"] == QUARTERS[29]
    assert s["first_drop_peak_quarter"] == QUARTERS[11]
    assert s["at_first_drop"]["capex_peak_quarter"] == QUARTERS[11]
    assert s["verdict_at_first_drop"] == s["at_first_drop"]["verdict"]
    assert "At the first capex drop" in format_chain(s)


def test_spend_chain_deadline() -> None:
    late = ChainThresholds(spend_chain_end_quarter="2024Q3")  # links fire in 2024Q4
    s = summarize_chain(boom_bust(), thresholds=late)
    assert not s["spend_chain_seen"] and s["spend_chain_quarter"] is None
    assert s["spend_chain_links"]["capex_rising"] == "2024Q4"
    df = boom_bust()
    df["chip_revenue_usd_b"] = 5.0
    assert not summarize_chain(df)["spend_chain_seen"]


def test_summary_from_given_events() -> None:
    df = boom_bust()
    spells = detect_events(df, all_spells=True)
    assert summarize_chain(df, events=spells) == summarize_chain(df)


def test_detect_and_summarize_is_detect_events_then_summarize_chain() -> None:
    strict = ChainThresholds(sustain_quarters=1, utilization_fall_from_peak=0.1)
    for df, t in ((boom_bust(), None), (boom_bust(), strict), (boom_bust(6), None)):
        events, summary = detect_and_summarize(df, t)
        expected = detect_events(df, t, all_spells=True)
        pd.testing.assert_frame_equal(events, expected, check_exact=True)
        assert summary == summarize_chain(df, expected, t)


def test_trailing_sums_and_means_are_pandas_rolling_to_the_bit() -> None:
    """The detectors' own trailing 4-quarter sums and means (numpy, for speed) give exactly
    pandas' ``rolling(4)`` results, NaNs, repeats, signed zeros and short series included."""
    from bubble_abm.chains import _rolling

    rng = np.random.default_rng(7)
    for k in range(400):
        x = rng.normal(size=int(rng.integers(0, 30))) * 10.0 ** rng.uniform(-4, 8)
        x[rng.random(x.size) < 0.15] = np.nan
        x[rng.random(x.size) < 0.2] = 3.0 if k % 2 else -0.0
        rolling = pd.Series(x, dtype=float).rolling(4, min_periods=4)
        for mean, expected in ((False, rolling.sum()), (True, rolling.mean())):
            got = _rolling(x, mean=mean)
            assert np.array_equal(got, expected.to_numpy(), equal_nan=True), (k, mean, x)


def test_format_chain_block() -> None:
    s = summarize_chain(boom_bust())
    text = format_chain(s, detect_events(boom_bust()))
    assert "BUST" in text and "2027Q4" in text
    assert "Spend chain" in text and "yes, complete 2024Q4" in text
    assert "capex_cut" in text and "chip_orders_fall" in text
    assert "peak+2" in text  # capex_cut two quarters after the peak
    assert "Events detected" in text
    assert len(text.splitlines()) < 40


# --- thresholds -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("utilization_fall_from_peak", 1.5, "(0, 1]"),
        ("utilization_fall_from_peak", 0.0, "(0, 1]"),
        ("funding_window_quarters", 0, "[1, 40]"),
        ("capex_cut_from_peak", -0.1, "(0, 1]"),
        ("sustain_quarters", 0, "[1, 40]"),
        ("sustain_quarters", 2.5, "integer"),
        ("bust_window_quarters", 0, "[1, 400]"),
        ("spend_chain_end_quarter", "2026-4", "2026Q4"),
        ("bust_requires_rent_and_utilization", 1, "True or False"),
        ("rising_flow_growth_per_year", float("nan"), "(0, 10]"),
        ("funding_requested_material_usd_b_per_year", -1.0, "[0, 1e+06]"),
    ],
)
def test_threshold_validation(field: str, value: object, needle: str) -> None:
    with pytest.raises(ValueError) as info:
        ChainThresholds(**{field: value})
    assert field in str(info.value) and needle in str(info.value)


def test_threshold_validation_lists_every_problem() -> None:
    with pytest.raises(ValueError, match="sustain_quarters.*utilization_fall|util.*sustain"):
        ChainThresholds(utilization_fall_from_peak=2.0, sustain_quarters=-1)


def test_definitions_cover_every_event_and_verdict() -> None:
    events = {n for stage in COLLAPSE_ORDER for n in stage} | set(SPEND_CHAIN)
    assert events <= set(EVENT_DEFINITIONS) == set(EVENT_LABELS)
    assert set(EVENT_DEFINITIONS) >= set(EXPECTED) | {"lab_funding_rising"}
    assert set(VERDICT_DEFINITIONS) == set(VERDICTS)
    assert all(len(text) > 40 for text in EVENT_DEFINITIONS.values())
    assert "[capex_cut_from_peak]" in EVENT_DEFINITIONS["capex_cut"]


def test_readme_lists_the_current_definitions() -> None:
    """README's event table is pasted from `bubble-abm events --format markdown`."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert "## The chains, as events" in readme
    for name, text in {**EVENT_DEFINITIONS, **VERDICT_DEFINITIONS}.items():
        assert f"| `{name}` | {text} |" in readme, f"README out of date for {name}"


# --- a real run -----------------------------------------------------------------------------
def test_real_model_run() -> None:
    model = BubbleModel(make_params({"n_app_companies": 20, "n_investors": 20}), rng=3)
    model.run_for(16)
    table = model.model_table()
    events = detect_events(table)
    assert list(events.columns) == list(EVENT_COLUMNS)
    assert events["step"].dtype == np.int64 and events["end_step"].dtype == np.int64
    assert events["value"].dtype == np.float64 and events["threshold"].dtype == np.float64
    assert events["event"].is_unique
    assert set(events["event"]) <= set(EVENT_DEFINITIONS)
    assert set(events["direction"]) <= {"up", "down"}
    assert set(events["quarter"]) <= set(table["quarter"])
    summary = summarize_chain(table)
    assert summary["verdict"] in VERDICTS
    assert summary["events_unavailable"] == []
    json.dumps(summary, allow_nan=False)
    assert "Verdict" in format_chain(summary, events)


def test_rent_falls_reads_rents_against_trend_when_the_table_has_them() -> None:
    df = boom_bust()
    df["rent_cycle_index"] = _step_at(1.3, 0.7, 21, len(df))  # a glut from row 21
    ev = detect_events(df).set_index("event")
    assert ev.loc["rental_price_falls", "step"] - 1 == 21
    assert ev.loc["rental_price_falls", "value"] == pytest.approx(1 - 0.7 / 1.3)
    # a shortage premium easing (1.8 -> 1.1) falls as far but stays above trend: no event
    df["rent_cycle_index"] = _step_at(1.8, 1.1, 21, len(df))
    assert "rental_price_falls" not in set(detect_events(df)["event"])
    # a slow slide below trend is not a fall either (at most 5% a quarter)
    df["rent_cycle_index"] = 1.3 * 0.95**ROW
    assert "rental_price_falls" not in set(detect_events(df)["event"])


def test_lab_margin_reads_the_frontier_pricing_margin_when_present() -> None:
    df = boom_bust()
    df["frontier_pricing_margin"] = _step_at(0.6, 0.2, 14, len(df))
    # trailing 4-quarter mean: 0.5, 0.4, 0.3 at rows 14, 15, 16 -> drop 0.3 > 0.25 at row 16
    ev = detect_events(df).set_index("event")
    assert ev.loc["lab_margin_falls", "step"] - 1 == 16
    assert ev.loc["lab_margin_falls", "value"] == pytest.approx(0.3)
