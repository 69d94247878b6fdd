"""Stock-flow-consistent views of a model's books (DESIGN §6; Godley & Lavoie 2007).

- :func:`transactions_flow_matrix`: the quarter's flows, rows = kinds of flow, columns =
  sectors, sources positive and uses negative; every row sums to zero.
- :func:`balance_sheet_matrix`: stocks by sector at the end of the quarter, assets positive and
  liabilities negative, with each sector's net worth in the last row. Financial claims held
  outside the modelled sectors (outside shareholders and bondholders) sit with the rest of the
  economy, whose real assets are not modelled.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SECTORS = ("chipmakers", "hyperscalers", "other_owners", "labs", "apps", "investors",
           "rest_of_economy")


def transactions_flow_matrix(model) -> pd.DataFrame:
    """This quarter's transactions-flow matrix ($B)."""
    return model.ledger.transactions_flow_matrix()


def balance_sheet_matrix(model) -> pd.DataFrame:
    """Stocks ($B) by sector: cash, GPUs, data centres, other fixed assets, stakes, bonds."""
    rows = ["cash", "gpus_at_book", "datacentres", "other_fixed_assets", "listed_equity",
            "lab_equity", "bonds"]
    sheet = pd.DataFrame(0.0, index=rows, columns=list(SECTORS))
    ledger = model.ledger
    balances = pd.Series(ledger.balances_usd_b).groupby(np.asarray(ledger.sectors)).sum()
    for sector, cash in balances.items():
        sheet.loc["cash", sector] = cash
    market = model.capital_market
    for owner in model.gpu_owners:
        sector = "other_owners" if owner.kind == "other" else "hyperscalers"
        sheet.loc["gpus_at_book", sector] += owner.fleet.book_value_usd_b
        sheet.loc["datacentres", sector] += owner.datacenter_book_usd_b
        sheet.loc["other_fixed_assets", sector] += owner.other_assets_usd_b
        sheet.loc["bonds", sector] -= owner.debt_usd_b
    sheet.loc["bonds", "investors"] = market.bond_face_investors.sum()
    sheet.loc["bonds", "rest_of_economy"] = market.bond_face_outside.sum()
    investor_equity = float((market.price_usd_b @ market.investor_shares).sum())
    sheet.loc["listed_equity", "investors"] = investor_equity
    for firm, price in zip(market.firms, market.price_usd_b, strict=True):
        sector = ("chipmakers" if firm in model.chipmakers
                  else "other_owners" if firm.kind == "other" else "hyperscalers")
        sheet.loc["listed_equity", sector] -= price  # shares issued: held by owners
    sheet.loc["listed_equity", "rest_of_economy"] = float(market.price_usd_b.sum()) - (
        investor_equity)
    lab_value = float(market.lab_valuation_usd_b.sum())
    investor_labs = float((market.lab_fraction_investors @ market.lab_valuation_usd_b).sum())
    sheet.loc["lab_equity", "labs"] = -lab_value
    sheet.loc["lab_equity", "investors"] = investor_labs
    strategic = {}
    for holder in model.chipmakers + model.gpu_owners:
        sector = ("chipmakers" if holder in model.chipmakers
                  else "other_owners" if holder.kind == "other" else "hyperscalers")
        strategic[sector] = strategic.get(sector, 0.0) + market.stake_value_usd_b(holder)
    for sector, value in strategic.items():
        sheet.loc["lab_equity", sector] += value
    sheet.loc["lab_equity", "rest_of_economy"] = lab_value - investor_labs - sum(
        strategic.values())
    sheet.loc["net_worth"] = sheet.sum(axis=0)
    sheet.index.name = "stock"
    return sheet


def stranded_assets_by_vintage(model) -> pd.DataFrame:
    """Installed GPUs per owner and vintage (DESIGN §7): units and book value, idle units and
    idle book (expected utilization of the vintage's generation below normal, the share
    beyond normal slack), impairment to date, accounting life vs economic life.

    Economic life = age plus the quarters until the vintage's expected rent no longer covers
    its running cost; a shorter economic than accounting life is the gap critics point to. A
    rent that never falls that far (an older-generation rent multiple of 1 or more) gives the
    formula's cap, 100 years past the age (``core.fleet.MAX_ECONOMIC_LIFE_QUARTERS``).
    """
    from bubble_abm.core.fleet import economic_life_quarters

    p = model.params
    utilization = np.clip(model.expected_utilization, 0.0, 1.0)  # as the model judges idleness
    rents = model.expected_rents_usd_per_hour
    opex = model.opex_by_generation()
    rows = []
    for owner in model.gpu_owners:
        fleet = owner.fleet
        if fleet.units_h100e.size == 0:
            continue
        generation = np.clip(fleet.generation, 0, rents.size - 1)
        used = utilization[np.clip(fleet.generation, 0, utilization.size - 1)]
        idle_share = np.clip((p.target_utilization - used) / p.target_utilization, 0.0, 1.0)
        remaining = economic_life_quarters(rents[generation], opex[generation],
                                           p.older_generation_rent_discount,
                                           p.generation_cadence_quarters)
        for i in range(fleet.units_h100e.size):
            rows.append({
                "quarter": model.quarter_label,
                "owner_id": owner.unique_id,
                "owner_kind": owner.kind,
                "vintage_quarter": quarter_label_of_age(model, int(fleet.age_quarters[i])),
                "generation": int(fleet.generation[i]),
                "units_h100e": float(fleet.units_h100e[i]),
                "book_value_usd_b": float(fleet.book_usd_b[i]),
                "idle_units_h100e": float(fleet.units_h100e[i] * idle_share[i]),
                "idle_book_value_usd_b": float(fleet.book_usd_b[i] * idle_share[i]),
                "impairment_to_date_usd_b": float(fleet.impaired_usd_b[i]),
                "stranded_usd_b": float(fleet.book_usd_b[i] * idle_share[i]
                                        + fleet.impaired_usd_b[i]),
                "accounting_life_years": p.gpu_accounting_life_years,
                "economic_life_years": float(fleet.age_quarters[i] + remaining[i]) / 4.0,
            })
    return pd.DataFrame(rows)


def quarter_label_of_age(model, age_quarters: int) -> str:
    """Calendar quarter in which a vintage of the given age was installed."""
    from bubble_abm.calendar import quarter_label

    return quarter_label(model.quarter - age_quarters)
