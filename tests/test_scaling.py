"""Specification of the scaling-law core (bubble_abm.core.scaling, DESIGN.md §3)."""

import math
import warnings

import numpy as np
import pytest

from bubble_abm.core.scaling import (
    CHINCHILLA_CONSTANT_SETS,
    TRAINING_FLOP_PER_PARAM_TOKEN,
    algorithmic_multiplier,
    anchor_loss_for,
    capability_from_loss,
    chinchilla_loss,
    compute_for_optimal_tokens,
    compute_optimal_split,
    effective_tokens,
    inference_logit_boost,
    lagged_value,
    logit,
    logit_gap,
    sigmoid,
    tokens_per_param,
    wall_constrained_optimum,
)

HOFFMANN = CHINCHILLA_CONSTANT_SETS["hoffmann2022"]
BESIROGLU = CHINCHILLA_CONSTANT_SETS["besiroglu2024"]
BOTH_SETS = pytest.mark.parametrize("constants", [HOFFMANN, BESIROGLU], ids=["hoffmann", "epoch"])


# ----------------------------------------------------------------------------- Chinchilla law


def test_constant_sets_are_the_published_values():
    assert (HOFFMANN.E, HOFFMANN.A, HOFFMANN.B, HOFFMANN.alpha, HOFFMANN.beta) == (
        1.69,
        406.4,
        410.7,
        0.34,
        0.28,
    )
    assert (BESIROGLU.E, BESIROGLU.A, BESIROGLU.B, BESIROGLU.alpha, BESIROGLU.beta) == (
        1.82,
        482.01,
        2085.43,
        0.3478,
        0.3658,
    )
    assert TRAINING_FLOP_PER_PARAM_TOKEN == 6.0


def test_chinchilla_70b_on_1_4t_tokens_has_the_hand_computed_loss():
    by_hand = 1.69 + 406.4 / 70e9**0.34 + 410.7 / 1.4e12**0.28
    assert by_hand == pytest.approx(1.93665, abs=1e-5)
    assert chinchilla_loss(70e9, 1.4e12, HOFFMANN) == pytest.approx(1.93665, abs=1e-5)


def test_chinchilla_loss_is_vectorized_and_never_below_the_irreducible_loss():
    losses = chinchilla_loss(np.array([1e9, 1e11, 1e13]), np.array([1e10, 1e12, 1e14]), BESIROGLU)
    assert isinstance(losses, np.ndarray)
    assert np.all(np.diff(losses) < 0)
    assert np.all(losses > BESIROGLU.E)
    assert isinstance(chinchilla_loss(1e9, 1e10, BESIROGLU), float)


@BOTH_SETS
@pytest.mark.parametrize("compute_flop", [1e21, 2.1e25, 1e27])
def test_compute_optimal_split_spends_exactly_the_budget(constants, compute_flop):
    n_params, n_tokens = compute_optimal_split(compute_flop, constants)
    assert 6.0 * n_params * n_tokens == pytest.approx(compute_flop, rel=1e-12)


@BOTH_SETS
@pytest.mark.parametrize("compute_flop", [1e21, 2.1e25, 1e27])
def test_compute_optimal_split_minimises_loss_along_the_budget_line(constants, compute_flop):
    n_params, n_tokens = compute_optimal_split(compute_flop, constants)
    best = chinchilla_loss(n_params, n_tokens, constants)
    for factor in (1.1, 1 / 1.1, 1.01, 1 / 1.01):
        other = chinchilla_loss(n_params * factor, n_tokens / factor, constants)
        assert best < other
    # and a brute-force search along the budget line finds the same split
    n_grid = n_params * np.exp(np.linspace(-1.0, 1.0, 20001))
    losses = chinchilla_loss(n_grid, compute_flop / (6.0 * n_grid), constants)
    assert n_grid[np.argmin(losses)] == pytest.approx(n_params, rel=1e-3)


@pytest.mark.parametrize("compute_flop", [1e25, 2.1e25, 1e26])
def test_epoch_refit_trains_about_16_to_17_tokens_per_parameter_at_frontier_scale(compute_flop):
    ratio = tokens_per_param(*compute_optimal_split(compute_flop, BESIROGLU))
    assert 15.0 < ratio < 18.0  # ~17.1 at 1e25 FLOP, ~16.1 at 1e26 FLOP


