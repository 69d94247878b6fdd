"""Calibration report (bubble_abm.calibration) and the `bubble-abm calibrate` command.

The mapping from targets to model statistics is checked on synthetic model tables whose sums and
averages can be worked out by hand. Model runs use few quarters and small populations. The drift
test runs the shipped baseline with reduced populations (which give the same medians within a few
per cent; README "Calibration") over a few seeds and fails when fewer than 80% of the targets are
in range.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict

import numpy as np
import pandas as pd
import pytest
from cli_helpers import assert_usage_error, run_cli

from bubble_abm import BubbleModel, make_params
from bubble_abm.calibration import (
    CHAIN_FLOWS,
    DEFAULT_TARGETS,
    EXTRA_COLUMNS,
    LEADER_NETWORKING_PER_GPU_DOLLAR,
    MAPPINGS,
    REPORT_COLUMNS,
    TargetsError,
    calibration_report,
    chain_flows,
    count_in_range,
    describe_mappings,
    format_chain_flows,
    format_report,
    horizon_quarters,
    load_targets,
    model_statistics,
    parse_period,
    plot_chain_flows,
    plot_report,
    run_model,
    summarize_statistics,
)
from bubble_abm.scenarios import load_scenario

SMALL = {"n_app_companies": 20, "n_investors": 20}
SMALL_ARGS = ["--set", "n_app_companies=20", "--set", "n_investors=20"]
HEADER = "metric,period,low,high,unit,source,note\n"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
NETWORKING = 1.0 + LEADER_NETWORKING_PER_GPU_DOLLAR


def quarters(first_year: int, n: int) -> list[str]:
    return [f"{first_year + i // 4}Q{i % 4 + 1}" for i in range(n)]


def synthetic_table() -> pd.DataFrame:
    """2023Q1..2027Q1 (17 quarters) with values that make every statistic hand-checkable."""
    n = 17
    i = np.arange(1, n + 1, dtype=float)  # 1 in 2023Q1 ... 17 in 2027Q1
    year = np.array([2023 + k // 4 for k in range(n)])
    return pd.DataFrame({
        "step": np.arange(1, n + 1),
        "quarter": quarters(2023, n),
        "big_four_capex_usd_b": i,  # 2023: 1+2+3+4 = 10; 2024: 26; 2026: 13+14+15+16 = 58
        "hyperscaler_capex_usd_b": i + 1.0,
        "chip_revenue_usd_b": i,
        "gpu_price_usd": 30_000.0 + 1_000.0 * (i - 1),  # 2023 average 31,500
        "gpu_rental_price_usd_per_hour": i,  # 2023 average 2.5; 2025Q1 = 9
        "newest_rental_price_usd_per_hour": np.full(n, 2.0),
        "frontier_training_flop": 1e25 * 4.0 ** (year - 2023),  # exactly 4x per year
    })


def synthetic_extras() -> pd.DataFrame:
    table = synthetic_table()
    return pd.DataFrame({
        "quarter": table["quarter"],
        "h100_market_price_usd": np.full(len(table), 25_000.0),
        "leader_chip_revenue_usd_b": 0.5 * table["chip_revenue_usd_b"],
        "big_four_ai_capex_usd_b": 0.25 * table["big_four_capex_usd_b"],
        "largest_closed_lab_revenue_usd_b": np.full(len(table), 0.9),
    })


def targets_frame(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["metric", "period", "low", "high", "unit", "source"])


def stat(frame: pd.DataFrame, metric: str, period: str) -> pd.Series:
    row = frame[(frame["metric"] == metric) & (frame["period"] == period)]
    assert len(row) == 1, (metric, period)
    return row.iloc[0]


# --- targets --------------------------------------------------------------------------------
def test_shipped_targets_load_with_sources():
    targets = load_targets()
    assert list(targets.columns[:7]) == ["metric", "period", "low", "high", "unit", "source",
                                         "note"]
    assert len(targets) == 19
    assert (targets["low"] <= targets["high"]).all()
    assert targets["source"].str.len().gt(0).all()
    capex = targets[(targets.metric == "hyperscaler_capex") & (targets.period == "2023")]
    assert capex[["low", "high"]].to_numpy().tolist() == [[140.0, 160.0]]
    assert set(targets["metric"]) <= set(MAPPINGS), "every shipped target has a mapping"
    assert load_targets(DEFAULT_TARGETS).equals(targets)


@pytest.mark.parametrize(
    ("body", "needles"),
    [
        ("", ["empty file"]),
        (HEADER, ["no targets"]),
        ("metric,period,low,unit,source\nx,2024,1,u,s\n", ["missing column", "high"]),
        (HEADER + "x,2024,abc,2,u,s,\n", ["line 2", "`low` is not a number", "'abc'"]),
        (HEADER + "x,2024,5,2,u,s,\n", ["line 2", "low (5) is above high (2)"]),
        (HEADER + "x,2024Q5,1,2,u,s,\n", ["line 2", "2024Q5"]),
        (HEADER + "x,2026-2023,1,2,u,s,\n", ["line 2", "span"]),
        (HEADER + "x,2024,1,2,u,s,\nx,2024,1,3,u,s,\n", ["line 3", "duplicate", "line 2"]),
        (HEADER + "x,2024,1,2,u,s,n,extra\n", ["line 2", "expected 7 fields", "got 8"]),
        (HEADER + "x,2024,1,2\n", ["line 2", "got 4"]),
        (HEADER + ",2024,1,inf,u,s,\n", ["`metric` is empty", "`high` must be finite"]),
        (HEADER + 'x,2024,1,2,u,"unterminated\n', ["malformed CSV"]),
    ],
)
def test_bad_targets_files_are_reported(tmp_path, body, needles):
    path = tmp_path / "targets.csv"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(TargetsError) as info:
        load_targets(path)
    message = str(info.value)
    assert str(path) in message
    for needle in needles:
        assert needle in message, f"{needle!r} not in {message!r}"


def test_every_bad_line_is_reported_once(tmp_path):
    path = tmp_path / "targets.csv"
    path.write_text(HEADER + "x,2024,a,2,u,s,\ny,2024,1,2,u,s,\nz,20x4,1,2,u,s,\n")
    with pytest.raises(TargetsError) as info:
        load_targets(path)
    lines = str(info.value).splitlines()
    assert len(lines) == 2 and "line 2" in lines[0] and "line 4" in lines[1]


def test_missing_targets_file(tmp_path):
    with pytest.raises(TargetsError, match="targets file not found"):
        load_targets(tmp_path / "nope.csv")


def test_note_column_is_optional_and_blank_lines_skipped(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("metric,period,low,high,unit,source\n\nopen_model_lag,2025,1,6,months,me\n")
    targets = load_targets(path)
    assert targets.loc[0, "note"] == "" and targets.loc[0, "high"] == 6.0


def test_parse_period():
    assert parse_period("2024").quarters == [2024 * 4 + k for k in range(4)]
    assert parse_period("2025Q1").quarters == [2025 * 4]
    span = parse_period("2023-2026")
    assert (span.kind, span.first_year, span.last_year) == ("span", 2023, 2026)
    for bad in ("24", "2024Q0", "2026-2026", "2024-Q1"):
        with pytest.raises(ValueError):
            parse_period(bad)


# --- the mapping on a synthetic table ---------------------------------------------------------
def test_mapping_on_synthetic_table_is_hand_checkable():
    params = make_params({"leader_market_share": 0.5})
    stats = model_statistics([synthetic_table()], params, [synthetic_extras()],
                             targets=DEFAULT_TARGETS, seeds=[7])
    assert set(stats["seed"]) == {7}
    expected = {
        ("hyperscaler_capex", "2023"): 10.0,  # 1 + 2 + 3 + 4
        ("hyperscaler_capex", "2024"): 26.0,  # 5 + 6 + 7 + 8
        ("hyperscaler_capex", "2026"): 58.0,
        ("ai_share_of_hyperscaler_capex", "2026"): 0.25,
        # Feb 2024 - Jan 2025: 0.5 x (2/3 x 5 + 6 + 7 + 8 + 1/3 x 9), plus networking
        ("nvidia_datacenter_revenue", "2024"): 0.5 * (10.0 / 3.0 + 21.0 + 3.0) * NETWORKING,
        ("nvidia_datacenter_revenue", "2025"):
            0.5 * (2.0 / 3.0 * 9 + 10 + 11 + 12 + 13 / 3.0) * NETWORKING,
        ("h100_purchase_price", "2025"): 25_000.0,
        ("h100_rental_price", "2023"): 2.5,  # mean of 1, 2, 3, 4
        ("h100_rental_price", "2025Q1"): 9.0,
        ("frontier_training_compute_growth", "2023-2026"): 4.0,
        # 4^2 x 1e25 FLOP / (9.89e14 FLOP/s x 0.4 x 3600 s) x $2 per hour, in $M
        ("frontier_training_run_cost", "2025"): 16e25 / (9.89e14 * 0.4 * 3600.0) * 2.0 / 1e6,
        ("algorithmic_efficiency_halving_time", "2023-2026"): 0.7 * 12.0,
        ("gpu_price_performance_doubling_time", "2023-2026"): 2.07,
        ("open_model_lag", "2025"): 1.2 * 3.0,
        ("gpu_accounting_life", "2025"): 5.5,
        ("openai_revenue", "2024"): 3.6,  # 4 x 0.9
    }
    for (metric, period), value in expected.items():
        row = stat(stats, metric, period)
        assert row["value"] == pytest.approx(value, rel=1e-12), (metric, period, row["comment"])
        assert row["comment"] == ""
    assert stat(stats, "hyperscaler_capex", "2023")["how"].startswith("sum of 4 quarters")
    assert stat(stats, "gpu_accounting_life", "2025")["how"].startswith("parameter")


def test_leader_revenue_falls_back_to_its_market_share_of_all_chip_sales():
    """Without the leader's own sales, its share of all chip sales (same networking add-on)."""
    params = make_params({"leader_market_share": 0.5})
    targets = targets_frame([("nvidia_datacenter_revenue", "2024", 1, 2, "usd_b_per_year", "s")])
    with_extras = model_statistics([synthetic_table()], params, [synthetic_extras()],
                                   targets=targets)
    without = model_statistics([synthetic_table()], params, targets=targets)
    assert without.loc[0, "value"] == pytest.approx(with_extras.loc[0, "value"], rel=1e-12)
    assert 0.1 < LEADER_NETWORKING_PER_GPU_DOLLAR < 0.2  # NVIDIA FY2025: $13.0B on $102.2B


