"""Random draws the agents make every quarter (pure numpy, no Mesa)."""

from __future__ import annotations

import numpy as np


def choose_by_probability(rng: np.random.Generator, probabilities: np.ndarray,
                          size: int) -> np.ndarray:
    """``rng.choice(len(probabilities), size=size, p=probabilities)``, the same draws.

    NumPy's ``Generator.choice`` with ``p`` inverts the normalised cumulative distribution at
    ``rng.random(size)``; this does exactly that without its argument checks, which cost
    more than the draw itself for a handful of options (checked draw for draw in the tests).
    """
    cdf = probabilities.cumsum()
    if not cdf[-1] > 0.0:  # also catches NaN
        raise ValueError("probabilities must be non-negative with a positive sum")
    cdf /= cdf[-1]
    return cdf.searchsorted(rng.random(size), side="right")
