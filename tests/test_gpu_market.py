"""The market value of an older GPU generation (bubble_abm.markets.gpu_market)."""

from __future__ import annotations

import numpy as np
import pytest

from bubble_abm import BubbleModel, make_params
from bubble_abm.markets.gpu_market import generation_unit_value_usd


def test_newest_generation_is_worth_the_chipmakers_price():
    assert generation_unit_value_usd(15_000.0, np.array([2.0, 3.0]), 1) == 15_000.0
    assert generation_unit_value_usd(30_000.0, np.array([4.0]), 0) == 30_000.0


def test_older_generation_is_worth_its_expected_rent_relative_to_the_newest():
    # H100 expected to rent at $2.4/h, the newest at $1.6 per H100e-hour, sold at $15k per H100e:
    # an H100 earns 1.5x what an H100e of the newest earns, so it is worth 1.5 x $15k.
    value = generation_unit_value_usd(15_000.0, np.array([2.4, 1.6]), 0)
    assert value == pytest.approx(22_500.0)
    # a lower expected rent lowers its value in proportion
    assert generation_unit_value_usd(15_000.0, np.array([1.2, 1.6]), 0) == pytest.approx(11_250.0)
    # a two-H100e unit is worth twice as much
    assert generation_unit_value_usd(15_000.0, np.array([2.4, 1.6]), 0, 2.0) == pytest.approx(
        45_000.0)


def test_unknown_generation_is_rejected():
    with pytest.raises(ValueError, match="generation must be in 0..1"):
        generation_unit_value_usd(15_000.0, np.array([2.4, 1.6]), 2)


def test_h100_value_falls_below_its_launch_price_once_a_newer_generation_ships():
    """In a run: equal to the chipmaker's price while the H100 is newest, then the newest price
    per H100e times the H100's expected-rent ratio, which is less than the H100's old price."""
    model = BubbleModel(make_params({"n_app_companies": 20, "n_investors": 20,
                                     "n_quarters": 9}), rng=3)
    values = []
    for _ in range(9):  # 2023Q1-2025Q1; generation 1 ships in 2024Q4
        model.run_for(1)
        values.append(generation_unit_value_usd(model.chipmakers[0].price_usd_per_h100e,
                                                model.expected_rents_usd_per_hour, 0))
    assert model.expected_rents_usd_per_hour.size == 2
    assert values[-1] < values[6]  # 2025Q1 below 2024Q3
    assert values[-1] > model.chipmakers[0].price_usd_per_h100e * 0.5
