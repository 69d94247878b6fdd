"""Each agent type's decision rule, tested alone on a hand-made situation (DESIGN §4)."""

from __future__ import annotations

import numpy as np
import pytest

from bubble_abm import BubbleModel
from bubble_abm.agents.investor import (
    FUNDAMENTALIST,
    NARRATIVE,
    TREND_FOLLOWER,
    logit_strategy_shares,
    sector_expected_returns,
    strategy_expected_returns,
)


@pytest.fixture
def model() -> BubbleModel:
    m = BubbleModel(rng=0, n_app_companies=30, n_investors=30)
    m.run_for(4)
    return m


def _orders_in_situation(model, utilization, demand_growth, rent, price=30_000.0):
    owner = next(o for o in model.gpu_owners if o.kind == "big_four")
    installed = owner.fleet.installed_h100e
    owner.demand_h100e = utilization * installed
    owner.previous_demand_h100e = owner.demand_h100e / (1.0 + demand_growth)
    owner.expected_growth_per_quarter = 0.05
    owner.last_orders_h100e = 0.1 * installed
    owner.plan_capex(sentiment=1.0, peer_capex_growth=0.0, expected_rent_usd_per_hour=rent,
                     gpu_price_usd=price)
    return owner.orders_h100e, owner.cancelled_h100e


def test_hyperscaler_at_low_utilization_with_falling_rents_cuts_gpu_orders(model):
    busy_orders, _ = _orders_in_situation(model, utilization=0.95, demand_growth=0.2, rent=3.0)
    idle_orders, _ = _orders_in_situation(model, utilization=0.4, demand_growth=-0.1, rent=0.8)
    assert idle_orders < 0.5 * busy_orders


def test_hyperscaler_orders_adjust_partially_toward_the_target(model):
    owner = next(o for o in model.gpu_owners if o.kind == "big_four")
    orders, _ = _orders_in_situation(model, utilization=0.4, demand_growth=-0.1, rent=0.8)
    # Partial adjustment keeps part of last quarter's orders (DESIGN §11 item 18).
    speed = model.params.order_adjustment_speed
    assert orders >= (1.0 - speed) * 0.1 * owner.fleet.installed_h100e - 1e-6


def test_hyperscaler_cancels_queued_orders_when_it_has_too_much_capacity(model):
    owner = next(o for o in model.gpu_owners if o.kind == "big_four")
    chipmaker = model.chipmakers[0]
    chipmaker.backlog_h100e[owner.unique_id] = 5.0 * owner.fleet.installed_h100e
    _, cancelled = _orders_in_situation(model, utilization=0.3, demand_growth=-0.2, rent=0.5)
    assert cancelled > 0.0


def test_hyperscaler_return_test_rejects_gpus_whose_rent_cannot_pay_for_them(model):
    owner = model.gpu_owners[0]
    assert owner._expected_value_per_price(4.0, 20_000.0) > 1.0
    assert owner._expected_value_per_price(0.3, 20_000.0) < 0.2


def test_higher_rates_lower_the_value_of_a_new_gpu_to_its_buyer(model):
    """The return test discounts at today's rate: a rate shock enters the capex decision."""
    owner = model.gpu_owners[0]
    before = owner._expected_value_per_price(2.0, 20_000.0)
    model.risk_free_rate += 0.03
    assert owner._expected_value_per_price(2.0, 20_000.0) < 0.95 * before


def test_dearer_borrowing_lowers_a_levered_owners_debt_ceiling(model):
    """Lenders size debt by interest cover: wider spreads support less debt."""
    owner = next(o for o in model.gpu_owners if o.kind != "big_four")
    owner.rent_revenue_usd_b = 5.0  # some operating cash flow to borrow against
    owner.credit_spread = 0.01
    calm = owner.debt_ceiling_usd_b()
    owner.credit_spread = 0.08
    stressed = owner.debt_ceiling_usd_b()
    cover = model.params.min_interest_coverage
    assert stressed < calm
    assert stressed == pytest.approx(
        owner.annual_cash_flow_usd_b() / (cover * (model.risk_free_rate + 0.08)))


def test_chipmaker_markup_rises_with_backlog_and_falls_with_idle_capacity(model):
    chipmaker = model.chipmakers[0]
    capacity = chipmaker.effective_capacity_h100e()
    chipmaker.markup = model.params.chip_markup
    chipmaker.backlog_h100e = {1: 4.0 * capacity}
    chipmaker.set_price()
    scarce = chipmaker.markup
    chipmaker.markup = model.params.chip_markup
    chipmaker.backlog_h100e = {1: 0.1 * capacity}
    chipmaker.set_price()
    idle = chipmaker.markup
    assert scarce > model.params.chip_markup > idle


