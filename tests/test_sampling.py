"""The agents' probability draws give NumPy's Generator.choice draws, draw for draw."""

from __future__ import annotations

import numpy as np
import pytest

from bubble_abm.core.sampling import choose_by_probability


@pytest.mark.parametrize("seed", range(5))
def test_choose_by_probability_matches_generator_choice_draw_for_draw(seed):
    setup = np.random.default_rng(seed)
    for _ in range(200):
        n_options, size = int(setup.integers(2, 12)), int(setup.integers(1, 150))
        weights = setup.random(n_options) ** setup.uniform(0.5, 8.0)
        probabilities = weights / weights.sum()
        state = int(setup.integers(1 << 30))
        ours, numpys = np.random.default_rng(state), np.random.default_rng(state)
        drawn = choose_by_probability(ours, probabilities, size)
        assert np.array_equal(drawn, numpys.choice(n_options, size=size, p=probabilities))
        assert ours.random() == numpys.random()  # the generators stay in step


def test_probabilities_without_a_positive_sum_are_rejected():
    with pytest.raises(ValueError, match="positive sum"):
        choose_by_probability(np.random.default_rng(0), np.array([np.nan, 0.5]), 3)