@pytest.mark.parametrize("compute_flop", [1e25, 2.1e25, 1e26])
def test_published_constants_imply_far_more_tokens_per_parameter(compute_flop):
    ratio = tokens_per_param(*compute_optimal_split(compute_flop, HOFFMANN))
    assert 110.0 < ratio < 200.0  # ~122 at 1e25 FLOP, ~153 at 1e26 FLOP (DESIGN: 120-190)


def test_compute_optimal_dataset_passes_15t_tokens_near_1e26_flop_for_the_refit():
    epoch_flop = compute_for_optimal_tokens(15e12, BESIROGLU)
    hoffmann_flop = compute_for_optimal_tokens(15e12, HOFFMANN)
    assert 6e25 < epoch_flop < 1.2e26  # ~8.3e25
    assert 0.8e25 < hoffmann_flop < 1.5e25  # ~1.1e25: the wall binds already near 1e25
    assert compute_optimal_split(epoch_flop, BESIROGLU)[1] == pytest.approx(15e12, rel=1e-12)


# ---------------------------------------------------------------------------------- data wall


def test_effective_tokens_count_fully_up_to_the_stock():
    tokens = np.array([1e9, 1e12, 14.999e12, 15e12])
    assert np.array_equal(effective_tokens(tokens, 15e12, 0.5), tokens)


@pytest.mark.parametrize("extra_data_worth", [0.1, 0.5, 1.0, 3.0])
def test_effective_tokens_are_monotone_and_never_exceed_one_plus_r_times_the_stock(
    extra_data_worth,
):
    stock = 15e12
    tokens = np.geomspace(1e12, 1e16, 2001)
    eff = effective_tokens(tokens, stock, extra_data_worth)
    assert np.all(np.diff(eff) >= 0)
    assert np.all(eff <= (1.0 + extra_data_worth) * stock)
    assert np.all(eff <= tokens)
    assert eff[-1] == pytest.approx((1.0 + extra_data_worth) * stock, rel=1e-6)


def test_effective_tokens_beyond_the_stock_are_worth_less_and_less():
    stock, worth = 10e12, 1.0
    first = effective_tokens(stock + 1e12, stock, worth) - stock
    later = effective_tokens(stock + 11e12, stock, worth) - effective_tokens(
        stock + 10e12, stock, worth
    )
    assert 0 < later < first < 1e12


def test_zero_extra_data_worth_is_a_hard_wall_at_the_stock():
    tokens = np.array([5e12, 15e12, 16e12, 1e15])
    assert np.array_equal(effective_tokens(tokens, 15e12, 0.0), [5e12, 15e12, 15e12, 15e12])


def test_effective_tokens_with_an_infinite_stock_has_no_wall():
    assert effective_tokens(1e15, math.inf, 0.0) == 1e15


# --------------------------------------------------------------------- wall-constrained optimum


@BOTH_SETS
def test_wall_constrained_optimum_is_the_closed_form_when_the_wall_does_not_bind(constants):
    compute_flop = 1e23
    n_params, n_tokens = compute_optimal_split(compute_flop, constants)
    assert n_tokens < 15e12
    n_w, d_w, loss_w = wall_constrained_optimum(compute_flop, constants, 15e12, 0.5)
    assert (n_w, d_w) == (n_params, n_tokens)
    assert loss_w == chinchilla_loss(n_params, n_tokens, constants)


@BOTH_SETS
@pytest.mark.parametrize("extra_data_worth", [0.0, 0.3, 1.0, 5.0])
@pytest.mark.parametrize("compute_flop", [1e25, 1e26, 1e27, 1e28])
def test_a_wall_never_lowers_loss_and_the_run_still_spends_its_budget(
    constants, extra_data_worth, compute_flop
):
    stock = 15e12
    n_free, d_free = compute_optimal_split(compute_flop, constants)
    free_loss = chinchilla_loss(n_free, d_free, constants)
    n_w, d_w, loss_w = wall_constrained_optimum(compute_flop, constants, stock, extra_data_worth)
    assert loss_w >= free_loss - 1e-12
    assert 6.0 * n_w * d_w == pytest.approx(compute_flop, rel=1e-9)
    assert loss_w == pytest.approx(
        chinchilla_loss(n_w, effective_tokens(d_w, stock, extra_data_worth), constants), rel=1e-12
    )


