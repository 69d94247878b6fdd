"""Capital markets: listed equity, lab funding rounds, hyperscaler bonds, defaults (DESIGN §5).

- Listed chipmakers and GPU owners: a market maker moves each price with investors' excess
  demand (Beja & Goldman 1980 style); investors trade part of their desired rebalancing with the
  rest of the economy (outside holders) at the new price.
- Lab rounds: revenue first, then bounded strategic stakes (partner hyperscaler, chipmaker
  vendor financing), then investor rounds capped by investors' appetite (§11.14).
- Bonds: issued by GPU owners within a leverage ceiling; investors buy up to their bond
  allocation, the wider market (rest of the economy) the rest; coupon = risk-free + spread.
- Defaults write down creditors (bond recovery rate) and wipe out most of the equity.
"""

from __future__ import annotations

import math

import numpy as np

from bubble_abm.agents.investor import (
    STRATEGY_NAMES,
    sector_expected_returns,
    strategy_expected_returns,
)
from bubble_abm.core.valuation import dcf_value_usd_b

LAB_LONG_RUN_MARGIN = 0.25  # operating margin investors expect of a mature lab
LAB_GROWTH_BOUNDS = (-0.5, 1.0)  # revenue growth per year investors extrapolate, at most
AI_EXPOSURE = {"chipmaker": 1.0, "big_four": 0.35, "levered": 0.8, "other": 1.0}
EARNINGS_SMOOTHING = 0.5
GROWTH_EXPECTATION_WEIGHT = 0.25
DEFAULT_EQUITY_LOSS = 0.9  # shareholders lose most of the value in a default
SENTIMENT_BOUNDS = (0.3, 2.0)
MAX_LOG_PRICE_CHANGE = 0.4  # a quarter's price move is bounded (circuit-breaker-like)
EXPECTED_GROWTH_BOUNDS = (-0.3, 0.4)  # fundamentalists' long-run earnings growth, per year
SENTIMENT_PER_EXPECTED_RETURN = 2.0  # log sentiment per unit of expected quarterly return


