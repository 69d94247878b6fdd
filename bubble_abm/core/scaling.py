"""Scaling-law core: training compute -> pretraining loss -> capability index (DESIGN.md §3).

Pure numpy, no Mesa. Everything a model lab needs to turn a training compute budget into a
capability index:

- the Chinchilla loss ``L(N, D) = E + A/N**alpha + B/D**beta`` (Hoffmann et al. 2022, "Training
  Compute-Optimal Large Language Models", eq. 2) with two constant sets, the published one and
  the Besiroglu et al. 2024 refit ("Chinchilla Scaling: A replication attempt");
- the compute-optimal split of a budget ``C = 6 N D`` FLOP between parameters and tokens;
- a *saturating* data wall: tokens beyond the stock of high-quality text (repeated or synthetic)
  are worth less and less, so effective tokens never exceed ``(1 + R) * stock`` (§11 item 6;
  a flat discount would only be a constant compute tax, not a wall);
- the wall-constrained compute-optimal training run;
- the algorithmic-efficiency multiplier (effective compute = physical FLOP x multiplier);
- the loss -> capability mapping (a logistic in loss, anchored on the 2023 frontier), the
  capability bought at inference time (reasoning, best-of-N) with a verifier ceiling, and the
  frontier-open gap measured in logits so it does not shrink mechanically near the cap (§11 item 5).

Units: parameters and tokens are counts; compute is FLOP; loss is nats per token; capability is
a dimensionless index in (0, 1); time is years or quarters as the names say.

Functions accept scalars or numpy arrays where noted and return ``float`` for scalar input,
``np.ndarray`` otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "CHINCHILLA_CONSTANT_SETS",
    "GPT4_TRAINING_FLOP",
    "TRAINING_FLOP_PER_PARAM_TOKEN",
    "ChinchillaConstants",
    "algorithmic_multiplier",
    "anchor_loss_for",
    "capability_from_loss",
    "chinchilla_loss",
    "compute_for_optimal_tokens",
    "compute_optimal_split",
    "effective_tokens",
    "inference_logit_boost",
    "lagged_value",
    "logit",
    "logit_gap",
    "sigmoid",
    "tokens_per_param",
    "wall_constrained_optimum",
]

#: Training FLOP per parameter per token: ``C ~= 6 N D`` (Kaplan et al. 2020; Hoffmann et al. 2022).
TRAINING_FLOP_PER_PARAM_TOKEN: float = 6.0

#: GPT-4's training compute in FLOP (Epoch AI estimate), the 2023 frontier anchor of §3.
GPT4_TRAINING_FLOP: float = 2.1e25

#: Probabilities are clipped into ``(_PROB_EPS, 1 - _PROB_EPS)`` before taking logits.
_PROB_EPS: float = 1e-12


@dataclass(frozen=True)
class ChinchillaConstants:
    """Constants of the Chinchilla loss ``L(N, D) = E + A/N**alpha + B/D**beta``.

    ``E`` is the irreducible loss (nats/token), a floor no lab crosses; ``A, alpha`` give the
    penalty for finite parameters ``N``; ``B, beta`` the penalty for finite tokens ``D``.
    """

    E: float
    A: float
    B: float
    alpha: float
    beta: float


#: Named constant sets (DESIGN.md §3). The published Hoffmann et al. (2022, approach 3) fit
#: implies 120-190 tokens per parameter at frontier scale, inconsistent with its own ~20; the
#: Besiroglu et al. (2024) refit of the same data gives ~16-17 tokens per parameter.
CHINCHILLA_CONSTANT_SETS: dict[str, ChinchillaConstants] = {
    "hoffmann2022": ChinchillaConstants(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28),
    "besiroglu2024": ChinchillaConstants(E=1.82, A=482.01, B=2085.43, alpha=0.3478, beta=0.3658),
}


def _out(x: np.ndarray) -> float | np.ndarray:
    """Return a Python float for 0-d results, the array otherwise."""
    return float(x) if np.ndim(x) == 0 else x


# --------------------------------------------------------------------------- Chinchilla law


def chinchilla_loss(
    n_params: ArrayLike, n_tokens: ArrayLike, constants: ChinchillaConstants
) -> float | np.ndarray:
    """Pretraining loss in nats/token of a model with ``n_params`` parameters trained on
    ``n_tokens`` (effective) tokens: ``E + A/N**alpha + B/D**beta`` (Hoffmann et al. 2022, eq. 2).

    Vectorized over ``n_params`` and ``n_tokens`` (broadcast).
    """
    n = np.asarray(n_params, dtype=float)
    d = np.asarray(n_tokens, dtype=float)
    c = constants
    return _out(c.E + c.A / n**c.alpha + c.B / d**c.beta)


def tokens_per_param(n_params: ArrayLike, n_tokens: ArrayLike) -> float | np.ndarray:
    """Training tokens per parameter ``D / N`` (dimensionless)."""
    return _out(np.asarray(n_tokens, dtype=float) / np.asarray(n_params, dtype=float))


def _split_coefficient(constants: ChinchillaConstants) -> float:
    """``G = (alpha*A / (beta*B))**(1/(alpha+beta))`` of the closed-form optimum."""
    c = constants
    return (c.alpha * c.A / (c.beta * c.B)) ** (1.0 / (c.alpha + c.beta))


def compute_optimal_split(
    compute_flop: ArrayLike, constants: ChinchillaConstants
) -> tuple[float | np.ndarray, float | np.ndarray]:
    """Compute-optimal ``(n_params, n_tokens)`` for a training budget of ``compute_flop`` FLOP.

    Minimises ``L(N, D)`` subject to ``6 N D = C`` (Hoffmann et al. 2022, eq. 4). With
    ``K = C/6`` and ``D = K/N``, setting ``dL/dN = 0`` gives
    ``alpha*A*N**-alpha = beta*B*K**-beta*N**beta``, hence

        N_opt = G * K**(beta/(alpha+beta)),   D_opt = K / N_opt = K**(alpha/(alpha+beta)) / G,

    with ``G = (alpha*A/(beta*B))**(1/(alpha+beta))``. The loss is convex in ``log N`` along the
    budget line, so this stationary point is the minimum. Tokens per parameter are
    ``K**((alpha-beta)/(alpha+beta)) / G**2``: they follow from the constants (about 16-17 for
    the Besiroglu et al. 2024 refit, 120-190 for the published fit at 1e25-1e26 FLOP).
    Vectorized over ``compute_flop``.
    """
    c = constants
    k = np.asarray(compute_flop, dtype=float) / TRAINING_FLOP_PER_PARAM_TOKEN
    n_opt = _split_coefficient(c) * k ** (c.beta / (c.alpha + c.beta))
    d_opt = k / n_opt
    return _out(n_opt), _out(d_opt)


def compute_for_optimal_tokens(
    n_tokens: ArrayLike, constants: ChinchillaConstants
) -> float | np.ndarray:
    """Training compute in FLOP at which the compute-optimal dataset reaches ``n_tokens`` tokens.

    Inverse of :func:`compute_optimal_split`'s ``D_opt``: ``C = 6 * (G * D)**((alpha+beta)/alpha)``.
    Useful to read where a data stock starts to bind (15T tokens: ~8e25 FLOP for the Besiroglu
    refit, ~1.1e25 FLOP for the published constants).
    """
    c = constants
    d = np.asarray(n_tokens, dtype=float)
    k = (_split_coefficient(c) * d) ** ((c.alpha + c.beta) / c.alpha)
    return _out(TRAINING_FLOP_PER_PARAM_TOKEN * k)


# --------------------------------------------------------------------------------- data wall


def effective_tokens(
    n_tokens: ArrayLike, data_stock_tokens: ArrayLike, extra_data_worth: ArrayLike
) -> float | np.ndarray:
    """Effective training tokens when high-quality data is limited to ``data_stock_tokens``.

    Tokens up to the stock ``S`` count fully. Tokens beyond it (repeated epochs, synthetic data)
    are worth less and less (DESIGN.md §3, §11 item 6):

        D_eff = D                                        if D <= S
        D_eff = S + R*S*(1 - exp(-(D - S)/(R*S)))        if D > S

    with ``R = extra_data_worth >= 0`` the most the extra data can ever be worth, as a multiple
    of the stock, so ``D_eff < (1 + R) * S``. The first extra token counts fully (the curve is
    continuous with slope 1 at ``S``); its worth decays with e-folding ``R*S`` extra tokens, in
    the spirit of Muennighoff et al. (2023, "Scaling Data-Constrained Language Models"), where
    repeated data loses value after a few epochs. ``R = 0`` is a hard wall at ``S``;
    ``S = inf`` means no wall. Vectorized (broadcast over all three arguments).
    """
    d = np.asarray(n_tokens, dtype=float)
    s = np.asarray(data_stock_tokens, dtype=float)
    r = np.asarray(extra_data_worth, dtype=float)
    if np.any(r < 0) or np.any(s <= 0):
        raise ValueError("need data_stock_tokens > 0 and extra_data_worth >= 0")
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        scale = r * s
        excess = d - s
        saturated = s - scale * np.expm1(-excess / scale)
        beyond = np.where(scale > 0, saturated, s)
        result = np.where(d <= s, d, beyond)
    return _out(result)


def _effective_tokens_scalar(d: float, s: float, scale: float) -> float:
    """Scalar :func:`effective_tokens` with ``scale = R*S``, for the optimiser."""
    if d <= s:
        return d
    if scale <= 0.0:
        return s
    return s - scale * math.expm1(-(d - s) / scale)


def _split_exponents(constants: ChinchillaConstants) -> tuple[float, float]:
    """``(G, beta/(alpha+beta))`` of :func:`compute_optimal_split`, computed once per constant
    set (the same Python-float operations, so the same values)."""
    cached = _SPLIT_EXPONENTS.get(constants)
    if cached is None:
        cached = (_split_coefficient(constants),
                  constants.beta / (constants.alpha + constants.beta))
        _SPLIT_EXPONENTS[constants] = cached
    return cached


_SPLIT_EXPONENTS: dict[ChinchillaConstants, tuple[float, float]] = {}
_MAX_NEWTON_STEPS = 100  # bisection alone narrows any bracket below the tolerance in fewer
_NEWTON_TOLERANCE = 1e-10  # in log D: the last step; the error after it is far smaller


def wall_constrained_optimum(
    compute_flop: float,
    constants: ChinchillaConstants,
    data_stock_tokens: float,
    extra_data_worth: float,
) -> tuple[float, float, float]:
    """Best training run for ``compute_flop`` FLOP under the data wall.

    Returns ``(n_params, n_tokens, loss)``: parameters, *physical* training tokens (repeated and
    synthetic ones included; ``6 * n_params * n_tokens == compute_flop``) and the loss in
    nats/token, ``chinchilla_loss(n_params, effective_tokens(n_tokens, S, R))``.

    If the unconstrained optimum fits in the stock (``D_opt <= S``) it is returned exactly.
    Otherwise the loss along the budget line is minimised over ``D`` in ``[S, D_opt]``: for
    ``beta <= 1`` an extra token is worth at most what it is without a wall, so the walled
    optimum never uses more tokens than ``D_opt`` (and for ``R = 0`` it is exactly ``S``).
    The loss has a single minimum there in ``log D``, found by Newton's method on its slope
    with bisection as a safeguard (some microseconds per call).
    """
    if compute_flop <= 0:
        raise ValueError("compute_flop must be positive")
    if data_stock_tokens <= 0 or extra_data_worth < 0:
        raise ValueError("need data_stock_tokens > 0 and extra_data_worth >= 0")
    c = constants
    # compute_optimal_split(compute_flop, c) in Python floats: its numpy float64 scalars do the
    # same IEEE arithmetic, and their power is libm's pow, as Python's is.
    k = float(compute_flop) / TRAINING_FLOP_PER_PARAM_TOKEN
    split_coefficient, n_exponent = _split_exponents(c)
    n_opt = split_coefficient * k**n_exponent
    d_opt = k / n_opt
    s = float(data_stock_tokens)
    if d_opt <= s:
        return n_opt, d_opt, float(chinchilla_loss(n_opt, d_opt, c))

    scale = float(extra_data_worth) * s
    if scale <= 0.0:  # hard wall: more tokens add nothing, so spend the rest on parameters
        n = k / s
        return n, s, float(chinchilla_loss(n, s, c))

    # Loss along the budget line as a function of x = log(D), and its first two derivatives.
    # With g = D_eff'/D_eff and h = D_eff''/D_eff (derivatives in x; both 1 below the stock):
    #   L'  = alpha * A/N**alpha - beta * B/D_eff**beta * g
    #   L'' = alpha**2 * A/N**alpha + beta * B/D_eff**beta * ((beta + 1) * g**2 - h)
    # L' has the sign of phi = log(alpha * A/N**alpha) - log(beta * B/D_eff**beta * g), and
    # phi' = alpha + beta below the stock, alpha - 1 + D/(R*S) + (1 + beta) * g beyond it,
    # which is at least alpha + log(1 + beta) > 0 since g >= exp(-(D - S)/(R*S)). So L' changes
    # sign once at most: L has a single minimum on [log S, log D_opt], which Newton's method
    # on L' finds, bisecting the bracket instead whenever a step would leave it (or L is not
    # convex there).
    log_k = math.log(k)
    e, a_coef, b_coef, alpha, beta = c.E, c.A, c.B, c.alpha, c.beta
    exp, expm1 = math.exp, math.expm1
    log_s = math.log(s)
    a, b = log_s, math.log(d_opt)
    x = b
    for _ in range(_MAX_NEWTON_STEPS):
        d = exp(x)
        term_a = a_coef * exp(alpha * (x - log_k))  # A / N**alpha
        if d <= s:
            d_eff, g, h = d, 1.0, 1.0
        else:
            saturated = expm1(-(d - s) / scale)  # exp(-(D - S)/(R*S)) - 1
            d_eff = s - scale * saturated
            g = d * (saturated + 1.0) / d_eff
            h = g - d * (g / scale)  # g * (1 - D/(R*S)), which is 0 (not NaN) when g is 0
        term_b = b_coef * d_eff ** -beta
        slope = alpha * term_a - beta * term_b * g
        curvature = alpha * alpha * term_a + beta * term_b * ((beta + 1.0) * g * g - h)
        if slope > 0.0:
            b = x
        elif slope < 0.0:
            a = x
        else:
            break
        newton = x - slope / curvature if curvature > 0.0 else math.nan  # NaN: bisect
        x_next = newton if a <= newton <= b else 0.5 * (a + b)
        converged = abs(x_next - x) <= _NEWTON_TOLERANCE
        x = x_next
        if converged:
            break

    def loss_at(x: float) -> float:
        d_eff = _effective_tokens_scalar(exp(x), s, scale)
        return e + a_coef * exp(alpha * (x - log_k)) + b_coef * d_eff ** -beta

    # Behind a nearly hard wall the minimum sits at the stock itself, where L' jumps from
    # negative to positive within rounding of log S: the search ends next to it, not on it.
    loss, loss_at_stock = loss_at(x), loss_at(log_s)
    if loss_at_stock < loss:
        x, loss = log_s, loss_at_stock
    d = exp(x)
    return k / d, d, loss


# ------------------------------------------------------------------------ efficiency over time


def algorithmic_multiplier(
    years_elapsed: ArrayLike, doubling_time_years: float
) -> float | np.ndarray:
    """Algorithmic-efficiency multiplier ``2**(years_elapsed / doubling_time_years)``.

    Effective compute = physical FLOP x this multiplier (DESIGN.md §3; recent estimates put the
    doubling time at roughly 8-12 months, e.g. Ho et al. 2024, "Algorithmic progress in language
    models"). ``doubling_time_years = inf`` means no algorithmic progress. Vectorized.
    """
    if doubling_time_years <= 0:
        raise ValueError("doubling_time_years must be positive")
    years = np.asarray(years_elapsed, dtype=float)
    return _out(np.exp2(years / doubling_time_years))


# ------------------------------------------------------------------------ loss -> capability


def logit(p: ArrayLike) -> float | np.ndarray:
    """Log-odds ``log(p / (1 - p))``, with ``p`` clipped into ``(1e-12, 1 - 1e-12)``."""
    q = np.clip(np.asarray(p, dtype=float), _PROB_EPS, 1.0 - _PROB_EPS)
    return _out(np.log(q) - np.log1p(-q))


def sigmoid(x: ArrayLike) -> float | np.ndarray:
    """Logistic function ``1 / (1 + exp(-x))``, computed as ``(1 + tanh(x/2)) / 2``.

    The tanh form never overflows; it returns exactly 0.0 or 1.0 only for ``|x|`` above ~37.
    """
    if type(x) is float:  # the same operations on Python floats (numpy's tanh all the same)
        return 0.5 * (1.0 + float(np.tanh(0.5 * x)))
    return _out(0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=float))))


def anchor_loss_for(
    constants: ChinchillaConstants, anchor_compute_flop: float = GPT4_TRAINING_FLOP
) -> float:
    """Compute-optimal loss (nats/token) at ``anchor_compute_flop`` FLOP, ignoring the data wall.

    Default anchor: GPT-4, about 2.1e25 FLOP (Epoch AI), the 2023 frontier. Gives ~1.83 for the
    published constants and ~1.90 for the Besiroglu et al. 2024 refit.
    """
    n_opt, d_opt = compute_optimal_split(anchor_compute_flop, constants)
    return float(chinchilla_loss(n_opt, d_opt, constants))


def capability_from_loss(
    loss: ArrayLike, anchor_loss: float, anchor_capability: float, logit_per_unit_loss: float
) -> float | np.ndarray:
    """Capability index in (0, 1) of a model with pretraining loss ``loss`` (nats/token).

    A logistic in loss: ``sigmoid(logit(anchor_capability) + (anchor_loss - loss) * k)`` with
    ``k = logit_per_unit_loss`` logits per nat. Anchoring (DESIGN.md §3): the 2023 frontier
    (GPT-4, ~2.1e25 FLOP, trained compute-optimally, see :func:`anchor_loss_for`) sits at
    ``anchor_capability``; each nat of loss below it adds ``k`` logits. Because the loss cannot
    fall below the irreducible ``E``, capability is capped at
    ``sigmoid(logit(anchor_capability) + (anchor_loss - E) * k) < 1``. This mapping, not the
    Chinchilla constants, decides how fast returns diminish in dollars (§11 item 7).
    Vectorized over ``loss``.
    """
    x = (
        float(logit(anchor_capability))
        + (anchor_loss - np.asarray(loss, dtype=float)) * logit_per_unit_loss
    )
    return sigmoid(x)


def inference_logit_boost(
    tokens_per_task_ratio: ArrayLike, logit_gain_per_doubling: float, verifier_ceiling_logit: float
) -> float | np.ndarray:
    """Capability (in logits) bought at inference time: reasoning traces, best-of-N sampling.

    ``tokens_per_task_ratio`` is inference compute per task relative to a plain answer (>= 1).
    With ``g = logit_gain_per_doubling`` and ``M = verifier_ceiling_logit``:

        gain = M * (1 - exp(-g * log2(ratio) / M))   for ratio > 1,   0 for ratio <= 1.

    For small ratios each doubling of inference compute adds ~``g`` logits, i.e. the odds of
    success grow as a power law ``ratio**(g/ln 2)`` (as in inference-scaling studies, e.g.
    Snell et al. 2024; Brown et al. 2024, "Large Language Monkeys"); the gain saturates below
    the ceiling ``M``, set by how well answers can be verified or selected. Add the result to
    ``logit(capability)``. ``M = inf`` gives the pure log-linear gain. Vectorized over the ratio.
    """
    if logit_gain_per_doubling < 0 or verifier_ceiling_logit < 0:
        raise ValueError("need logit_gain_per_doubling >= 0 and verifier_ceiling_logit >= 0")
    ratio = np.asarray(tokens_per_task_ratio, dtype=float)
    doublings = np.log2(np.maximum(ratio, 1.0))
    raw = logit_gain_per_doubling * doublings
    if verifier_ceiling_logit == 0:
        return _out(np.zeros_like(raw))
    if math.isinf(verifier_ceiling_logit):
        return _out(raw)
    m = verifier_ceiling_logit
    return _out(-m * np.expm1(-raw / m))


# ----------------------------------------------------------------------- open-weights lag, gap


def lagged_value(history: Sequence[float], lag_quarters: float) -> float:
    """Value of a quarterly series ``lag_quarters`` quarters ago.

    ``history[-1]`` is the current quarter. Fractional lags interpolate linearly between the
    two neighbouring quarters; if the history does not reach back that far, the first value is
    returned. Used for open-weights models, which trail the closed frontier by roughly 3-4
    months, i.e. ~1.2 quarters (Epoch AI).
    """
    if len(history) == 0:
        raise ValueError("history is empty")
    if lag_quarters < 0:
        raise ValueError("lag_quarters must be >= 0")
    position = len(history) - 1 - lag_quarters
    if position <= 0:
        return float(history[0])
    lower = math.floor(position)
    frac = position - lower
    if frac == 0.0:
        return float(history[lower])
    return float((1.0 - frac) * history[lower] + frac * history[lower + 1])


def logit_gap(frontier_capability: ArrayLike, open_capability: ArrayLike) -> float | np.ndarray:
    """Frontier-open capability gap in logits: ``logit(frontier) - logit(open)``.

    Unlike a difference of indices capped at 1, this gap does not shrink mechanically as both
    approach the cap (DESIGN.md §11 item 5). Vectorized.
    """
    return _out(np.asarray(logit(frontier_capability)) - np.asarray(logit(open_capability)))