def test_model_table_column_wins_over_extras():
    table = synthetic_table().assign(h100_market_price_usd=20_000.0)
    stats = model_statistics([table], make_params(), [synthetic_extras()],
                             targets=targets_frame([("h100_purchase_price", "2025", 1, 2,
                                                     "usd_per_unit", "s")]))
    assert stats.loc[0, "value"] == 20_000.0


def test_without_extras_h100_price_uses_gpu_price_only_while_h100_is_newest():
    stats = model_statistics([synthetic_table()], make_params(), targets=DEFAULT_TARGETS)
    assert stat(stats, "h100_purchase_price", "2023")["value"] == pytest.approx(31_500.0)
    for period in ("2024", "2025"):  # generation 1 ships in 2024Q4
        row = stat(stats, "h100_purchase_price", period)
        assert math.isnan(row["value"])
        assert "h100_market_price_usd" in row["comment"] and "2024Q4" in row["comment"]
    for metric, column in (("ai_share_of_hyperscaler_capex", "big_four_ai_capex_usd_b"),
                           ("openai_revenue", "largest_closed_lab_revenue_usd_b")):
        row = stats[stats.metric == metric].iloc[0]
        assert math.isnan(row["value"]) and column in row["comment"]


def test_not_comparable_targets_say_why():
    targets = targets_frame([
        ("no_such_metric", "2024", 1, 2, "x", "s"),
        ("hyperscaler_capex", "2024", 1, 2, "usd_b_per_quarter", "s"),
        ("hyperscaler_capex", "2025Q1", 1, 2, "usd_b_per_year", "s"),
        ("hyperscaler_capex", "2030", 1, 2, "usd_b_per_year", "s"),
        ("nvidia_datacenter_revenue", "2026", 1, 2, "usd_b_per_year", "s"),  # needs 2027Q1
        ("nvidia_datacenter_revenue", "2027", 1, 2, "usd_b_per_year", "s"),  # the run ends
    ])
    stats = model_statistics([synthetic_table()], make_params(), targets=targets)
    comments = stats["comment"].tolist()
    assert "no mapping for metric `no_such_metric`" in comments[0]
    assert "unit `usd_b_per_quarter` not supported" in comments[1]
    assert "period 2025Q1 not supported" in comments[2]
    assert "does not cover 2030Q1" in comments[3]
    assert comments[4] == "" and not math.isnan(stats.loc[4, "value"])
    assert "does not cover 2027Q2" in comments[5]
    assert stats["value"].isna().tolist() == [True, True, True, True, False, True]


