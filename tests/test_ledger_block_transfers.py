"""The ledger's fast path for a block of accounts gives exactly the general path's books."""

from __future__ import annotations

import numpy as np
import pytest

from bubble_abm.core.ledger import Ledger, LedgerError


def _books(ledger: Ledger, accounts: np.ndarray) -> tuple:
    tallies = tuple(ledger.tally(name, accounts).tolist()
                    for name in ("income", "expense", "capital_in", "capital_out"))
    return ledger.balances_usd_b.tolist(), tallies, ledger.flows_this_quarter()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_block_transfers_match_the_general_path_bit_for_bit(seed):
    books = []
    for as_block in (True, False):
        ledger = Ledger()
        owner = ledger.open_account("owner", "hyperscalers")
        investors = ledger.open_accounts([f"i{i}" for i in range(57)], "investors")
        payees = investors if as_block else investors.copy()  # a copy is not a known block
        draws = np.random.default_rng(seed)  # the same amounts for both ledgers
        ledger.transfer(ledger.rest_of_economy, owner, 1e3 * draws.random(), "opening_balance")
        ledger.start_quarter()
        for flow in ("interest", "bond_redemption", "shareholder_payout"):
            ledger.transfer_many(owner, payees, draws.random(57), flow)
            ledger.transfer_many(payees, ledger.rest_of_economy, 0.1 * draws.random(57),
                                 "equity_trade")
            ledger.transfer_many(ledger.rest_of_economy, payees, draws.random(57),
                                 "savings_inflow")
        books.append(_books(ledger, np.arange(len(ledger.names))))
    assert books[0] == books[1]


def test_block_accounts_are_read_only_and_checked_like_any_transfer():
    ledger = Ledger()
    block = ledger.open_accounts(["a", "b"], "apps")
    with pytest.raises(ValueError):
        block[0] = 5
    with pytest.raises(LedgerError, match="interest"):
        ledger.transfer_many(ledger.rest_of_economy, block, np.array([1.0, np.nan]), "interest")


@pytest.mark.parametrize("seed", [0, 1])
def test_rows_to_a_block_match_one_transfer_per_payer_bit_for_bit(seed):
    books = []
    for in_one_call in (True, False):
        ledger = Ledger()
        payers = np.array([ledger.open_account(f"firm{i}", sector)
                           for i, sector in enumerate(["chipmakers", "hyperscalers"] * 2)])
        investors = ledger.open_accounts([f"i{i}" for i in range(41)], "investors")
        draws = np.random.default_rng(seed)  # the same amounts for both ledgers
        for payer in payers.tolist():
            ledger.transfer(ledger.rest_of_economy, payer, 1e3 * draws.random(), "opening_balance")
        ledger.transfer_many(ledger.rest_of_economy, investors, draws.random(41), "savings_inflow")
        ledger.start_quarter()
        amounts = draws.random((payers.size, 41)) * (draws.random((payers.size, 1)) > 0.3)
        if in_one_call:
            ledger.transfer_rows_to_block(payers, investors, amounts, "shareholder_payout")
        else:
            for payer, row in zip(payers.tolist(), amounts, strict=True):
                ledger.transfer_many(payer, investors, row, "shareholder_payout")
        books.append(_books(ledger, np.arange(len(ledger.names))))
    assert books[0] == books[1]


def test_rows_to_a_block_need_a_block_and_valid_amounts():
    ledger = Ledger()
    payer = ledger.open_account("firm", "chipmakers")
    block = ledger.open_accounts(["a", "b"], "investors")
    with pytest.raises(ValueError, match="block"):
        ledger.transfer_rows_to_block(np.array([payer]), block.copy(), np.ones((1, 2)),
                                      "shareholder_payout")
    with pytest.raises(LedgerError, match="shareholder_payout"):
        ledger.transfer_rows_to_block(np.array([payer]), block, np.array([[1.0, -1.0]]),
                                      "shareholder_payout")


def test_an_account_paying_its_own_block_matches_the_general_path_bit_for_bit():
    books = []
    for as_block in (True, False):
        ledger = Ledger()
        investors = ledger.open_accounts([f"i{i}" for i in range(9)], "investors")
        payees = investors if as_block else investors.copy()
        draws = np.random.default_rng(3)
        ledger.transfer_many(ledger.rest_of_economy, payees, draws.random(9), "savings_inflow")
        ledger.transfer_many(int(investors[4]), payees, draws.random(9), "equity_trade")
        ledger.transfer_many(payees, int(investors[2]), draws.random(9), "funding_round")
        books.append(_books(ledger, np.arange(len(ledger.names))))
    assert books[0] == books[1]


@pytest.mark.parametrize("seed", [0, 1])
def test_sales_and_costs_match_two_transfers_per_sale_bit_for_bit(seed):
    books = []
    for in_one_call in (True, False):
        ledger = Ledger()
        chipmaker = ledger.open_account("chipmaker", "chipmakers")
        buyers = [ledger.open_account(f"owner{i}", "hyperscalers") for i in range(7)]
        draws = np.random.default_rng(seed)  # the same amounts for both ledgers
        for buyer in buyers:
            ledger.transfer(ledger.rest_of_economy, buyer, 1e3 * draws.random(), "opening_balance")
        ledger.start_quarter()
        for _ in range(3):
            prices = (draws.random(7) * (draws.random(7) > 0.2)).tolist()  # some zero
            sales = [(buyer, price, 0.3 * price) for buyer, price in zip(buyers, prices,
                                                                       strict=True)]
            if in_one_call:
                ledger.transfer_sales_and_costs(chipmaker, ledger.rest_of_economy, sales,
                                                "gpu_sales", "chip_production_cost")
            else:
                for buyer, price, cost in sales:
                    ledger.transfer(buyer, chipmaker, price, "gpu_sales")
                    ledger.transfer(chipmaker, ledger.rest_of_economy, cost,
                                    "chip_production_cost")
            ledger.transfer(ledger.rest_of_economy, buyers[0], draws.random(), "bond_issue")
        flows = ledger.flows_this_quarter()
        books.append((_books(ledger, np.arange(len(ledger.names))), list(flows)))
    assert books[0] == books[1]  # balances, tallies, flows and the flows' order


def test_sales_and_costs_are_checked_before_any_balance_changes():
    ledger = Ledger(10.0)
    seller = ledger.open_account("chipmaker", "chipmakers")
    buyer = ledger.open_account("owner", "hyperscalers")
    before = ledger.balances_usd_b.tolist()
    for bad in (-1.0, np.inf, np.nan):
        with pytest.raises(LedgerError, match="gpu_sales"):
            ledger.transfer_sales_and_costs(seller, ledger.rest_of_economy,
                                            [(buyer, 1.0, 0.5), (buyer, 1.0, bad)],
                                            "gpu_sales", "chip_production_cost")
    with pytest.raises(KeyError):
        ledger.transfer_sales_and_costs(seller, ledger.rest_of_economy, [(buyer, 1.0, 0.5)],
                                        "gpu_sales", "no_such_flow")
    assert ledger.balances_usd_b.tolist() == before
    assert ledger.flows_this_quarter() == {}
