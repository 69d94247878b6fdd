"""Command line (bubble_abm.cli) and scenario files (bubble_abm.scenarios).

Runs are kept short (a few quarters, small app and investor populations) so the file takes
seconds. Every bad-input test checks exit code 2, a message naming the problem and no traceback.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pandas as pd
import pytest
from cli_helpers import assert_usage_error, run_cli

from bubble_abm import BubbleModel, ParameterError, make_params
from bubble_abm.chains import EVENT_DEFINITIONS, VERDICT_DEFINITIONS
from bubble_abm.cli import _simulate, parse_assignment
from bubble_abm.params import describe_parameters
from bubble_abm.scenarios import (
    SCENARIO_DIR,
    ScenarioError,
    list_scenarios,
    load_scenario,
    scenario_dir,
)

SMALL = ["--set", "n_app_companies=20", "--set", "n_investors=20"]
BASELINE_DESCRIPTION = (
    "The messy middle, calibrated to 2023-26 public figures: the reference every scenario changes"
)


# --- run: smoke tests -------------------------------------------------------------------------
def test_run_writes_outputs(tmp_path, capsys):
    code, out, err = run_cli(
        capsys,
        "run",
        "--scenario",
        "baseline",
        "--seed",
        "3",
        "--quarters",
        "6",
        "--out",
        str(tmp_path),
        "--quiet",
        *SMALL,
    )
    assert code == 0, err
    assert "Traceback" not in err
    for name in (
        "model_table.parquet",
        "agent_table.parquet",
        "chain.png",
        "summary.txt",
        "events.csv",
        "chain.json",
        "stranded_by_vintage.csv",
    ):
        assert (tmp_path / name).is_file(), name
    vintages = pd.read_csv(tmp_path / "stranded_by_vintage.csv")
    assert {"owner_kind", "vintage_quarter", "idle_units_h100e", "impairment_to_date_usd_b",
            "accounting_life_years", "economic_life_years"} <= set(vintages.columns)
    table = pd.read_parquet(tmp_path / "model_table.parquet")
    assert len(table) == 6
    assert "quarter" in table.columns
    assert table["quarter"].iloc[0] == "2023Q1"
    assert out == ""  # --quiet


def test_run_prints_summary_and_default_out_dir(tmp_path, capsys, monkeypatch):
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "tiny.toml").write_text(
        'description = "tiny"\n[params]\nn_app_companies = 10\nn_investors = 10\n'
    )
    monkeypatch.setenv("BUBBLE_ABM_RUNS", str(runs))
    code, out, err = run_cli(capsys, "run", "--scenario", "tiny", "--quarters", "2")
    assert code == 0, err
    out_dir = runs / "output" / "tiny-seed1"  # default: <runs>/output/<scenario>-seed<N>
    assert (out_dir / "summary.json").is_file()
    assert "tiny, seed 1, 2 quarters from 2023Q1" in out
    assert "Peak AI capex" in out
    assert "Verdict" in out and "Spend chain" in out  # the chain block follows the summary
    assert out.index("Peak AI capex") < out.index("Verdict")
    assert str(out_dir / "chain.png") in out
    assert str(out_dir / "events.csv") in out


def test_progress_bar_ticks_once_per_quarter(capsys):
    model = BubbleModel(make_params({"n_app_companies": 10, "n_investors": 10}), rng=0)
    _simulate(model, 2, "demo", show_bar=True)
    assert model.steps == 2
    assert "2/2" in capsys.readouterr().err


def test_calibrate_help_and_top_level_help_name_the_command(capsys):
    code, out, _ = run_cli(capsys, "calibrate", "--help")
    assert code == 0
    for needle in ("--seeds", "--targets", "--processes", "examples:", "targets in range"):
        assert needle in out
    code, out, _ = run_cli(capsys, "--help")
    assert code == 0 and "calibrate" in out


def test_calibrate_progress_bar_ticks_once_per_seed(tmp_path, capsys, monkeypatch):
    targets = tmp_path / "t.csv"
    targets.write_text("metric,period,low,high,unit,source\n"
                       "h100_rental_price,2023Q1,4,5,usd_per_gpu_hour,test\n")
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    code, out, err = run_cli(capsys, "calibrate", "--seeds", "2", "--processes", "1",
                             "--targets", str(targets), "--out", str(tmp_path / "o"), *SMALL)
    assert code == 0, err
    assert "2/2" in err and "seed" in err
    assert out.rstrip().endswith("1/1 targets in range")


def test_python_dash_m_help():
    result = subprocess.run(
        [sys.executable, "-m", "bubble_abm", "run", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "--scenario" in result.stdout and "examples:" in result.stdout


@pytest.mark.parametrize("command", ["run", "scenarios", "params", "events"])
def test_help_of_every_command(command, capsys):
    code, out, _ = run_cli(capsys, command, "--help")
    assert code == 0
    assert "example" in out


# --- run: bad input -----------------------------------------------------------------------------
def test_unknown_scenario_lists_available(capsys):
    code, _, err = run_cli(capsys, "run", "--scenario", "no_such_scenario", "--quiet")
    assert_usage_error(code, err, "no_such_scenario", "available", "baseline")


def test_negative_count_names_field_and_range(tmp_path, capsys):
    code, _, err = run_cli(
        capsys, "run", "--quarters", "1", "--out", str(tmp_path), "--set", "n_investors=-5"
    )
    assert_usage_error(code, err, "n_investors", "[1, 200000]")
    assert not (tmp_path / "model_table.parquet").exists()


def test_unknown_parameter_named(capsys):
    code, _, err = run_cli(capsys, "run", "--quarters", "1", "--set", "not_a_param=1")
    assert_usage_error(code, err, "not_a_param")


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--seed", "-1"], "--seed"),
        (["--seed", "one"], "--seed"),
        (["--quarters", "0"], "--quarters"),
        (["--quarters", "401"], "--quarters"),
        (["--set", "n_investors"], "key=value"),
    ],
)
def test_bad_argument_values(argv, needle, capsys):
    code, _, err = run_cli(capsys, "run", *argv)
    assert_usage_error(code, err, needle)


def test_malformed_toml_names_file_and_line(tmp_path, capsys):
    bad = tmp_path / "broken.toml"
    bad.write_text('description = "broken"\n[params]\nn_investors = = 5\n')
    code, _, err = run_cli(capsys, "run", "--scenario", str(bad), "--quiet")
    assert_usage_error(code, err, str(bad), "line 3")


def test_bad_value_in_scenario_file_names_file_and_field(tmp_path, capsys):
    bad = tmp_path / "bad_value.toml"
    bad.write_text("[params]\nutilization_target = 2\ntarget_utilization = 1.5\n")
    code, _, err = run_cli(capsys, "run", "--scenario", str(bad), "--quiet")
    assert_usage_error(code, err, str(bad), "utilization_target", "target_utilization", "0.99")


def test_missing_scenario_file(tmp_path, capsys):
    code, _, err = run_cli(capsys, "run", "--scenario", str(tmp_path / "nope.toml"))
    assert_usage_error(code, err, "nope.toml", "not found")


def test_no_command_is_a_usage_error(capsys):
    code, _, err = run_cli(capsys)
    assert code == 2 and "Traceback" not in err


# --- other commands ---------------------------------------------------------------------------
def test_scenarios_command_lists_baseline(capsys):
    code, out, _ = run_cli(capsys, "scenarios")
    assert code == 0
    assert "baseline" in out and BASELINE_DESCRIPTION in out


@pytest.mark.parametrize("fmt", ["text", "markdown", "csv"])
def test_params_command_lists_every_parameter(fmt, capsys):
    code, out, _ = run_cli(capsys, "params", "--format", fmt)
    assert code == 0
    for row in describe_parameters():
        assert row["name"] in out
    if fmt == "csv":
        assert out.splitlines()[0] == "name,default,unit,low,high,source"
    if fmt == "markdown":
        assert out.startswith("| name | default |")


@pytest.mark.parametrize("fmt", ["text", "markdown"])
def test_events_command_defines_every_event_and_verdict(fmt, capsys):
    code, out, _ = run_cli(capsys, "events", "--format", fmt)
    assert code == 0
    for name in EVENT_DEFINITIONS:
        assert name in out
    for name in VERDICT_DEFINITIONS:
        assert name in out
    assert "[capex_cut_from_peak]" in out
    if fmt == "markdown":
        assert "| `capex_cut` | " + EVENT_DEFINITIONS["capex_cut"] + " |" in out
    else:
        assert "capex_cut:" in out
        # spend chain first, collapse chain in order
        assert out.index("capex_rising:") < out.index("capability_gain_per_dollar_falls:")
        assert out.index("capex_cut:") < out.index("chip_orders_fall:")


def test_events_command_bad_format(capsys):
    code, _, err = run_cli(capsys, "events", "--format", "csv")
    assert_usage_error(code, err, "--format")


def test_parse_assignment_reads_toml_literals():
    assert parse_assignment("n_investors=50") == ("n_investors", 50)
    assert parse_assignment("risk_free_rate = 0.05") == ("risk_free_rate", 0.05)
    assert parse_assignment("start_quarter=2024Q1") == ("start_quarter", "2024Q1")
    assert parse_assignment('chinchilla_constants="hoffmann2022"') == (
        "chinchilla_constants",
        "hoffmann2022",
    )


# --- scenarios.py -------------------------------------------------------------------------------
def test_list_scenarios_has_baseline_with_description():
    assert ("baseline", BASELINE_DESCRIPTION) in list_scenarios()


def test_scenario_dir_is_repo_runs_folder(monkeypatch):
    monkeypatch.delenv("BUBBLE_ABM_RUNS", raising=False)
    assert scenario_dir() == SCENARIO_DIR
    assert (SCENARIO_DIR / "baseline.toml").is_file()


def test_load_by_name_equals_load_by_path():
    assert load_scenario("baseline") == load_scenario(SCENARIO_DIR / "baseline.toml")
    assert load_scenario("baseline") == load_scenario(str(SCENARIO_DIR / "baseline.toml"))


def test_baseline_restates_current_defaults():
    """runs/baseline.toml spells out headline defaults and the calibrated block (issue 4); keep it
    in step with params.py. Each calibrated value's line says it was fitted and what it replaced,
    and the value lies inside the parameter's allowed range and its fit bounds."""
    path = SCENARIO_DIR / "baseline.toml"
    values = tomllib.loads(path.read_text())["params"]
    notes = {line.split("=", 1)[0].strip(): line.split("#", 1)[1]
             for line in path.read_text().splitlines() if "=" in line and "#" in line}
    rows = {row["name"]: row for row in describe_parameters()}
    stale = {k: (v, rows[k]["default"]) for k, v in values.items() if v != rows[k]["default"]}
    assert not stale, f"baseline.toml differs from the defaults (file, default): {stale}"
    fitted = {k for k in values if "fitted" in notes.get(k, "")}
    assert len(fitted) >= 10
    for name in fitted:
        low, high = rows[name]["low"], rows[name]["high"]
        assert low <= values[name] <= high, (name, values[name], low, high)
        assert "was " in notes[name], name
        fit_low, fit_high = (float(x) for x in
                             notes[name].split("fit bounds ")[1].rstrip(")").split("-"))
        assert low <= fit_low <= values[name] <= fit_high <= high, (name, fit_low, fit_high)