def test_mismatched_extras_or_seeds_are_rejected():
    with pytest.raises(ValueError, match="extras"):
        model_statistics([synthetic_table()], make_params(), [None, None])
    with pytest.raises(ValueError, match="seeds"):
        model_statistics([synthetic_table()], make_params(), seeds=[1, 2])


def test_describe_mappings_covers_every_metric():
    table = describe_mappings()
    assert list(table["metric"]) == list(MAPPINGS)
    assert table["statistic"].str.len().gt(20).all()


# --- summary, text and charts -------------------------------------------------------------------
def test_summary_percentiles_and_in_range():
    targets = targets_frame([
        ("a", "2024", 5.0, 6.0, "u", "src a"),
        ("b", "2024", 0.0, 1.0, "u", "src b"),
        ("c", "2024", 0.0, 1.0, "u", "src c"),
    ])
    rows = [{"metric": "a", "period": "2024", "seed": s, "value": float(s), "how": "h",
             "comment": ""} for s in range(1, 11)]
    rows += [{"metric": "b", "period": "2024", "seed": s, "value": 3.0, "how": "h",
              "comment": ""} for s in range(1, 11)]
    rows += [{"metric": "c", "period": "2024", "seed": s, "value": math.nan, "how": "h",
              "comment": "needs model column `x`"} for s in range(1, 11)]
    report = summarize_statistics(pd.DataFrame(rows), targets)
    assert list(report.columns) == list(REPORT_COLUMNS)
    a, b, c = (report.iloc[i] for i in range(3))
    assert a["model_median"] == pytest.approx(5.5)
    assert a["model_p10"] == pytest.approx(1.9) and a["model_p90"] == pytest.approx(9.1)
    assert a["in_range"] is True or bool(a["in_range"]) is True
    assert bool(b["in_range"]) is False
    assert c["in_range"] is pd.NA and "needs model column `x`" in c["comment"]
    assert report.loc[0, "source"] == "src a"
    assert count_in_range(report) == (1, 3)


