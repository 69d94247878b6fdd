"""Valuation and expectations: discounted cash flows on revenue levels (pure, no Mesa).

DESIGN §4 and §11 item 2: fundamentalists value a firm by discounting expected cash flows whose
*levels* follow a growth path that fades to the long-run rate, rather than by a multiple of
growth; a growth-multiple valuation compresses as every S-curve slows and guarantees a crash.
"""

from __future__ import annotations

import functools

import numpy as np

TERMINAL_GROWTH_PER_YEAR = 0.02  # long-run nominal growth (about world real growth + inflation)


def dcf_value_usd_b(
    annual_cash_flow_usd_b: np.ndarray | float,
    expected_growth_per_year: np.ndarray | float,
    discount_rate_per_year: float,
    horizon_years: float,
) -> np.ndarray:
    """Present value of a cash flow whose growth fades linearly to the terminal rate.

    Year k's growth is g_k = g + (g_T − g)·k/H for k = 1..H, then a Gordon terminal value at
    g_T = 2% (Gordon 1959). Cash flows may be negative (loss-making firms have negative value
    until growth makes them positive). Vectorized over firms.
    """
    cash = np.asarray(annual_cash_flow_usd_b, dtype=float)
    if cash.ndim == 0:  # np.atleast_1d's result, without its overhead
        cash = cash.reshape(1)
    growth = np.asarray(expected_growth_per_year, dtype=float)
    if growth.shape != cash.shape:
        growth = np.broadcast_to(growth, cash.shape)
    years = max(1, round(horizon_years))
    fade, weights = _fade_and_weights(years, discount_rate_per_year)
    # 1 + g_k for every firm (row) and year k (column); the path's levels per unit of cash.
    one_plus_growth = np.multiply.outer(TERMINAL_GROWTH_PER_YEAR - growth, fade) + (
        1.0 + growth)[:, None]
    return cash * (np.multiply.accumulate(one_plus_growth, axis=1) @ weights)


@functools.lru_cache(maxsize=32)
def _fade_and_weights(years: int, discount_rate_per_year: float
                      ) -> tuple[np.ndarray, np.ndarray]:
    """``k / years`` for k = 1..years, and each year's weight in the value of a unit cash
    flow path: the discount factor ``(1 + r)**-k``, plus, in the last year, the Gordon terminal
    value's ``(1 + g_T) / (r - g_T) * (1 + r)**-years`` (the spread at least 1%). Read-only:
    the same few rates are used every quarter."""
    k = np.arange(1, years + 1)
    discount = (1.0 + discount_rate_per_year) ** -k
    spread = max(discount_rate_per_year - TERMINAL_GROWTH_PER_YEAR, 0.01)
    weights = discount.copy()
    weights[-1] += (1.0 + TERMINAL_GROWTH_PER_YEAR) / spread * discount[-1]
    fade = k / years
    fade.flags.writeable = False
    weights.flags.writeable = False
    return fade, weights


def adaptive_update(expected: np.ndarray | float, observed: np.ndarray | float, weight: float):
    """Adaptive expectations (Cagan 1956; Nerlove 1958): move a share of the way to the news."""
    if isinstance(expected, float) and isinstance(observed, float):
        # Scalars: the same arithmetic in Python floats, returned as the np.float64 that the
        # array path gives (0-d array arithmetic costs microseconds).
        return np.float64(expected + weight * (observed - expected))
    return expected + weight * (np.asarray(observed) - expected)


def growth_rate(current: float, previous: float, floor: float = -0.9, cap: float = 5.0) -> float:
    """Growth of a positive series between two observations, bounded for stability."""
    if previous <= 1e-12:
        return 0.0
    return float(min(max(current / previous - 1.0, floor), cap))
