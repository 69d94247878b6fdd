"""Calendar quarters: labels like "2026Q3" and their integer positions (pure, no Mesa)."""

from __future__ import annotations

from bubble_abm.params import QUARTER_PATTERN

H100_LAUNCH_QUARTER = "2022Q4"  # generation 0 of the product roadmap: Hopper (H100) volume


def quarter_index(label: str) -> int:
    """Absolute quarter number (year * 4 + quarter - 1) of a label like "2023Q1"."""
    match = QUARTER_PATTERN.match(label)
    if match is None:
        raise ValueError(f"not a calendar quarter: {label!r} (expected e.g. 2027Q1)")
    return int(match.group(1)) * 4 + int(match.group(2)) - 1


def quarter_label(index: int) -> str:
    """Inverse of :func:`quarter_index`."""
    return f"{index // 4}Q{index % 4 + 1}"


def quarter_year(index: int) -> float:
    """Calendar year as a float at the middle of the quarter (2023Q1 -> 2023.125)."""
    return index / 4.0 + 0.125
