"""A GPU fleet held by vintage: depreciation, impairment, economic life, stranded assets.

Pure numpy, no Mesa (DESIGN §4 Hyperscaler, §7). One vintage per delivery quarter: units
(H100e), generation, cost and book value ($B), age (quarters). Book value falls straight-line
over the *accounting* life; the *economic* life is set by rents: a vintage's rent falls by
``older_generation_rent_discount`` each time a newer generation arrives, and it is worth running
only while its rent covers the operating cost of an hour.
"""

from __future__ import annotations

import math
from itertools import accumulate

import numpy as np

HOURS_PER_QUARTER = 2190.0  # 8760 / 4
_QUARTERS_AHEAD = np.arange(1, 41)[None, :]  # the ten years a vintage's value in use covers
_QUARTERS_AHEAD.flags.writeable = False


#: Economic life of a vintage whose expected rent never falls to its running cost (100 years).
MAX_ECONOMIC_LIFE_QUARTERS = 400.0


def economic_life_quarters(
    rent_usd_per_hour: np.ndarray | float,
    opex_usd_per_hour: np.ndarray | float,
    rent_discount_per_generation: float,
    generation_cadence_quarters: int,
) -> np.ndarray:
    """Quarters until a vintage's expected rent falls to its operating cost.

    rent(k) = rent × discount^(k / cadence) (a new generation every ``cadence`` quarters);
    solve rent(k) = opex. Zero when the rent is already below the cost of running;
    :data:`MAX_ECONOMIC_LIFE_QUARTERS` when it never falls (a discount of 1 or more).
    """
    rent = np.maximum(np.asarray(rent_usd_per_hour, dtype=float), 1e-12)
    opex = np.asarray(opex_usd_per_hour, dtype=float)
    if rent_discount_per_generation >= 1.0:
        return np.where(rent > opex, MAX_ECONOMIC_LIFE_QUARTERS, 0.0)
    ratio = np.maximum(opex, 1e-9) / rent
    quarters = generation_cadence_quarters * np.log(ratio) / math.log(rent_discount_per_generation)
    # np.clip's result, less overhead
    return np.minimum(np.maximum(quarters, 0.0), MAX_ECONOMIC_LIFE_QUARTERS)


def value_in_use_per_unit_usd(
    rent_usd_per_hour: np.ndarray,
    utilization: np.ndarray,
    opex_usd_per_hour: np.ndarray | float,
    rent_discount_per_generation: float,
    generation_cadence_quarters: int,
    discount_rate_per_year: float,
) -> np.ndarray:
    """Value in use (recoverable value) of one H100e ($) for each (rent, utilization, opex) row:
    discounted expected net rent over its economic life, the rent declining by
    ``rent_discount_per_generation`` as newer generations arrive. Expected, not spot, rents
    (DESIGN §11 items 3, 10): the caller passes the rent it expects. Rows are independent, so
    it is computed once per generation and indexed by each vintage's generation."""
    life = economic_life_quarters(
        rent_usd_per_hour, opex_usd_per_hour, rent_discount_per_generation,
        generation_cadence_quarters,
    )
    decay = rent_discount_per_generation ** (1.0 / generation_cadence_quarters)
    discount = (1.0 + discount_rate_per_year) ** -0.25
    alive = life[:, None] >= _QUARTERS_AHEAD
    rent_path = rent_usd_per_hour[:, None] * utilization[:, None]
    if decay != 1.0:  # x * 1.0 is x: without decay the path is flat, one column will do
        rent_path = rent_path * _powers_ahead(decay)
    opex = np.asarray(opex_usd_per_hour, dtype=float)
    if opex.shape != utilization.shape:
        opex = np.broadcast_to(opex, utilization.shape)
    net = np.maximum(rent_path - opex[:, None] * utilization[:, None], 0.0)
    return (net * alive * _powers_ahead(discount)).sum(axis=1) * HOURS_PER_QUARTER


_POWERS_AHEAD: dict[float, np.ndarray] = {}


def _powers_ahead(base: float) -> np.ndarray:
    """``base ** _QUARTERS_AHEAD`` (read-only), kept per base: the same few recur."""
    powers = _POWERS_AHEAD.get(base)
    if powers is None:
        if len(_POWERS_AHEAD) >= 64:
            _POWERS_AHEAD.clear()
        powers = base**_QUARTERS_AHEAD
        powers.flags.writeable = False
        _POWERS_AHEAD[base] = powers
    return powers


def _depreciation_charge(age_quarters: np.ndarray, book_usd_b: np.ndarray,
                         accounting_life_quarters: float, out: np.ndarray | None = None
                         ) -> np.ndarray:
    """Straight line: remaining book over remaining life; all of it once the life is over
    (the remaining life is then floored at one quarter, and book / 1.0 is the book)."""
    remaining = np.maximum(accounting_life_quarters - age_quarters, 1.0)
    return np.divide(book_usd_b, remaining, out=out)