def test_partly_missing_seeds_are_counted_in_the_comment():
    rows = [{"metric": "a", "period": "2024", "seed": s, "value": v, "how": "h", "comment": c}
            for s, v, c in ((1, 1.0, ""), (2, math.nan, "why"), (3, 2.0, ""))]
    report = summarize_statistics(pd.DataFrame(rows),
                                  targets_frame([("a", "2024", 0, 5, "u", "s")]))
    assert report.loc[0, "model_median"] == 1.5
    assert report.loc[0, "comment"] == "1 of 3 seeds: why"


def _report(flags: list) -> pd.DataFrame:
    rows = []
    for i, flag in enumerate(flags):
        median = math.nan if flag is None else (1.5 if flag else 9.0)
        rows.append({"metric": f"m{i}", "period": "2024", "low": 1.0, "high": 2.0, "unit": "u",
                     "model_median": median, "model_p10": median, "model_p90": median,
                     "in_range": pd.NA if flag is None else flag, "how": "average",
                     "source": "s", "comment": "needs model column `x`" if flag is None else ""})
    report = pd.DataFrame(rows, columns=list(REPORT_COLUMNS))
    report["in_range"] = report["in_range"].astype("boolean")
    return report


@pytest.mark.parametrize(("flags", "last"), [
    ([True, True, False, None], "2/4 targets in range"),
    ([False], "0/1 targets in range"),
    ([True, True, True], "3/3 targets in range"),
])
def test_format_report_ends_with_count(flags, last):
    text = format_report(_report(flags), title="test")
    lines = text.splitlines()
    assert lines[0] == "test"
    assert lines[-1] == last
    assert len(re.findall(r"^m\d ", text, flags=re.MULTILINE)) == len(flags)  # one row each
    if None in flags:
        assert "n/a" in text and "needs model column `x`" in text


