"""Double-entry, stock-flow-consistent ledger of money (DESIGN §6).

Every payment is one transaction that takes money from one account and gives it to another, so
the total of all balances is conserved exactly (up to float rounding). Besides the agents, a
rest-of-economy account (end customers, suppliers, wages, taxes, outside investors) closes the
system, following Godley & Lavoie (2007). Each flow kind states how it affects the net worth of
payer and payee; together with named revaluations (:meth:`Ledger.revalue`) this gives every
agent the identity  ΔNW = income − expenses + capital in − capital out + revaluations.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from enum import Enum

import numpy as np
import pandas as pd

REST_OF_ECONOMY = "rest_of_economy"


class Effect(Enum):
    """How a transaction changes a side's net worth (cash moves either way)."""

    INCOME = "income"  # net worth rises by the amount
    EXPENSE = "expense"  # net worth falls by the amount
    EXCHANGE = "exchange"  # cash swapped for an asset or a liability of equal value
    CAPITAL_IN = "capital_in"  # equity contribution received (new shares, savings inflow)
    CAPITAL_OUT = "capital_out"  # distribution to owners (buybacks, dividends)


@dataclass(frozen=True)
class FlowKind:
    """A row of the transactions-flow matrix: its name and its effect on payer and payee."""

    name: str
    payer_effect: Effect
    payee_effect: Effect


def _flow(name: str, payer: Effect, payee: Effect) -> FlowKind:
    return FlowKind(name, payer, payee)


E = Effect
FLOWS: dict[str, FlowKind] = {
    f.name: f
    for f in [
        _flow("gpu_sales", E.EXCHANGE, E.INCOME),
        _flow("chip_production_cost", E.EXPENSE, E.INCOME),
        _flow("chip_capacity_investment", E.EXPENSE, E.INCOME),
        _flow("compute_rent", E.EXPENSE, E.INCOME),
        _flow("api_fees", E.EXPENSE, E.INCOME),
        _flow("customer_spending", E.EXPENSE, E.INCOME),
        _flow("inhouse_ai_revenue", E.EXPENSE, E.INCOME),
        _flow("legacy_cash_flow", E.EXPENSE, E.INCOME),
        _flow("wages_and_opex", E.EXPENSE, E.INCOME),
        _flow("datacenter_capex", E.EXCHANGE, E.INCOME),
        _flow("non_ai_capex", E.EXCHANGE, E.INCOME),
        _flow("interest", E.EXPENSE, E.INCOME),
        _flow("bond_issue", E.EXCHANGE, E.EXCHANGE),
        _flow("bond_redemption", E.EXCHANGE, E.EXCHANGE),
        _flow("funding_round", E.EXCHANGE, E.CAPITAL_IN),
        _flow("strategic_stake", E.EXCHANGE, E.CAPITAL_IN),
        _flow("vendor_financing", E.EXCHANGE, E.CAPITAL_IN),
        _flow("app_seed_funding", E.EXPENSE, E.CAPITAL_IN),
        _flow("equity_trade", E.EXCHANGE, E.EXCHANGE),
        _flow("savings_inflow", E.EXPENSE, E.CAPITAL_IN),
        _flow("shareholder_payout", E.CAPITAL_OUT, E.INCOME),
        _flow("unpaid_bills_written_off", E.EXPENSE, E.INCOME),
        _flow("opening_balance", E.EXPENSE, E.CAPITAL_IN),
    ]
}

TALLIES = ("income", "expense", "capital_in", "capital_out", "revaluation")
# Per flow kind: the tally each side's amount is added to (None for an exchange).
_FLOW_TALLIES: dict[str, tuple[str | None, str | None]] = {
    name: tuple(None if effect is Effect.EXCHANGE else effect.value
                for effect in (kind.payer_effect, kind.payee_effect))
    for name, kind in FLOWS.items()
}


_INF = math.inf
_NUMBER = (float, int)  # isinstance with a tuple: faster than with float | int
_INTEGER = (int, np.integer)
_subtract_reduce = np.subtract.reduce


# The net-worth tallies and the quarter's flows between sectors are read only by the accounting
# checks and the flow matrix, never during a run (start_quarter drops them). So a transaction
# changes the balances at once and appends a posting to a journal: (function, *arguments), the
# function adding it to the tallies and the flows exactly as the transaction would have at once.
# The journal is applied in order when the tallies or the flows are read. Array arguments are
# copies. Invalid arguments are caught when the posting is queued (or the posting is applied
# at once, raising what it always did).
_MAX_JOURNAL_POSTINGS = 20_000


