"""Command line: ``bubble-abm run | batch | sensitivity | calibrate | fit | scenarios | params |
events | viz`` (also ``python -m bubble_abm``).

Errors in the user's input (parameters, scenario files, argument values) are reported as one
``bubble-abm: error: ...`` line per problem on stderr with exit code 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import csv
import io
import signal
import sys
import textwrap
import tomllib
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bubble_abm.params import ParameterError, Params, describe_parameters, field_range
from bubble_abm.scenarios import (
    ScenarioError,
    list_scenarios,
    load_scenario,
    scenario_dir,
    scenario_name,
)

PROG = "bubble-abm"
EXIT_USAGE = 2

_RUN_EPILOG = """\
examples:
  bubble-abm run                                  # baseline, seed 1, 40 quarters from 2023Q1
  bubble-abm run --scenario runs/baseline.toml --seed 7 --quarters 24 --out /tmp/b7
  bubble-abm run --set n_investors=50 --set extra_data_worth=0.2 --quiet

Writes model_table.parquet/.csv, agent_table.parquet, events.csv, chain.json, chain.png,
summary.txt and summary.json into the output folder, then prints the summary and the chain
block (verdict, spend chain, collapse links; `bubble-abm events` defines each event).
Scenario files are TOML: an optional `description = "..."` and a [params] table overriding
parameters by name (see `bubble-abm params` for every name, unit and allowed range).
"""

_CALIBRATE_EPILOG = """\
examples:
  bubble-abm calibrate                            # baseline, seeds 1-20, shipped targets
  bubble-abm calibrate --seeds 40 --processes 4 --out /tmp/calib
  bubble-abm calibrate --targets my_targets.csv --set n_app_companies=40 --set n_investors=40

Runs the scenario once per seed (seeds 1..N, each up to the last quarter a target reads), reads
each target's statistic from every run (bubble_abm.calibration says how: flows summed over
four quarters, prices averaged, parameters read as inputs), prints the target range next to the
model's median and 10th-90th percentile, and ends with `N/M targets in range`. Writes
calibration.csv (the report), calibration_by_seed.csv, calibration.png (one panel per target),
and chain_flows.csv / chain_flows.png (who paid whom along the spend chain in 2025 and 2026,
first seed) into the output folder.

A targets file is a CSV with the columns metric,period,low,high,unit,source[,note]; period is
a year (2024), a quarter (2025Q1) or a span (2023-2026). See runs/calibration/README.md.
"""


_FIT_EPILOG = """\
examples:
  bubble-abm fit --param chip_markup_backlog_sensitivity=0:0.3 --set n_investors=40
  bubble-abm fit --param chip_markup=2:4 --param initial_fleet_h100e --samples 24 --seeds 4
  bubble-abm fit --scenario my.toml --targets my_targets.csv --param token_price_elasticity

Estimates the chosen parameters by the method of simulated moments (bubble_abm.fit). Each
candidate is run over the same seeds 1..N (common random numbers); the model moment of a target
is the median across seeds, read as `bubble-abm calibrate` reads it. Objective: the sum over
targets of ((distance of the median outside the target range) / (range width))^2, zero inside
the range; parameter-type targets are included unless --exclude-parameter-targets. Search: the
scenario's own values, a Latin hypercube of --samples points over the bounds (seeded by
--sample-seed), then a bounded local optimiser (--method) from the --starts best points with
--local-evals new runs each. Bounds default to each parameter's allowed range (see
`bubble-abm params`); NAME=LOW:HIGH narrows them.

Writes fitted.toml (a scenario file: the scenario's parameters with the fitted values, each
with a comment giving the date and objective), candidates.csv (every evaluated candidate:
values, objective, targets in range, each target's median) and calibration.csv (the best
candidate's report) into the output folder. --set changes the runs of the fit (e.g. smaller
populations for speed) and is recorded as a comment in fitted.toml, not written as a value.
"""


_BATCH_EPILOG = """\
examples:
  bubble-abm batch --scenarios baseline data_wall --seeds 100 --processes 2
  bubble-abm batch --seeds 20 --grid extra_data_worth=0.2,1,5 --grid chip_markup=1.5,2.8 \\
      --out runs/output/sweep
  bubble-abm batch --seeds 10 --sample extra_data_worth=0:5 --sample lab_markup=0.5:3 \\
      --n 64 --method sobol --quarters 32
  bubble-abm batch --scenarios baseline --seeds 1000 --dask-local 2 --quiet
  bubble-abm batch --scenarios baseline --seeds 1000 --scheduler tcp://10.0.0.5:8786

Runs every scenario x parameter point x seed (seeds 1..N) and streams the results to Parquet
under the output folder: runs/ (one row per run: parameters, summary, chain verdict),
quarters/ (one row per run and quarter: every model column) and events/ (the chain events of
every run), plus manifest.json (the batch spec). Re-running the same command resumes: runs
already written are skipped. A different batch into an existing folder is an error.
Read the results with bubble_abm.batch.load_batch(DIR).

