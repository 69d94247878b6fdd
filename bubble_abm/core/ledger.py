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


# Updates of the net-worth tallies are queued and applied in order only when the tallies are
# read: a run never reads them (start_quarter drops the quarter's updates), the accounting
# checks do. Each queued update is (function, *arguments), the function applying it to the
# tallies exactly as the transaction would have at once; array arguments are copies. Invalid
# arguments are caught when the update is queued (or the update is applied at once, raising
# what it always did).
_MAX_PENDING_TALLY_UPDATES = 20_000


def _add_to_payer_and_payee(tallies: dict[str, np.ndarray], payer_tally: str | None, payer: int,
                            payee_tally: str | None, payee: int, amount: float) -> None:
    if payer_tally is not None:
        tallies[payer_tally][payer] += amount
    if payee_tally is not None:
        tallies[payee_tally][payee] += amount


def _add_to_one(tallies: dict[str, np.ndarray], name: str, account: int, amount: float) -> None:
    tallies[name][account] += amount


def _add_at(tallies: dict[str, np.ndarray], name: str, accounts: np.ndarray,
            amounts: np.ndarray | float) -> None:
    np.add.at(tallies[name], accounts, amounts)  # repeated accounts one transfer at a time


def _add_in_turn_to_one(tallies: dict[str, np.ndarray], name: str, account: int,
                        amounts: np.ndarray) -> None:
    # _add_at with the account repeated: one amount at a time, in order
    np.add.at(tallies[name], np.full(amounts.size, account), amounts)


def _add_to_rows(tallies: dict[str, np.ndarray], name: str, rows: slice,
                 amounts: np.ndarray | float) -> None:
    tallies[name][rows] += amounts


def _add_each_row_to_rows(tallies: dict[str, np.ndarray], name: str, rows: slice,
                          amounts: np.ndarray) -> None:
    block_tally = tallies[name][rows]  # a view: rows is a slice
    for row in amounts:
        block_tally += row


