"""The GPU product roadmap: generations, their cost per H100e and their rents (pure, no Mesa).

A new generation arrives every ``generation_cadence_quarters`` (Hopper in 2022Q4, Blackwell two
years later, ...). Price-performance doubles every ``gpu_price_performance_doubling_years``
(Hobbhahn & Besiroglu 2022, Epoch AI: 2.07 years for ML GPUs), so the cost of one H100e of
generation g is the H100's cost times 0.5**(g · cadence / doubling).
"""

from __future__ import annotations

import numpy as np

from bubble_abm.calendar import H100_LAUNCH_QUARTER, quarter_index


def newest_generation(quarter: int, cadence_quarters: int) -> int:
    """Generation on sale in absolute quarter ``quarter`` (0 = H100)."""
    return max(0, (quarter - quarter_index(H100_LAUNCH_QUARTER)) // cadence_quarters)


def cost_per_h100e_usd(
    generation: int | np.ndarray, h100_cost_usd: float, cadence_quarters: int,
    doubling_years: float,
) -> np.ndarray | float:
    """Manufacturing cost of one H100e of a generation ($)."""
    years_per_generation = cadence_quarters / 4.0
    if isinstance(generation, int):  # one generation: the same arithmetic in Python floats
        return h100_cost_usd * 0.5 ** (generation * years_per_generation / doubling_years)
    return h100_cost_usd * 0.5 ** (np.asarray(generation) * years_per_generation / doubling_years)


def opex_usd_per_hour(
    generation: int | np.ndarray, h100_opex_usd_per_hour: float, decline_per_generation: float
) -> np.ndarray | float:
    """Operating cost (power, cooling, staff) of one H100e-hour of a generation ($/hour).

    Energy per FLOP improves with each generation (H100 ~700 W; B200 ~1000 W for ~2.5x the
    throughput), so newer H100e cost less to run and older ones are pushed out when their rent
    no longer covers their own running cost.
    """
    return h100_opex_usd_per_hour * decline_per_generation ** np.asarray(generation)


def rent_trend_usd_per_hour(
    gpu_price_usd: float, capital_charge_per_year: float, opex_usd_per_hour: float,
    target_utilization: float,
) -> float:
    """Rent per H100e-hour of the newest generation that pays for it at normal utilization.

    Capital charge (depreciation plus return) on the purchase price, spread over the hours a
    GPU is rented at target utilization, plus the operating cost of an hour (power, staff).
    """
    return gpu_price_usd * capital_charge_per_year / (8760.0 * target_utilization) + (
        opex_usd_per_hour
    )


def rent_by_generation(
    newest_rent_usd_per_hour: float, newest: int, n_generations: int, discount: float
) -> np.ndarray:
    """Rent of each generation 0..n-1: older ones at a discount per generation behind (§11.4)."""
    behind = newest - np.arange(n_generations)
    return newest_rent_usd_per_hour * discount ** np.maximum(behind, 0)