def _idle_share(utilization: np.ndarray, normal_utilization: float) -> np.ndarray:
    """Share of capacity idle beyond normal operating slack."""
    return np.minimum(np.maximum((normal_utilization - utilization) / normal_utilization, 0.0),
                      1.0)


VINTAGE_FIELDS = ("units_h100e", "generation", "cost_usd_b", "book_usd_b", "impaired_usd_b",
                  "age_quarters")
# Columns of a fleet's vintages array. Generation and age are whole numbers, held exactly as
# floats (so that one array holds every field) and read as integers.
UNITS, GENERATION, COST, BOOK, IMPAIRED, AGE = range(len(VINTAGE_FIELDS))
_WHOLE_NUMBER_COLUMNS = (GENERATION, AGE)


def _vintage_field(name: str) -> property:
    """One column of the fleet's vintages (a view; integers for generation and age)."""
    column = VINTAGE_FIELDS.index(name)
    whole = column in _WHOLE_NUMBER_COLUMNS

    def get(fleet: GpuFleet) -> np.ndarray:
        values = fleet.vintages[:, column]
        return values.astype(np.int64) if whole else values

    return property(get, doc=f"Per-vintage ``{name}``.")


def _column_total(column: int, doc: str) -> property:
    """Sum of one column of the vintages, computed once per version of the array (it is
    replaced, never changed in place) and kept in ``fleet._totals``."""

    def get(fleet: GpuFleet) -> float:
        if fleet._pending:  # fleet.vintages, inlined: totals are read dozens of times a quarter
            _settle_fleets([fleet])
        vintages = fleet._vintages
        cached = fleet._totals.get(column)
        if cached is None or cached[0] is not vintages:
            cached = (vintages, float(vintages[:, column].sum()))
            fleet._totals[column] = cached
        return cached[1]

    return property(get, doc=doc)


class GpuFleet:
    """Vintages of one owner's installed GPUs: one row per vintage, one column per field of
    :data:`VINTAGE_FIELDS`.

    Deliveries are queued by :meth:`add_vintage` and appended, in order, the next time the
    vintages are read (a quarter's deliveries to every owner cost one concatenation: see
    :func:`depreciate_impair_and_retire`). The array is replaced, never changed in place, so
    a total is kept until it is.
    """

    def __init__(self) -> None:
        self._vintages = np.zeros((0, len(VINTAGE_FIELDS)))
        self._pending: list[tuple[float, int, float, float, float, int]] = []
        self._totals: dict[int, tuple[np.ndarray, float]] = {}  # column: (vintages, its sum)

    def add_vintage(
        self, units_h100e: float, generation: int, cost_usd_b: float, age_quarters: int = 0,
        book_usd_b: float | None = None,
    ) -> None:
        """Install a delivery at cost (book value = cost unless given)."""
        if units_h100e <= 0.0:
            return
        book = cost_usd_b if book_usd_b is None else book_usd_b
        self._pending.append((units_h100e, generation, cost_usd_b, book, 0.0, age_quarters))

    @property
    def vintages(self) -> np.ndarray:
        """The vintages (rows) by field (columns), queued deliveries appended."""
        if self._pending:  # checked here: most reads find nothing queued (no call then)
            _settle_fleets([self])
        return self._vintages

    units_h100e = _vintage_field("units_h100e")
    generation = _vintage_field("generation")
    cost_usd_b = _vintage_field("cost_usd_b")
    book_usd_b = _vintage_field("book_usd_b")
    impaired_usd_b = _vintage_field("impaired_usd_b")
    age_quarters = _vintage_field("age_quarters")

    installed_h100e = _column_total(UNITS, "Installed units (H100e).")
    book_value_usd_b = _column_total(BOOK, "Book value of the installed vintages ($B).")
    impaired_value_usd_b = _column_total(
        IMPAIRED, "Book value written off as impaired on the vintages still installed ($B).")

    def units_by_generation(self, n_generations: int) -> np.ndarray:
        """Installed H100e per generation index 0..n_generations-1 (older clipped to 0)."""
        vintages = self.vintages
        return np.bincount(
            _generation_index(vintages[:, GENERATION], n_generations),
            weights=vintages[:, UNITS], minlength=n_generations,
        )

    def depreciate(self, accounting_life_quarters: float) -> float:
        """Straight-line depreciation of each vintage's remaining book over its remaining life.

        Returns the quarter's depreciation ($B). Ages advance by one quarter.
        """
        vintages = self.vintages.copy()
        book = vintages[:, BOOK]
        charge = _depreciation_charge(vintages[:, AGE], book, accounting_life_quarters)
        book -= charge
        vintages[:, AGE] += 1.0
        self._vintages = vintages
        return float(charge.sum())

    def impair(self, recoverable_usd_b: np.ndarray) -> float:
        """Write each vintage down to its recoverable value where that is below book (IAS 36)."""
        vintages = self.vintages.copy()
        loss = np.maximum(vintages[:, BOOK] - recoverable_usd_b, 0.0)
        vintages[:, BOOK] -= loss
        vintages[:, IMPAIRED] += loss
        self._vintages = vintages
        return float(loss.sum())

    def retire(self, keep: np.ndarray) -> float:
        """Remove the vintages not kept (scrapped); returns their remaining book value ($B)."""
        if keep.all():  # the usual quarter: nothing scrapped, nothing to copy
            return 0.0
        vintages = self.vintages
        written_off = float(vintages[~keep, BOOK].sum())
        self._vintages = vintages[keep]
        return written_off

    def stranded_usd_b(self, utilization_by_vintage: np.ndarray, normal_utilization: float
                       ) -> tuple[float, float, float]:
        """(idle units H100e, idle book $B, stranded $B) — DESIGN §7.

        Idle: capacity unused beyond normal operating slack. Stranded: book value of those idle
        units plus the book value already written off as impaired on installed vintages.
        """
        idle_share = _idle_share(utilization_by_vintage, normal_utilization)
        vintages = self.vintages
        idle_units = float((vintages[:, UNITS] * idle_share).sum())
        idle_book = float((vintages[:, BOOK] * idle_share).sum())
        return idle_units, idle_book, idle_book + self.impaired_value_usd_b


