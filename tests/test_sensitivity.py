"""Sensitivity analysis (bubble_abm.sensitivity, ``bubble-abm sensitivity``): SALib through our
wrapper on known functions, a tiny Morris screen of the model, and bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from cli_helpers import assert_usage_error, run_cli

from bubble_abm import sensitivity
from bubble_abm.sensitivity import SensitivityError, analyze, run_sensitivity, sample

RANGES = {"extra_data_worth": (0.1, 3.0), "rate_shock": (0.0, 0.1)}
SMALL = {"n_app_companies": 20, "n_investors": 20}


def test_morris_on_a_known_function_finds_the_inert_parameter():
    x = sample(RANGES, 6, "morris", seed=1)
    assert x.shape == (6 * 3, 2)
    y = pd.DataFrame({"linear": 2.0 * x[:, 0], "square": x[:, 0] ** 2})
    table = analyze(RANGES, x, y, "morris")
    assert list(table.columns) == ["output", "parameter", "mu", "mu_star", "mu_star_conf",
                                   "sigma"]
    indexed = table.set_index(["output", "parameter"])
    assert indexed.loc[("linear", "rate_shock"), "mu_star"] == 0.0
    assert indexed.loc[("linear", "extra_data_worth"), "mu_star"] > 0
    # a linear effect is the same everywhere (sigma 0); a curved one is not
    assert indexed.loc[("linear", "extra_data_worth"), "sigma"] == pytest.approx(0, abs=1e-9)
    assert indexed.loc[("square", "extra_data_worth"), "sigma"] > 0


def test_sobol_on_a_known_function_apportions_the_variance():
    x = sample(RANGES, 64, "sobol", seed=1)
    assert x.shape == (64 * 4, 2)
    y = {"additive": x[:, 0] + 0.0 * x[:, 1], "constant": np.ones(len(x))}
    table = analyze(RANGES, x, y, "sobol").set_index(["output", "parameter"])
    assert {"S1", "S1_conf", "ST", "ST_conf"} <= set(table.columns)
    assert table.loc[("additive", "extra_data_worth"), "S1"] == pytest.approx(1.0, abs=0.1)
    assert table.loc[("additive", "rate_shock"), "ST"] == pytest.approx(0.0, abs=1e-9)
    assert table.loc[("additive", "extra_data_worth"), "S1_conf"] >= 0
    assert table.loc["constant"].isna().all().all()  # no variance to apportion


def test_morris_screen_of_the_model_gives_an_inert_parameter_zero(tmp_path):
    """rate_shock starts in 2027Q1 (rate_shock_quarter); a 12-quarter run ends in 2025Q4, so the
    shock's size cannot change any output: its elementary effects must all be exactly 0. The
    data wall does bind by 2025 (extra_data_worth 0.1 against 3.0 moves peak capex by ~$2B), so
    its effect must not be 0. (Over 8 quarters it moved peak capex by ~1e-6 $B at most: too
    close to nothing to be the positive control.)"""
    result = run_sensitivity(tmp_path, RANGES, n=2, method="morris", seeds=1,
                             overrides=SMALL, quarters=12)
    table = result.indices.set_index(["output", "parameter"])
    assert set(table.index.get_level_values("output")) == set(sensitivity.OUTPUTS)
    assert (table.xs("rate_shock", level="parameter")[["mu_star", "sigma"]] == 0).all().all()
    assert table.loc[("peak_capex_usd_b_per_year", "extra_data_worth"), "mu_star"] > 0
    assert len(result.plan) == 2 * 3
    for name in ("sensitivity.csv", "sensitivity_points.csv", "sensitivity.png",
                 "sensitivity.json"):
        assert (tmp_path / name).is_file()
    points = pd.read_csv(tmp_path / "sensitivity_points.csv")
    assert len(points) == 6 and (points["seeds"] == 1).all()
    again = run_sensitivity(tmp_path, RANGES, n=2, method="morris", seeds=1,
                            overrides=SMALL, quarters=12)  # resumes: nothing left to run
    assert again.batch.completed == 0 and again.batch.skipped == 6
    pd.testing.assert_frame_equal(again.indices, result.indices)


def test_the_sample_becomes_the_batch_parameter_points():
    plan, x = sensitivity.sensitivity_plan(
        {"extra_data_worth": (0.1, 3.0), "training_run_quarters": (1, 4)}, n=2, seeds=2,
        overrides=SMALL, quarters=4)
    assert plan.swept == ("extra_data_worth", "training_run_quarters")
    assert len(plan.points) == len(x) and len(plan) == 2 * len(x)
    assert all(isinstance(p["training_run_quarters"], int) for p in plan.points)
    assert [p["extra_data_worth"] for p in plan.points] == pytest.approx(list(x[:, 0]))


@pytest.mark.parametrize(
    ("ranges", "needles"),
    [
        ({"extra_data_worth": (0.1, 3.0)}, ["at least 2 parameters"]),
        ({"extra_data_worth": (0.1, 3.0), "no_such_key": (0, 1)}, ["no_such_key", "unknown"]),
        ({"extra_data_worth": (0.1, 300.0), "rate_shock": (0, 0.1)},
         ["extra_data_worth", "[0, 100]"]),
        ({"extra_data_worth": (3.0, 0.1), "rate_shock": (0, 0.1)}, ["low < high"]),
    ],
)
def test_bad_ranges_are_rejected_with_the_allowed_range(ranges, needles):
    with pytest.raises(SensitivityError) as info:
        sensitivity.validate_ranges(ranges)
    for needle in needles:
        assert needle in str(info.value)


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["--param", "extra_data_worth=0.1:300", "--param", "rate_shock=0:0.1"],
         ["--param extra_data_worth", "[0, 100]"]),
        (["--param", "no_such_key=0:1", "--param", "rate_shock=0:0.1"], ["no_such_key"]),
        (["--param", "extra_data_worth=0.1"], ["--param", "low:high"]),
        (["--param", "extra_data_worth=0.1:1", "--param", "extra_data_worth=0.2:2"],
         ["given twice"]),
        (["--method", "sobol", "--n", "10"], ["--n 10", "power of two"]),
        (["--n", "1"], ["--n", ">= 2"]),
        (["--seeds", "0"], ["--seeds", ">= 1"]),
        (["--output", "bust_rate"], ["--output", "bust_rate"]),
        (["--method", "fast"], ["--method", "fast"]),
        (["--scenario", "no_such_scenario"], ["no_such_scenario"]),
        (["--set", "rate_shock=0.01"], ["rate_shock", "both sampled"]),
    ],
)
def test_sensitivity_cli_bad_input(capsys, tmp_path, args, needles):
    base = ["--param", "extra_data_worth=0.1:1", "--param", "rate_shock=0:0.1"]
    if any(a == "--param" for a in args):
        base = []
    code, _, err = run_cli(capsys, "sensitivity", *base, *args, "--out", str(tmp_path / "s"))
    assert_usage_error(code, err, *needles)
    assert not (tmp_path / "s" / "batch").exists()


def test_outputs_are_averaged_over_finished_seeds_and_a_point_without_any_fails():
    runs = pd.DataFrame({
        "point": [0, 0, 1, 1], "status": ["ok", "ok", "ok", "failed"],
        "bust": pd.array([True, False, True, pd.NA], dtype="boolean"),
        "stranded_gpu_assets_peak_usd_b": [10.0, 20.0, 5.0, np.nan],
    })
    y = sensitivity.point_outputs(runs, 2, ["bust_probability", "peak_stranded_usd_b"])
    assert y["seeds"].tolist() == [2, 1]
    assert y["bust_probability"].tolist() == [0.5, 1.0]
    assert y["peak_stranded_usd_b"].tolist() == [15.0, 5.0]
    with pytest.raises(sensitivity.IncompleteSampleError, match="1 parameter point"):
        sensitivity.point_outputs(runs, 3, ["bust_probability"])