--grid takes the cartesian product over its keys; --sample draws --n points in the ranges by
Latin hypercube (lhs) or scrambled Sobol (sobol), reproducible from --sample-seed; integer
parameters are rounded. Exit status: 0 if every run succeeded, 1 if any failed (their errors
are in the runs table: status, error), 2 for bad input, 130 if interrupted (Ctrl-C or
SIGTERM: the finished runs are written and the same command resumes).
"""


def _int_in(low: float, high: float | None = None) -> Callable[[str], int]:
    """An argparse type: an integer >= low (and <= high, if given), with a clear message."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if high is None and value < low:
            raise argparse.ArgumentTypeError(f"must be >= {low:g}, got {value}")
        if high is not None and not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be in [{low:g}, {high:g}], got {value}")
        return value

    return parse


_nonnegative_int = _int_in(0)
_positive_int = _int_in(1)
_quarters = _int_in(*(field_range("n_quarters") or (1, 400)))
_port = _int_in(1, 65535)


def parse_assignment(text: str) -> tuple[str, Any]:
    """``key=value`` with the value read as a TOML literal (``50``, ``0.2``, ``"x"``, ``true``).

    A value that is not a TOML literal (``2024Q1``, ``hoffmann2022``) is kept as a string.
    """
    key, sep, raw = text.partition("=")
    key, raw = key.strip(), raw.strip()
    if not sep or not key or not raw:
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    try:
        value = tomllib.loads(f"value = {raw}")["value"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key, value


_SET_AFTER_SCENARIO = ("override one parameter after the scenario file, e.g. --set "
                       "n_investors=50; repeatable; the value is read as a TOML literal")


def _add_overrides(parser: argparse.ArgumentParser, help_text: str) -> None:
    """The repeatable ``--set KEY=VALUE`` option (a TOML literal per value) of a subcommand."""
    parser.add_argument("--set", dest="overrides", type=parse_assignment, action="append",
                        default=[], metavar="KEY=VALUE", help=help_text)


def add_batch_source_arguments(parser: argparse.ArgumentParser, scenarios: Sequence[str],
                               seeds: int, out: Path) -> None:
    """The options of an analysis script that runs a batch unless given one: ``--batch``,
    ``--scenarios``, ``--seeds``, ``--quarters``, ``--set``, ``--processes`` and ``--out``;
    :func:`batch_from_arguments` turns them into the batch folder."""
    parser.add_argument("--batch", type=Path, help="read this batch folder instead of running one")
    parser.add_argument("--scenarios", nargs="+", default=list(scenarios),
                        help="scenarios to run")
    parser.add_argument("--seeds", type=int, default=seeds,
                        help=f"seeds per scenario (default {seeds})")
    parser.add_argument("--quarters", type=int, default=None, help="quarters per run")
    _add_overrides(parser, "override a parameter in every run")
    parser.add_argument("--processes", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--out", type=Path, default=out)


def batch_from_arguments(args: argparse.Namespace) -> Path:
    """The batch folder the options of :func:`add_batch_source_arguments` name: ``--batch``
    if given, else a batch run (or resumed) under ``OUT/batch``."""
    from bubble_abm.batch import ensure_batch

    return ensure_batch(args.batch, args.out / "batch", args.scenarios, args.seeds,
                        overrides=dict(args.overrides), quarters=args.quarters,
                        processes=args.processes)


def run_analysis_script(main: Callable[[], None], script: str) -> None:
    """Run an analysis script's ``main``; bad input (a batch, parameter or scenario error)
    ends it with one line naming ``script`` and exit status 1, not a traceback."""
    from bubble_abm.batch import BatchError

    try:
        main()
    except (BatchError, ParameterError, ScenarioError) as error:
        raise SystemExit(f"{Path(script).name}: error: {error}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Agent-based model of the AI investment bubble (Mesa 3.5): the spend chain "
        "from investors to chipmakers, and the collapse chain when the economics do not close.",
        epilog="examples:\n  bubble-abm run --seed 3\n  bubble-abm calibrate --seeds 20\n"
        "  bubble-abm batch --scenarios baseline data_wall --seeds 100 --processes 2\n"
        "  bubble-abm sensitivity --method morris --n 8 --seeds 4\n"
        "  bubble-abm fit --param chip_markup=2:4\n"
        "  bubble-abm scenarios\n"
        "  bubble-abm params --format markdown\n  bubble-abm events\n\n"
        "Run `bubble-abm COMMAND --help` for the options of each command.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = commands.add_parser(
        "run",
        help="run one scenario and write tables, chart and summary",
        description="Run one scenario with one seed, quarter by quarter, and write its outputs.",
        epilog=_RUN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument(
        "--scenario",
        default="baseline",
        metavar="NAME|PATH",
        help="a scenario name in runs/ (see `bubble-abm scenarios`) or a path to a .toml file "
        "(default: %(default)s)",
    )
    run.add_argument(
        "--seed",
        type=_nonnegative_int,
        default=1,
        metavar="N",
        help="random seed, an integer >= 0; same parameters and seed give identical output "
        "(default: %(default)s)",
    )
    run.add_argument(
        "--quarters",
        type=_quarters,
        default=None,
        metavar="Q",
        help="number of quarters to simulate, 1..400 (default: the scenario's n_quarters)",
    )
    run.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="output folder (default: runs/output/<scenario>-seed<N>)",
    )
    _add_overrides(run, _SET_AFTER_SCENARIO)
    run.add_argument(
        "--quiet", action="store_true", help="no progress bar, summary or list of output files"
    )
    run.set_defaults(handler=_cmd_run)

    _add_batch_parser(commands)
    _add_sensitivity_parser(commands)

    calibrate = commands.add_parser(
        "calibrate",
        help="compare a scenario over many seeds with public 2023-2026 figures",
        description="Run a scenario over many seeds and print each calibration target next to "
        "the model's median and 10th-90th percentile for the same period, marked inside or "
        "outside the target range.",
        epilog=_CALIBRATE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    calibrate.add_argument(
        "--scenario",
        default="baseline",
        metavar="NAME|PATH",
        help="a scenario name in runs/ or a path to a .toml file (default: %(default)s)",
    )
    calibrate.add_argument(
        "--seeds",
        type=_positive_int,
        default=20,
        metavar="N",
        help="number of seeds, >= 1; runs seeds 1..N (default: %(default)s)",
    )
    calibrate.add_argument(
        "--targets",
        type=Path,
        default=None,
        metavar="PATH",
        help="targets CSV (default: runs/calibration/targets.csv)",
    )
    calibrate.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="output folder (default: runs/output/calibration-<scenario>)",
    )
    calibrate.add_argument(
        "--processes",
        type=_positive_int,
        default=2,
        metavar="P",
        help="worker processes, >= 1 (default: %(default)s)",
    )
    _add_overrides(calibrate, _SET_AFTER_SCENARIO)
    calibrate.set_defaults(handler=_cmd_calibrate)

    fit = commands.add_parser(
        "fit",
        help="estimate chosen parameters against calibration targets (simulated moments)",
        description="Fit chosen parameters of a scenario to a targets file by the method of "
        "simulated moments and write the fitted scenario file.",
        epilog=_FIT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fit.add_argument(
        "--param",
        dest="params",
        action="append",
        default=[],
        metavar="NAME[=LOW:HIGH]",
        help="a parameter to fit, with optional bounds inside its allowed range; repeatable, "
        "at least one",
    )
    fit.add_argument(
        "--scenario",
        default="baseline",
        metavar="NAME|PATH",
        help="the scenario to start from (default: %(default)s)",
    )
    fit.add_argument(
        "--targets",
        type=Path,
        default=None,
        metavar="PATH",
        help="targets CSV (default: runs/calibration/targets.csv)",
    )
    fit.add_argument(
        "--seeds",
        type=_positive_int,
        default=4,
        metavar="N",
        help="seeds 1..N, the same for every candidate, >= 1 (default: %(default)s)",
    )
    fit.add_argument(
        "--samples",
        type=_nonnegative_int,
        default=16,
        metavar="N",
        help="Latin-hypercube points, >= 0 (default: %(default)s)",
    )
    fit.add_argument(
        "--sample-seed",
        type=_nonnegative_int,
        default=0,
        metavar="S",
        help="seed of the Latin hypercube, >= 0 (default: %(default)s)",
    )
    fit.add_argument(
        "--starts",
        type=_nonnegative_int,
        default=1,
        metavar="K",
        help="local searches, from the K best points so far, >= 0 (default: %(default)s)",
    )
    fit.add_argument(
        "--local-evals",
        type=_nonnegative_int,
        default=24,
        metavar="N",
        help="new candidates each local search may run, >= 0 (default: %(default)s)",
    )
    fit.add_argument(
        "--method",
        choices=("nelder-mead", "powell"),
        default="nelder-mead",
        help="bounded local optimiser from scipy.optimize (default: %(default)s)",
    )
    fit.add_argument(
        "--exclude-parameter-targets",
        action="store_true",
        help="leave parameter-type targets (inputs read from the scenario) out of the objective",
    )
    fit.add_argument(
        "--processes",
        type=_positive_int,
        default=2,
        metavar="P",
        help="worker processes for the seeds of a candidate, >= 1 (default: %(default)s)",
    )
    fit.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="output folder (default: runs/output/fit-<scenario>)",
    )
    _add_overrides(fit, "override one parameter in every run of the fit, e.g. --set n_investors=40 "
        "(not written to fitted.toml); repeatable")
    fit.set_defaults(handler=_cmd_fit)

    scenarios = commands.add_parser(
        "scenarios",
        help="list the scenario files in runs/",
        description="List the named scenarios (runs/*.toml) with their descriptions.",
        epilog="example:\n  bubble-abm scenarios\n\n"
        "Set BUBBLE_ABM_RUNS to read scenarios from another folder.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    scenarios.set_defaults(handler=_cmd_scenarios)

    params = commands.add_parser(
        "params",
        help="list every parameter with its default, unit, range and source",
        description="List every model parameter: default value, unit, allowed range and the "
        "source of the default. Scenario files and --set override these by name.",
        epilog="examples:\n  bubble-abm params\n  bubble-abm params --format csv > params.csv",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    params.add_argument(
        "--format",
        choices=("text", "markdown", "csv"),
        default="text",
        help="output format (default: %(default)s)",
    )
    params.set_defaults(handler=_cmd_params)

    events = commands.add_parser(
        "events",
        help="define every chain event and verdict the run summary reports",
        description="List the chain events the detector looks for (spend chain up, collapse "
        "chain down, in chain order) with their definitions at the default thresholds, then "
        "the verdicts. Thresholds are fields of bubble_abm.chains.ChainThresholds (in brackets).",
        epilog="examples:\n  bubble-abm events\n  bubble-abm events --format markdown",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    events.add_argument(
        "--format",
        choices=("text", "markdown"),
        default="text",
        help="output format (default: %(default)s)",
    )
    events.set_defaults(handler=_cmd_events)

    viz = commands.add_parser(
        "viz",
        help="start the browser dashboard (Mesa SolaraViz) on localhost",
        description="Start the dashboard: pick a scenario, move the key parameters, Step/Play/"
        "Reset, and watch the chain unfold quarter by quarter. Runs `solara run "
        "bubble_abm.viz.app --production` and prints the address; Ctrl-C stops it. Needs the "
        "viz extras (pip install -e \".[viz]\"); works offline.",
        epilog="examples:\n  bubble-abm viz\n  bubble-abm viz --port 8800\n"
        "  bubble-abm viz --host 0.0.0.0   # reachable from other machines",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    viz.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    viz.add_argument(
        "--port", type=_port, default=8765, metavar="P", help="port (default: %(default)s)"
    )
    viz.set_defaults(handler=_cmd_viz)
    return parser


def _add_batch_parser(commands: Any) -> None:
    batch = commands.add_parser(
        "batch",
        help="run scenarios x parameter points x seeds in parallel, streamed to Parquet",
        description="Run many scenarios, parameter points and seeds (serially, in a process "
        "pool or on a Dask cluster), writing runs, quarters and chain events as Parquet as "
        "runs finish. Interrupted batches resume when the same command is run again.",
        epilog=_BATCH_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    batch.add_argument(
        "--scenarios",
        nargs="+",
        default=["baseline"],
        metavar="NAME|PATH",
        help="scenario names in runs/ or paths to .toml files (default: baseline)",
    )
    batch.add_argument(
        "--seeds",
        type=_positive_int,
        default=10,
        metavar="N",
        help="number of seeds, >= 1; runs seeds 1..N of every scenario and point "
        "(default: %(default)s)",
    )
    batch.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="KEY=V1,V2,...",
        help="sweep a parameter over these values (TOML literals); repeat for more "
        "parameters: the points are the cartesian product",
    )
    batch.add_argument(
        "--sample",
        action="append",
        default=[],
        metavar="KEY=LOW:HIGH",
        help="sample a numeric parameter in [LOW, HIGH] (inside its allowed range); repeat "
        "for more parameters; needs --n",
    )
    batch.add_argument(
        "--n", type=_positive_int, default=None, metavar="N",
        help="number of parameter points to sample, >= 1",
    )
    batch.add_argument(
        "--method", choices=("lhs", "sobol"), default="lhs",
        help="sampling design: Latin hypercube (any --n) or scrambled Sobol (--n a power of "
             "two) (default: %(default)s)",
    )
    batch.add_argument(
        "--sample-seed", type=_nonnegative_int, default=0, metavar="S",
        help="seed of the sampling design, >= 0 (default: %(default)s)",
    )
    batch.add_argument(
        "--quarters", type=_quarters, default=None, metavar="Q",
        help="quarters per run, 1..400 (default: each scenario's n_quarters)",
    )
    _add_overrides(batch,
                   "override one parameter in every run, e.g. --set n_investors=50; repeatable")
    batch.add_argument(
        "--processes", type=_positive_int, default=1, metavar="P",
        help="worker processes, >= 1 (default: %(default)s)",
    )
    dask = batch.add_mutually_exclusive_group()
    dask.add_argument(
        "--scheduler", default=None, metavar="tcp://HOST:PORT",
        help="run on an existing Dask distributed cluster (workers need bubble_abm installed)",
    )
    dask.add_argument(
        "--dask-local", type=_positive_int, default=None, metavar="N",
        help="start a local Dask cluster with N single-threaded worker processes",
    )
    batch.add_argument(
        "--out", type=Path, default=None, metavar="DIR",
        help="output folder (default: runs/output/batch-<hash of the batch spec>, so the same "
        "command resumes the same folder)",
    )
    batch.add_argument(
        "--chunk", type=_positive_int, default=None, metavar="K",
        help="runs per Parquet part file, >= 1 (default: 20; results are also written at "
        "least every 10 s)",
    )
    batch.add_argument(
        "--compact", action="store_true",
        help="when the batch is complete, merge its part files into parts of up to 1000 runs",
    )
    batch.add_argument(
        "--retry-failed", action="store_true",
        help="run the batch's failed runs again (by default they count as done)",
    )
    batch.add_argument(
        "--quiet", action="store_true", help="no progress bar and no closing summary"
    )
    batch.set_defaults(handler=_cmd_batch)


_SENSITIVITY_EPILOG = """\
examples:
  bubble-abm sensitivity                          # Morris, default parameters and outputs
  bubble-abm sensitivity --method sobol --n 16 --seeds 4 --processes 2
  bubble-abm sensitivity --param extra_data_worth=0.1:3 --param lab_markup=0.5:3 \\
      --output bust_probability --output peak_stranded_usd_b --n 10 --quarters 32

Each SALib sample row is a parameter point of a batch (in OUT/batch: streamed to Parquet,
resumed when the same command is run again, parallel with --processes); every point runs
--seeds seeds and each output is averaged over them (bust_probability: share of busts).
Morris costs N x (parameters + 1) points, Sobol N x (parameters + 2) with N a power of two.
Writes sensitivity.csv (indices with confidence half-widths), sensitivity_points.csv,
sensitivity.png and sensitivity.json into the output folder.
"""


def _add_sensitivity_parser(commands: Any) -> None:
    from bubble_abm.sensitivity import DEFAULT_PARAMS, OUTPUTS

    sens = commands.add_parser(
        "sensitivity",
        help="global sensitivity analysis (SALib: Morris screening or Sobol indices)",
        description="Which parameters drive the bust probability, stranded assets, capex and "
        "equity drawdown? Morris elementary effects or Sobol first/total-order indices with "
        "confidence intervals, computed by SALib from a batch of runs.",
        epilog=_SENSITIVITY_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    defaults = " ".join(f"{k}={lo:g}:{hi:g}" for k, (lo, hi) in DEFAULT_PARAMS.items())
    sens.add_argument("--method", choices=("morris", "sobol"), default="morris",
                      help="Morris screening or Sobol indices (default: %(default)s)")
    sens.add_argument("--param", action="append", default=[], metavar="KEY=LOW:HIGH",
                      help=f"a parameter and its range (repeat, >= 2; default: {defaults})")
    sens.add_argument("--output", action="append", default=[], choices=list(OUTPUTS),
                      metavar="NAME", help=f"an output (repeat; default: all of "
                      f"{', '.join(OUTPUTS)})")
    sens.add_argument("--n", type=_int_in(2), default=None, metavar="N",
                      help="Morris trajectories or Sobol base sample (a power of two), >= 2 "
                      "(default: 10 for morris, 16 for sobol)")
    sens.add_argument("--seeds", type=_positive_int, default=4, metavar="S",
                      help="seeds per parameter point, >= 1 (default: %(default)s)")
    sens.add_argument("--scenario", default="baseline", metavar="NAME|PATH",
                      help="scenario the parameters are varied around (default: %(default)s)")
    sens.add_argument("--quarters", type=_quarters, default=None, metavar="Q",
                      help="quarters per run, 1..400 (default: the scenario's n_quarters)")
    _add_overrides(sens, "fix a parameter in every run, e.g. --set n_investors=50")
    sens.add_argument("--sample-seed", type=_nonnegative_int, default=0, metavar="S",
                      help="seed of SALib's sample and bootstrap, >= 0 (default: %(default)s)")
    sens.add_argument("--processes", type=_positive_int, default=1, metavar="P",
                      help="worker processes, >= 1 (default: %(default)s)")
    sens.add_argument("--out", type=Path, default=None, metavar="DIR",
                      help="output folder (default: runs/output/sensitivity-<method>-<scenario>-"
                      "<hash of the design>, so the same command resumes the same folder)")
    sens.add_argument("--quiet", action="store_true", help="no progress bar and no table")
    sens.set_defaults(handler=_cmd_sensitivity)


# --- commands ---------------------------------------------------------------------------------
def _cmd_run(args: argparse.Namespace) -> int:
    from bubble_abm import BubbleModel
    from bubble_abm.report import (
        format_stranded_by_owner,
        write_run_outputs,
        write_stranded_by_vintage,
    )

    overrides = dict(args.overrides)
    if args.quarters is not None:
        overrides["n_quarters"] = args.quarters
    params = load_scenario(args.scenario, overrides)
    name = scenario_name(args.scenario)
    out = (
        args.out if args.out is not None else scenario_dir() / "output" / f"{name}-seed{args.seed}"
    )
    title = (
        f"bubble_abm: {name}, seed {args.seed}, "
        f"{params.n_quarters} quarters from {params.start_quarter}"
    )

    model = BubbleModel(params, rng=args.seed)
    show_bar = not args.quiet and sys.stderr.isatty()
    _simulate(model, params.n_quarters, name, show_bar)

    paths = write_run_outputs(model.model_table(), model.agent_table(), out, title=title)
    paths.update(write_stranded_by_vintage(model, out))
    if not args.quiet:
        # summary.txt holds the headline summary and the chain block
        print(paths["summary.txt"].read_text(encoding="utf-8").rstrip("\n"))
        print()
        print(format_stranded_by_owner(model))
        print()
        print(f"outputs in {out}:")
        for path in paths.values():
            print(f"  {path}")
    return 0


def _simulate(model: Any, n_quarters: int, name: str, show_bar: bool) -> None:
    """Advance the model one quarter at a time, with a progress bar on stderr if asked."""
    from tqdm import tqdm

    with tqdm(
        total=n_quarters, desc=name, unit="qtr", file=sys.stderr, disable=not show_bar
    ) as bar:
        for _ in range(n_quarters):
            model.run_for(1)
            bar.update(1)
            if not getattr(model, "running", True):
                break


def _cmd_batch(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from bubble_abm import batch

    try:
        grid: dict[str, list[Any]] = {}
        for text in args.grid:
            key, values = batch.parse_grid(text)
            if key in grid:
                raise batch.BatchError(f"--grid {key}: given twice")
            grid[key] = values
        sample: dict[str, tuple[float, float]] = {}
        for text in args.sample:
            key, bounds = batch.parse_sample(text)
            if key in sample:
                raise batch.BatchError(f"--sample {key}: given twice")
            sample[key] = bounds
        plan = batch.make_plan(
            args.scenarios, args.seeds, grid=grid or None, sample=sample or None, n=args.n,
            method=args.method, sample_seed=args.sample_seed, overrides=dict(args.overrides),
            quarters=args.quarters)
    except batch.BatchError as exc:
        _error(str(exc))
        return EXIT_USAGE
    out = args.out if args.out is not None else scenario_dir() / "output" / f"batch-{plan.digest()}"
    show_bar = not args.quiet and sys.stderr.isatty()
    bars: list[Any] = []

    def on_start(total: int, done: int) -> None:
        if done and not args.quiet:
            print(f"{out}: resuming, {done} of {total} runs already done", file=sys.stderr)
        bars.append(tqdm(total=total, initial=done, desc="batch", unit="run", file=sys.stderr,
                         disable=not show_bar, smoothing=0.1))

    def on_run(row: dict[str, Any]) -> None:
        bars[0].update(1)

    def on_sigterm(signum: int, frame: Any) -> None:  # `kill`, a job scheduler's time limit
        raise KeyboardInterrupt

    chunk = args.chunk if args.chunk is not None else batch.DEFAULT_CHUNK_RUNS
    previous_sigterm = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        outcome = batch.run_batch(
            plan, out, processes=args.processes, scheduler=args.scheduler,
            dask_local=args.dask_local, chunk_runs=chunk, retry_failed=args.retry_failed,
            on_start=on_start, on_run=on_run)
    except batch.BatchInterrupted as exc:
        done = exc.outcome.skipped + exc.outcome.completed
        _error(f"interrupted: {done} of {exc.outcome.total} runs are written in {out}; "
               "run the same command again to resume")
        return 130
    except batch.BatchError as exc:
        _error(str(exc))
        return EXIT_USAGE
    finally:
        signal.signal(signal.SIGTERM, previous_sigterm)
        for bar in bars:
            bar.close()
    if args.compact:
        merged = batch.compact_batch(out)
        if not args.quiet:
            print(f"compacted: {merged} merged part file(s) per dataset")
    if not args.quiet:
        verdicts = ", ".join(f"{k} {v}" for k, v in sorted(outcome.verdicts.items()))
        print(f"batch: {outcome.total} runs in {out} ({outcome.skipped} already done, "
              f"{outcome.completed} run now{': ' + verdicts if verdicts else ''})")
        print(f"load with: bubble_abm.batch.load_batch({str(out)!r})")
    if outcome.failed_total:
        _error(f"{outcome.failed_total} of {outcome.total} runs failed; see the runs table "
               "(status == 'failed', error)")
        return 1
    return 0


def _cmd_sensitivity(args: argparse.Namespace) -> int:
    import hashlib
    import json

    from tqdm import tqdm

    from bubble_abm import batch
    from bubble_abm.sensitivity import (
        DEFAULT_PARAMS,
        OUTPUTS,
        IncompleteSampleError,
        run_sensitivity,
        sensitivity_plan,
    )

    n = args.n if args.n is not None else (10 if args.method == "morris" else 16)
    name = scenario_name(args.scenario)
    out = args.out
    show_bar = not args.quiet and sys.stderr.isatty()
    bars: list[Any] = []

    def on_start(total: int, done: int) -> None:
        bars.append(tqdm(total=total, initial=done, desc="sensitivity", unit="run",
                         file=sys.stderr, disable=not show_bar, smoothing=0.1))

    try:
        ranges: dict[str, tuple[float, float]] = {}
        for text in args.param:
            key, bounds = batch.parse_sample(text)
            if key in ranges:
                raise batch.BatchError(f"--param {key}: given twice")
            ranges[key] = bounds
        design = dict(n=n, method=args.method, seeds=args.seeds, scenario=args.scenario,
                      overrides=dict(args.overrides), quarters=args.quarters,
                      sample_seed=args.sample_seed)
        if out is None:  # one folder per design, so the same command resumes the same batch
            plan, _ = sensitivity_plan(ranges or DEFAULT_PARAMS, **design)
            spec = json.dumps(plan.to_spec(), sort_keys=True).encode()
            out = (scenario_dir() / "output"
                   / f"sensitivity-{args.method}-{name}-{hashlib.sha256(spec).hexdigest()[:10]}")
        result = run_sensitivity(
            out, ranges or DEFAULT_PARAMS, args.output or list(OUTPUTS), **design,
            processes=args.processes, on_start=on_start, on_run=lambda row: bars[0].update(1))
    except batch.BatchInterrupted:
        _error(f"interrupted; run the same command again to resume (runs are kept in {out})")
        return 130
    except batch.BatchError as exc:
        _error(str(exc).replace("--sample", "--param"))
        return EXIT_USAGE
    except IncompleteSampleError as exc:
        _error(f"{exc} (in {out / 'batch'})")
        return 1
    finally:
        for bar in bars:
            bar.close()
    if not args.quiet:
        table = result.indices.drop(columns="method").set_index(["output", "parameter"])
        print(f"{args.method}: {len(result.plan.points)} points x {len(result.plan.seeds)} "
              f"seeds = {len(result.plan)} runs ({name})")
        print(table.round(3).to_string())
        print(f"outputs in {out}: sensitivity.csv, sensitivity_points.csv, sensitivity.png")
    if result.batch is not None and result.batch.failed_total:
        _error(f"{result.batch.failed_total} runs failed; see {out / 'batch'} (runs table)")
        return 1
    return 0


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from bubble_abm.calibration import (
        CHAIN_YEARS,
        TargetsError,
        calibrate,
        format_chain_flows,
        format_report,
        load_targets,
        write_calibration_outputs,
    )

    overrides = dict(args.overrides)
    load_scenario(args.scenario, overrides)  # bad parameters fail here, before any run
    try:
        targets = load_targets(args.targets)
    except TargetsError as exc:
        _error(str(exc))
        return EXIT_USAGE
    name = scenario_name(args.scenario)
    out = args.out if args.out is not None else scenario_dir() / "output" / f"calibration-{name}"
    show_bar = sys.stderr.isatty()
    with tqdm(total=args.seeds, desc=f"calibrate {name}", unit="seed", file=sys.stderr,
              disable=not show_bar) as bar:
        result = calibrate(args.scenario, args.seeds, targets, overrides,
                           processes=args.processes, progress=lambda: bar.update(1))
    title = f"Calibration: {name}, seeds 1-{args.seeds}"
    paths = write_calibration_outputs(result, out, title=title)
    first = result.runs[0].seed
    print(f"Chain flows, seed {first}:")
    print(format_chain_flows(result.runs[0].flows, CHAIN_YEARS))
    print()
    print(f"outputs in {out}:")
    for path in paths.values():
        print(f"  {path}")
    print()
    print(format_report(result.report, title=title))
    return 0


def _cmd_fit(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from bubble_abm.calibration import TargetsError, format_report, load_targets
    from bubble_abm.fit import FitError, fit, parse_bounds, write_fit_outputs

    overrides = dict(args.overrides)
    load_scenario(args.scenario, overrides)  # bad parameters fail here, before any run
    try:
        bounds = parse_bounds(args.params)
        targets = load_targets(args.targets)
    except (FitError, TargetsError) as exc:
        _error(str(exc))
        return EXIT_USAGE
    name = scenario_name(args.scenario)
    out = args.out if args.out is not None else scenario_dir() / "output" / f"fit-{name}"
    total = 1 + args.samples + args.starts * args.local_evals
    with tqdm(total=total, desc=f"fit {name}", unit="candidate", file=sys.stderr,
              disable=not sys.stderr.isatty()) as bar:
        try:
            result = fit(args.scenario, [(b.name, b.low, b.high) for b in bounds],
                         targets=targets, seeds=args.seeds, samples=args.samples,
                         starts=args.starts, local_evals=args.local_evals, method=args.method,
                         sample_seed=args.sample_seed, overrides=overrides,
                         include_parameter_targets=not args.exclude_parameter_targets,
                         processes=args.processes, progress=lambda: bar.update(1))
        except FitError as exc:
            _error(str(exc))
            return EXIT_USAGE
    paths = write_fit_outputs(result, out)
    evaluated = len(result.candidates)
    start = ("n/a (outside the bounds)" if result.start_objective is None
             else f"{result.start_objective:.4g}")
    print(f"Fit of {name}: {evaluated} candidates over seeds 1-{args.seeds}; objective at the "
          f"scenario's values {start}, best {result.best_objective:.4g}")
    for b in result.bounds:
        print(f"  {b.name} = {result.best[b.name]}  (bounds {b.low:g}-{b.high:g})")
    print()
    print(f"outputs in {out}:")
    for path in paths.values():
        print(f"  {path}")
    print()
    print(format_report(result.best_report, title=f"Best candidate: {name}, seeds "
                        f"1-{args.seeds}"))
    return 0


def _cmd_scenarios(args: argparse.Namespace) -> int:
    rows = list_scenarios()
    if not rows:
        print(f"no scenarios in {scenario_dir()}")
        return 0
    width = max(len(name) for name, _ in rows)
    for name, description in rows:
        print(f"{name:<{width}}  {description}")
    print(f"\n(scenario files in {scenario_dir()})")
    return 0


def _fmt_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _range_text(name: str, low: Any, high: Any) -> str:
    if low is not None:
        return f"[{_fmt_value(low)}, {_fmt_value(high)}]"
    annotation = Params.model_fields[name].annotation
    choices = typing.get_args(annotation) if typing.get_origin(annotation) is typing.Literal else ()
    if choices:
        return " | ".join(str(c) for c in choices)
    return "YYYYQn" if annotation is str else ""


def _cmd_params(args: argparse.Namespace) -> int:
    rows = describe_parameters()
    if args.format == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(
            buffer,
            fieldnames=["name", "default", "unit", "low", "high", "source"],
            lineterminator="\n",
        )
        writer.writeheader()
        writer.writerows(rows)
        sys.stdout.write(buffer.getvalue())
        return 0
    header = ("name", "default", "unit", "range", "source")
    table = [
        (
            r["name"],
            _fmt_value(r["default"]),
            r["unit"],
            _range_text(r["name"], r["low"], r["high"]),
            r["source"],
        )
        for r in rows
    ]
    if args.format == "markdown":
        print("| " + " | ".join(header) + " |")
        print("|" + "|".join("---" for _ in header) + "|")
        for row in table:
            cells = [f"`{row[0]}`", *(cell.replace("|", "\\|") for cell in row[1:])]
            print("| " + " | ".join(cells) + " |")
        return 0
    widths = [max(len(h), *(len(row[i]) for row in table)) for i, h in enumerate(header[:-1])]
    for row in [header, tuple("-" * len(h) for h in header), *table]:
        cells = [f"{cell:<{w}}" for cell, w in zip(row[:-1], widths, strict=True)]
        print("  ".join([*cells, row[-1]]))
    return 0


def _event_order() -> list[str]:
    """Event names: spend chain, then the collapse chain in order, then anything else."""
    from bubble_abm.chains import (
        COLLAPSE_ORDER,
        EVENT_DEFINITIONS,
        SPEND_CHAIN,
        SPEND_CHAIN_OPTIONAL,
    )

    names = [*SPEND_CHAIN, *SPEND_CHAIN_OPTIONAL, *(n for stage in COLLAPSE_ORDER for n in stage)]
    return names + [n for n in EVENT_DEFINITIONS if n not in names]


def _cmd_events(args: argparse.Namespace) -> int:
    from bubble_abm.chains import EVENT_DEFINITIONS, EVENT_NOTES, VERDICT_DEFINITIONS

    names = _event_order()
    if args.format == "markdown":
        print(EVENT_NOTES)
        print()
        print("| event | definition |")
        print("|---|---|")
        for name in names:
            print(f"| `{name}` | {EVENT_DEFINITIONS[name].replace('|', '\\|')} |")
        print()
        print("| verdict | definition |")
        print("|---|---|")
        for name, text in VERDICT_DEFINITIONS.items():
            print(f"| `{name}` | {text.replace('|', '\\|')} |")
        return 0
    wrap = textwrap.TextWrapper(width=100, initial_indent="  ", subsequent_indent="  ")
    print(textwrap.fill(EVENT_NOTES, width=100))
    sections = (
        ("Events", [(n, EVENT_DEFINITIONS[n]) for n in names]),
        ("Verdicts", list(VERDICT_DEFINITIONS.items())),
    )
    for heading, rows in sections:
        print(f"\n{heading}:")
        for name, text in rows:
            print(f"{name}:")
            print(wrap.fill(text))
    return 0


def viz_command(host: str, port: int) -> list[str]:
    """The command ``bubble-abm viz`` runs: Solara's server on the dashboard module."""
    return [sys.executable, "-m", "solara", "run", "bubble_abm.viz.app", "--host", host,
            "--port", str(port), "--production"]


def _cmd_viz(args: argparse.Namespace) -> int:
    import importlib.util
    import os
    import subprocess

    missing = [m for m in ("solara", "ipyvuetify") if importlib.util.find_spec(m) is None]
    if missing:
        _error(f"the dashboard needs the viz extras ({', '.join(missing)} not installed); "
               'install them with: pip install -e ".[viz]"')
        return EXIT_USAGE
    env = dict(os.environ)
    env.setdefault("SOLARA_TELEMETRY_MIXPANEL_ENABLE", "false")  # no calls home
    shown = "localhost" if args.host in ("0.0.0.0", "::") else args.host
    print(f"bubble-abm viz: dashboard at http://{shown}:{args.port}/ (Ctrl-C stops it)",
          flush=True)
    return subprocess.call(viz_command(args.host, args.port), env=env)


# --- entry point ------------------------------------------------------------------------------
def _error(message: str) -> None:
    for line in str(message).splitlines() or [""]:
        print(f"{PROG}: error: {line}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 2 bad input, 1 other failure)."""
    try:
        parser = build_parser()  # imports NumPy and pandas: a Ctrl-C may come here
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2, message printed)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    try:
        return args.handler(args)
    except (ParameterError, ScenarioError) as exc:
        _error(str(exc))
        return EXIT_USAGE
    except OSError as exc:  # e.g. an output folder that cannot be written
        _error(f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc))
        return 1
    except KeyboardInterrupt:
        _error("interrupted")
        # the process is ending: a second Ctrl-C must not cut short its clean-up (the batch
        # workers' shutdown at exit) with a traceback or leave the workers behind
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