def test_chipmaker_ships_no_more_than_capacity_and_queues_the_rest(model):
    chipmaker = model.chipmakers[0]
    buyer = model.gpu_owners[0]
    capacity = chipmaker.effective_capacity_h100e()
    before = chipmaker.shipments_h100e
    for other in model.chipmakers:
        other.backlog_h100e = {}
    chipmaker.backlog_h100e = {buyer.unique_id: 3.0 * capacity}
    from bubble_abm.markets.gpu_market import ship

    ship([chipmaker], {buyer.unique_id: buyer}, model.ledger)
    shipped = chipmaker.shipments_h100e - before
    assert shipped <= capacity * (1 + 1e-9)
    assert chipmaker.backlog_h100e[buyer.unique_id] >= 2.0 * capacity - 1e-6


def test_chipmaker_plans_capacity_for_growing_orders_over_its_lead_time(model):
    """Same orders this quarter and same expected level: a chipmaker whose orders have been
    growing expands more than one whose orders have been flat (it plans for the orders due
    when the capacity arrives)."""
    expansions = {}
    for label, previous in (("flat", 1.0), ("growing", 0.5)):
        chipmaker = model.chipmakers[0]
        capacity = chipmaker.capacity_h100e_per_quarter
        chipmaker.capacity_pipeline = type(chipmaker.capacity_pipeline)(
            [0.0] * len(chipmaker.capacity_pipeline))
        chipmaker.backlog_h100e = {}
        chipmaker.expected_orders_h100e = capacity
        chipmaker.expected_order_growth_per_quarter = 0.0
        chipmaker.previous_net_orders_h100e = previous * capacity
        chipmaker.orders_h100e, chipmaker.cancelled_h100e = capacity, 0.0
        chipmaker.plan_capacity()
        expansions[label] = chipmaker.capacity_pipeline[-1]
        chipmaker.capacity_h100e_per_quarter = capacity
    assert expansions["flat"] == pytest.approx(0.0, abs=1e-9)
    assert expansions["growing"] > 0.05 * model.chipmakers[0].capacity_h100e_per_quarter


def test_chipmaker_new_generation_multiplies_capacity_in_h100e(model):
    chipmaker = model.chipmakers[0]
    before = chipmaker.capacity_h100e_per_quarter
    chipmaker.launch_generation(chipmaker.generation + 1)
    assert chipmaker.capacity_h100e_per_quarter == pytest.approx(
        before * model.params.generation_perf_gain)


def test_lab_price_premium_shrinks_as_the_open_models_catch_up(model):
    lab = next(lab for lab in model.labs if not lab.is_open)
    rent = 2.0
    cost = lab.serving_cost_usd_per_m_tokens(rent)
    prices = []
    for open_logit in (lab.capability_logit - 1.5, lab.capability_logit - 0.05):
        lab.api_price_usd_per_m_tokens = cost * 3.0
        for _ in range(20):  # let the price settle
            lab.set_api_price(rent, open_price=cost * 1.1, open_logit=open_logit)
        prices.append(lab.api_price_usd_per_m_tokens)
    assert prices[1] < prices[0]
    assert prices[1] >= cost  # never below serving cost


def test_lab_training_budget_is_limited_by_cash(model):
    lab = next(lab for lab in model.labs if not lab.is_open)
    lab.decide_training_budget(sentiment=1.0)
    assert lab.training_budget_usd_b <= 0.5 * max(lab.cash_usd_b, 0.0) + 1e-12
    model.ledger.transfer(lab.account, model.ledger.rest_of_economy, lab.cash_usd_b,
                          "wages_and_opex")
    lab.decide_training_budget(sentiment=1.0)
    assert lab.training_budget_usd_b == 0.0


def test_lab_with_short_runway_asks_for_a_round_sized_to_its_burn(model):
    lab = next(lab for lab in model.labs if not lab.is_open)
    model.ledger.transfer(lab.account, model.ledger.rest_of_economy, 0.9 * lab.cash_usd_b,
                          "wages_and_opex")
    lab.valuation_usd_b = 1e6  # a high mark: the round is sized by the runway, not capped
    need = lab.funding_need_usd_b()
    burn = lab.burn_usd_b() + lab.planned_training_usd_b()
    assert need == pytest.approx(model.params.lab_runway_target_quarters * burn - lab.cash_usd_b)


def test_finished_training_run_with_more_effective_compute_raises_capability(model):
    lab = next(lab for lab in model.labs if not lab.is_open)
    before = lab.base_logit
    for _ in range(model.params.training_run_quarters):
        lab.train(10.0 * lab.physical_run_flop)
    assert lab.base_logit > before