def _post_transfer(ledger: Ledger, flow: str, payer: int, payee: int, amount: float) -> None:
    payer_tally, payee_tally = _FLOW_TALLIES[flow]
    tallies = ledger._tallies
    if payer_tally is not None:
        tallies[payer_tally][payer] += amount
    if payee_tally is not None:
        tallies[payee_tally][payee] += amount
    sectors = ledger.sectors
    ledger._flows_usd_b[(flow, sectors[payer], sectors[payee])] += amount


def _post_sales_and_costs(ledger: Ledger, seller: int, supplier: int,
                          sales: tuple[tuple[int, float, float], ...], sale_flow: str,
                          cost_flow: str) -> None:
    """The postings of :meth:`Ledger.transfer_sales_and_costs`: each sale's two transfers, in
    turn, as :meth:`Ledger.transfer` posts them (none for a zero amount)."""
    for buyer, price, cost in sales:
        if price != 0.0 and buyer != seller:
            _post_transfer(ledger, sale_flow, buyer, seller, price)
        if cost != 0.0 and seller != supplier:
            _post_transfer(ledger, cost_flow, seller, supplier, cost)


def _post_transfers(ledger: Ledger, flow: str, payers: np.ndarray, payees: np.ndarray,
                    amounts: np.ndarray) -> None:
    payer_tally, payee_tally = _FLOW_TALLIES[flow]
    tallies = ledger._tallies
    if payer_tally is not None:  # repeated accounts one transfer at a time (ufunc.at)
        np.add.at(tallies[payer_tally], payers, amounts)
    if payee_tally is not None:
        np.add.at(tallies[payee_tally], payees, amounts)
    codes = ledger._sector_codes
    sector_names = ledger._sector_names
    n_sectors = len(sector_names)
    pair = codes[payers] * n_sectors + codes[payees]
    totals = np.bincount(pair.ravel(), weights=amounts.ravel(), minlength=n_sectors * n_sectors)
    flows = ledger._flows_usd_b
    for index in totals.nonzero()[0].tolist():
        payer_sector = sector_names[index // n_sectors]
        payee_sector = sector_names[index % n_sectors]
        flows[(flow, payer_sector, payee_sector)] += float(totals[index])


def _post_block_transfer(ledger: Ledger, flow: str, single: int, single_pays: bool,
                         rows: slice, block_sector: str, amounts: np.ndarray) -> None:
    """The postings of one account paying each account of a block, or each paying it: the
    single account's tally updated one transfer at a time, in order; the block's once each."""
    payer_tally, payee_tally = _FLOW_TALLIES[flow]  # never the same tally: order is free
    single_tally, block_tally = ((payer_tally, payee_tally) if single_pays
                                 else (payee_tally, payer_tally))
    tallies = ledger._tallies
    if single_tally is not None:  # ufunc.at with the account repeated: in order
        np.add.at(tallies[single_tally], np.full(amounts.size, single), amounts)
    if block_tally is not None:
        tallies[block_tally][rows] += amounts
    total = float(np.add.accumulate(amounts)[-1])  # summed in order, as np.bincount does
    if total != 0.0:
        single_sector = ledger.sectors[single]
        key = ((flow, single_sector, block_sector) if single_pays
               else (flow, block_sector, single_sector))
        ledger._flows_usd_b[key] += total


def _post_rows_to_block(ledger: Ledger, flow: str, payers: np.ndarray, rows: slice,
                        block_sector: str, amounts: np.ndarray) -> None:
    """The postings of ``payers[i]`` paying row ``i`` of ``amounts`` to a block, row by row."""
    payer_tally, payee_tally = _FLOW_TALLIES[flow]
    tallies = ledger._tallies
    if payer_tally is not None:
        # the payer of each transfer, row after row: the order in which ufunc.at walks a 2-D
        # index
        np.add.at(tallies[payer_tally], payers.repeat(amounts.shape[1]), amounts.ravel())
    if payee_tally is not None:
        block_tally = tallies[payee_tally][rows]  # a view: rows is a slice
        for row in amounts:
            block_tally += row
    totals = np.add.accumulate(amounts, axis=1)[:, -1]  # each row summed in order
    sectors, flows = ledger.sectors, ledger._flows_usd_b
    for payer, total in zip(payers.tolist(), totals.tolist(), strict=True):
        if total != 0.0:
            flows[(flow, sectors[payer], block_sector)] += total


def _revalue_one(ledger: Ledger, account: int, amount: float) -> None:
    ledger._tallies["revaluation"][account] += amount


def _revalue_at(ledger: Ledger, accounts: np.ndarray, amounts: np.ndarray) -> None:
    np.add.at(ledger._tallies["revaluation"], accounts, amounts)  # repeats one at a time


def _revalue_rows(ledger: Ledger, rows: slice, amounts: np.ndarray | float) -> None:
    ledger._tallies["revaluation"][rows] += amounts


def _index_array(accounts: np.ndarray | int, shape: tuple[int, ...]) -> np.ndarray:
    """Account indices as an array of ``shape`` (one account repeated, or as given)."""
    accounts = np.asarray(accounts)
    if accounts.shape == shape:
        return accounts
    if accounts.ndim == 0:
        return np.full(shape, accounts)
    return np.broadcast_to(accounts, shape)


class LedgerError(ValueError):
    """A transaction that would break the books (negative or non-finite amount)."""


class Ledger:
    """Cash balances of all accounts, the quarter's flows, and per-account net-worth tallies."""

    def __init__(self, rest_of_economy_cash_usd_b: float = 0.0) -> None:
        self._set_balances(np.zeros(0))
        self.sectors: list[str] = []
        self.names: list[str] = []
        self._sector_names: list[str] = []
        self._sector_codes = np.zeros(0, dtype=np.int64)
        # Tallies and flows with the journal's postings applied: see _posted.
        self._set_tallies(np.zeros((len(TALLIES), 0)))
        self._flows_usd_b: dict[tuple[str, str, str], float] = defaultdict(float)
        self._journal: list[tuple] = []  # postings not applied yet, in order
        # Account arrays returned by open_accounts (consecutive accounts of one sector), by id.
        self._blocks: dict[int, tuple[np.ndarray, slice, int]] = {}
        self._repeated_accounts: dict[tuple[int, int], np.ndarray] = {}
        self.rest_of_economy = self.open_account(REST_OF_ECONOMY, REST_OF_ECONOMY)
        self.balances_usd_b[self.rest_of_economy] = rest_of_economy_cash_usd_b

    def _set_balances(self, balances_usd_b: np.ndarray) -> None:
        """Hold a new balances array and its memoryview ``balances_view``: the same numbers,
        read and written one account at a time as Python floats for about half what NumPy's
        item and item assignment cost (a transfer's two balances, an agent's cash)."""
        self.balances_usd_b = balances_usd_b
        self.balances_view = memoryview(balances_usd_b)

    def _set_tallies(self, tally_rows: np.ndarray) -> None:
        """Hold the net-worth tallies: one row per name of TALLIES (each account a column), so
        that opening accounts and zeroing them is one operation; ``_tallies`` names the rows
        (views)."""
        self._tally_rows = tally_rows
        self._tallies = dict(zip(TALLIES, tally_rows, strict=True))

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        del state["balances_view"]  # a memoryview does not pickle: rebuilt from the array
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._set_balances(self.balances_usd_b)

    # --- accounts ------------------------------------------------------------------------
    def open_account(self, name: str, sector: str) -> int:
        """Open an account with zero balance; return its index."""
        return int(self.open_accounts([name], sector)[0])

    def open_accounts(self, names: list[str], sector: str) -> np.ndarray:
        """Open several accounts of one sector at once; return their indices."""
        first = len(self.sectors)
        count = len(names)
        self._set_balances(np.concatenate([self.balances_usd_b, np.zeros(count)]))
        # queued postings name accounts by index: they still apply
        self._set_tallies(np.concatenate([self._tally_rows,
                                          np.zeros((len(TALLIES), count))], axis=1))
        self.sectors.extend([sector] * count)
        if sector not in self._sector_names:
            self._sector_names.append(sector)
        code = self._sector_names.index(sector)
        self._sector_codes = np.concatenate([self._sector_codes, np.full(count, code)])
        self.names.extend(names)
        accounts = np.arange(first, first + count)
        accounts.flags.writeable = False  # a block: transfers to it can use a slice
        self._blocks[id(accounts)] = (accounts, slice(first, first + count), code)
        return accounts

    def balance(self, account: int) -> float:
        return self.balances_view[account]  # a Python float

    def total_money_usd_b(self) -> float:
        """Sum of every balance: constant over the whole run."""
        return math.fsum(self.balances_view)  # exact: order does not matter

    # --- the journal -----------------------------------------------------------------------
    def _post(self, posting: tuple) -> None:
        """Queue a posting (applied, in order, when the tallies or flows are next read)."""
        journal = self._journal
        journal.append(posting)
        if len(journal) >= _MAX_JOURNAL_POSTINGS:  # bound the journal of a long quarter
            self._posted()

    def _posted(self) -> tuple[dict[str, np.ndarray], dict[tuple[str, str, str], float]]:
        """The tallies and the flows with every queued posting applied, in order."""
        journal = self._journal
        if journal:
            for posting, *arguments in journal:
                posting(self, *arguments)
            journal.clear()
        return self._tallies, self._flows_usd_b

    # --- transactions --------------------------------------------------------------------
    def transfer(self, payer: int, payee: int, amount_usd_b: float, flow: str) -> None:
        """Move money from payer to payee, recording the flow and both sides' tallies."""
        # A Python float: the same IEEE arithmetic as a numpy float64, with less overhead
        # (most callers pass one already: then no call).
        amount = amount_usd_b if type(amount_usd_b) is float else float(amount_usd_b)
        if not 0.0 <= amount < _INF:  # also catches NaN
            raise LedgerError(f"{flow}: amount must be finite and >= 0, got {amount_usd_b}")
        if amount == 0.0 or payer == payee:
            return
        if flow not in _FLOW_TALLIES:
            raise KeyError(flow)
        balances = self.balances_view
        balances[payer] = balances[payer] - amount
        balances[payee] = balances[payee] + amount
        journal = self._journal  # _post, inlined: the most frequent posting
        journal.append((_post_transfer, flow, payer, payee, amount))
        if len(journal) >= _MAX_JOURNAL_POSTINGS:
            self._posted()

    def transfer_sales_and_costs(self, seller: int, supplier: int,
                                 sales: list[tuple[int, float, float]], sale_flow: str,
                                 cost_flow: str) -> None:
        """Sales and their cost of goods: for each ``(buyer, price_usd_b, cost_usd_b)`` of
        ``sales`` in turn, the buyer pays the price to ``seller``, who pays the cost to
        ``supplier``. Exactly the books of ``transfer(buyer, seller, price, sale_flow)`` then
        ``transfer(seller, supplier, cost, cost_flow)`` for each sale in order, in one call
        and one journal posting (a loop over Python floats: cheaper than the calls for the
        few sales of a quarter). Every amount is checked before any balance changes."""
        for flow in (sale_flow, cost_flow):
            if flow not in _FLOW_TALLIES:
                raise KeyError(flow)
        for _, price, cost in sales:
            if not (0.0 <= price < _INF and 0.0 <= cost < _INF):  # also catches NaN
                raise LedgerError(f"{sale_flow}, {cost_flow}: amounts must be finite and >= 0, "
                                  f"got {price}, {cost}")
        balances = self.balances_view
        for buyer, price, cost in sales:
            if price != 0.0 and buyer != seller:
                balances[buyer] = balances[buyer] - price
                balances[seller] = balances[seller] + price
            if cost != 0.0 and seller != supplier:
                balances[seller] = balances[seller] - cost
                balances[supplier] = balances[supplier] + cost
        self._post((_post_sales_and_costs, seller, supplier, tuple(sales), sale_flow,
                    cost_flow))

    def transfer_many(
        self, payers: np.ndarray, payees: np.ndarray, amounts_usd_b: np.ndarray, flow: str
    ) -> None:
        """Many transfers of one kind at once (vectorized; payers/payees may repeat).

        Repeated accounts are updated one transfer at a time, in order (``ufunc.at``), so the
        result does not depend on how the transfers are batched.
        """
        amounts = np.asarray(amounts_usd_b, dtype=float)
        if amounts.size == 0:
            return
        if not amounts.min() >= 0.0:  # also catches NaN
            raise LedgerError(f"{flow}: amounts must be finite and >= 0")
        if flow not in _FLOW_TALLIES:
            raise KeyError(flow)
        if self._transfer_to_or_from_block(payers, payees, amounts, flow):
            return
        if not amounts.max() < math.inf:
            raise LedgerError(f"{flow}: amounts must be finite and >= 0")
        payers = self._index_array(payers, amounts.shape)
        payees = self._index_array(payees, amounts.shape)
        np.subtract.at(self.balances_usd_b, payers, amounts)
        np.add.at(self.balances_usd_b, payees, amounts)
        self._post((_post_transfers, flow, np.array(payers), np.array(payees), amounts.copy()))

    def _index_array(self, accounts: np.ndarray | int, shape: tuple[int, ...]) -> np.ndarray:
        """:func:`_index_array`, with one account repeated along one axis from the cache
        (np.full's array, without its overhead)."""
        if len(shape) == 1 and isinstance(accounts, _INTEGER):
            return self._repeated(accounts, shape[0])
        return _index_array(accounts, shape)

    def _repeated(self, account: int, count: int) -> np.ndarray:
        """``account`` repeated ``count`` times (read-only, cached: the same few are reused)."""
        key = (account, count)
        repeated = self._repeated_accounts.get(key)
        if repeated is None:
            repeated = np.full(count, int(account))
            repeated.flags.writeable = False
            self._repeated_accounts[key] = repeated
        return repeated

    def _transfer_to_or_from_block(self, payers, payees, amounts: np.ndarray, flow: str) -> bool:
        """One account paying each account of a block, or each paying one account: the
        same updates as the general path (the single account is updated one transfer at a
        time, in order; the block's accounts once each), with slices and one sequential
        reduction instead of ufunc.at. Returns False if the transfer is not of that shape.
        Amounts are known to be >= 0; an infinite one is rejected here, before any balance
        changes."""
        if amounts.ndim != 1:
            return False
        if isinstance(payers, _INTEGER):
            single, single_pays = payers, True
            block = self._blocks.get(id(payees))
            if block is None or block[0] is not payees:
                return False
        elif isinstance(payees, _INTEGER):
            single, single_pays = payees, False
            block = self._blocks.get(id(payers))
            if block is None or block[0] is not payers:
                return False
        else:
            return False
        _, rows, block_code = block
        if amounts.size != rows.stop - rows.start:
            return False
        balances = self.balances_usd_b
        single_balances = self.balances_view  # the single account's, as Python floats
        block_balances = balances[rows]  # a view (rows is a slice): updated in place
        if single_pays:  # payers first, then payees, as in the general path
            # ufunc.at's updates of the one payer: ((b - a0) - a1) - ..., which subtract's
            # reduction (sequential, never pairwise) computes from the initial value b.
            payer_balance = _subtract_reduce(amounts, initial=single_balances[single])
            if not payer_balance > -_INF:  # an infinite amount
                raise LedgerError(f"{flow}: amounts must be finite and >= 0")
            single_balances[single] = payer_balance
            block_balances += amounts
        else:
            if not amounts.max() < _INF:
                raise LedgerError(f"{flow}: amounts must be finite and >= 0")
            block_balances -= amounts
            single_balance = single_balances[single]  # after that: it may be in the block
            if single_balance != 0.0:
                # ufunc.at's ((b + a0) + a1) + ... is minus ((-b - a0) - a1) - ... exactly
                # (rounding to nearest is symmetric), but for the sign of a zero: 0.0 - x
                # gives -x and +0.0 for either zero, which is what the additions give
                # unless b is -0.0 (that case takes ufunc.at).
                single_balances[single] = 0.0 - _subtract_reduce(amounts,
                                                                 initial=-single_balance)
            else:
                np.add.at(balances, self._repeated(single, amounts.size), amounts)
        self._post((_post_block_transfer, flow, single, single_pays, rows,
                    self._sector_names[block_code], amounts.copy()))
        return True

    def transfer_rows_to_block(
        self, payers: np.ndarray, block: np.ndarray, amounts_usd_b: np.ndarray, flow: str
    ) -> None:
        """Each ``payers[i]`` pays row ``i`` of ``amounts_usd_b`` to the accounts of ``block``
        (an array returned by :meth:`open_accounts`): in one call, exactly the books of
        ``transfer_many(payers[i], block, amounts_usd_b[i], flow)`` for each ``i`` in order
        (each payer and the block's accounts are updated one row at a time, in order)."""
        amounts = np.asarray(amounts_usd_b, dtype=float)
        payers = np.asarray(payers)
        if amounts.size == 0:
            return
        if not (amounts.min() >= 0.0 and amounts.max() < math.inf):  # also catches NaN
            raise LedgerError(f"{flow}: amounts must be finite and >= 0")
        if flow not in _FLOW_TALLIES:
            raise KeyError(flow)
        entry = self._blocks.get(id(block))
        if entry is None or entry[0] is not block or amounts.shape != (payers.size, block.size):
            raise ValueError(f"{flow}: payees must be a block of accounts, amounts of shape "
                             "(payers, block size)")
        _, rows, block_code = entry
        kept = amounts.copy()  # C-contiguous: its ravel() is a view, in the same order
        # The payer of each transfer, row after row: the order in which ufunc.at walks a 2-D
        # index.
        np.subtract.at(self.balances_usd_b, payers.repeat(block.size), kept.ravel())
        block_balances = self.balances_usd_b[rows]  # a view: rows is a slice
        for row in kept:
            block_balances += row
        self._post((_post_rows_to_block, flow, payers.copy(), rows,
                    self._sector_names[block_code], kept))

    def revalue(self, account: int | np.ndarray, amount_usd_b: float | np.ndarray) -> None:
        """Record a non-cash change in net worth (depreciation, impairment, price change)."""
        # Queued if valid; if not, applied at once (after the queued ones) to raise as before.
        if isinstance(account, _INTEGER) and isinstance(amount_usd_b, _NUMBER):
            n_accounts = len(self.sectors)
            if -n_accounts <= account < n_accounts:
                self._post((_revalue_one, account, amount_usd_b))
            else:
                self._posted()[0]["revaluation"][account] += amount_usd_b
            return
        block = self._blocks.get(id(account))
        if block is not None and block[0] is account:  # each account once: a slice will do
            rows = block[1]
            amounts = (amount_usd_b if isinstance(amount_usd_b, _NUMBER)
                       else np.array(amount_usd_b))  # a copy: the caller may change it
            if isinstance(amounts, _NUMBER) or (
                    amounts.dtype.kind in "biuf"
                    and amounts.shape in ((), (1,), (rows.stop - rows.start,))):
                self._post((_revalue_rows, rows, amounts))
            else:
                self._posted()[0]["revaluation"][rows] += amount_usd_b
            return
        accounts = np.array(account)  # copies: the caller may change them
        amounts = np.array(amount_usd_b, dtype=float)
        n_accounts = len(self.sectors)
        if (accounts.dtype.kind in "iu" and amounts.shape in ((), accounts.shape)
                and accounts.size and -n_accounts <= accounts.min()
                and accounts.max() < n_accounts):
            self._post((_revalue_at, accounts, amounts))
        else:
            np.add.at(self._posted()[0]["revaluation"], np.asarray(account), amount_usd_b)

    # --- reading the books ---------------------------------------------------------------
    def net_worth_change_explained(self, accounts: np.ndarray) -> np.ndarray:
        """income − expense + capital in − capital out + revaluation, since the last reset."""
        t = self._posted()[0]
        return (
            t["income"][accounts]
            - t["expense"][accounts]
            + t["capital_in"][accounts]
            - t["capital_out"][accounts]
            + t["revaluation"][accounts]
        )

    def tally(self, name: str, accounts: np.ndarray | int) -> np.ndarray:
        return self._posted()[0][name][accounts]

    def flows_this_quarter(self) -> dict[tuple[str, str, str], float]:
        return dict(self._posted()[1])

    def start_quarter(self) -> None:
        """Reset the quarter's flows and the net-worth tallies."""
        self._journal.clear()  # all of it would be zeroed below
        self._flows_usd_b.clear()
        self._tally_rows.fill(0.0)

    def transactions_flow_matrix(self) -> pd.DataFrame:
        """Rows: flow kinds; columns: sectors; sources positive, uses negative (Godley-Lavoie).

        Every row sums to zero; the last row, ``change_in_cash``, is minus each sector's net
        inflow, so every column sums to zero too.
        """
        sectors = list(self._sector_names)
        rows = {}
        for (flow, payer, payee), amount in self._posted()[1].items():
            row = rows.setdefault(flow, dict.fromkeys(sectors, 0.0))
            row[payer] -= amount
            row[payee] += amount
        matrix = pd.DataFrame.from_dict(rows, orient="index", columns=sectors).fillna(0.0)
        matrix.loc["change_in_cash"] = -matrix.sum(axis=0)  # so every column sums to zero
        matrix.index.name = "flow"
        return matrix
