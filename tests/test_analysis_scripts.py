"""The analysis scripts (analysis/*.py) run on small batches and write their table and figure;
the batch benchmark's smoke mode prints its figures (no timing is asserted)."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import matplotlib
import pandas as pd
import pytest

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["--set", "n_app_companies=20", "--set", "n_investors=20", "--processes", "1"]


def script(name: str):
    """Import analysis/<name>.py as a module (the scripts are not a package)."""
    spec = importlib.util.spec_from_file_location(f"analysis_{name}", ROOT / "analysis" /
                                                  f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bust_out(tmp_path_factory):
    """bust_probability.py running its own batch: 2 scenarios x 2 seeds x 10 quarters."""
    out = tmp_path_factory.mktemp("bust")
    script("bust_probability").main(["--scenarios", "baseline", "data_wall", "--seeds", "2",
                                     "--quarters", "10", *SMALL, "--out", str(out)])
    return out


def test_bust_probability_script_writes_table_and_chart(bust_out, capsys):
    table = pd.read_csv(bust_out / "bust_probability.csv")
    assert table["scenario"].tolist() == ["baseline", "data_wall"]
    assert (table["runs"] == 2).all()
    assert ((table["ci_low"] <= table["bust_probability"])
            & (table["bust_probability"] <= table["ci_high"])).all()
    assert (bust_out / "bust_probability.png").stat().st_size > 0
    quantiles = pd.read_csv(bust_out / "outcome_quantiles.csv")
    assert len(quantiles) == 2 * 3


def test_chain_timing_script_reads_a_batch_folder(bust_out, tmp_path, capsys):
    script("chain_timing").main(["--batch", str(bust_out / "batch"), "--source", "events",
                                 "--out", str(tmp_path)])
    first = pd.read_csv(tmp_path / "first_links.csv")
    assert len(first) > 0 and first["first_share"].between(0, 1).all()
    pairs = pd.read_csv(tmp_path / "lead_lag.csv")
    assert list(pairs.columns[:3]) == ["link_a", "link_b", "runs_both"]
    assert (tmp_path / "chain_timing.png").stat().st_size > 0
    assert "Which link came first" in capsys.readouterr().out


def test_sensitivity_script_writes_indices_and_chart(tmp_path, capsys):
    script("sensitivity").main(["--param", "extra_data_worth=0.1:3", "--param",
                                "token_price_elasticity=0.8:1.6", "--n", "2", "--seeds", "1",
                                "--quarters", "6", *SMALL, "--out", str(tmp_path)])
    indices = pd.read_csv(tmp_path / "sensitivity.csv")
    assert set(indices["parameter"]) == {"extra_data_worth", "token_price_elasticity"}
    assert {"mu_star", "mu_star_conf", "sigma"} <= set(indices.columns)
    assert (tmp_path / "sensitivity.png").stat().st_size > 0


def test_scripts_have_help():
    for name in ("bust_probability", "chain_timing", "sensitivity"):
        with pytest.raises(SystemExit) as info:
            script(name).parse_args(["--help"])
        assert info.value.code == 0


def test_batch_benchmark_small_mode_prints_its_figures():
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_batch.py"),
                           "--small"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for pattern in (r"processes=1 wall_s=\d+\.\d+", r"processes=2 wall_s=\d+\.\d+",
                    r"parallel_efficiency=\d+\.\d+", r"peak_rss_tree_mib=\d+",
                    r"peak_rss_parent_mib=\d+", r"load average"):
        assert re.search(pattern, out), f"{pattern!r} not in:\n{out}"


def test_training_synchrony_script_compares_labs_in_step_and_staggered(tmp_path, capsys):
    out = tmp_path / "sync"
    script("training_synchrony").main(["--seeds", "2", "--quarters", "8", *SMALL,
                                       "--out", str(out)])
    table = pd.read_csv(out / "training_synchrony.csv")
    assert table["training_start_stagger_quarters"].tolist() == [0, 1]
    assert (table["runs"] == 2).all()
    assert (table["busts_in_design_order"] <= table["busts"]).all()
    assert (out / "training_synchrony.png").stat().st_size > 0
    assert "training_synchrony.csv" in capsys.readouterr().out


def test_training_synchrony_script_rejects_a_batch_without_the_sweep(bust_out, tmp_path):
    from bubble_abm.batch import BatchError

    with pytest.raises(BatchError, match="does not sweep `training_start_stagger_quarters`"):
        script("training_synchrony").main(["--batch", str(bust_out / "batch"),
                                           "--out", str(tmp_path)])
