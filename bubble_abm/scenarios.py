"""Scenario files: plain-text TOML in ``runs/`` that override the parameter object.

A scenario file has an optional top-level ``description = "..."`` and a ``[params]`` table whose
keys are :class:`~bubble_abm.params.Params` fields::

    description = "Data wall: synthetic tokens are worth little"

    [params]
    extra_data_worth = 0.2   # multiple of the data stock

Parameters not named keep their defaults. Invalid values and unknown keys raise
:class:`~bubble_abm.params.ParameterError` (the message names the field, its allowed range and the
file); a missing scenario or a malformed file raises :class:`ScenarioError`.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from bubble_abm.params import ParameterError, Params, make_params

__all__ = [
    "SCENARIO_DIR",
    "ScenarioError",
    "list_scenarios",
    "load_scenario",
    "scenario_dir",
    "scenario_name",
]

#: The repository's ``runs/`` folder (overridden by the ``BUBBLE_ABM_RUNS`` environment variable).
SCENARIO_DIR = Path(__file__).resolve().parent.parent / "runs"

_TOP_LEVEL_KEYS = ("description", "params")


class ScenarioError(ValueError):
    """A scenario that cannot be found or read (the message names the file or the choices)."""


def scenario_dir() -> Path:
    """Folder of named scenarios: ``$BUBBLE_ABM_RUNS`` if set, else :data:`SCENARIO_DIR`."""
    override = os.environ.get("BUBBLE_ABM_RUNS")
    return Path(override).expanduser() if override else SCENARIO_DIR


def _looks_like_path(name_or_path: str | Path) -> bool:
    text = str(name_or_path)
    return (
        isinstance(name_or_path, Path)
        or text.endswith(".toml")
        or "/" in text
        or os.sep in text
        or Path(text).is_file()
    )


def scenario_name(name_or_path: str | Path) -> str:
    """Short name of a scenario: ``"baseline"`` for ``baseline`` or ``runs/baseline.toml``."""
    return Path(str(name_or_path)).stem if _looks_like_path(name_or_path) else str(name_or_path)


def _scenario_file(name_or_path: str | Path) -> Path:
    if _looks_like_path(name_or_path):
        path = Path(name_or_path).expanduser()
        if not path.is_file():
            raise ScenarioError(f"scenario file not found: {path}")
        return path
    path = scenario_dir() / f"{name_or_path}.toml"
    if not path.is_file():
        names = ", ".join(name for name, _ in list_scenarios()) or "(none)"
        raise ScenarioError(
            f"unknown scenario {str(name_or_path)!r} in {scenario_dir()}; available: {names}"
        )
    return path


def _read(path: Path) -> dict[str, Any]:
    """Parse a scenario file and check its layout (not the parameter values)."""
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:  # the message ends "(at line L, column C)"
        raise ScenarioError(f"{path}: invalid TOML: {exc}") from None
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror or exc}") from None
    unknown = [key for key in data if key not in _TOP_LEVEL_KEYS]
    if unknown:
        raise ScenarioError(
            f"{path}: unknown top-level key(s) {', '.join(f'`{k}`' for k in unknown)}; "
            "parameters go in the [params] table (allowed top-level keys: description, params)"
        )
    if not isinstance(data.get("description", ""), str):
        raise ScenarioError(f"{path}: `description` must be a string")
    if not isinstance(data.get("params", {}), dict):
        raise ScenarioError(f"{path}: `params` must be a table ([params])")
    return data


def _prefixed(prefix: str, error: ParameterError) -> ParameterError:
    return ParameterError("\n".join(f"{prefix}: {line}" for line in str(error).splitlines()))


def list_scenarios() -> list[tuple[str, str]]:
    """``(name, description)`` of every ``*.toml`` in :func:`scenario_dir`, sorted by name."""
    rows = []
    for path in sorted(scenario_dir().glob("*.toml")):
        try:
            description = _read(path).get("description", "")
        except ScenarioError as exc:
            description = f"(unreadable: {exc})"
        rows.append((path.stem, description))
    return rows


def load_scenario(name_or_path: str | Path, overrides: dict[str, Any] | None = None) -> Params:
    """Validated parameters of a scenario (a name in ``runs/`` or a path to a ``.toml`` file).

    ``overrides`` (e.g. from the command line) replace the file's values.
    """
    path = _scenario_file(name_or_path)
    values = dict(_read(path).get("params", {}))
    try:
        params = make_params(values)
    except ParameterError as exc:
        raise _prefixed(str(path), exc) from None
    if not overrides:
        return params
    try:
        return make_params({**values, **overrides})
    except ParameterError as exc:
        raise _prefixed("override", exc) from None
