"""Command line: ``bubble-abm run | scenarios | params | events`` (also ``python -m bubble_abm``).

Errors in the user's input (parameters, scenario files, argument values) are reported as one
``bubble-abm: error: ...`` line per problem on stderr with exit code 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
import textwrap
import tomllib
import typing
from collections.abc import Sequence
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


def _nonnegative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _quarters(text: str) -> int:
    low, high = field_range("n_quarters") or (1, 400)
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"must be in [{low:g}, {high:g}], got {value}")
    return value


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Agent-based model of the AI investment bubble (Mesa 3.5): the spend chain "
        "from investors to chipmakers, and the collapse chain when the economics do not close.",
        epilog="examples:\n  bubble-abm run --seed 3\n  bubble-abm scenarios\n"
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
    run.add_argument(
        "--set",
        dest="overrides",
        type=parse_assignment,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one parameter after the scenario file, e.g. --set n_investors=50; "
        "repeatable; the value is read as a TOML literal",
    )
    run.add_argument(
        "--quiet", action="store_true", help="no progress bar, summary or list of output files"
    )
    run.set_defaults(handler=_cmd_run)

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
    return parser


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


# --- entry point ------------------------------------------------------------------------------
def _error(message: str) -> None:
    for line in str(message).splitlines() or [""]:
        print(f"{PROG}: error: {line}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 2 bad input, 1 other failure)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2, message printed)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
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
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