def test_apps_switch_only_when_the_better_offer_beats_the_switching_cost(model):
    apps = model.apps
    n_labs = model.n_labs
    alive = np.ones(n_labs, dtype=bool)
    logit = np.zeros(n_labs)
    price = np.ones(n_labs)
    apps.lab[:] = 0
    price[1] = 1.0 / (1.0 + 0.5 * model.params.app_switching_cost)  # small advantage
    apps.choose_models(logit, price, alive)
    assert (apps.lab[apps.alive] == 0).all()
    price[1] = 0.2  # five times cheaper at equal capability: reviewers switch
    for _ in range(10):
        apps.choose_models(logit, price, alive)
    assert (apps.lab[apps.alive] != 0).mean() > 0.5


def test_apps_of_a_failed_lab_must_switch(model):
    apps = model.apps
    apps.lab[:] = 0
    alive = np.ones(model.n_labs, dtype=bool)
    alive[0] = False
    apps.choose_models(np.zeros(model.n_labs), np.ones(model.n_labs), alive)
    assert (apps.lab[apps.alive] != 0).all()


def test_investor_strategies_read_the_same_news_differently():
    gap = np.array([0.5, -0.5])
    trend = np.array([-0.1, 0.2])
    returns = strategy_expected_returns(gap, trend, capability_news_logit=1.0,
                                        ai_exposure=np.array([1.0, 0.2]))
    assert returns[FUNDAMENTALIST, 0] > 0 > returns[FUNDAMENTALIST, 1]
    assert returns[TREND_FOLLOWER, 0] < 0 < returns[TREND_FOLLOWER, 1]
    assert returns[NARRATIVE, 0] > returns[NARRATIVE, 1] > 0


@pytest.mark.parametrize("gap, trend, news", [(0.5, -0.1, 1.0), (-2.0, 0.3, -0.7),
                                               (3.0, 0.0, 0.0)])
def test_a_sector_s_expected_returns_are_those_of_one_asset_of_full_exposure(gap, trend, news):
    expected = strategy_expected_returns(np.array([gap]), np.array([trend]), news, np.ones(1))
    returns = sector_expected_returns(gap, trend, news)
    assert returns.shape == (3, 1)
    assert np.array_equal(returns, expected)


def test_logit_switching_favours_the_better_strategy_more_with_higher_intensity():
    performance = np.array([0.02, 0.05, -0.01])
    low = logit_strategy_shares(performance, 1.0)
    high = logit_strategy_shares(performance, 100.0)
    assert np.isclose(low.sum(), 1.0) and np.isclose(high.sum(), 1.0)
    assert high[1] > low[1] > 1 / 3
    assert np.allclose(logit_strategy_shares(performance, 0.0), 1 / 3)


def test_investors_fund_less_when_their_private_appetite_is_used_up(model):
    market = model.capital_market
    for lab in model.labs:  # every lab short of cash
        model.ledger.transfer(lab.account, model.ledger.rest_of_economy,
                              0.95 * max(lab.cash_usd_b, 0.0), "wages_and_opex")
    market.lab_fraction_investors[:] = 1.0 / model.n_labs  # investors already own every lab
    market.fund_labs()
    assert market.funding_raised_usd_b < market.funding_requested_usd_b


def test_agent_table_holds_every_type_with_books_and_decisions(model):
    table = model.agent_table()
    last = table[table.step == table.step.max()]
    assert set(last.agent_type) == {"Chipmaker", "Hyperscaler", "ModelLab", "AppCompany",
                                    "Investor"}
    assert set(last.kind) >= {"chipmaker", "big_four", "levered", "other", "closed", "open",
                              "app"}
    for column in ("cash_usd_b", "debt_usd_b", "value_usd_b", "decision", "decision_value"):
        assert column in last.columns
    orders = last[(last.agent_type == "Hyperscaler")].decision.unique()
    assert list(orders) == ["gpu_orders_h100e"]


def test_lab_that_gains_less_per_compute_doubling_plans_a_smaller_scale_up(model):
    lab = next(lab for lab in model.labs if not lab.is_open)
    reference = model.reference_logit_per_doubling
    lab.expected_logit_per_doubling = reference
    confident = lab.planned_training_usd_b()
    lab.expected_logit_per_doubling = 0.2 * reference  # behind a data wall
    discouraged = lab.planned_training_usd_b()
    assert lab.scaling_confidence() == pytest.approx(0.2)
    assert discouraged < 0.7 * confident


def test_lab_round_is_capped_at_half_its_valuation(model):
    lab = next(lab for lab in model.labs if not lab.is_open)
    model.ledger.transfer(lab.account, model.ledger.rest_of_economy, lab.cash_usd_b,
                          "wages_and_opex")
    lab.valuation_usd_b = 1.0
    assert lab.funding_need_usd_b() <= 0.5 * max(1.0, lab.burn_usd_b()) + 1e-12