@BOTH_SETS
@pytest.mark.parametrize("extra_data_worth", [0.3, 1.0, 5.0])
def test_wall_constrained_optimum_beats_a_brute_force_search(constants, extra_data_worth):
    compute_flop, stock = 3e27, 15e12
    _, _, loss_w = wall_constrained_optimum(compute_flop, constants, stock, extra_data_worth)
    d_grid = np.geomspace(1e11, 1e17, 200001)
    losses = chinchilla_loss(
        compute_flop / (6.0 * d_grid),
        effective_tokens(d_grid, stock, extra_data_worth),
        constants,
    )
    assert loss_w <= losses.min() + 1e-12


def test_hard_wall_trains_on_exactly_the_stock():
    n_w, d_w, _ = wall_constrained_optimum(1e27, BESIROGLU, 15e12, 0.0)
    assert d_w == 15e12
    assert n_w == pytest.approx(1e27 / (6.0 * 15e12))


def test_a_walled_run_uses_more_than_the_stock_but_no_more_tokens_than_without_a_wall():
    stock = 15e12
    _, d_free = compute_optimal_split(1e27, BESIROGLU)
    _, d_w, _ = wall_constrained_optimum(1e27, BESIROGLU, stock, 1.0)
    assert stock < d_w < d_free


@BOTH_SETS
@pytest.mark.parametrize("extra_data_worth", [0.0, 0.5, 2.0])
def test_behind_a_binding_wall_more_compute_still_helps_but_less(constants, extra_data_worth):
    stock = 15e12
    compute_flop = 1e26
    walled = [
        wall_constrained_optimum(c, constants, stock, extra_data_worth)[2]
        for c in (compute_flop, 10 * compute_flop)
    ]
    free = [anchor_loss_for(constants, c) for c in (compute_flop, 10 * compute_flop)]
    walled_gain, free_gain = walled[0] - walled[1], free[0] - free[1]
    assert walled_gain > 0
    assert walled_gain < free_gain


def test_a_nearly_hard_wall_gives_the_hard_wall_optimum_without_numerical_warnings():
    # A vanishing R*S made expm1 overflow in the grid branch np.where discards (found by the
    # random-parameter accounting test); the answer was right, the warning was noise.
    stock = 15e12
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        n_w, d_w, loss = wall_constrained_optimum(1e27, BESIROGLU, stock, 3e-56)
    n_hard, d_hard, loss_hard = wall_constrained_optimum(1e27, BESIROGLU, stock, 0.0)
    assert d_w == pytest.approx(d_hard, rel=1e-6)
    assert loss == pytest.approx(loss_hard, rel=1e-9)


def test_wall_constrained_optimum_rejects_nonsense_inputs():
    with pytest.raises(ValueError):
        wall_constrained_optimum(0.0, BESIROGLU, 15e12, 0.5)
    with pytest.raises(ValueError):
        wall_constrained_optimum(1e26, BESIROGLU, 15e12, -0.1)


# ------------------------------------------------------------------------ efficiency over time


def test_algorithmic_multiplier_doubles_every_doubling_time():
    assert algorithmic_multiplier(0.0, 0.75) == 1.0
    assert algorithmic_multiplier(0.75, 0.75) == pytest.approx(2.0)
    assert algorithmic_multiplier(3.0, 0.75) == pytest.approx(16.0)
    assert algorithmic_multiplier(5.0, math.inf) == 1.0
    assert np.allclose(algorithmic_multiplier(np.array([0.0, 1.0, 2.0]), 1.0), [1, 2, 4])


# ------------------------------------------------------------------------ loss -> capability


def test_logit_and_sigmoid_are_inverse_and_safe_at_the_edges():
    p = np.array([1e-6, 0.1, 0.5, 0.9, 1 - 1e-6])
    assert np.allclose(sigmoid(logit(p)), p, rtol=1e-9)
    assert math.isfinite(logit(0.0)) and math.isfinite(logit(1.0))
    assert logit(0.0) == pytest.approx(-logit(1.0))
    assert sigmoid(0.0) == 0.5
    assert sigmoid(-1e4) == 0.0 and sigmoid(1e4) == 1.0  # no overflow warnings