def _generation_index(generation: np.ndarray, n_generations: int) -> np.ndarray:
    """Generations (whole-number floats) as indices 0..n_generations-1 (older clipped to 0)."""
    return np.minimum(np.maximum(generation, 0.0), n_generations - 1).astype(np.intp)


def _settled_vintages(fleets: list[GpuFleet]) -> tuple[np.ndarray, list[int]]:
    """Every fleet's vintages, with the deliveries each has queued appended, in one new array
    (fleet after fleet), and the fleets' bounds in it; the queues are emptied.

    One conversion of all queued rows and one concatenation for all fleets."""
    queued = [fleet._pending for fleet in fleets]
    new_rows = np.array([row for rows in queued for row in rows], dtype=float).reshape(
        -1, len(VINTAGE_FIELDS))
    pieces, sizes, first = [], [], 0
    for fleet, rows in zip(fleets, queued, strict=True):
        pieces.append(fleet._vintages)
        count = len(rows)
        if count:
            pieces.append(new_rows[first:first + count])
            first += count
            rows.clear()
        sizes.append(fleet._vintages.shape[0] + count)
    vintages = np.concatenate(pieces) if pieces else new_rows
    return vintages, [0, *accumulate(sizes)]


def _settle_fleets(fleets: list[GpuFleet]) -> None:
    """Append the deliveries each fleet has queued (each fleet's vintages become a slice of
    one array)."""
    vintages, bounds = _settled_vintages(fleets)
    for fleet, start, stop in zip(fleets, bounds[:-1], bounds[1:], strict=True):
        fleet._vintages = vintages[start:stop]


def units_by_owner_and_generation(fleets: list[GpuFleet], n_generations: int) -> np.ndarray:
    """Installed H100e of each fleet (rows) per generation (columns): each row exactly
    :meth:`GpuFleet.units_by_generation`, in one ``np.bincount`` over all vintages."""
    vintages = np.concatenate([fleet.vintages for fleet in fleets])
    owner = np.repeat(np.arange(len(fleets)), [fleet._vintages.shape[0] for fleet in fleets])
    cell = owner * n_generations + _generation_index(vintages[:, GENERATION], n_generations)
    return np.bincount(cell, weights=vintages[:, UNITS],
                       minlength=len(fleets) * n_generations).reshape(len(fleets), n_generations)


FleetQuarter = tuple[float, float, float, float, float, float]


