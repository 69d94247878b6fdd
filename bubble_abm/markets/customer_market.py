"""End-customer market and the API market (DESIGN §4 AppCompany, §5, §11 items 1, 15, 20).

End-customer demand is a sector, not an agent. Tokens demanded through app i, per quarter:

    tokens_i = scale · size_i · adoption(t) · exp(w · (logit c_i − logit c_0)) · depth(t)
               · (price_i / price_0)^(−ε)

- adoption(t): logistic diffusion of AI use among businesses and consumers;
- exp(w · Δlogit c): capability widens the set of tasks AI can do (§11.20), the same mechanism in
  every scenario;
- depth(t): tokens per task rising with agents and reasoning (§11.1, §11.22);
- ε: the price elasticity of token demand (> 1 means cheaper tokens raise spending).

Customers' total spending is bounded by a willingness to pay (a share of GDP at full adoption).
Customers pay apps; apps pay their lab per token (the API market); open models are priced near
their serving cost, which caps what closed labs can charge.
"""

from __future__ import annotations

import numpy as np

TOKENS_PER_M = 1e6


def logistic_adoption(year: float, midpoint_year: float, speed_per_year: float) -> float:
    """Share of potential users that have adopted AI: a logistic S-curve (Griliches 1957)."""
    return float(1.0 / (1.0 + np.exp(-speed_per_year * (year - midpoint_year))))


def token_demand_t(
    size: np.ndarray, capability_logit: np.ndarray, customer_price: np.ndarray,
    adoption: float, depth: float, anchor_logit: float, reference_price: float, params,
) -> np.ndarray:
    """Tokens (trillions per quarter, before the scale factor) demanded through each app."""
    p = params
    widening = np.exp(p.demand_widening_per_logit * (capability_logit - anchor_logit))
    price_term = (np.maximum(customer_price, 1e-9) / reference_price) ** (
        -p.token_price_elasticity)
    return size * adoption * widening * depth * price_term


def spend_usd_b(tokens_t: np.ndarray, price_usd_per_m_tokens: np.ndarray) -> np.ndarray:
    """Spending in $B on ``tokens_t`` trillion tokens at a price per million tokens."""
    return tokens_t * price_usd_per_m_tokens * (1e12 / TOKENS_PER_M / 1e9)


def clear_customer_market(model, lab_quotes: tuple[np.ndarray, np.ndarray, np.ndarray]
                          | None = None) -> dict[str, float]:
    """Customers buy from apps, apps buy tokens from labs; all payments through the ledger.

    ``lab_quotes``: each lab's logit capability, API price and whether it lives, if the caller
    has them for the labs as they are now."""
    p = model.params
    apps = model.apps
    ledger = model.ledger
    labs = model.labs
    if lab_quotes is None:
        lab_logit = np.array([lab.capability_logit for lab in labs])
        lab_price = np.array([lab.api_price_usd_per_m_tokens for lab in labs])
        lab_alive = np.array([lab.alive for lab in labs])
    else:
        lab_logit, lab_price, lab_alive = lab_quotes
    app_lab = apps.lab
    app_lab_price = lab_price[app_lab]
    alive = apps.alive & lab_alive[app_lab]  # apps whose lab failed sell nothing this quarter
    customer_price = (1.0 + p.app_markup) * app_lab_price
    # Customers, not apps, hold the demand: when apps exit or enter, the same customers are
    # shared among the apps selling (market shares in proportion to size).
    selling_size = apps.size[alive].sum()
    share_scale = model.initial_app_size_usd / selling_size if selling_size > 0 else 0.0
    raw = token_demand_t(apps.size * share_scale, lab_logit[app_lab], customer_price,
                         model.adoption, model.usage_depth, model.anchor_logit,
                         model.reference_customer_price, p)
    tokens = np.where(alive, raw * model.token_demand_scale, 0.0)
    spending = spend_usd_b(tokens, customer_price)
    budget = p.customer_wtp_share_of_gdp * model.gdp_usd_b_per_quarter * model.adoption
    total = spending.sum()
    spent = total  # spending.sum() while spending is unchanged
    if total > budget > 0.0:
        tokens *= budget / total
        spending *= budget / total
        spent = spending.sum()
    fees = spend_usd_b(tokens, app_lab_price)
    ledger.transfer_many(ledger.rest_of_economy, apps.account, spending, "customer_spending")
    ledger.transfer_many(apps.account, model.lab_accounts[app_lab], fees, "api_fees")
    apps.revenue_usd_b = spending
    apps.token_cost_usd_b = fees
    apps.tokens_t = tokens
    lab_fees = np.bincount(app_lab, weights=fees, minlength=len(labs)).tolist()
    lab_tokens = np.bincount(app_lab, weights=tokens, minlength=len(labs)).tolist()
    for lab, revenue, served in zip(labs, lab_fees, lab_tokens, strict=True):
        lab.record_revenue(revenue, served)
    return {"customer_spend_usd_b": float(spent), "api_fees_usd_b": float(fees.sum()),
            "tokens_t": float(tokens.sum()),
            "demand_index": float(raw[alive].sum())}
