"""The Mesa-free core: ledger, GPU fleet, hardware roadmap, valuation, compute market."""

from __future__ import annotations

import numpy as np
import pytest

from bubble_abm.calendar import quarter_index, quarter_label
from bubble_abm.core.fleet import GpuFleet, economic_life_quarters, value_in_use_per_unit_usd
from bubble_abm.core.hardware import cost_per_h100e_usd, newest_generation
from bubble_abm.core.ledger import Ledger, LedgerError
from bubble_abm.core.valuation import dcf_value_usd_b
from bubble_abm.markets.compute_market import clear_compute_market, next_rents
from bubble_abm.params import make_params


def test_ledger_transfer_conserves_money_and_tallies_both_sides():
    ledger = Ledger()
    a = ledger.open_account("a", "labs")
    b = ledger.open_account("b", "hyperscalers")
    ledger.transfer(ledger.rest_of_economy, a, 10.0, "opening_balance")
    ledger.start_quarter()
    total = ledger.total_money_usd_b()
    ledger.transfer(a, b, 4.0, "compute_rent")
    assert ledger.total_money_usd_b() == total
    assert ledger.net_worth_change_explained(np.array([a, b])) == pytest.approx([-4.0, 4.0])
    matrix = ledger.transactions_flow_matrix()
    assert matrix.loc["compute_rent", "labs"] == -4.0
    assert matrix.loc["compute_rent", "hyperscalers"] == 4.0
    assert np.allclose(matrix.sum(axis=1), 0.0)


def test_ledger_exchange_flows_leave_net_worth_unchanged():
    ledger = Ledger()
    buyer = ledger.open_account("buyer", "hyperscalers")
    seller = ledger.open_account("seller", "chipmakers")
    ledger.transfer(ledger.rest_of_economy, buyer, 10.0, "opening_balance")
    ledger.start_quarter()
    ledger.transfer(buyer, seller, 3.0, "gpu_sales")  # cash for GPUs: an exchange for the buyer
    assert ledger.net_worth_change_explained(np.array([buyer, seller])) == pytest.approx(
        [0.0, 3.0])


def test_ledger_vectorized_transfers_match_single_transfers():
    single, many = Ledger(), Ledger()
    for ledger in (single, many):
        ledger.open_accounts(["x", "y", "z"], "apps")
    payers = np.array([1, 2, 1])
    amounts = np.array([1.0, 2.0, 3.0])
    for payer, amount in zip(payers, amounts, strict=True):
        single.transfer(int(payer), 0, float(amount), "wages_and_opex")
    many.transfer_many(payers, 0, amounts, "wages_and_opex")
    assert np.array_equal(single.balances_usd_b, many.balances_usd_b)
    assert single.flows_this_quarter() == many.flows_this_quarter()


@pytest.mark.parametrize("amount", [-1.0, float("nan"), float("inf")])
def test_ledger_rejects_negative_or_non_finite_amounts(amount):
    ledger = Ledger()
    account = ledger.open_account("a", "labs")
    with pytest.raises(LedgerError, match="compute_rent"):
        ledger.transfer(account, ledger.rest_of_economy, amount, "compute_rent")


def test_fleet_depreciates_straight_line_over_the_accounting_life():
    fleet = GpuFleet()
    fleet.add_vintage(1000.0, 0, cost_usd_b=2.2)
    charges = [fleet.depreciate(22) for _ in range(22)]
    assert charges == pytest.approx([0.1] * 22)
    assert fleet.book_value_usd_b == pytest.approx(0.0, abs=1e-12)


def test_fleet_impairment_writes_down_to_recoverable_value_only_when_below_book():
    fleet = GpuFleet()
    fleet.add_vintage(1.0, 0, cost_usd_b=10.0)
    fleet.add_vintage(1.0, 1, cost_usd_b=10.0)
    loss = fleet.impair(np.array([4.0, 12.0]))
    assert loss == pytest.approx(6.0)
    assert fleet.book_usd_b == pytest.approx([4.0, 10.0])


def test_stranded_assets_count_idle_book_beyond_normal_slack_plus_impairments():
    fleet = GpuFleet()
    fleet.add_vintage(100.0, 0, cost_usd_b=8.0)
    fleet.add_vintage(100.0, 1, cost_usd_b=8.0)
    fleet.impair(np.array([6.0, 8.0]))
    idle_units, idle_book, stranded = fleet.stranded_usd_b(np.array([0.4, 0.8]), 0.8)
    assert idle_units == pytest.approx(50.0)  # half of vintage 0 idle beyond normal slack
    assert idle_book == pytest.approx(3.0)
    assert stranded == pytest.approx(3.0 + 2.0)


def test_economic_life_ends_when_rent_no_longer_covers_opex():
    life = economic_life_quarters(np.array([2.0, 0.2]), 0.5, 0.5, 8)
    assert life[0] == pytest.approx(16.0)  # two generations: 2 -> 1 -> 0.5
    assert life[1] == 0.0


def test_recoverable_value_falls_with_rent_and_utilization():
    units = np.array([1e6, 1e6, 1e6])
    value = units * value_in_use_per_unit_usd(np.array([3.0, 1.0, 3.0]),
                                              np.array([0.8, 0.8, 0.3]), 0.3, 0.8, 8, 0.08) / 1e9
    assert value[0] > value[1] and value[0] > value[2] > 0.0


