"""Compute rental market: GPU-hours by generation, utilization, rents (DESIGN §5, §11.4).

Rents are posted per generation at the start of a quarter: the newest generation at a trend
rent that pays for a new GPU at normal utilization, older ones at a discount per generation
behind, each moved by its own utilization last quarter (scarcity premium, idle discount).
Clearing order within a quarter:

1. each owner's in-house AI products run on its own fleet, newest generation first;
2. external demand (labs' inference and training) fills the remaining capacity, newest
   generation first, pro rata across owners within a generation;
3. buyers pay the average rent of the hours they got; owners earn the rent of each generation
   their hours were sold from; demand beyond capacity is rationed pro rata (contracts).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from bubble_abm.core.fleet import HOURS_PER_QUARTER
from bubble_abm.core.hardware import (
    opex_usd_per_hour,
    rent_by_generation,
    rent_trend_usd_per_hour,
)

MAX_UTILIZATION = 0.97  # maintenance and scheduling slack
RENT_MULTIPLIER_BOUNDS = (0.25, 2.5)  # idle-glut discount floor and scarcity premium cap


@dataclass
class ComputeMarketResult:
    """What the compute market did this quarter."""

    capacity_hours: np.ndarray  # (owners, generations)
    used_hours: np.ndarray  # (owners, generations), in-house plus external
    external_hours: np.ndarray  # (owners, generations)
    rents_usd_per_hour: np.ndarray  # (generations,) posted this quarter
    buyer_hours: np.ndarray = field(default_factory=lambda: np.zeros(0))
    average_rent_usd_per_hour: float = 0.0
    # external_hours × rents_usd_per_hour, if already computed (clear_compute_market)
    external_rent_usd: np.ndarray | None = field(default=None, repr=False)

    @cached_property
    def capacity_by_generation(self) -> np.ndarray:
        """Capacity hours of each generation, all owners (read-only)."""
        capacity = self.capacity_hours.sum(axis=0)
        capacity.flags.writeable = False
        return capacity

    @property
    def utilization_by_generation(self) -> np.ndarray:
        """Used over capacity hours of each generation (0 where nothing is installed)."""
        used = self.used_hours.sum(axis=0).tolist()
        capacity = self.capacity_by_generation.tolist()
        # np.divide(used, capacity, where=capacity > 0) into zeros, in Python floats
        return np.array([u / c if c > 0 else 0.0 for u, c in zip(used, capacity, strict=True)],
                        dtype=float)

    @property
    def utilization(self) -> float:
        capacity = self.capacity_hours.sum()
        return float(self.used_hours.sum() / capacity) if capacity > 0 else 0.0

    def owner_revenue_usd_b(self) -> np.ndarray:
        external_rent = self.external_rent_usd
        if external_rent is None:
            external_rent = self.external_hours * self.rents_usd_per_hour[None, :]
        return external_rent.sum(axis=1) / 1e9


def _fill_newest_first(free_hours: np.ndarray, demand_hours: float) -> np.ndarray:
    """Take ``demand_hours`` from free capacity (owners × generations), newest first."""
    # Each generation's free hours summed as its column alone would be (a row sum of the
    # contiguous transpose is the same pairwise sum), all generations in one call.
    totals = np.add.reduce(np.ascontiguousarray(free_hours.T), axis=1).tolist()
    # The share of each generation's free hours taken, then every column times its share in
    # one product: the same products as column by column. A generation not drawn on has
    # share 0, and free hours are finite and >= 0, so its column is 0 as before.
    shares = [0.0] * len(totals)
    remaining = demand_hours
    for generation in range(len(totals) - 1, -1, -1):
        total = totals[generation]
        if remaining <= 0.0 or total <= 0.0:
            continue
        take = total if total < remaining else remaining  # their min, without the call
        shares[generation] = take / total
        remaining -= take
    return free_hours * np.array(shares)


def _fill_own_fleets_newest_first(free_hours: np.ndarray, demand_hours: np.ndarray
                                  ) -> np.ndarray:
    """Each owner's ``demand_hours`` taken from its own row of free capacity (owners ×
    generations), newest first: :func:`_fill_newest_first` on each row.

    In Python floats, owner by owner (a few owners and generations: cheaper than numpy calls
    per generation); the same IEEE arithmetic as the array form, so the same numbers."""
    rows = free_hours.tolist()
    newest_first = range(free_hours.shape[1] - 1, -1, -1)  # every row has one per generation
    taken_rows = []
    for row, remaining in zip(rows, np.asarray(demand_hours, dtype=float).tolist(),
                              strict=True):
        taken = [0.0] * free_hours.shape[1]
        for generation in newest_first:
            if not remaining > 0.0:  # it never rises again: nothing more is taken
                break
            available = row[generation]
            if available > 0.0:
                take = available if available < remaining else remaining  # their min
                taken[generation] = available * (take / available)
                remaining = remaining - take
        taken_rows.append(taken)
    return np.array(taken_rows, dtype=float).reshape(free_hours.shape)


def clear_compute_market(
    capacity_hours: np.ndarray, inhouse_hours: np.ndarray, buyer_hours: np.ndarray,
    rents_usd_per_hour: np.ndarray,
) -> ComputeMarketResult:
    """Allocate in-house GPU-hours on own fleets, then external GPU-hours pro rata."""
    usable = capacity_hours * MAX_UTILIZATION
    inhouse = _fill_own_fleets_newest_first(usable, inhouse_hours)
    free = usable - inhouse
    # np.add.reduce(x, axis=None) is x.sum(), without its Python wrapper
    available = np.add.reduce(free, axis=None)
    wanted = np.add.reduce(buyer_hours, axis=None)
    served = buyer_hours * min(1.0, available / wanted) if wanted > 0 else buyer_hours.copy()
    external = _fill_newest_first(free, float(np.add.reduce(served, axis=None)))
    external_rent = external * rents_usd_per_hour
    hours = np.add.reduce(external, axis=None)
    average_rent = (float(np.add.reduce(external_rent, axis=None) / hours) if hours > 0
                    else float(rents_usd_per_hour[-1]))
    result = ComputeMarketResult(capacity_hours, inhouse + external, external, rents_usd_per_hour,
                                 served, average_rent, external_rent)
    return result


def next_rents(
    previous_rents: np.ndarray, utilization_by_generation: np.ndarray, newest: int,
    newest_gpu_price_usd: float, params, *,
    opex_usd_per_hour_by_generation: np.ndarray | None = None,
    base_rents_usd_per_hour: np.ndarray | None = None,
) -> np.ndarray:
    """Rents posted for next quarter: trend × generation discount × utilization multiplier.

    Each generation's rent moves ``rent_adjustment_speed`` of the way (in logs) to its target;
    a generation without a previous rent starts at its target. No owner rents a GPU below its
    own running cost, so each generation's rent is floored at its opex.

    A caller that already has the opex by generation (``opex_usd_per_hour_by_generation``) or
    :func:`base_rents` for the same arguments may pass them instead of having them recomputed.
    """
    p = params
    n = utilization_by_generation.size
    opex = opex_usd_per_hour_by_generation
    if opex is None:
        opex = opex_usd_per_hour(np.arange(n), p.rent_opex_usd_per_hour,
                                 p.opex_decline_per_generation)
    base = base_rents_usd_per_hour
    if base is None:
        base = base_rents(newest_gpu_price_usd, newest, opex, p)
    low, high = RENT_MULTIPLIER_BOUNDS
    speed = p.rent_adjustment_speed
    previous = previous_rents.tolist()
    n_previous = len(previous)
    rents = []
    # In Python floats: a handful of generations, cheaper than numpy calls on tiny arrays.
    for generation, (utilization, base_rent, opex_rent) in enumerate(zip(
            utilization_by_generation.tolist(), base.tolist(), opex.tolist(), strict=True)):
        multiplier = math.exp(p.rent_utilization_sensitivity
                              * (utilization - p.target_utilization))
        # min/max written out (the same comparisons, without builtin calls)
        if low > multiplier:
            multiplier = low
        if high < multiplier:
            multiplier = high
        target = base_rent * multiplier
        if opex_rent > target:
            target = opex_rent
        before = previous[generation] if generation < n_previous else 0.0
        rents.append(target if before <= 0.0  # no rent before: it starts at its target
                     else math.exp((1 - speed) * math.log(before) + speed * math.log(target)))
    return np.array(rents)


def base_rents(newest_gpu_price_usd: float, newest: int, opex_usd_per_hour_by_generation:
               np.ndarray, params) -> np.ndarray:
    """Each generation's rent at target utilization: the newest generation's cost-based trend
    rent, older ones at a discount per generation behind (before any opex floor)."""
    p = params
    opex = opex_usd_per_hour_by_generation
    n = opex.size
    trend = rent_trend_usd_per_hour(newest_gpu_price_usd, p.rent_capital_charge_per_year,
                                    float(opex[min(newest, n - 1)]), p.target_utilization)
    return rent_by_generation(trend, newest, n, p.older_generation_rent_discount)


def capacity_hours_by_owner(units_by_generation: np.ndarray) -> np.ndarray:
    """Hours a quarter from installed H100e, (owners × generations)."""
    return units_by_generation * HOURS_PER_QUARTER
