"""Smoke tests: the benchmark scripts run and print their figures (no timing is asserted)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _run(script: str, *args: str) -> str:
    result = subprocess.run([sys.executable, str(BENCHMARKS / script), *args],
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_bench_model_small_prints_both_ratios_to_the_mesa_floor():
    out = _run("bench_model.py", "--small")
    assert re.search(r"^bubble_abm(\s+\d+\.\d+){3}\s+\d+", out, re.M)
    assert re.search(r"^mesa_floor(\s+\d+\.\d+){3}\s+\d+", out, re.M)
    assert re.search(r"^batch_mode(\s+\d+\.\d+){3}\s+\d+", out, re.M)
    assert re.search(r"^batch_mode_ratio_to_mesa_floor=\d+\.\d\s", out, re.M)
    assert re.search(r"^min_cpu_ratio_to_mesa_floor=\d+\.\d$", out, re.M)
    assert re.search(r"^cpu_ratio_to_mesa_floor=\d+\.\d$", out, re.M)
    assert re.search(r"^ratio_to_mesa_floor=\d+\.\d$", out, re.M)


def test_bench_population_prints_a_row_per_size_with_growth_and_memory():
    out = _run("bench_population.py", "--sizes", "100", "300", "--quarters", "2")
    rows = re.findall(r"^\s+(100|300)\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+([\d.]*)\s+[\d.]+\s+(\d+)"
                      r"\s+(\d+)$", out, re.M)
    assert [row[0] for row in rows] == ["100", "300"]
    assert rows[0][1] == "" and float(rows[1][1]) > 0.0  # growth: only from the second size
    assert all(int(row[2]) > 0 and int(row[3]) > 0 for row in rows)  # table rows, peak MiB


def test_rounding_sensitivity_small_prints_a_row_per_perturbation():
    out = _run("rounding_sensitivity.py", "--small")
    rows = re.findall(r"^(none|chip_markup [+-]1 ulp|\S+ \+1 ulp)\s+(-|\d\.\de[+-]\d+)\s+(\d+)/2"
                      r"\s+(\d+)/2$", out, re.M)
    assert [row[0] for row in rows][:3] == ["none", "chip_markup +1 ulp", "chip_markup -1 ulp"]
    assert len(rows) == 5 and rows[0][1] == "-"
    assert all(float(row[1]) < 1e-6 for row in rows[1:])  # 8 quarters: still at rounding level