class CapitalMarket:
    """Prices, holdings and the financing of every agent type."""

    def __init__(self, model) -> None:
        self.model = model
        self.firms = list(model.chipmakers) + list(model.gpu_owners)
        self.firm_accounts = np.array([firm.account for firm in self.firms])
        self.firm_kinds = [self._kind(firm) for firm in self.firms]  # fixed for the whole run
        self._firm_is_chipmaker = [kind == "chipmaker" for kind in self.firm_kinds]
        self._lab_accounts = np.array([lab.account for lab in model.labs])
        self._owner_accounts = np.array([owner.account for owner in model.gpu_owners])
        # Labs each GPU owner partners with (partners are set when the labs are created).
        self._partner_labs = [[i for i, lab in enumerate(model.labs)
                               if lab.partner_id == owner.unique_id]
                              for owner in model.gpu_owners]
        n_firms = len(self.firms)
        investors = model.investors
        self.exposure = np.array([AI_EXPOSURE["chipmaker"] if f in model.chipmakers
                                  else AI_EXPOSURE[f.kind] for f in self.firms])
        self._exposure_total = self.exposure.sum()  # fixed for the whole run
        self.earnings_usd_b = self._all_firm_earnings_usd_b()
        self.expected_growth = np.where(self.exposure >= 1.0, 0.25, 0.1)
        self.price_usd_b = np.maximum(self._fundamental_values(), 1.0)  # one share per firm
        self.start_price_usd_b = self.price_usd_b.copy()
        self.price_history = [self.price_usd_b.copy(), self.price_usd_b.copy()]
        self.expected_returns = np.zeros((3, n_firms))
        # Investors hold their base equity allocation at market weights; the rest is held outside.
        wealth = model.params.investor_wealth_usd_b * investors.wealth_weight
        cap_weights = self.price_usd_b / self.price_usd_b.sum()
        # Row f: each investor's share of firm f (a firm's holders are a contiguous row: the
        # market maker and the trades work firm by firm over all investors).
        equity_value = (model.params.equity_allocation_base * wealth) * cap_weights[:, None]
        self.investor_shares = equity_value / self.price_usd_b[:, None]
        scale = min(1.0, 0.9 / max(self.investor_shares.sum(axis=1).max(), 1e-12))
        self.investor_shares *= scale
        cost = self.price_usd_b @ self.investor_shares
        model.ledger.transfer_many(investors.account, model.ledger.rest_of_economy, cost,
                                   "equity_trade")
        self.outside_shares = 1.0 - self.investor_shares.sum(axis=1)
        # price_usd_b @ investor_shares, dropped whenever either changes: see _investor_equity.
        self._investor_equity_usd_b: np.ndarray | None = None
        n_owners = len(model.gpu_owners)
        # Row j: each investor's face value of owner j's bonds (an owner's bondholders are a
        # contiguous row: issues, coupons and defaults work on one owner at a time).
        self.bond_face_investors = np.zeros((n_owners, investors.n))
        self.bond_face_outside = np.zeros(n_owners)
        # Column sums of bond_face_investors, dropped whenever it changes: see _investor_bonds.
        self._investor_bonds_usd_b: np.ndarray | None = None
        # Every holder's fraction of each lab: investors' rows, then the firms' (strategic
        # stakes and vendor financing; row f: self.firms[f]), so that a round dilutes them all
        # in one step. The two parts are views.
        self._lab_fractions = np.zeros((investors.n + n_firms, model.n_labs))
        self.lab_fraction_investors = self._lab_fractions[:investors.n]
        self.lab_fraction_strategic = self._lab_fractions[investors.n:]
        self._firm_index = {firm.unique_id: f for f, firm in enumerate(self.firms)}
        self.lab_valuation_usd_b = np.zeros(model.n_labs)
        self.lab_fundamental_usd_b = np.zeros(model.n_labs)
        self.lab_mark_history: list[float] = []
        self.sentiment = 1.0
        self.funding_requested_usd_b = 0.0
        self.funding_raised_usd_b = 0.0
        self.strategic_raised_usd_b = 0.0
        self.bonds_issued_usd_b = 0.0
        self.payouts_usd_b = 0.0
        self.defaults = 0
        self.strategy_shares = investors.strategy_shares()

    # --- values --------------------------------------------------------------------------------
    def _firm_earnings_usd_b(self, firm, is_chipmaker: bool) -> float:
        """A firm's quarterly earnings as investors see them (cash earnings less depreciation)."""
        if is_chipmaker:
            if firm.revenue_usd_b <= 0.0:  # before the first quarter: capacity at current price
                units = firm.effective_capacity_h100e()
                return units * (firm.price_usd_per_h100e - firm.unit_cost_usd) / 1e9 * 0.8
            return firm.profit_usd_b
        return (firm.legacy_cash_flow_usd_b + firm.rent_revenue_usd_b + firm.inhouse_revenue_usd_b
                - firm.interest_usd_b - firm.depreciation_usd_b
                - firm.non_ai_capex_usd_b * 0.5)

    def _all_firm_earnings_usd_b(self) -> np.ndarray:
        return np.array([self._firm_earnings_usd_b(firm, is_chipmaker) for firm, is_chipmaker
                         in zip(self.firms, self._firm_is_chipmaker, strict=True)])

    def _fundamental_values(self) -> np.ndarray:
        p = self.model.params
        return dcf_value_usd_b(4.0 * self.earnings_usd_b, self.expected_growth,
                               p.equity_discount_rate + self.model.rate_shock_now,
                               p.valuation_horizon_years)

    def _investor_bonds(self) -> np.ndarray:
        """Each investor's bonds, ``bond_face_investors.sum(axis=0)`` (read-only): kept until
        the bonds next change (every change here drops it), as several payments a quarter
        read it in between."""
        bonds = self._investor_bonds_usd_b
        if bonds is None:
            bonds = self.bond_face_investors.sum(axis=0)
            bonds.flags.writeable = False
            self._investor_bonds_usd_b = bonds
        return bonds

    def investor_wealth_usd_b(self) -> np.ndarray:
        return self._investor_wealth_usd_b(self.model.investors.cash_usd_b(),
                                           self._investor_bonds(),
                                           self.lab_fraction_investors @ self.lab_valuation_usd_b)

    def _investor_wealth_usd_b(self, cash_usd_b: np.ndarray, bonds_usd_b: np.ndarray,
                               lab_stakes_usd_b: np.ndarray) -> np.ndarray:
        """:meth:`investor_wealth_usd_b` from its cash, bond and lab-stake terms, for callers
        that need those terms themselves (each computed once)."""
        return cash_usd_b + self._investor_equity() + bonds_usd_b + lab_stakes_usd_b

    def _investor_equity(self) -> np.ndarray:
        """Each investor's listed equity, ``price_usd_b @ investor_shares`` (read-only): kept
        until the shares or prices next change (every change here drops it), as bond issues
        and the funding rounds read it in between."""
        equity = self._investor_equity_usd_b
        if equity is None:
            equity = self.price_usd_b @ self.investor_shares
            equity.flags.writeable = False
            self._investor_equity_usd_b = equity
        return equity

    def stake_value_usd_b(self, holder) -> float:
        """Value of a strategic holder's stakes in labs (at the labs' current marks)."""
        f = self._firm_index.get(holder.unique_id)
        if f is None:  # only firms hold stakes
            return 0.0
        return float(self.lab_fraction_strategic[f] @ self.lab_valuation_usd_b)

    def listed_value_usd_b(self, kinds: tuple[str, ...]) -> float:
        return float(sum(price for kind, price in zip(self.firm_kinds, self.price_usd_b,
                                                      strict=True)
                         if kind in kinds))

    def _kind(self, firm) -> str:
        return "chipmaker" if firm in self.model.chipmakers else firm.kind

    def sector_prices(self) -> dict[str, float]:
        """Sum of market caps by sector: chipmakers, big four, levered and other owners.

        One pass over the firms, each sector summed in firm order (as
        :meth:`listed_value_usd_b` does)."""
        totals = dict.fromkeys(("chipmaker", "big_four", "levered", "other"), 0.0)
        for kind, price in zip(self.firm_kinds, self.price_usd_b.tolist(), strict=True):
            totals[kind] += price
        return totals

    # --- labs ------------------------------------------------------------------------------
    def mark_labs(self) -> None:
        """Lab valuations: DCF on revenue levels at a long-run margin, times sentiment (§11.2)."""
        p = self.model.params
        labs = self.model.labs
        # Annual cash flow at the long-run margin, in Python floats (the same products).
        cash_flow = [LAB_LONG_RUN_MARGIN * (lab.revenue_usd_b * 4.0) for lab in labs]
        low, high = LAB_GROWTH_BOUNDS
        growth = [min(max(lab.expected_revenue_growth_per_year, low), high) for lab in labs]
        value = dcf_value_usd_b(np.array(cash_flow), np.array(growth),
                                p.equity_discount_rate + 0.05 + self.model.rate_shock_now,
                                p.valuation_horizon_years)
        cash = np.maximum(self.model.ledger.balances_usd_b[self._lab_accounts], 0.0)
        alive = [lab.alive for lab in labs]
        new_value = np.maximum(value * self.sentiment, 0.0) + cash
        fundamental = np.maximum(value, 0.0) + cash
        if not all(alive):  # failed labs are worth nothing (np.where only then: same values)
            alive = np.array(alive)
            new_value = np.where(alive, new_value, 0.0)
            fundamental = np.where(alive, fundamental, 0.0)
        self.lab_fundamental_usd_b = fundamental
        self.lab_mark_history.append(float(new_value.sum()))
        self._revalue_lab_stakes(new_value)
        self.lab_valuation_usd_b = new_value
        for lab, v in zip(labs, new_value.tolist(), strict=True):
            lab.valuation_usd_b = v

    def _lab_expected_returns(self) -> np.ndarray:
        """Each strategy's expected quarterly return on the labs as a sector, shape (3, 1):
        fundamentalists compare DCF values on revenue levels (without sentiment) with the
        marks, trend followers extrapolate the marks, narrative investors read capability
        news (the private-market side of DESIGN §4's investors)."""
        marks = self.lab_valuation_usd_b.sum()
        gap = self.lab_fundamental_usd_b.sum() / marks - 1.0 if marks > 0 else 0.0
        trend = 0.0
        history = self.lab_mark_history
        if len(history) >= 2:  # the mean log change of the last (up to) two quarters
            quarters = min(len(history), 3) - 1
            trend = math.log(max(history[-1], 1e-9) / max(history[-1 - quarters], 1e-9)) / quarters
        return sector_expected_returns(gap, trend, self.model.capability_news_logit())

    def _revalue_lab_stakes(self, new_value: np.ndarray) -> None:
        revaluation = self._lab_fractions @ (new_value - self.lab_valuation_usd_b)
        n_investors = self.lab_fraction_investors.shape[0]
        ledger = self.model.ledger
        ledger.revalue(self.model.investors.account, revaluation[:n_investors])
        ledger.revalue(self.firm_accounts, revaluation[n_investors:])

    def fund_labs(self) -> None:
        """Labs short of runway raise: strategic partners first, then investor rounds."""
        model = self.model
        ledger = model.ledger
        labs = model.labs
        first_need = [lab.funding_need_usd_b() if lab.alive else 0.0 for lab in labs]
        need = first_need.copy()  # Python floats: same arithmetic as numpy scalars, faster
        requested = np.add.reduce(need)  # need.sum() on an array of them
        self.funding_requested_usd_b = float(requested)
        self.strategic_raised_usd_b = 0.0
        self.funding_raised_usd_b = 0.0
        if requested <= 0.0:
            return
        sold = self._sell_strategic_stakes(need)  # 1. strategic partners, vendor financing
        # A lab's need depends on its own state only, and stakes change only its cash.
        need = [labs[i].funding_need_usd_b() if i in sold else before
                for i, before in enumerate(first_need)]
        total_need = np.add.reduce(need)
        if total_need <= 0.0:
            return
        # 2. Investor rounds, capped by appetite (private allocation tilted by sentiment).
        investors = model.investors
        p = model.params
        cash = investors.cash_usd_b()
        held = self.lab_fraction_investors @ self.lab_valuation_usd_b
        wealth = self._investor_wealth_usd_b(cash, self._investor_bonds(), held)
        private_tilt = investors.desired_tilt(self._lab_expected_returns())[0]
        desired = p.private_allocation_base * wealth * private_tilt
        appetite = np.maximum(np.minimum(desired - held, cash), 0.0)
        total_appetite = appetite.sum()
        if total_appetite <= 0.0:
            return
        fill = min(1.0, float(total_appetite / total_need))  # amounts in Python floats
        appetite_shares = appetite / total_appetite
        amounts = [lab_need * fill if lab_need > 0.0 else 0.0 for lab_need in need]
        # Row i: each investor's contribution to lab i's round (zeros if it raises none).
        contributions = np.multiply.outer(amounts, appetite_shares)
        dilutions = [1.0] * len(labs)
        post_money = [1.0] * len(labs)  # 1.0: any number would do for labs without a round
        for i, (lab_need, amount) in enumerate(zip(need, amounts, strict=True)):
            if lab_need > 0.0:
                post_money[i] = self._book_rounds(i, [(None, amount)], dilutions, [])
                ledger.transfer_many(investors.account, labs[i].account, contributions[i],
                                     "funding_round")
                labs[i].raised_usd_b += amount
                self.funding_raised_usd_b += amount
        self._dilute(dilutions, [])
        # Investors' new stakes, every lab at once (a lab without a round adds zeros).
        self.lab_fraction_investors += (contributions / np.array(post_money)[:, None]).T

    def _sell_strategic_stakes(self, need: list[float]) -> set[int]:
        """Step 1 of :meth:`fund_labs`: each big-four partner buys stakes in its labs up to its
        budget, then chipmakers' vendor financing pro rata to the remaining needs (``need`` is
        reduced in place; a purchase under 1e-12 is not booked). Returns the labs that sold a
        stake.

        Purchases are paid as they are decided (a partner's cash limits its next one); the
        amounts depend on needs, budgets and cash only, so each lab's rounds are priced
        afterwards, together (:meth:`_book_rounds`)."""
        model = self.model
        ledger = model.ledger
        labs = model.labs
        lab_accounts = [lab.account for lab in labs]
        rounds: list[list[tuple[int, float]]] = [[] for _ in labs]  # (buyer's row, amount)
        total_raised = self.strategic_raised_usd_b
        firm_index = self._firm_index
        for owner, partner_labs in zip(model.gpu_owners, self._partner_labs, strict=True):
            partners = [i for i in partner_labs if need[i] > 0.0]
            if not partners:
                continue
            budget = owner.strategic_budget_usd_b()
            share = budget / len(partners)
            row = firm_index[owner.unique_id]
            for i in partners:
                amount = min(need[i], share, max(owner.cash_usd_b, 0.0))
                if amount > 1e-12:  # smaller purchases are not booked
                    ledger.transfer(owner.account, lab_accounts[i], amount, "strategic_stake")
                    rounds[i].append((row, amount))
                    labs[i].raised_usd_b += amount
                    total_raised += amount
                need[i] -= amount
        for chipmaker in model.chipmakers:  # vendor financing, pro rata to remaining needs
            budget = min(chipmaker.strategic_budget_usd_b(), max(chipmaker.cash_usd_b, 0.0))
            total_need = float(np.add.reduce(need))  # amounts in Python floats (the same IEEE
            # arithmetic as numpy scalars, less overhead)
            if budget <= 0.0 or total_need <= 0.0:
                continue
            row = firm_index[chipmaker.unique_id]
            for i in [i for i, lab_need in enumerate(need) if lab_need > 0.0]:
                amount = min(need[i], budget * need[i] / total_need)
                if amount > 1e-12:
                    ledger.transfer(chipmaker.account, lab_accounts[i], amount,
                                    "vendor_financing")
                    rounds[i].append((row, amount))
                    labs[i].raised_usd_b += amount
                    total_raised += amount
                need[i] -= amount
        self.strategic_raised_usd_b = total_raised
        sold = set()
        dilutions = [1.0] * len(labs)
        new_stakes: list[tuple[int, int, float]] = []
        for i, lab_rounds in enumerate(rounds):
            if lab_rounds:
                self._book_rounds(i, lab_rounds, dilutions, new_stakes)
                sold.add(i)
        self._dilute(dilutions, new_stakes)  # every lab's at once
        return sold

    def _book_rounds(self, lab_index: int, rounds: list[tuple[int | None, float]],
                     dilutions: list[float], new_stakes: list[tuple[int, int, float]]) -> float:
        """Price a lab's rounds in turn; returns the last post-money. Diluting the holders is
        left to the caller, who books each lab's rounds once (``dilutions`` and ``new_stakes``
        start as 1.0 per lab and empty) and then dilutes every lab in one step
        (:meth:`_dilute`): this lab's factor goes to ``dilutions[lab_index]``, its new
        strategic stakes (row, lab, fraction) to ``new_stakes``.

        Each round is (buyer's row of ``lab_fraction_strategic``, or None when the caller books
        the new stake itself, after :meth:`_dilute`; amount). A round's pre-money is the
        current mark, at least the new money; if that is above the mark, the dilutions so far
        are applied and holders' stakes are revalued up to it. Existing holders are diluted
        so that their stakes keep the pre-money value. In Python floats: the stakes held
        before are diluted by all rounds at once, and each new stake by the rounds after it
        (the same dilution, multiplied in another order)."""
        mark = self.lab_valuation_usd_b.item(lab_index)
        dilution = 1.0
        lab_stakes: list[tuple[int | None, float]] = []  # (row, fraction after rounds so far)
        for row, amount in rounds:
            pre_money = max(mark, amount)
            if pre_money > mark:  # stakes are revalued up to it: book the rounds so far first
                dilutions[lab_index] = dilution
                new_stakes.extend((held_row, lab_index, fraction)
                                  for held_row, fraction in lab_stakes if held_row is not None)
                self._dilute(dilutions, new_stakes)
                dilutions[:] = [1.0] * len(dilutions)
                new_stakes.clear()
                dilution, lab_stakes = 1.0, []
                self.lab_valuation_usd_b[lab_index] = mark
                self._revalue_lab_to(lab_index, pre_money)
            post_money = pre_money + amount
            factor = pre_money / post_money
            dilution *= factor
            lab_stakes = [(held_row, fraction * factor) for held_row, fraction in lab_stakes]
            lab_stakes.append((row, amount / post_money))
            mark = post_money
        dilutions[lab_index] = dilution
        new_stakes.extend((held_row, lab_index, fraction)
                          for held_row, fraction in lab_stakes if held_row is not None)
        self.lab_valuation_usd_b[lab_index] = mark
        return mark

    def _dilute(self, dilutions: list[float], new_stakes: list[tuple[int, int, float]]
                ) -> None:
        """Scale every holder's stake in each lab by its factor in ``dilutions`` (1.0 leaves a
        lab's stakes as they are), then add new strategic stakes (row, lab, fraction)."""
        self._lab_fractions *= np.array(dilutions)
        fractions = self.lab_fraction_strategic
        for row, lab_index, fraction in new_stakes:
            fractions[row, lab_index] = fractions.item(row, lab_index) + fraction

    def _revalue_lab_to(self, lab_index: int, value_usd_b: float) -> None:
        """Revalue holders' stakes in one lab to a new value (its mark is the caller's)."""
        new_marks = self.lab_valuation_usd_b.copy()
        new_marks[lab_index] = value_usd_b
        self._revalue_lab_stakes(new_marks)

    def lab_failed(self, lab_index: int) -> None:
        """A failed lab's stakes are worthless."""
        self._revalue_lab_stakes(np.where(np.arange(self.model.n_labs) == lab_index,
                                          0.0, self.lab_valuation_usd_b))
        self.lab_valuation_usd_b[lab_index] = 0.0
        self.defaults += 1

    # --- bonds -------------------------------------------------------------------------------
    def _owner_index(self, owner) -> int:
        return self.model.gpu_owners.index(owner)

    def issue_bonds(self, owner, amount_usd_b: float) -> float:
        """Sell bonds: investors up to their bond allocation, the wider market the rest."""
        if amount_usd_b <= 1e-9:
            return 0.0
        model = self.model
        ledger = model.ledger
        investors = model.investors
        j = self._owner_index(owner)
        cash = investors.cash_usd_b()
        held = self._investor_bonds()
        wealth = self._investor_wealth_usd_b(
            cash, held, self.lab_fraction_investors @ self.lab_valuation_usd_b)
        appetite = np.maximum(np.minimum(model.params.bond_allocation_base * wealth - held,
                                         cash), 0.0)
        total_appetite = appetite.sum()
        from_investors = min(total_appetite, amount_usd_b)
        if from_investors > 0.0:
            contributions = appetite / total_appetite * from_investors
            ledger.transfer_many(investors.account, owner.account, contributions, "bond_issue")
            self.bond_face_investors[j] += contributions
            self._investor_bonds_usd_b = None
        from_outside = amount_usd_b - from_investors
        ledger.transfer(ledger.rest_of_economy, owner.account, from_outside, "bond_issue")
        self.bond_face_outside[j] += from_outside
        owner.debt_usd_b += amount_usd_b
        self.bonds_issued_usd_b += amount_usd_b
        return amount_usd_b

    def service_debts(self) -> None:
        """Every GPU owner, in turn, pays its coupon and amortisation pro rata to its
        bondholders: it first issues bonds for any shortfall of cash (debt service may use the
        whole balance) and defaults if its cash still falls short; then every owner's credit
        spread is repriced.

        The payments go to the ledger together (:meth:`_pay_bondholders`): an owner's payment
        changes no other owner's cash or bonds. Only a bond issue reads investors' cash and
        bonds, so the payments of the owners before an owner that is short are posted first."""
        owners = self.model.gpu_owners
        face_totals = (self.bond_face_investors.sum(axis=1) + self.bond_face_outside).tolist()
        # What each owner pays, not yet posted (zero: nothing, e.g. no bonds or in default).
        interest = [0.0] * len(owners)
        principal = [0.0] * len(owners)
        for j, owner in enumerate(owners):
            owner_interest, owner_principal = owner.debt_service_due_usd_b()
            due = owner_interest + owner_principal
            if owner.cash_usd_b < due:  # short (raise_funds issues no bonds otherwise)
                if j:
                    self._pay_bondholders(interest, principal)
                    interest = [0.0] * len(owners)
                    principal = [0.0] * len(owners)
                if owner.raise_funds(due, for_debt_service=True) > 0.0:
                    face_totals[j] = (self.bond_face_investors[j].sum()
                                      + self.bond_face_outside.item(j))
            if face_totals[j] <= 1e-12:
                continue
            if owner.cash_usd_b < due:
                self.default(owner)
                continue
            interest[j] = owner_interest
            principal[j] = owner_principal
        self._pay_bondholders(interest, principal)
        for owner in owners:
            owner.update_credit_spread()

    def _pay_bondholders(self, interest_usd_b: list[float], principal_usd_b: list[float]
                         ) -> None:
        """Each GPU owner pays coupons and amortisation (zero for owners that pay nothing) pro
        rata to its bondholders: investors (all owners' coupons in one ledger call, their
        redemptions in another) and the wider market. Zero payments change no number."""
        model = self.model
        ledger = model.ledger
        faces = self.bond_face_investors
        outside_faces = self.bond_face_outside
        # Every owner that pays has more than 1e-12 of bonds; the floor only keeps the shares
        # of owners without bonds (who pay nothing) finite.
        face_totals = np.maximum(faces.sum(axis=1) + outside_faces, 1e-12)
        interest = np.array(interest_usd_b)
        principal = np.array(principal_usd_b)
        investor_shares = faces / face_totals[:, None]  # row j: owner j's bondholders' shares
        investor_principal = investor_shares * principal[:, None]
        ledger.transfer_rows_to_block(self._owner_accounts, model.investors.account,
                                      investor_shares * interest[:, None], "interest")
        ledger.transfer_rows_to_block(self._owner_accounts, model.investors.account,
                                      investor_principal, "bond_redemption")
        outside_shares = outside_faces / face_totals
        outside_principal = outside_shares * principal
        for owner, coupon, redeemed, owner_principal in zip(
                model.gpu_owners, (outside_shares * interest).tolist(),
                outside_principal.tolist(), principal_usd_b, strict=True):
            ledger.transfer(owner.account, ledger.rest_of_economy, coupon, "interest")
            ledger.transfer(owner.account, ledger.rest_of_economy, redeemed, "bond_redemption")
            owner.debt_usd_b -= owner_principal
        faces -= investor_principal
        self._investor_bonds_usd_b = None
        outside_faces -= outside_principal

    def default(self, owner) -> None:
        """Write bonds down to the recovery rate; equity loses most of its value (§5)."""
        model = self.model
        j = self._owner_index(owner)
        loss_share = 1.0 - model.params.bond_recovery_rate
        investor_loss = self.bond_face_investors[j] * loss_share
        model.ledger.revalue(model.investors.account, -investor_loss)
        forgiven = owner.debt_usd_b * loss_share
        model.ledger.revalue(owner.account, forgiven)
        self.bond_face_investors[j] -= investor_loss
        self._investor_bonds_usd_b = None
        self.bond_face_outside[j] *= 1.0 - loss_share
        owner.debt_usd_b -= forgiven
        f = self.firms.index(owner)
        self._set_price(f, self.price_usd_b[f] * (1.0 - DEFAULT_EQUITY_LOSS))
        if not owner.defaulted:
            self.defaults += 1
        owner.defaulted = True

    # --- equity ------------------------------------------------------------------------------
    def _set_price(self, firm_index: int, new_price: float) -> None:
        change = new_price - self.price_usd_b[firm_index]
        self.model.ledger.revalue(self.model.investors.account,
                                  self.investor_shares[firm_index] * change)
        self.price_usd_b[firm_index] = new_price
        self._investor_equity_usd_b = None

    def _set_prices(self, new_price: np.ndarray) -> None:
        """Every firm's :meth:`_set_price`: investors' holdings revalued in one ledger call
        (each investor by its total over the firms)."""
        change = new_price - self.price_usd_b
        self.model.ledger.revalue(self.model.investors.account, change @ self.investor_shares)
        self.price_usd_b[:] = new_price
        self._investor_equity_usd_b = None

    def pay_out(self) -> None:
        """Firms return excess cash to shareholders (investors and outside holders) pro rata.

        A firm's payout depends on its own cash only, so all firms pay investors in one
        ledger call (row ``i``: what paying firm ``i`` pays each investor)."""
        ledger = self.model.ledger
        amounts = np.array([firm.excess_cash_usd_b() for firm in self.firms])
        paying = (amounts > 0.0).nonzero()[0]  # np.flatnonzero, without its wrapper
        self.last_payout_yield = 0.0
        if not paying.size:
            self.payouts_usd_b = 0.0
            return
        paid = amounts[paying]
        self.payouts_usd_b = float(np.add.accumulate(paid)[-1])  # summed in order
        # Row i: paying firm i's payout to each investor.
        investor_parts = self.investor_shares[paying] * paid[:, None]
        ledger.transfer_rows_to_block(self.firm_accounts[paying], self.model.investors.account,
                                      investor_parts, "shareholder_payout")
        outside_parts = np.maximum(paid - investor_parts.sum(axis=1), 0.0)
        for f, outside in zip(paying.tolist(), outside_parts.tolist(), strict=True):
            ledger.transfer(self.firms[f].account, ledger.rest_of_economy, outside,
                            "shareholder_payout")

    def price_equities(self, capability_news_logit: float) -> None:
        """Expectations → desired holdings → market-maker prices → trades; then switching."""
        model = self.model
        p = model.params
        investors = model.investors
        # Fundamentals: smoothed earnings and adaptive growth expectations.
        earnings = self._all_firm_earnings_usd_b()
        low, high = EXPECTED_GROWTH_BOUNDS  # np.minimum/np.maximum: np.clip's result, faster
        surprise = earnings - self.earnings_usd_b  # also adaptive_update's observed - expected
        scale = np.maximum(np.abs(self.earnings_usd_b), 1e-3)
        growth_seen = np.minimum(np.maximum(surprise / scale * 4.0, low), high)
        # adaptive_update's arithmetic, inlined (the earnings' difference computed once)
        self.expected_growth = self.expected_growth + GROWTH_EXPECTATION_WEIGHT * 0.5 * (
            growth_seen - self.expected_growth)
        self.earnings_usd_b = self.earnings_usd_b + EARNINGS_SMOOTHING * surprise
        value = self._fundamental_values()
        gap = value / self.price_usd_b - 1.0
        # The mean log return of the last (up to) two quarters: the log returns telescope.
        quarters = min(len(self.price_history), 3) - 1
        trend = np.log(self.price_history[-1] / self.price_history[-1 - quarters]) / quarters
        last_expected = self.expected_returns
        self.expected_returns = strategy_expected_returns(gap, trend, capability_news_logit,
                                                          self.exposure)
        # Desired holdings; prices move toward clearing the fixed float (Walras, partially).
        old_price = self.price_usd_b.copy()
        # Row f: each investor's wealth tilted toward firm f. What investor i wants in firm f
        # is equity_allocation_base × firm f's market weight × tilted_wealth[f, i].
        tilted_wealth = investors.desired_tilt(self.expected_returns) * np.maximum(
            self.investor_wealth_usd_b(), 0.0)
        tilted_total = np.add.accumulate(tilted_wealth, axis=1)[:, -1]  # summed in order
        held_shares = np.add.reduce(self.investor_shares, axis=1)  # investors' float
        desired = p.equity_allocation_base * tilted_total * (self.price_usd_b
                                                             / self.price_usd_b.sum())
        ratio = desired / np.maximum(self.price_usd_b * held_shares, 1e-9)
        new_price = self.price_usd_b * np.exp(np.minimum(np.maximum(p.market_maker_speed * np.log(
            np.maximum(ratio, 1e-9)), -MAX_LOG_PRICE_CHANGE), MAX_LOG_PRICE_CHANGE))
        self._set_prices(new_price)
        # Targets: each firm's float held by investors, split in proportion to what they want.
        target = tilted_wealth * (held_shares / np.maximum(tilted_total, 1e-12))[:, None]
        self._reallocate_shares(target, new_price)
        self.price_history.append(self.price_usd_b.copy())
        # Strategy switching on realised returns, and the sentiment they imply.
        realised = self.price_usd_b / old_price - 1.0
        investors.review_strategies(realised, last_expected)
        self.strategy_shares = investors.strategy_shares()
        mood = self.expected_returns @ self.exposure / self._exposure_total
        low, high = SENTIMENT_BOUNDS
        self.sentiment = min(max(math.exp(SENTIMENT_PER_EXPECTED_RETURN
                                          * float(self.strategy_shares @ mood)), low), high)

    def _reallocate_shares(self, target: np.ndarray, price: np.ndarray) -> None:
        """Investors trade among themselves toward their target shares (row f: firm f's, as
        many as investors hold now); the float held by investors is fixed (outside holders
        are passive), so Σ trades = 0 for every firm. Buyers pay within their cash; cash
        settles through a clearing account (rest of the economy), whose net is zero."""
        p = self.model.params
        investors = self.model.investors
        ledger = self.model.ledger
        held = self.investor_shares
        wanted = p.trade_fraction * (target - held)
        # Buys and sells as one (2, firms, investors) array, so that each sum and scaling
        # below is one call for both sides: the same numbers as on each side's own array
        # (a row or column of either side is reduced in the same order).
        sides = np.empty((2, *wanted.shape))
        buys = sides[0]  # views
        sells = sides[1]
        np.maximum(wanted, 0.0, out=buys)  # np.maximum/np.minimum: np.clip's result, faster
        np.subtract(buys, wanted, out=sells)  # max(-wanted, 0), exactly
        cost, proceeds = price @ sides  # each side's value per investor
        cash = np.maximum(investors.cash_usd_b(), 0.0)
        affordable = np.minimum((cash + proceeds) / np.maximum(cost, 1e-12), 1.0)  # both >= 0
        buys *= affordable
        # Match volumes per firm: the larger side is scaled to the smaller one.
        bought_and_sold = sides.sum(axis=2)
        volume = np.minimum(bought_and_sold[0], bought_and_sold[1])
        sides *= (volume / np.maximum(bought_and_sold, 1e-12))[:, :, None]
        trade = buys - sells
        net_paid = price @ trade  # what each investor pays for its trades, net
        ledger.transfer_many(investors.account, ledger.rest_of_economy,
                             np.maximum(net_paid, 0.0), "equity_trade")
        ledger.transfer_many(ledger.rest_of_economy, investors.account,
                             np.maximum(-net_paid, 0.0), "equity_trade")
        self.investor_shares = held + trade
        self._investor_equity_usd_b = None

    def strategy_share(self, name: str) -> float:
        return float(self.strategy_shares[STRATEGY_NAMES.index(name)])