def test_overrides_replace_file_values():
    params = load_scenario("baseline", {"n_investors": 33, "n_quarters": 8})
    assert params.n_investors == 33 and params.n_quarters == 8


def test_unknown_key_in_user_file_rejected(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('description = "mine"\n[params]\nn_investor = 50\n')
    with pytest.raises(ParameterError) as info:
        load_scenario(path)
    assert "n_investor" in str(info.value) and str(path) in str(info.value)


def test_parameter_outside_params_table_rejected(tmp_path):
    path = tmp_path / "flat.toml"
    path.write_text("n_investors = 50\n")
    with pytest.raises(ScenarioError, match=r"n_investors.*\[params\]"):
        load_scenario(path)


def test_missing_scenario_is_scenario_error():
    with pytest.raises(ScenarioError, match="baseline"):
        load_scenario("does_not_exist")
    assert issubclass(ScenarioError, ValueError)


def test_env_var_moves_scenario_folder(tmp_path, monkeypatch):
    (tmp_path / "alt.toml").write_text('description = "alternative"\n[params]\nn_quarters = 12\n')
    monkeypatch.setenv("BUBBLE_ABM_RUNS", str(tmp_path))
    assert scenario_dir() == Path(tmp_path)
    assert list_scenarios() == [("alt", "alternative")]
    assert load_scenario("alt").n_quarters == 12