@BOTH_SETS
def test_anchor_loss_is_the_compute_optimal_loss_of_gpt4_compute(constants):
    n_params, n_tokens = compute_optimal_split(2.1e25, constants)
    assert anchor_loss_for(constants) == chinchilla_loss(n_params, n_tokens, constants)


def test_anchor_losses_of_the_two_constant_sets():
    assert anchor_loss_for(HOFFMANN) == pytest.approx(1.8286, abs=1e-4)
    assert anchor_loss_for(BESIROGLU) == pytest.approx(1.9028, abs=1e-4)


def test_capability_of_the_anchor_loss_is_the_anchor_capability():
    anchor = anchor_loss_for(BESIROGLU)
    assert capability_from_loss(anchor, anchor, 0.35, 20.0) == pytest.approx(0.35, rel=1e-12)


def test_lower_loss_means_higher_capability_strictly_inside_zero_and_one():
    anchor = anchor_loss_for(BESIROGLU)
    losses = np.linspace(3.0, BESIROGLU.E, 50)
    caps = capability_from_loss(losses, anchor, 0.35, 20.0)
    assert np.all(np.diff(caps) > 0)
    assert np.all((caps > 0) & (caps < 1))


def test_capability_is_capped_below_one_by_the_irreducible_loss():
    anchor = anchor_loss_for(BESIROGLU)
    ceiling = capability_from_loss(BESIROGLU.E, anchor, 0.35, 20.0)
    expected = sigmoid(logit(0.35) + (anchor - BESIROGLU.E) * 20.0)
    assert ceiling == pytest.approx(expected) and ceiling < 1.0


# -------------------------------------------------------------------------- inference compute


def test_inference_boost_is_zero_without_extra_inference_compute():
    assert inference_logit_boost(1.0, 0.3, 2.0) == 0.0
    assert inference_logit_boost(0.5, 0.3, 2.0) == 0.0


def test_inference_boost_grows_with_inference_compute_but_stays_below_the_ceiling():
    ratios = np.geomspace(1.0, 1e6, 200)
    boost = inference_logit_boost(ratios, 0.3, 2.0)
    assert np.all(np.diff(boost) > 0)
    assert np.all(boost < 2.0)
    assert boost[-1] > 1.5


def test_inference_boost_is_about_the_gain_per_doubling_for_small_ratios():
    assert inference_logit_boost(2.0, 0.3, 100.0) == pytest.approx(0.3, rel=2e-3)
    assert inference_logit_boost(4.0, 0.3, math.inf) == pytest.approx(0.6)
    assert inference_logit_boost(4.0, 0.3, 0.0) == 0.0


# ----------------------------------------------------------------------- open-weights lag, gap


def test_lagged_value_reads_whole_quarters_back():
    history = [0.1, 0.2, 0.4, 0.8]
    assert lagged_value(history, 0) == 0.8
    assert lagged_value(history, 1) == 0.4
    assert lagged_value(history, 3) == 0.1


def test_lagged_value_interpolates_fractional_lags():
    history = [0.1, 0.2, 0.4, 0.8]
    assert lagged_value(history, 0.5) == pytest.approx(0.6)
    assert lagged_value(history, 1.2) == pytest.approx(0.8 * 0.4 + 0.2 * 0.2)
    # Epoch AI: open models trail by ~3.5 months = 3.5/3 quarters
    assert lagged_value([1.0, 2.0, 3.0], 3.5 / 3) == pytest.approx(3.0 - 3.5 / 3)


def test_lagged_value_with_a_short_history_returns_the_first_value():
    assert lagged_value([0.3], 1.2) == 0.3
    assert lagged_value([0.3, 0.5], 4.0) == 0.3
    with pytest.raises(ValueError):
        lagged_value([], 1.0)


def test_logit_gap_does_not_shrink_mechanically_near_the_cap():
    # the same shift in logits gives the same gap, however close both are to 1
    low = logit_gap(sigmoid(0.5), sigmoid(0.0))
    high = logit_gap(sigmoid(6.5), sigmoid(6.0))
    assert low == pytest.approx(0.5) and high == pytest.approx(0.5, rel=1e-9)
    assert sigmoid(6.5) - sigmoid(6.0) < 0.01  # while the raw index gap all but vanishes
    assert logit_gap(0.5, 0.5) == 0.0