def test_plot_report_writes_png(tmp_path):
    path = plot_report(_report([True, False, None]), tmp_path / "sub" / "calibration.png")
    assert path.read_bytes()[:8] == PNG_MAGIC


# --- runs and chain flows ---------------------------------------------------------------------
def test_run_model_adds_extras_and_stopping_early_keeps_the_path():
    params = make_params({**SMALL, "n_quarters": 8})
    full = BubbleModel(params, rng=5)
    full.run_for(8)
    table, flows = run_model(BubbleModel(params, rng=5), 6)
    assert len(table) == 6 and set(EXTRA_COLUMNS) <= set(table.columns)
    reference = full.model_table().iloc[:6]
    pd.testing.assert_frame_equal(table[reference.columns], reference)
    # generation 0 is the newest through 2024Q3: its market price is the model's GPU price
    np.testing.assert_allclose(table["h100_market_price_usd"], table["gpu_price_usd"],
                               rtol=1e-12)
    assert (table["leader_chip_revenue_usd_b"] <= table["chip_revenue_usd_b"] + 1e-9).all()
    assert (table["big_four_ai_capex_usd_b"] <= table["big_four_capex_usd_b"] + 1e-9).all()
    assert (table["largest_closed_lab_revenue_usd_b"] <= table["lab_revenue_usd_b"] + 1e-9).all()
    assert set(flows["year"]) == {2023, 2024}