def test_gpu_generations_arrive_on_cadence_and_cost_less_per_h100e():
    assert newest_generation(quarter_index("2023Q1"), 8) == 0
    assert newest_generation(quarter_index("2024Q4"), 8) == 1
    later = cost_per_h100e_usd(1, 8000.0, 8, 2.0)
    assert later == pytest.approx(4000.0)  # two years = one price-performance doubling


def test_calendar_labels_round_trip():
    for label in ("2023Q1", "2026Q3", "2032Q4"):
        assert quarter_label(quarter_index(label)) == label


def test_dcf_values_levels_and_rises_with_growth():
    flat = dcf_value_usd_b(10.0, 0.0, 0.09, 10)[0]
    growing = dcf_value_usd_b(10.0, 0.3, 0.09, 10)[0]
    # No growth: close to a perpetuity growing at 2% (Gordon): 10 * 1.02 / 0.07 ~ 146.
    assert 110.0 < flat < 160.0
    assert growing > 2.0 * flat
    assert dcf_value_usd_b(-5.0, 0.0, 0.09, 10)[0] < 0.0


def test_compute_market_fills_newest_generation_first_and_rations_pro_rata():
    capacity = np.array([[100.0, 100.0], [100.0, 100.0]])  # owners x generations, hours
    rents = np.array([1.0, 2.0])
    result = clear_compute_market(capacity, np.zeros(2), np.array([150.0, 50.0]), rents)
    assert result.utilization_by_generation[1] > result.utilization_by_generation[0]
    assert result.buyer_hours == pytest.approx([150.0, 50.0])
    short = clear_compute_market(capacity, np.zeros(2), np.array([600.0, 200.0]), rents)
    assert short.buyer_hours[0] / short.buyer_hours[1] == pytest.approx(3.0)
    assert short.utilization == pytest.approx(0.97)


def test_rents_rise_with_utilization_and_never_fall_below_running_cost():
    p = make_params()
    previous = np.array([2.0, 3.0])
    busy = next_rents(previous, np.array([0.97, 0.97]), 1, 30_000.0, p)
    idle = next_rents(previous, np.array([0.2, 0.2]), 1, 30_000.0, p)
    assert (busy > idle).all()
    assert idle[0] >= p.rent_opex_usd_per_hour - 1e-12


def _random_fleet(draws: np.random.Generator, n_vintages: int) -> GpuFleet:
    """A fleet whose first vintages are in its arrays and the rest queued as deliveries."""
    fleet = GpuFleet()
    for i in range(n_vintages):
        if i == n_vintages // 2:
            assert fleet.units_h100e.size == i  # reading a field appends the queued vintages
        cost = float(draws.uniform(0.1, 5.0))
        fleet.add_vintage(float(draws.uniform(1e3, 1e5)), int(draws.integers(-1, 5)), cost,
                          age_quarters=int(draws.integers(0, 45)),
                          book_usd_b=cost * float(draws.uniform(0.0, 1.0)))
    return fleet


@pytest.mark.parametrize("seed", range(4))
def test_fleets_quarter_at_once_matches_each_fleet_in_turn_bit_for_bit(seed):
    """depreciate_impair_and_retire gives exactly the per-fleet methods' books, scrapping too."""
    from bubble_abm.core.fleet import depreciate_impair_and_retire

    draws = np.random.default_rng(seed)
    sizes = [int(n) for n in draws.integers(0, 30, 6)]
    value_per_unit = draws.uniform(0.0, 40_000.0, 4)
    economic = draws.random(4) > 0.3
    use = draws.uniform(0.2, 1.2, 4)
    together = [_random_fleet(np.random.default_rng([seed, i]), n) for i, n in enumerate(sizes)]
    one_by_one = [_random_fleet(np.random.default_rng([seed, i]), n) for i, n in enumerate(sizes)]
    results = depreciate_impair_and_retire(together, 20.0, value_per_unit, economic, 40.0, use,
                                           0.8)
    for fleet, reference, result in zip(together, one_by_one, results, strict=True):
        depreciation = reference.depreciate(20.0)
        generation = np.clip(reference.generation, 0, 3)
        impairment = reference.impair(reference.units_h100e * value_per_unit[generation] / 1e9)
        scrapped = reference.retire(economic[generation] & (reference.age_quarters < 40.0))
        idle = reference.stranded_usd_b(use[np.clip(reference.generation, 0, 3)], 0.8)
        assert result == (depreciation, impairment, scrapped, *idle)
        for name in ("units_h100e", "generation", "book_usd_b", "impaired_usd_b",
                     "age_quarters"):
            assert getattr(fleet, name).tolist() == getattr(reference, name).tolist()
    assert sum(fleet.units_h100e.size for fleet in together) < sum(sizes)  # some scrapped


@pytest.mark.parametrize("seed", range(3))
def test_units_by_owner_and_generation_rows_are_each_fleets_units_by_generation(seed):
    from bubble_abm.core.fleet import units_by_owner_and_generation

    draws = np.random.default_rng(seed)
    fleets = [_random_fleet(np.random.default_rng([seed, i]), int(n))
              for i, n in enumerate(draws.integers(0, 30, 5))]
    table = units_by_owner_and_generation(fleets, 3)
    assert table.tolist() == [fleet.units_by_generation(3).tolist() for fleet in fleets]
