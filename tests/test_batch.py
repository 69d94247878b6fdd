"""Batch runs (bubble_abm.batch, ``bubble-abm batch``): plans, Parquet output, resume, failures,
executors and the loader.

Runs are small (20 app companies, 20 investors, 8 quarters) so the file stays well under a
minute; most of its time is spent starting worker processes for the pool and Dask test.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cli_helpers import assert_usage_error, run_cli

import bubble_abm.batch as batch
import bubble_abm.batch.run as batch_run
from bubble_abm.batch import (
    BatchError,
    BatchInterrupted,
    load_batch,
    make_plan,
    parse_grid,
    parse_sample,
    read_manifest,
    run_batch,
    run_one,
    sample_points,
)
from bubble_abm.chains import VERDICTS
from bubble_abm.cli import main
from bubble_abm.params import ParameterError, Params, field_range

SMALL = {"n_app_companies": 20, "n_investors": 20}
QUARTERS = 8
SCENARIOS = ("baseline", "data_wall")
SEEDS = 3
CLI_ARGS = ["batch", "--scenarios", *SCENARIOS, "--seeds", str(SEEDS), "--quarters",
            str(QUARTERS), "--set", "n_app_companies=20", "--set", "n_investors=20"]


def small_plan(seeds: int = SEEDS, **kwargs):
    return make_plan(SCENARIOS, seeds, overrides=SMALL, quarters=QUARTERS, **kwargs)


def comparable(tables: batch.BatchTables) -> batch.BatchTables:
    """The tables without the one column that is not reproducible (wall time per run)."""
    return batch.BatchTables(tables.runs.drop(columns="run_seconds"), tables.quarters,
                             tables.events)


def assert_same_batch(left: batch.BatchTables, right: batch.BatchTables) -> None:
    for name, a, b in zip(batch.BatchTables._fields, comparable(left), comparable(right),
                          strict=True):
        assert len(a), name
        pd.testing.assert_frame_equal(a, b, obj=name)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """An uninterrupted serial batch of the small plan (6 runs), written by the CLI."""
    out = tmp_path_factory.mktemp("batch") / "reference"
    assert main(CLI_ARGS + ["--out", str(out), "--quiet"]) == 0
    return out


# --- plans ------------------------------------------------------------------------------------
def test_grid_is_the_cartesian_product_in_plan_order():
    plan = make_plan(["baseline"], 2, grid={"extra_data_worth": [0.2, 1.0],
                                            "chip_markup": [1.5, 2.8, 4.0]}, overrides=SMALL)
    assert len(plan) == 2 * 3 * 2
    assert plan.swept == ("extra_data_worth", "chip_markup")
    assert plan.param_columns[:2] == plan.swept
    assert {"n_app_companies", "n_investors"} <= set(plan.param_columns)
    jobs = list(plan.jobs())
    assert [(j.point, j.seed) for j in jobs[:4]] == [(0, 1), (0, 2), (1, 1), (1, 2)]
    assert jobs[2].values["chip_markup"] == 2.8 and jobs[2].values["extra_data_worth"] == 0.2
    assert len({j.run_id for j in jobs}) == len(jobs)
    assert [j.run_index for j in jobs] == list(range(len(jobs)))


def test_run_ids_are_reproducible_and_depend_on_parameters_and_seed():
    first = [j.run_id for j in small_plan().jobs()]
    assert first == [j.run_id for j in small_plan().jobs()]
    other = [j.run_id for j in make_plan(SCENARIOS, SEEDS, overrides=SMALL,
                                         quarters=QUARTERS + 1).jobs()]
    assert not set(first) & set(other)
    # an integer typed for a float parameter is the same value (--grid x=1,2 vs x=1.0,2.0)
    ints = make_plan(["baseline"], 1, grid={"extra_data_worth": [1, 2]})
    floats = make_plan(["baseline"], 1, grid={"extra_data_worth": [1.0, 2.0]})
    assert [j.run_id for j in ints.jobs()] == [j.run_id for j in floats.jobs()]
    assert ints.digest() == floats.digest()


def test_scenario_values_are_parameter_columns():
    plan = small_plan()
    # data_wall sets extra_data_worth; the column holds each run's actual value
    assert "extra_data_worth" in plan.param_columns
    values = {j.scenario: j.values["extra_data_worth"] for j in plan.jobs()}
    assert values["baseline"] == Params().extra_data_worth
    assert values["data_wall"] != Params().extra_data_worth


def test_sobol_sample_size_must_be_a_power_of_two():
    with pytest.raises(BatchError, match=r"--n 5: Sobol' sampling needs a power of two "
                                         r"\(e\.g\. 4 or 8\)"):
        sample_points({"extra_data_worth": (0.0, 5.0)}, 5, "sobol")
    assert len(sample_points({"extra_data_worth": (0.0, 5.0)}, 5, "lhs")) == 5


@pytest.mark.parametrize("method", ["lhs", "sobol"])
def test_samples_are_reproducible_inside_their_ranges_and_round_integers(method):
    ranges = {"extra_data_worth": (0.1, 5.0), "training_run_quarters": (1, 4)}
    points = sample_points(ranges, 32, method, seed=7)
    assert points == sample_points(ranges, 32, method, seed=7)
    assert points != sample_points(ranges, 32, method, seed=8)
    worth = [p["extra_data_worth"] for p in points]
    runs = [p["training_run_quarters"] for p in points]
    assert all(0.1 <= w <= 5.0 for w in worth) and len(set(worth)) == 32
    assert all(isinstance(r, int) for r in runs) and set(runs) == {1, 2, 3, 4}
    # space-filling: each quarter of the float range holds a fair share of the points
    counts = pd.cut(pd.Series(worth), 4).value_counts()
    assert counts.min() >= 6


def test_sample_plan_records_its_design():
    plan = make_plan(["baseline"], 1, sample={"lab_markup": (0.5, 3.0)}, n=5, method="lhs",
                     sample_seed=3, overrides=SMALL)
    assert len(plan) == 5 and plan.swept == ("lab_markup",)
    spec = plan.to_spec()
    assert spec["design"] == {"method": "lhs", "n": 5, "sample_seed": 3,
                              "sample": {"lab_markup": [0.5, 3.0]}}
    assert batch.BatchPlan.from_spec(spec).to_spec() == spec


def test_explicit_points_make_a_plan():
    points = [{"lab_markup": 1.0, "training_run_quarters": 2},
              {"training_run_quarters": 3, "lab_markup": 2.0}]
    plan = make_plan(["baseline"], 2, points=points, overrides=SMALL)
    assert plan.points == ({"lab_markup": 1.0, "training_run_quarters": 2},
                           {"lab_markup": 2.0, "training_run_quarters": 3})
    assert plan.swept == ("lab_markup", "training_run_quarters") and len(plan) == 4
    with pytest.raises(BatchError, match="same parameters"):
        make_plan(["baseline"], 1, points=[{"lab_markup": 1.0}, {"chip_markup": 1.0}])
    with pytest.raises(ParameterError, match=r"point 1.*training_run_quarters"):
        make_plan(["baseline"], 1, points=[{"training_run_quarters": 2},
                                            {"training_run_quarters": 99}])


@pytest.mark.parametrize(
    ("kwargs", "needles"),
    [
        ({"grid": {"extra_data_wort": [1.0]}}, ["extra_data_wort", "extra_data_worth"]),
        ({"sample": {"extra_data_worth": (1.0, 200.0)}, "n": 4},
         ["extra_data_worth", "[0, 100]"]),
        ({"sample": {"start_quarter": (1.0, 2.0)}, "n": 4}, ["start_quarter", "numeric"]),
        ({"sample": {"lab_markup": (0.5, 1.0)}}, ["--n"]),
        ({"grid": {"lab_markup": [1.0, 1.0]}}, ["lab_markup", "repeated"]),
        ({"grid": {"lab_markup": [1.0]}, "sample": {"lab_markup": (0.5, 1.0)}, "n": 2},
         ["--grid", "--sample"]),
        ({"grid": {"n_investors": [10, 30]}}, ["n_investors", "swept and fixed"]),
    ],
)
def test_bad_designs_name_the_field(kwargs, needles):
    with pytest.raises(BatchError) as info:
        small_plan(**kwargs)
    for needle in needles:
        assert needle in str(info.value)


def test_grid_value_outside_the_range_names_field_and_range():
    low, high = field_range("extra_data_worth")
    with pytest.raises(ParameterError, match=rf"extra_data_worth.*\[{low:g}, {high:g}\]"):
        small_plan(grid={"extra_data_worth": [0.5, high + 1]})


def test_command_line_forms():
    assert parse_grid("extra_data_worth=0.2,1,5") == ("extra_data_worth", [0.2, 1, 5])
    assert parse_grid("chinchilla_constants=hoffmann2022") == ("chinchilla_constants",
                                                               ["hoffmann2022"])
    assert parse_sample("lab_markup=0.5:3") == ("lab_markup", (0.5, 3.0))
    for bad in ("extra_data_worth", "extra_data_worth=", "x=1,,2", "=1,2"):
        with pytest.raises(BatchError, match="key=v1,v2"):
            parse_grid(bad)
    for bad in ("lab_markup=3:0.5", "lab_markup=1", "lab_markup=a:b", "lab_markup=1:inf"):
        with pytest.raises(BatchError, match="lab_markup"):
            parse_sample(bad)


def test_seed_lists():
    assert make_plan(["baseline"], 3).seeds == (1, 2, 3)
    assert make_plan(["baseline"], [5, 9]).seeds == (5, 9)
    for bad in (0, [], [1, 1]):
        with pytest.raises(BatchError, match="seed"):
            make_plan(["baseline"], bad)


def test_parameter_names_do_not_clash_with_run_columns():
    run_columns = (set(batch_run._ID_COLUMNS) | set(batch_run._RUN_INFO_COLUMNS)
                   | set(batch.SUMMARY_COLUMNS))
    assert not run_columns & set(Params.model_fields)


# --- one run and the tables ---------------------------------------------------------------------
def test_run_one_matches_the_model_and_the_report(reference):
    from bubble_abm import BubbleModel
    from bubble_abm.chains import detect_events, summarize_chain
    from bubble_abm.report import run_summary
    from bubble_abm.scenarios import load_scenario

    job = next(small_plan().jobs())
    result = run_one(job)
    model = BubbleModel(load_scenario("baseline", {**SMALL, "n_quarters": QUARTERS}),
                        rng=job.seed)
    model.run_for(QUARTERS)
    table = model.model_table()
    pd.testing.assert_frame_equal(result.quarters.drop(columns=["run_id", "scenario", "seed"]),
                                  table)
    summary = run_summary(table)
    chain = summarize_chain(table)
    assert result.row["peak_capex_usd_b_per_quarter"] == summary["peak_capex_usd_b_per_quarter"]
    assert result.row["defaults"] == summary["defaults"]
    assert result.row["verdict"] == chain["verdict"]
    assert result.row["bust"] == (chain["verdict"] == "bust")
    assert json.loads(result.row["chain_json"])["collapse_links"] == chain["collapse_links"]
    first_spells = result.events[result.events["spell"] == 0].drop(
        columns=["run_id", "scenario", "seed", "spell"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(first_spells, detect_events(table), check_dtype=False)


def test_loader_dtypes_and_shapes(reference):
    runs, quarters, events = load_batch(reference)
    n = len(SCENARIOS) * SEEDS
    assert len(runs) == n and runs["run_id"].is_unique
    assert list(runs["run_index"]) == list(range(n))
    assert list(runs["scenario"].cat.categories) == list(SCENARIOS)
    assert list(runs["verdict"].cat.categories) == list(VERDICTS)
    assert runs["seed"].dtype == "int64" and runs["point"].dtype == "int64"
    assert runs["bust"].dtype == "boolean" and runs["defaults"].dtype == "Int64"
    assert runs["status"].dtype == "category" and set(runs["status"]) == {"ok"}
    assert runs["n_investors"].dtype == "int64" and runs["extra_data_worth"].dtype == "float64"
    assert (runs["bust"] == (runs["verdict"] == "bust")).all()
    assert runs["error"].isna().all() and (runs["quarters_run"] == QUARTERS).all()
    overrides = json.loads(runs.loc[runs["scenario"] == "data_wall", "overrides"].iloc[0])
    assert overrides["n_quarters"] == QUARTERS and "extra_data_worth" in overrides
    assert runs["package_version"].eq(batch_run._package_version()).all()

    assert len(quarters) == n * QUARTERS
    assert not quarters.duplicated(["run_id", "step"]).any()
    assert quarters["step"].dtype == "int64" and quarters["seed"].dtype == "int64"
    assert quarters["scenario"].dtype == "category"
    assert quarters["quarter"].cat.ordered
    assert list(quarters["step"].iloc[:QUARTERS]) == list(range(1, QUARTERS + 1))
    peak = quarters.groupby("run_id", sort=False)["ai_capex_usd_b"].max()
    assert peak.loc[runs["run_id"]].to_numpy() == pytest.approx(
        runs["peak_capex_usd_b_per_quarter"].to_numpy())

    assert len(events) and set(events["run_id"]) <= set(runs["run_id"])
    assert events["event"].dtype == "category" and events["direction"].dtype == "category"
    assert events["step"].dtype == "int64" and events["spell"].dtype == "int64"

    subset = load_batch(reference, quarter_columns=["ai_capex_usd_b"]).quarters
    assert list(subset.columns) == ["run_id", "scenario", "seed", "step", "quarter",
                                    "ai_capex_usd_b"]


def test_parquet_schema(reference):
    runs = pq.read_schema(next((reference / "runs").glob("part-*.parquet")))
    expected = {"run_id": pa.string(), "seed": pa.int64(), "scenario": pa.string(),
                "bust": pa.bool_(), "verdict": pa.string(), "defaults": pa.int64(),
                "peak_capex_usd_b_per_quarter": pa.float64(), "n_investors": pa.int64(),
                "extra_data_worth": pa.float64(), "chain_capex_peak_step": pa.int64()}
    for name, kind in expected.items():
        assert runs.field(name).type == kind, name
    quarters = pq.read_schema(next((reference / "quarters").glob("part-*.parquet")))
    assert quarters.field("step").type == pa.int64()
    assert quarters.field("seed").type == pa.int64()
    assert pa.types.is_floating(quarters.field("ai_capex_usd_b").type)
    events = pq.read_schema(next((reference / "events").glob("part-*.parquet")))
    assert events == pa.schema(list(batch.EVENT_TABLE_COLUMNS.items()))
    manifest = read_manifest(reference)
    assert manifest["spec"] == small_plan().to_spec()


# --- resume, interruption, failures ------------------------------------------------------------
def test_resume_after_a_killed_batch_completes_it_without_duplicates(tmp_path, reference):
    out = tmp_path / "killed"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "bubble_abm", *CLI_ARGS, "--out", str(out), "--chunk", "1",
               "--quiet"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    try:
        while not list((out / "runs").glob("part-*.parquet")):
            assert process.poll() is None, process.stderr.read().decode()
            assert time.monotonic() < deadline, "no run written within 60 s"
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    written = len(list((out / "runs").glob("part-*.parquet")))
    assert 1 <= written < len(small_plan()), "the batch should have been killed mid-way"
    partial = load_batch(out).runs
    assert len(partial) == written

    assert main(CLI_ARGS + ["--out", str(out), "--quiet"]) == 0
    assert_same_batch(load_batch(out), load_batch(reference))


def test_ctrl_c_writes_finished_runs_and_rerun_resumes(tmp_path, reference):
    out = tmp_path / "interrupted"
    seen = []

    def interrupt_after_two(row):
        seen.append(row["run_id"])
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(BatchInterrupted) as info:
        run_batch(small_plan(), out, chunk_runs=100, on_run=interrupt_after_two)
    assert info.value.outcome.completed == 2
    assert list(load_batch(out).runs["run_id"]) == seen  # flushed although the chunk was open

    started = []  # resumed from the manifest alone
    outcome = batch.resume_batch(out, on_start=lambda total, done: started.append(done))
    assert started == [2] and outcome.skipped == 2 and outcome.completed == len(small_plan()) - 2
    assert_same_batch(load_batch(out), load_batch(reference))


@pytest.mark.parametrize("delays_s", [(0.3,), (1.5,), (3.0,), (1.5, 0.2)],
                         ids=["while-importing", "while-workers-start", "while-running",
                              "twice"])
def test_ctrl_c_on_the_command_line_prints_one_line_and_leaves_no_worker(tmp_path, delays_s):
    """Ctrl-C in a terminal sends SIGINT to the command's whole process group (the parent and
    its pool workers), at any moment: while modules load, while workers start, while they run;
    pressed twice too. Every time: status 130, the one-line message, no traceback, no worker
    left running."""
    command = [sys.executable, "-m", "bubble_abm", "batch", "--scenarios", "baseline",
               "--seeds", "400", "--processes", "2", "--out", str(tmp_path / "b"), "--quiet"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               start_new_session=True, text=True)
    try:
        for delay in delays_s:
            time.sleep(delay)
            os.killpg(process.pid, signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # no-op unless something was left behind
    assert "Traceback" not in output, output
    assert process.returncode in (130, -signal.SIGINT), output  # -2: a second Ctrl-C at exit
    assert "interrupted" in output
    deadline = time.monotonic() + 10  # multiprocessing's resource tracker exits just after
    while (survivors := subprocess.run(["pgrep", "-a", "-g", str(process.pid)],
                                       capture_output=True, text=True).stdout):
        assert time.monotonic() < deadline, f"processes left running: {survivors}"
        time.sleep(0.1)


def test_orphan_parts_of_an_unfinished_chunk_are_removed(tmp_path, reference):
    out = tmp_path / "orphans"
    run_batch(small_plan(1), out)
    part = next((out / "quarters").glob("part-*.parquet"))
    orphan = part.with_name("part-999999.parquet")
    orphan.write_bytes(part.read_bytes())  # as if killed before the runs part was renamed
    assert len(load_batch(out).quarters) == len(small_plan(1)) * QUARTERS  # ignored
    outcome = run_batch(small_plan(1), out)
    assert outcome.completed == 0 and not orphan.exists()


def fail_on_seed_two(job):
    """A run function that raises for seed 2 (stands for a model error)."""
    if job.seed == 2:
        raise FloatingPointError(f"boom in {job.scenario}")
    return run_one(job)


def test_a_failing_run_is_recorded_and_the_others_complete(tmp_path, reference):
    outcome = run_batch(small_plan(), tmp_path / "failing", run_function=fail_on_seed_two)
    assert outcome.failed == outcome.failed_total == len(SCENARIOS)
    runs, quarters, events = load_batch(tmp_path / "failing")
    assert len(runs) == len(small_plan())
    failed = runs[runs["status"] == "failed"]
    assert set(failed["seed"]) == {2}
    assert failed["error"].str.startswith("FloatingPointError: boom in").all()
    assert failed["traceback"].str.contains("fail_on_seed_two").all()
    assert failed["verdict"].isna().all() and failed["bust"].isna().all()
    assert (failed["n_investors"] == 20).all()  # its parameters are recorded
    assert not set(failed["run_id"]) & set(quarters["run_id"])
    ok = runs[runs["status"] == "ok"].drop(columns="run_seconds").reset_index(drop=True)
    expected = load_batch(reference).runs
    expected = expected[expected["seed"] != 2].drop(columns="run_seconds").reset_index(drop=True)
    pd.testing.assert_frame_equal(ok, expected)
    # failed runs count as done: the same parameters and seed would fail the same way ...
    assert run_batch(small_plan(), tmp_path / "failing").completed == 0
    # ... unless asked to retry them (here the cause is gone)
    outcome = run_batch(small_plan(), tmp_path / "failing", retry_failed=True)
    assert outcome.completed == len(SCENARIOS) and outcome.failed_total == 0
    assert_same_batch(load_batch(tmp_path / "failing"), load_batch(reference))


def test_cli_exit_status_counts_failed_runs(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(batch, "run_one", _failing_run_one)  # what the CLI runs, in-process
    code, out, err = run_cli(capsys, *CLI_ARGS, "--seeds", "2", "--scenarios", "baseline",
                             "--out", str(tmp_path / "cli-failing"))
    assert code == 1
    assert "1 of 2 runs failed" in err and "Traceback" not in err
    assert "2 runs in" in out


def _failing_run_one(job):
    if job.seed == 2:
        raise FloatingPointError("boom")
    return run_one(job)  # the real one, imported above


# --- executors --------------------------------------------------------------------------------
def test_serial_pool_and_dask_give_identical_tables(tmp_path, reference):
    plan = make_plan(["data_wall"], 2, overrides=SMALL, quarters=QUARTERS)  # worker start-up
    serial = tmp_path / "serial"
    run_batch(plan, serial)
    pool = tmp_path / "pool"
    run_batch(plan, pool, processes=2)
    dask = tmp_path / "dask"
    run_batch(plan, dask, dask_local=1)
    for other in (pool, dask):
        assert_same_batch(load_batch(other), load_batch(serial))
    # and the first seeds of the reference batch (same plan, three seeds) are the same runs
    ref = load_batch(reference).runs
    assert set(load_batch(serial).runs["run_id"]) < set(ref["run_id"])


# --- command line -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("argv", "needles"),
    [
        (["--scenarios", "no_such_scenario"], ["no_such_scenario", "available"]),
        (["--seeds", "0"], ["--seeds", "must be >= 1"]),
        (["--grid", "extra_data_worth"], ["--grid", "key=v1,v2"]),
        (["--grid", "extra_data_worth=0.2,,1"], ["--grid", "key=v1,v2"]),
        (["--grid", "extra_data_worth=0.2,500"], ["extra_data_worth", "[0, 100]"]),
        (["--grid", "no_such_param=1,2"], ["no_such_param", "unknown parameter"]),
        (["--sample", "lab_markup=0.5:30", "--n", "4"], ["lab_markup", "[0, 20]"]),
        (["--sample", "lab_markup=0.5:3"], ["--n"]),
        (["--set", "n_investors=0"], ["n_investors", "[1, 200000]"]),
        (["--processes", "0"], ["--processes", "must be >= 1"]),
        (["--scheduler", "tcp://x:1", "--dask-local", "2"], ["not allowed with"]),
        (["--dask-local", "2", "--processes", "2"], ["--processes", "Dask"]),
        (["--scheduler", "nonsense"], ["--scheduler", "tcp://HOST:PORT"]),
    ],
)
def test_cli_bad_input(capsys, tmp_path, argv, needles):
    code, _, err = run_cli(capsys, "batch", *argv, "--out", str(tmp_path / "never"))
    assert_usage_error(code, err, *needles)
    assert not (tmp_path / "never").exists()


def test_cli_refuses_a_different_batch_in_an_existing_folder(capsys, reference):
    code, _, err = run_cli(capsys, *CLI_ARGS, "--seeds", "4", "--out", str(reference))
    assert_usage_error(code, err, "different batch", "seeds", "new --out")
    assert len(load_batch(reference).runs) == len(small_plan())


def test_cli_refuses_a_folder_that_is_not_a_batch(capsys, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    code, _, err = run_cli(capsys, *CLI_ARGS, "--out", str(tmp_path))
    assert_usage_error(code, err, "not empty", "manifest.json")


def test_cli_rerun_of_a_finished_batch_runs_nothing(capsys, reference):
    code, out, _ = run_cli(capsys, *CLI_ARGS, "--out", str(reference))
    assert code == 0
    assert f"{len(small_plan())} already done, 0 run now" in out


def test_cli_rerun_with_scenario_paths_is_the_same_batch(capsys, reference):
    from bubble_abm.scenarios import SCENARIO_DIR

    paths = [str(SCENARIO_DIR / f"{name}.toml") for name in SCENARIOS]
    argv = [*CLI_ARGS[:2], *paths, *CLI_ARGS[2 + len(SCENARIOS):]]
    code, out, _ = run_cli(capsys, *argv, "--out", str(reference))
    assert code == 0 and "0 run now" in out


def test_cli_default_output_folder_is_named_by_the_batch(capsys, tmp_path, monkeypatch):
    from bubble_abm.scenarios import SCENARIO_DIR

    (tmp_path / "baseline.toml").write_bytes((SCENARIO_DIR / "baseline.toml").read_bytes())
    monkeypatch.setenv("BUBBLE_ABM_RUNS", str(tmp_path))
    argv = ["batch", "--seeds", "1", "--quarters", "2", "--set", "n_app_companies=20",
            "--set", "n_investors=20", "--quiet"]
    assert run_cli(capsys, *argv)[0] == 0
    plan = make_plan(["baseline"], 1, overrides=SMALL, quarters=2)
    out = tmp_path / "output" / f"batch-{plan.digest()}"
    assert len(load_batch(out).runs) == 1


def test_collapse_links_unpack_the_chain_summary(tmp_path):
    # The calibrated baseline's collapse links come after 2026: a full-length data-wall run.
    out = tmp_path / "links"
    run_batch(make_plan(["data_wall"], 1, overrides=SMALL, quarters=40), out)
    runs = load_batch(out).runs
    links = batch.collapse_links(runs)
    assert len(links) == int(runs["collapse_links"].sum())
    with_links = runs[runs["collapse_links"] > 0]
    assert len(with_links), "no run in the reference batch has a collapse link"
    first = with_links.iloc[0]
    expected = json.loads(first["chain_json"])["collapse_links"]
    mine = links[links["run_id"] == first["run_id"]]
    assert len(mine) == len(expected) >= 1
    assert list(mine["event"].astype(str)) == [link["event"] for link in expected]
    assert list(mine["quarters_from_peak"]) == [link["quarters_from_peak"] for link in expected]
    assert (mine["step"] - first["chain_capex_peak_step"] == mine["quarters_from_peak"]).all()
    assert links["event"].dtype == "category" and links["lag"].dtype == "Int64"


def test_compact_merges_parts_and_keeps_the_batch(tmp_path, reference):
    out = tmp_path / "compact"
    run_batch(small_plan(), out, chunk_runs=1)
    assert len(list((out / "runs").glob("part-*.parquet"))) == len(small_plan())
    assert batch.compact_batch(out, runs_per_part=4) == 2  # 4 + 2 runs
    for dataset in batch.DATASETS:
        assert len(list((out / dataset).glob("part-*.parquet"))) == 2, dataset
        assert not list((out / dataset).glob(".tmp-*"))
    assert_same_batch(load_batch(out), load_batch(reference))
    assert run_batch(small_plan(), out).completed == 0
