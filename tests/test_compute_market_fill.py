"""The compute market's in-house fill of all owners at once equals the one-owner fill."""

from __future__ import annotations

import numpy as np
import pytest

from bubble_abm.markets.compute_market import _fill_newest_first, _fill_own_fleets_newest_first


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_all_owners_at_once_match_each_owner_alone_bit_for_bit(seed):
    draws = np.random.default_rng(seed)
    free = draws.random((7, 9)) * (draws.random((7, 9)) > 0.3)  # some generations empty
    demand = draws.random(7) * free.sum(axis=1) * 1.5  # some owners short, some not
    demand[draws.integers(7)] = 0.0
    alone = np.array([_fill_newest_first(free[i : i + 1], demand[i])[0] for i in range(7)])
    together = _fill_own_fleets_newest_first(free, demand)
    assert together.tolist() == alone.tolist()
    assert (together <= free).all()