def depreciate_impair_and_retire(
    fleets: list[GpuFleet], accounting_life_quarters: float,
    value_per_unit_usd_by_generation: np.ndarray, economic_by_generation: np.ndarray,
    scrap_age_quarters: float, utilization_by_generation: np.ndarray, normal_utilization: float,
) -> list[FleetQuarter]:
    """A quarter's depreciation, impairment, scrapping and idle capacity of several fleets.

    For each fleet exactly what :meth:`GpuFleet.depreciate`, :meth:`GpuFleet.impair` (down to
    units × the value in use of the vintage's generation), :meth:`GpuFleet.retire` (keeping
    vintages of an ``economic`` generation younger than ``scrap_age_quarters``) and
    :meth:`GpuFleet.stranded_usd_b` (at the utilization expected of the vintage's generation)
    do, one after the other, but with the vintage arithmetic done over all fleets at once.
    Returns per fleet (depreciation, impairment, scrapped book, idle units, idle book,
    stranded), $B and H100e.
    """
    vintages, bounds = _settled_vintages(fleets)  # a new array: changed in place below
    age, book = vintages[:, AGE], vintages[:, BOOK]
    # Rows: depreciation, impairment, idle units, idle book, impaired book, book and units per
    # vintage, so one reduction per fleet sums all seven (each row's slice summed pairwise as
    # its own .sum() would be; fleets of equal size as rows of one 3-D reduction, the same
    # sums); the last three are the fleets' cached totals.
    per_vintage = np.empty((7, vintages.shape[0]))
    charge, units = per_vintage[0], per_vintage[6]
    _depreciation_charge(age, book, accounting_life_quarters, out=charge)
    units[:] = vintages[:, UNITS]
    age += 1.0
    book -= charge
    value_generation = _generation_index(vintages[:, GENERATION],
                                         value_per_unit_usd_by_generation.size)
    recoverable = units * value_per_unit_usd_by_generation[value_generation] / 1e9
    loss = np.maximum(book - recoverable, 0.0, out=per_vintage[1])
    book = np.subtract(book, loss, out=per_vintage[5])
    impaired = np.add(vintages[:, IMPAIRED], loss, out=per_vintage[4])
    vintages[:, BOOK] = book
    vintages[:, IMPAIRED] = impaired
    keep = economic_by_generation[value_generation] & (age < scrap_age_quarters)
    # _idle_share is elementwise: per generation first, then per vintage, gives its values.
    idle_by_generation = _idle_share(utilization_by_generation, normal_utilization)

    if keep.all():  # the usual quarter: nothing scrapped, the array stays as it is
        if utilization_by_generation.size == value_per_unit_usd_by_generation.size:
            idle_share = idle_by_generation[value_generation]
        else:
            idle_share = idle_by_generation[
                _generation_index(vintages[:, GENERATION], utilization_by_generation.size)]
        np.multiply(units, idle_share, out=per_vintage[2])
        np.multiply(book, idle_share, out=per_vintage[3])
        sizes = [stop - start for start, stop in zip(bounds[:-1], bounds[1:], strict=True)]
        if sizes and sizes.count(sizes[0]) == len(sizes):  # equal fleets: one reduction
            sums = np.add.reduce(per_vintage.reshape(7, len(sizes), sizes[0]), axis=2).T.tolist()
        else:
            sums = [np.add.reduce(per_vintage[:, start:stop], axis=1).tolist()
                    for start, stop in zip(bounds[:-1], bounds[1:], strict=True)]
        results = []
        for fleet, start, stop, fleet_sums in zip(fleets, bounds[:-1], bounds[1:], sums,
                                                  strict=True):
            (fleet_charge, fleet_loss, idle_units, idle_book, impaired_total, book_total,
             units_total) = fleet_sums
            fleet_vintages = vintages[start:stop]
            fleet._vintages = fleet_vintages
            fleet._totals = {UNITS: (fleet_vintages, units_total),  # as _column_total keeps
                             BOOK: (fleet_vintages, book_total),
                             IMPAIRED: (fleet_vintages, impaired_total)}
            results.append((fleet_charge, fleet_loss, 0.0, idle_units, idle_book,
                            idle_book + impaired_total))
        return results

    charges_and_losses, scrapped = [], []
    for fleet, start, stop in zip(fleets, bounds[:-1], bounds[1:], strict=True):
        charges_and_losses.append(np.add.reduce(per_vintage[:2, start:stop], axis=1).tolist())
        fleet._vintages = vintages[start:stop]
        scrapped.append(fleet.retire(keep[start:stop]))
    # some vintages were scrapped: read the fleets again
    vintages = np.concatenate([fleet._vintages for fleet in fleets])
    bounds = [0, *accumulate(fleet._vintages.shape[0] for fleet in fleets)]
    idle_share = idle_by_generation[
        _generation_index(vintages[:, GENERATION], utilization_by_generation.size)]
    idle_units, idle_book = vintages[:, UNITS] * idle_share, vintages[:, BOOK] * idle_share
    results = []
    for i, (fleet, start, stop) in enumerate(zip(fleets, bounds[:-1], bounds[1:], strict=True)):
        fleet_idle_book = float(idle_book[start:stop].sum())
        results.append((*charges_and_losses[i], scrapped[i],
                        float(idle_units[start:stop].sum()),
                        fleet_idle_book, fleet_idle_book + fleet.impaired_value_usd_b))
    return results
