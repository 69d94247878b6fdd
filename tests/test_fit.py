"""Method-of-simulated-moments fit (bubble_abm.fit) and the `bubble-abm fit` command.

The objective is checked on hand-made reports; searches run the model with small populations,
few quarters (targets that end in 2023) and one or two seeds.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib

import numpy as np
import pandas as pd
import pytest
from cli_helpers import assert_usage_error, run_cli

from bubble_abm.calibration import REPORT_COLUMNS, calibration_report
from bubble_abm.fit import (
    NOT_COMPARABLE_PENALTY,
    FitError,
    ParameterBounds,
    fit,
    format_fitted_scenario,
    objective,
    parse_bounds,
    target_distances,
    write_fit_outputs,
)
from bubble_abm.params import field_range
from bubble_abm.scenarios import load_scenario

SMALL = {"n_app_companies": 20, "n_investors": 20}
SMALL_ARGS = ["--set", "n_app_companies=20", "--set", "n_investors=20"]
HEADER = "metric,period,low,high,unit,source,note\n"
# Two targets read in 2023 only, so every run stops after four quarters.
TARGETS_2023 = (HEADER + "hyperscaler_capex,2023,140,160,usd_b_per_year,me,\n"
                "h100_purchase_price,2023,30000,40000,usd_per_unit,me,\n")


def report(rows: list[tuple[float, float, float, str]]) -> pd.DataFrame:
    """A report with (low, high, median, how) per target."""
    frame = pd.DataFrame([{"metric": f"m{i}", "period": "2024", "low": low, "high": high,
                           "unit": "u", "model_median": median, "model_p10": median,
                           "model_p90": median, "in_range": pd.NA, "how": how, "source": "s",
                           "comment": ""} for i, (low, high, median, how) in enumerate(rows)],
                         columns=list(REPORT_COLUMNS))
    return frame


# --- the objective -----------------------------------------------------------------------------
def test_objective_is_zero_when_every_median_is_in_range():
    inside = report([(1.0, 2.0, 1.0, "sum"), (1.0, 2.0, 2.0, "sum"), (10.0, 30.0, 17.0, "avg")])
    assert objective(inside) == 0.0


def test_objective_grows_with_distance_in_range_widths():
    values = [objective(report([(10.0, 20.0, median, "sum")]))
              for median in (20.0, 21.0, 25.0, 30.0, 40.0)]
    assert values == pytest.approx([0.0, 0.01, 0.25, 1.0, 4.0])  # (distance / width)^2
    below = objective(report([(10.0, 20.0, 0.0, "sum")]))
    assert below == pytest.approx(1.0)  # same distance below the range weighs the same
    # scale-free: the same miss in range widths weighs the same whatever the unit
    assert objective(report([(1e3, 2e3, 3e3, "a"), (1.0, 2.0, 3.0, "b")])) == pytest.approx(2.0)


def test_objective_penalises_targets_the_model_cannot_produce():
    assert objective(report([(1.0, 2.0, math.nan, "sum")])) == NOT_COMPARABLE_PENALTY


def test_parameter_targets_can_be_left_out():
    frame = report([(5.0, 14.0, 20.0, "parameter (input)"), (1.0, 2.0, 3.0, "sum")])
    assert objective(frame) == pytest.approx((6.0 / 9.0) ** 2 + 1.0)
    assert objective(frame, include_parameter_targets=False) == pytest.approx(1.0)
    assert target_distances(frame, False).tolist() == pytest.approx([0.0, 1.0])


def test_a_point_range_counts_as_one_percent_wide():
    assert objective(report([(100.0, 100.0, 102.0, "sum")])) == pytest.approx(4.0)


# --- bounds ------------------------------------------------------------------------------------
def test_bounds_default_to_the_allowed_range_and_can_be_narrowed():
    default, narrowed, integer = parse_bounds(
        ["chip_markup", "rd_compute_multiplier=2:6", "chip_capacity_lead_quarters=2:5"])
    assert (default.low, default.high) == field_range("chip_markup")
    assert (narrowed.low, narrowed.high) == (2.0, 6.0) and not narrowed.integer
    assert integer.integer and integer.from_unit(0.0) == 2 and integer.from_unit(1.0) == 5


def test_wide_positive_bounds_are_searched_on_a_log_scale():
    bounds = ParameterBounds("initial_fleet_h100e", 1e3, 1e9, False)
    assert bounds.log_scale and bounds.from_unit(0.5) == pytest.approx(1e6)
    assert bounds.to_unit(1e6) == pytest.approx(0.5)
    linear = ParameterBounds("chip_markup", 1.0, 4.0, False)
    assert not linear.log_scale and linear.from_unit(0.5) == 2.5


@pytest.mark.parametrize(("spec", "needles"), [
    ("no_such_parameter", ["unknown parameter `no_such_parameter`"]),
    ("chip_markp", ["did you mean `chip_markup`"]),
    ("chip_markup=3:1", ["low (3) must be below high (1)"]),
    ("chip_markup=0:50", ["chip_markup", "[0, 20]"]),
    ("chip_markup=a:b", ["bounds of `chip_markup` must be numbers"]),
    ("chip_markup=1", ["name=low:high"]),
    ("start_quarter", ["`start_quarter` is not a numeric parameter"]),
])
def test_bad_bounds_name_the_parameter_and_its_range(spec, needles):
    with pytest.raises(FitError) as info:
        parse_bounds([spec])
    for needle in needles:
        assert needle in str(info.value)


def test_no_parameter_or_a_repeated_one_is_rejected():
    with pytest.raises(FitError, match="at least one --param"):
        parse_bounds([])
    with pytest.raises(FitError, match="given twice"):
        parse_bounds(["chip_markup", "chip_markup=1:2"])


# --- the search --------------------------------------------------------------------------------
def small_fit(tmp_path, **kwargs):
    targets = tmp_path / "targets.csv"
    targets.write_text(TARGETS_2023)
    options = {"targets": targets, "seeds": 1, "samples": 4, "local_evals": 3,
               "overrides": SMALL, "sample_seed": 7}
    return fit("baseline", ["chip_markup=1.5:4", "non_ai_capex_usd_b_per_quarter=10:40"],
               **{**options, **kwargs})


def test_search_stays_in_bounds_is_reproducible_and_keeps_the_best(tmp_path):
    first = small_fit(tmp_path)
    second = small_fit(tmp_path)
    candidates = first.candidates
    assert list(candidates["stage"].unique()) == ["start", "sample", "local"]
    assert (candidates["stage"] == "sample").sum() == 4
    assert 1 <= (candidates["stage"] == "local").sum() <= 3
    assert candidates["chip_markup"].between(1.5, 4.0).all()
    assert candidates["non_ai_capex_usd_b_per_quarter"].between(10.0, 40.0).all()
    pd.testing.assert_frame_equal(candidates, second.candidates)  # same seeds, same fit
    assert first.best_objective == candidates["objective"].min()
    best_row = candidates.loc[candidates["objective"].idxmin()]
    assert first.best == {"chip_markup": best_row["chip_markup"],
                          "non_ai_capex_usd_b_per_quarter":
                          best_row["non_ai_capex_usd_b_per_quarter"]}
    other = small_fit(tmp_path, sample_seed=8)
    sampled = candidates[candidates["stage"] == "sample"]["chip_markup"].to_numpy()
    assert not np.array_equal(
        sampled, other.candidates[other.candidates["stage"] == "sample"]["chip_markup"])


def test_fitted_scenario_file_loads_and_validates(tmp_path):
    result = small_fit(tmp_path, samples=2, local_evals=0)
    paths = write_fit_outputs(result, tmp_path / "out")
    text = paths["fitted.toml"].read_text()
    assert "fitted by bubble-abm fit on" in text and "objective" in text
    assert "n_investors" not in tomllib.loads(text)["params"]  # --set values are not written
    assert "token_price_elasticity = 1.15  # elasticity of token volume" in text  # comments kept
    refit = format_fitted_scenario(dataclasses.replace(result, scenario=str(paths["fitted.toml"])))
    assert tomllib.loads(refit)["description"].count("[fitted:") == 1  # no pile-up on refits
    params = load_scenario(paths["fitted.toml"])
    assert params.chip_markup == result.best["chip_markup"]
    baseline = load_scenario("baseline")
    assert params.token_price_elasticity == baseline.token_price_elasticity  # base values kept
    candidates = pd.read_csv(paths["candidates.csv"])
    assert len(candidates) == len(result.candidates)
    assert {"objective", "targets_in_range", "median hyperscaler_capex 2023"} <= set(
        candidates.columns)
    # the file reproduces the fit's best candidate
    again = calibration_report(paths["fitted.toml"], seeds=[1], targets=tmp_path / "targets.csv",
                               overrides=SMALL)
    assert objective(again) == pytest.approx(result.best_objective)


def test_fit_recovers_a_known_parameter(tmp_path):
    """Targets synthesised from a run at non-AI capex of $30B a quarter; the fit lands near it."""
    truth = 30.0
    path = tmp_path / "synthetic.csv"
    path.write_text(TARGETS_2023.splitlines()[0] + "\n"
                    + "hyperscaler_capex,2023,140,160,usd_b_per_year,me,\n")
    moment = calibration_report("baseline", seeds=[1], targets=path,
                                overrides={**SMALL, "non_ai_capex_usd_b_per_quarter": truth})
    centre = float(moment.loc[0, "model_median"])
    path.write_text(HEADER + f"hyperscaler_capex,2023,{centre - 0.5},{centre + 0.5},"
                    "usd_b_per_year,synthetic,\n")
    result = fit("baseline", ["non_ai_capex_usd_b_per_quarter=10:50"], targets=path, seeds=1,
                 samples=4, local_evals=16, overrides=SMALL, sample_seed=1)
    assert result.best_objective < result.candidates["objective"].max()
    assert result.best["non_ai_capex_usd_b_per_quarter"] == pytest.approx(truth, abs=1.0)


def test_powell_search_also_stays_in_bounds(tmp_path):
    result = small_fit(tmp_path, samples=1, local_evals=3, method="powell")
    local = result.candidates[result.candidates["stage"] == "local"]
    assert 1 <= len(local) <= 3
    assert local["chip_markup"].between(1.5, 4.0).all()
    assert result.best_objective == result.candidates["objective"].min()
    with pytest.raises(FitError, match="method 'bfgs'"):
        small_fit(tmp_path, method="bfgs")


def test_fit_rejects_a_parameter_both_fitted_and_set(tmp_path):
    with pytest.raises(FitError, match="both fitted"):
        fit("baseline", ["chip_markup"], overrides={"chip_markup": 3.0}, samples=0,
            local_evals=0)


# --- the command -------------------------------------------------------------------------------
def test_fit_command_writes_scenario_and_candidates(tmp_path, capsys):
    targets = tmp_path / "t.csv"
    targets.write_text(TARGETS_2023)
    out = tmp_path / "fit"
    code, stdout, err = run_cli(capsys, "fit", "--param", "chip_markup=1.5:4", "--targets",
                                str(targets), "--seeds", "1", "--samples", "2",
                                "--local-evals", "1", "--processes", "1", "--out", str(out),
                                *SMALL_ARGS)
    assert code == 0, err
    assert "Fit of baseline: " in stdout and "chip_markup = " in stdout
    assert stdout.rstrip().endswith("/2 targets in range")
    for name in ("fitted.toml", "candidates.csv", "calibration.csv"):
        assert (out / name).is_file() and str(out / name) in stdout
    assert load_scenario(out / "fitted.toml").chip_markup <= 4.0
    assert err == ""  # no progress bar when stderr is not a terminal


@pytest.mark.parametrize(("argv", "needles"), [
    ([], ["no parameter to fit"]),
    (["--param", "chip_markup=0:50"], ["chip_markup", "[0, 20]"]),
    (["--param", "nope"], ["unknown parameter `nope`"]),
    (["--param", "chip_markup", "--set", "chip_markup=3"], ["both fitted"]),
    (["--param", "chip_markup", "--set", "n_investors=-5"], ["n_investors", "[1, 200000]"]),
    (["--param", "chip_markup", "--seeds", "0"], ["--seeds", "must be >= 1"]),
    (["--param", "chip_markup", "--samples", "-1"], ["--samples", "must be >= 0"]),
    (["--param", "chip_markup", "--method", "bfgs"], ["--method", "invalid choice"]),
])
def test_fit_command_bad_input(argv, needles, tmp_path, capsys):
    code, _, err = run_cli(capsys, "fit", "--out", str(tmp_path / "o"), *argv)
    assert_usage_error(code, err, *needles)
    assert not (tmp_path / "o").exists()


def test_fit_command_bad_targets_file(tmp_path, capsys):
    path = tmp_path / "bad.csv"
    path.write_text(HEADER + "hyperscaler_capex,2023,high,2,usd_b_per_year,s,\n")
    code, _, err = run_cli(capsys, "fit", "--param", "chip_markup", "--targets", str(path),
                           "--out", str(tmp_path / "o"))
    assert_usage_error(code, err, "line 2", "`low` is not a number")
    assert not (tmp_path / "o").exists()