def test_chain_flows_sum_the_ledger_per_year(tmp_path):
    params = make_params({**SMALL, "n_quarters": 6})
    twin = BubbleModel(params, rng=2)
    expected: dict[tuple, float] = defaultdict(float)
    for _ in range(6):
        twin.run_for(1)
        for (flow, payer, payee), amount in twin.ledger.flows_this_quarter().items():
            expected[(twin.quarter // 4, flow, payer, payee)] += amount
    flows = chain_flows(BubbleModel(params, rng=2))
    got = {(r.year, r.flow, r.payer, r.payee): r.usd_b for r in flows.itertuples()}
    assert got.keys() == {k for k, v in expected.items() if v != 0.0}
    for key, value in got.items():
        assert value == pytest.approx(expected[key], rel=1e-12)
    assert dict(zip(flows["year"], flows["quarters"], strict=False)) == {2023: 4, 2024: 2}
    chain = flows[flows["chain"]]
    assert set(chain["flow"]) <= set(CHAIN_FLOWS) and {"compute_rent", "gpu_sales"} <= set(
        chain["flow"])
    for column, key in (("share_of_payee_chain_receipts", "payee"),
                        ("share_of_payer_chain_spending", "payer")):
        sums = chain.groupby(["year", key])[column].sum()
        np.testing.assert_allclose(sums.to_numpy(), 1.0)
    assert flows.loc[~flows["chain"], "share_of_payer_chain_spending"].isna().all()
    only = chain_flows(BubbleModel(params, rng=2), 6, years=[2024])
    assert set(only["year"]) == {2024}
    text = format_chain_flows(flows, [2024])
    assert text.startswith("2024 (2 quarters)") and "compute_rent" in text
    path = plot_chain_flows(flows, tmp_path / "chain_flows.png")
    assert path.read_bytes()[:8] == PNG_MAGIC


def test_horizon_covers_every_target_within_the_scenario():
    params = make_params()
    targets = load_targets()
    assert horizon_quarters(targets, params) == 16  # 2023Q1..2026Q4
    assert horizon_quarters(targets, params, through_year=2027) == 20
    fiscal = targets_frame([("nvidia_datacenter_revenue", "2026", 1, 2, "usd_b_per_year", "s")])
    assert horizon_quarters(fiscal, params) == 17  # through 2027Q1
    assert horizon_quarters(targets, make_params({"n_quarters": 6})) == 6
    only_parameters = targets_frame([("open_model_lag", "2025", 1, 6, "months", "s")])
    assert horizon_quarters(only_parameters, params) == 1


def test_calibration_report_api(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text(HEADER + "h100_rental_price,2023Q2,0,100,usd_per_gpu_hour,me,\n"
                    "open_model_lag,2025,1,2,months,me,\n")
    report = calibration_report("baseline", seeds=[3], targets=path,
                                overrides=SMALL)
    assert list(report.columns) == list(REPORT_COLUMNS)
    assert report["in_range"].tolist() == [True, False]
    assert report.loc[1, "model_median"] == pytest.approx(3.6)
    assert report.loc[0, "how"] == MAPPINGS["h100_rental_price"].how


# --- the command ------------------------------------------------------------------------------
def test_calibrate_command_writes_report_and_charts(tmp_path, capsys):
    out = tmp_path / "calib"
    code, stdout, err = run_cli(capsys, "calibrate", "--seeds", "2", "--processes", "2",
                                "--out", str(out), *SMALL_ARGS)
    assert code == 0, err
    lines = stdout.rstrip("\n").splitlines()
    assert re.fullmatch(r"\d+/19 targets in range", lines[-1]), lines[-1]
    assert "Calibration: baseline, seeds 1-2" in stdout
    assert "hyperscaler_capex" in stdout and "2025: who paid whom" in stdout
    for name in ("calibration.csv", "calibration_by_seed.csv", "calibration.png",
                 "chain_flows.csv", "chain_flows.png"):
        assert (out / name).is_file(), name
        assert str(out / name) in stdout
    report = pd.read_csv(out / "calibration.csv")
    assert list(report.columns) == list(REPORT_COLUMNS) and len(report) == 19
    inside = int(report["in_range"].fillna(False).astype(bool).sum())
    assert lines[-1] == f"{inside}/19 targets in range"
    by_seed = pd.read_csv(out / "calibration_by_seed.csv")
    assert sorted(set(by_seed["seed"])) == [1, 2] and len(by_seed) == 38
    flows = pd.read_csv(out / "chain_flows.csv")
    assert set(flows["year"]) == {2025, 2026} and set(flows["seed"]) == {1}
    assert (out / "calibration.png").read_bytes()[:8] == PNG_MAGIC
    assert err == ""  # no progress bar when stderr is not a terminal


def test_calibrate_default_out_dir_and_own_targets(tmp_path, capsys, monkeypatch):
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "mine.toml").write_text('description = "mine"\n[params]\nn_quarters = 8\n')
    monkeypatch.setenv("BUBBLE_ABM_RUNS", str(runs))
    targets = tmp_path / "t.csv"
    targets.write_text(HEADER + "h100_rental_price,2023,4,4.8,usd_per_gpu_hour,me,\n"
                       "hyperscaler_capex,2026,630,730,usd_b_per_year,me,\n")
    code, stdout, err = run_cli(capsys, "calibrate", "--scenario", "mine", "--seeds", "1",
                                "--processes", "1", "--targets", str(targets), *SMALL_ARGS)
    assert code == 0, err
    assert (runs / "output" / "calibration-mine" / "calibration.csv").is_file()
    assert "does not cover 2026Q1" in stdout  # the scenario stops after 2024Q4
    assert stdout.rstrip().endswith("/2 targets in range")


def test_calibrate_missing_targets_file(tmp_path, capsys):
    code, _, err = run_cli(capsys, "calibrate", "--seeds", "1", "--targets",
                           str(tmp_path / "nope.csv"), "--out", str(tmp_path / "o"))
    assert_usage_error(code, err, "targets file not found", "nope.csv")
    assert not (tmp_path / "o").exists()


def test_calibrate_malformed_targets(tmp_path, capsys):
    path = tmp_path / "bad.csv"
    path.write_text(HEADER + "x,2024,1,2,u,s,\ny,2024,high,2,u,s,\nz,2024,1\n")
    code, _, err = run_cli(capsys, "calibrate", "--seeds", "1", "--targets", str(path),
                           "--out", str(tmp_path / "o"))
    assert_usage_error(code, err, "line 3", "`low` is not a number", "line 4", "got 3")
    assert err.count("bubble-abm: error:") == 2  # one line per problem
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("argv", "needles"),
    [
        (["--seeds", "0"], ["--seeds", "must be >= 1"]),
        (["--seeds", "two"], ["--seeds", "not an integer"]),
        (["--processes", "0"], ["--processes", "must be >= 1"]),
        (["--set", "n_investors=-5"], ["n_investors", "[1, 200000]"]),
        (["--scenario", "no_such_scenario"], ["no_such_scenario", "available"]),
    ],
)
def test_calibrate_bad_arguments(argv, needles, tmp_path, capsys):
    code, _, err = run_cli(capsys, "calibrate", "--out", str(tmp_path / "o"), *argv)
    assert_usage_error(code, err, *needles)
    assert not (tmp_path / "o").exists()


# --- the shipped baseline stays calibrated ------------------------------------------------------
DRIFT_MIN_SHARE = 0.8  # issue 4: fail when the in-range share falls below 80%
# Measured with these tests' runs (seeds 1-4, 40 apps and 40 investors): 17/19 (the largest lab's
# 2024 revenue is noisy on four seeds); `bubble-abm calibrate --seeds 20` (full populations)
# gives 18/19 (README "Calibration": the markup refit of 2026-12-02).
MEASURED_IN_RANGE = {"baseline": 17}


@pytest.fixture(scope="module")
def shipped_reports() -> dict[str, pd.DataFrame]:
    return {name: calibration_report(name, seeds=4,
                                     overrides={"n_app_companies": 40, "n_investors": 40})
            for name in MEASURED_IN_RANGE}


def test_baseline_stays_calibrated(shipped_reports):
    """The shipped baseline against the shipped targets: at least 80% of the medians in range."""
    report = shipped_reports["baseline"]
    inside, total = count_in_range(report)
    assert total == len(load_targets())
    assert inside / total >= DRIFT_MIN_SHARE, format_report(report)


@pytest.mark.parametrize("name", list(MEASURED_IN_RANGE))
def test_shipped_baselines_do_not_drift_below_their_measured_calibration(shipped_reports, name):
    """The shipped baseline keeps every target it reaches today (measured above)."""
    inside, total = count_in_range(shipped_reports[name])
    assert total == len(load_targets())
    assert inside >= MEASURED_IN_RANGE[name], format_report(shipped_reports[name])


def test_default_parameters_are_the_shipped_baseline():
    """Every scenario builds on the calibration: the defaults are runs/baseline.toml."""
    assert load_scenario("baseline") == make_params()