def _add_columns_in_turn(tallies: dict[str, np.ndarray], name: str, rows: slice,
                         amounts: np.ndarray) -> None:
    tally = tallies[name]
    steps = np.concatenate((tally[rows, None], amounts), axis=1)
    tally[rows] = np.add.accumulate(steps, axis=1)[:, -1]  # added one column at a time


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
        self.balances_usd_b = np.zeros(0)
        self.sectors: list[str] = []
        self.names: list[str] = []
        self._sector_names: list[str] = []
        self._sector_codes = np.zeros(0, dtype=np.int64)
        self._tallies = {name: np.zeros(0) for name in TALLIES}  # see _settled_tallies
        self._pending_tallies: list[tuple] = []  # tally updates not applied yet, in order
        self._flows_usd_b: dict[tuple[str, str, str], float] = defaultdict(float)
        # Account arrays returned by open_accounts (consecutive accounts of one sector), by id.
        self._blocks: dict[int, tuple[np.ndarray, slice, int]] = {}
        self._repeated_accounts: dict[tuple[int, int], np.ndarray] = {}
        self.rest_of_economy = self.open_account(REST_OF_ECONOMY, REST_OF_ECONOMY)
        self.balances_usd_b[self.rest_of_economy] = rest_of_economy_cash_usd_b

    # --- accounts ------------------------------------------------------------------------
    def open_account(self, name: str, sector: str) -> int:
        """Open an account with zero balance; return its index."""
        return int(self.open_accounts([name], sector)[0])

    def open_accounts(self, names: list[str], sector: str) -> np.ndarray:
        """Open several accounts of one sector at once; return their indices."""
        first = len(self.sectors)
        count = len(names)
        self.balances_usd_b = np.concatenate([self.balances_usd_b, np.zeros(count)])
        for key in TALLIES:
            self._tallies[key] = np.concatenate([self._tallies[key], np.zeros(count)])
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
        return self.balances_usd_b.item(account)  # float(balances[account]), a little faster

    def total_money_usd_b(self) -> float:
        """Sum of every balance: constant over the whole run."""
        return float(math.fsum(self.balances_usd_b.tolist()))  # exact: order does not matter

    # --- transactions --------------------------------------------------------------------
    def transfer(self, payer: int, payee: int, amount_usd_b: float, flow: str) -> None:
        """Move money from payer to payee, recording the flow and both sides' tallies."""
        # A Python float: the same IEEE arithmetic as a numpy float64, with less overhead.
        amount = float(amount_usd_b)
        if not 0.0 <= amount < _INF:  # also catches NaN
            raise LedgerError(f"{flow}: amount must be finite and >= 0, got {amount_usd_b}")
        if amount == 0.0 or payer == payee:
            return
        balances = self.balances_usd_b
        balances[payer] = balances.item(payer) - amount
        balances[payee] = balances.item(payee) + amount
        payer_tally, payee_tally = _FLOW_TALLIES[flow]
        if payer_tally is not None or payee_tally is not None:  # _defer_tally_update inlined
            pending = self._pending_tallies
            pending.append((_add_to_payer_and_payee, payer_tally, payer, payee_tally, payee,
                            amount))
            if len(pending) >= _MAX_PENDING_TALLY_UPDATES:
                self._settled_tallies()
        sectors = self.sectors
        self._flows_usd_b[(flow, sectors[payer], sectors[payee])] += amount

    def _defer_tally_update(self, update, *arguments) -> None:
        """Queue a tally update (applied, in order, when the tallies are next read)."""
        pending = self._pending_tallies
        pending.append((update, *arguments))
        if len(pending) >= _MAX_PENDING_TALLY_UPDATES:  # bound the queue of a long quarter
            self._settled_tallies()

    def _settled_tallies(self) -> dict[str, np.ndarray]:
        """The tallies with every queued update applied, in the order of the transactions."""
        pending = self._pending_tallies
        if pending:
            tallies = self._tallies
            for update, *arguments in pending:
                update(tallies, *arguments)
            pending.clear()
        return self._tallies

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
        if self._transfer_to_or_from_block(payers, payees, amounts, flow):
            return
        if not amounts.max() < math.inf:
            raise LedgerError(f"{flow}: amounts must be finite and >= 0")
        payers = self._index_array(payers, amounts.shape)
        payees = self._index_array(payees, amounts.shape)
        payer_tally, payee_tally = _FLOW_TALLIES[flow]
        np.subtract.at(self.balances_usd_b, payers, amounts)
        np.add.at(self.balances_usd_b, payees, amounts)
        if payer_tally is not None or payee_tally is not None:
            kept = amounts.copy()
            if payer_tally is not None:
                self._defer_tally_update(_add_at, payer_tally, np.array(payers), kept)
            if payee_tally is not None:
                self._defer_tally_update(_add_at, payee_tally, np.array(payees), kept)
        codes = self._sector_codes
        n_sectors = len(self._sector_names)
        pair = codes[payers] * n_sectors + codes[payees]
        totals = np.bincount(pair.ravel(), weights=amounts.ravel(),
                             minlength=n_sectors * n_sectors)
        for index in totals.nonzero()[0].tolist():
            payer_sector = self._sector_names[index // n_sectors]
            payee_sector = self._sector_names[index % n_sectors]
            self._flows_usd_b[(flow, payer_sector, payee_sector)] += float(totals[index])

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
        total = float(np.add.accumulate(amounts)[-1])  # summed in order, as np.bincount does
        if not total < _INF:
            raise LedgerError(f"{flow}: amounts must be finite and >= 0")
        payer_tally, payee_tally = _FLOW_TALLIES[flow]
        balances = self.balances_usd_b
        if single_pays:  # payers first, then payees, as in the general path
            # ufunc.at's updates of the one payer: ((b - a0) - a1) - ..., which subtract's
            # reduction (sequential, never pairwise) computes from the initial value b.
            balances[single] = _subtract_reduce(amounts, initial=balances.item(single))
            balances[rows] += amounts
            payer_update, payer_accounts = _add_in_turn_to_one, single
            payee_update, payee_accounts = _add_to_rows, rows
        else:
            balances[rows] -= amounts
            single_balance = balances.item(single)  # after that: it may be in the block
            if single_balance != 0.0:
                # ufunc.at's ((b + a0) + a1) + ... is minus ((-b - a0) - a1) - ... exactly
                # (rounding to nearest is symmetric), but for the sign of a zero: 0.0 - x
                # gives -x and +0.0 for either zero, which is what the additions give
                # unless b is -0.0 (that case takes ufunc.at).
                balances[single] = 0.0 - _subtract_reduce(amounts, initial=-single_balance)
            else:
                np.add.at(balances, self._repeated(single, amounts.size), amounts)
            payer_update, payer_accounts = _add_to_rows, rows
            payee_update, payee_accounts = _add_in_turn_to_one, single
        if payer_tally is not None or payee_tally is not None:
            kept = amounts.copy()
            pending = self._pending_tallies  # _defer_tally_update inlined
            if payer_tally is not None:
                pending.append((payer_update, payer_tally, payer_accounts, kept))
            if payee_tally is not None:
                pending.append((payee_update, payee_tally, payee_accounts, kept))
            if len(pending) >= _MAX_PENDING_TALLY_UPDATES:
                self._settled_tallies()
        if total != 0.0:
            single_sector = self.sectors[single]
            block_sector = self._sector_names[block_code]
            key = ((flow, single_sector, block_sector) if single_pays
                   else (flow, block_sector, single_sector))
            self._flows_usd_b[key] += total
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
        entry = self._blocks.get(id(block))
        if entry is None or entry[0] is not block or amounts.shape != (payers.size, block.size):
            raise ValueError(f"{flow}: payees must be a block of accounts, amounts of shape "
                             "(payers, block size)")
        _, rows, block_code = entry
        # The payer of each transfer, row after row: the order in which ufunc.at walks a 2-D
        # index (a new array, so the tally update below can keep it).
        repeated = payers.repeat(block.size)
        payer_tally, payee_tally = _FLOW_TALLIES[flow]
        kept = amounts.copy()  # C-contiguous: its ravel() is a view, in the same order
        np.subtract.at(self.balances_usd_b, repeated, kept.ravel())
        block_balances = self.balances_usd_b[rows]  # a view: rows is a slice
        for row in kept:
            block_balances += row
        if payer_tally is not None:
            self._defer_tally_update(_add_at, payer_tally, repeated, kept.ravel())
        if payee_tally is not None:
            self._defer_tally_update(_add_each_row_to_rows, payee_tally, rows, kept)
        totals = np.add.accumulate(kept, axis=1)[:, -1]  # each row summed in order
        block_sector = self._sector_names[block_code]
        sectors, flows = self.sectors, self._flows_usd_b
        for payer, total in zip(payers.tolist(), totals.tolist(), strict=True):
            if total != 0.0:
                flows[(flow, sectors[payer], block_sector)] += total

    def revalue(self, account: int | np.ndarray, amount_usd_b: float | np.ndarray) -> None:
        """Record a non-cash change in net worth (depreciation, impairment, price change)."""
        # Queued if valid; if not, applied at once (after the queued ones) to raise as before.
        if isinstance(account, _INTEGER) and isinstance(amount_usd_b, _NUMBER):
            n_accounts = len(self.sectors)
            if -n_accounts <= account < n_accounts:  # _defer_tally_update inlined
                pending = self._pending_tallies
                pending.append((_add_to_one, "revaluation", account, amount_usd_b))
                if len(pending) >= _MAX_PENDING_TALLY_UPDATES:
                    self._settled_tallies()
            else:
                self._settled_tallies()["revaluation"][account] += amount_usd_b
            return
        block = self._blocks.get(id(account))
        if block is not None and block[0] is account:  # each account once: a slice will do
            rows = block[1]
            amounts = (amount_usd_b if isinstance(amount_usd_b, _NUMBER)
                       else np.array(amount_usd_b))  # a copy: the caller may change it
            if isinstance(amounts, _NUMBER) or (
                    amounts.dtype.kind in "biuf"
                    and amounts.shape in ((), (1,), (rows.stop - rows.start,))):
                self._defer_tally_update(_add_to_rows, "revaluation", rows, amounts)
            else:
                self._settled_tallies()["revaluation"][rows] += amount_usd_b
            return
        accounts = np.array(account)  # copies: the caller may change them
        amounts = np.array(amount_usd_b, dtype=float)
        n_accounts = len(self.sectors)
        if (accounts.dtype.kind in "iu" and amounts.shape in ((), accounts.shape)
                and accounts.size and -n_accounts <= accounts.min()
                and accounts.max() < n_accounts):
            self._defer_tally_update(_add_at, "revaluation", accounts, amounts)
        else:
            np.add.at(self._settled_tallies()["revaluation"], np.asarray(account), amount_usd_b)

    def revalue_block_in_turn(self, block: np.ndarray, amounts_usd_b: np.ndarray) -> None:
        """Revalue the accounts of ``block`` (an array from :meth:`open_accounts`) by each
        column of ``amounts_usd_b`` (shape (block size, k)) in turn: exactly the books of
        ``revalue(block, amounts_usd_b[:, j])`` for j = 0..k-1, in one call."""
        entry = self._blocks.get(id(block))
        if (entry is None or entry[0] is not block or amounts_usd_b.ndim != 2
                or amounts_usd_b.shape[0] != block.size):
            raise ValueError("revalue_block_in_turn: accounts must be a block, amounts of shape "
                             "(block size, k)")
        self._defer_tally_update(_add_columns_in_turn, "revaluation", entry[1],
                                 np.array(amounts_usd_b))

    # --- reading the books ---------------------------------------------------------------
    def net_worth_change_explained(self, accounts: np.ndarray) -> np.ndarray:
        """income − expense + capital in − capital out + revaluation, since the last reset."""
        t = self._settled_tallies()
        return (
            t["income"][accounts]
            - t["expense"][accounts]
            + t["capital_in"][accounts]
            - t["capital_out"][accounts]
            + t["revaluation"][accounts]
        )

    def tally(self, name: str, accounts: np.ndarray | int) -> np.ndarray:
        return self._settled_tallies()[name][accounts]

    def flows_this_quarter(self) -> dict[tuple[str, str, str], float]:
        return dict(self._flows_usd_b)

    def start_quarter(self) -> None:
        """Reset the quarter's flows and the net-worth tallies."""
        self._flows_usd_b.clear()
        self._pending_tallies.clear()  # all of them would be zeroed below
        for key in TALLIES:
            self._tallies[key][:] = 0.0

    def transactions_flow_matrix(self) -> pd.DataFrame:
        """Rows: flow kinds; columns: sectors; sources positive, uses negative (Godley-Lavoie).

        Every row sums to zero; the last row, ``change_in_cash``, is minus each sector's net
        inflow, so every column sums to zero too.
        """
        sectors = list(self._sector_names)
        rows = {}
        for (flow, payer, payee), amount in self._flows_usd_b.items():
            row = rows.setdefault(flow, dict.fromkeys(sectors, 0.0))
            row[payer] -= amount
            row[payee] += amount
        matrix = pd.DataFrame.from_dict(rows, orient="index", columns=sectors).fillna(0.0)
        matrix.loc["change_in_cash"] = -matrix.sum(axis=0)  # so every column sums to zero
        matrix.index.name = "flow"
        return matrix
