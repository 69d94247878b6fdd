"""The one validated parameter object of the model.

Every field carries its default, unit, allowed range and the source of the default
(``json_schema_extra``). Scenario files in ``runs/`` override fields by name; anything
invalid is rejected with :class:`ParameterError`, whose message names the field and the
allowed range. Money is in billions of US dollars, GPUs in H100-equivalents (H100e).
"""

from __future__ import annotations

import difflib
import math
import re
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

QUARTER_PATTERN = re.compile(r"^(\d{4})Q([1-4])$")


class ParameterError(ValueError):
    """Invalid parameter values; the message names each field and its allowed range."""


def param(default: Any, lo: float, hi: float, unit: str, source: str) -> Any:
    """A numeric field with an inclusive allowed range, a unit and a source note."""
    return Field(
        default,
        ge=lo,
        le=hi,
        description=f"{unit}; {source}",
        json_schema_extra={"unit": unit, "source": source, "low": lo, "high": hi},
    )


def quarter_param(default: str, source: str) -> Any:
    """A calendar quarter such as "2027Q1"."""
    return Field(
        default,
        description=f"calendar quarter YYYYQn; {source}",
        json_schema_extra={"unit": "quarter (YYYYQn)", "source": source},
    )


class Params(BaseModel):
    """All parameters of a run, with the baseline's defaults (2023Q1; README "Calibration")."""

    model_config = ConfigDict(
        extra="forbid", strict=True, frozen=True, allow_inf_nan=False, validate_default=True
    )

    # --- time and population -------------------------------------------------------------
    start_quarter: str = quarter_param("2023Q1", "DESIGN §2")
    n_quarters: int = param(40, 1, 400, "quarters", "DESIGN §2: 40 quarters")
    n_chipmakers: int = param(3, 1, 10, "agents", "a leader and two challengers (DESIGN §4)")
    n_hyperscalers: int = param(5, 1, 20, "agents", "big four plus one levered cloud (DESIGN §4)")
    n_other_owners: int = param(
        2, 0, 20, "agents", "neoclouds and sovereign/enterprise buyers (DESIGN §11 item 13)"
    )
    n_closed_labs: int = param(5, 1, 30, "agents", "OpenAI, Anthropic, Google DeepMind, xAI, Meta")
    n_open_labs: int = param(3, 0, 30, "agents", "open-weights labs (Meta, Mistral, DeepSeek...)")
    n_app_companies: int = param(120, 1, 200_000, "agents", "DESIGN §4: many app companies")
    n_investors: int = param(120, 1, 200_000, "agents", "DESIGN §4: many investors")

    # --- scaling laws and capability (DESIGN §3) -----------------------------------------
    chinchilla_constants: Literal["besiroglu2024", "hoffmann2022"] = Field(
        "besiroglu2024",
        description="Chinchilla constant set; Besiroglu et al. 2024 refit by default",
        json_schema_extra={"unit": "name", "source": "DESIGN §3"},
    )
    anchor_compute_flop: float = param(
        2.1e25, 1e22, 1e28, "FLOP", "GPT-4 training compute, Epoch AI (2023 frontier)"
    )
    anchor_capability: float = param(
        0.5, 0.01, 0.99, "capability index", "2023 frontier placed mid-scale (our convention)"
    )
    logit_per_log_reducible_loss: float = param(
        2.5, 0.1, 50.0, "logit per log of reducible loss", "value mapping (DESIGN §11.7)"
    )
    rd_compute_multiplier: float = param(
        9.743, 1.0, 20.0, "R&D compute / final run",
        "fitted to the 2023-26 targets and the data-wall chain order by scripts/joint_fit.py "
        "within 3-10 (docs/CALIBRATION.md); was 5.889: Epoch AI (2025): of OpenAI's ~$5B R&D "
        "compute in 2024 ~$0.5B (~10%) went to final training runs; MiniMax and Z.ai filings: "
        "under 30%",
    )
    algorithmic_doubling_years: float = param(
        0.7, 0.2, 10.0, "years", "Ho et al. 2024: compute per performance halves ~8 months"
    )
    data_stock_tokens: float = param(
        15e12, 1e12, 1e16, "tokens", "high-quality text after filtering, 10-20T (DESIGN §3)"
    )
    extra_data_worth: float = param(
        1.0, 0.0, 100.0, "multiple of stock", "R*: repeated/synthetic tokens saturate at (1+R*)S"
    )
    gpu_flop_per_second_h100e: float = param(
        9.89e14, 1e14, 1e16, "FLOP/s", "H100 SXM dense BF16 peak (NVIDIA datasheet)"
    )
    model_flops_utilization: float = param(
        0.4, 0.05, 1.0, "fraction", "typical large-run MFU 35-45% (Epoch AI)"
    )
    training_run_quarters: int = param(2, 1, 8, "quarters", "frontier runs take ~3-6 months")
    training_start_stagger_quarters: int = param(
        0, 0, 7, "quarters",
        "initial condition: lab i starts 2023Q1 (i x this) mod training_run_quarters quarters "
        "into its first run (which then gets only its remaining quarters of compute); 0 = "
        "every lab starts a run together, so their training demand moves in step (the "
        "calibrated baseline); 1 staggers them (docs/CALIBRATION.md, 'Refits that keep the "
        "chains', item 5)",
    )
    training_scaleup_per_year: float = param(
        4.5, 1.0, 20.0, "x per year", "Epoch AI: frontier training compute 4-5x per year"
    )
    tokens_per_task_growth_per_year: float = param(
        0.1, 0.0, 3.0, "fraction per year", "usage deepening, agents/reasoning (DESIGN §11.22)"
    )
    inference_logit_gain_per_doubling: float = param(
        0.12, 0.0, 2.0, "logit per doubling", "reasoning/best-of-N gains (our estimate)"
    )
    verifier_ceiling_logit: float = param(
        1.0, 0.0, 10.0, "logit", "verifier quality caps inference-time gains (DESIGN §3)"
    )
    open_model_lag_quarters: float = param(
        1.2, 0.0, 12.0, "quarters", "Epoch AI Oct 2025: open weights trail ~3.5 months"
    )
    efficiency_jump_factor: float = param(
        1.0, 1.0, 1000.0, "x", "scenario input: one-off algorithmic-efficiency jump (1 = none)"
    )
    efficiency_jump_quarter: str = quarter_param("2027Q1", "scenario input")

    # --- hardware and chip supply ----------------------------------------------------------
    gpu_unit_cost_usd: float = param(
        8000.0, 500.0, 100_000.0, "$ per H100e", "H100 bill of materials ~$3-10k (press)"
    )
    chip_markup: float = param(
        2.96, 0.0, 20.0, "price/cost - 1",
        "chosen within 2.8-3.0 with the 2023-26 targets and the data-wall chain order "
        "(scripts/joint_fit.py, then set by hand: docs/CALIBRATION.md); was 2.8: NVIDIA gross "
        "margin 72.7% (FY2024) and 75.0% (FY2025) in its 10-Ks, a markup of 2.7-3.0",
    )
    chip_markup_backlog_sensitivity: float = param(
        0.006669, 0.0, 10.0, "markup per quarter of backlog",
        "fitted to the 2023-26 targets and the data-wall chain order by scripts/joint_fit.py "
        "within 0-0.03 (docs/CALIBRATION.md); was 0.02008: scarcity pricing (our estimate)",
    )
    generation_cadence_quarters: int = param(
        8, 2, 20, "quarters", "NVIDIA: Hopper 2022, Blackwell 2024, Rubin 2026"
    )
    generation_perf_gain: float = param(
        2.5, 1.0, 10.0, "x H100e per chip", "B200 vs H100 dense throughput ~2.3-2.5x"
    )
    gpu_price_performance_doubling_years: float = param(
        2.07, 0.5, 10.0, "years", "Hobbhahn & Besiroglu 2022 (Epoch): ML GPUs 2.07 years"
    )
    initial_chip_capacity_h100e_per_quarter: float = param(
        647900.0, 1e3, 1e8, "H100e per quarter",
        "fitted to the 2023-26 targets and the data-wall chain order by scripts/joint_fit.py "
        "within 6e5-6.8e5 (docs/CALIBRATION.md); was 642000: NVIDIA DC revenue $14.5-18.4B a "
        "quarter in 2023H2 at ~$30k",
    )
    chip_capacity_lead_quarters: int = param(
        2, 1, 16, "quarters",
        "fitted to the 2023-26 targets and the data-wall chain order by scripts/joint_fit.py "
        "within 1-4 (docs/CALIBRATION.md); was 3: foundry/CoWoS lead time of 2-4 quarters",
    )
    chip_capacity_max_growth_per_quarter: float = param(
        0.1779, 0.0, 2.0, "fraction",
        "fitted to the 2023-26 targets and the data-wall chain order by scripts/joint_fit.py "
        "within 0.15-0.2 (docs/CALIBRATION.md); was 0.1799: CoWoS capacity roughly doubled "
        "yearly 2023-25 (TSMC)",
    )
    leader_market_share: float = param(
        0.9, 0.1, 1.0, "fraction",
        "chosen within 0.85-0.9 with the 2023-26 targets and the data-wall chain order "
        "(scripts/joint_fit.py, then set by hand: docs/CALIBRATION.md); was 0.8945: NVIDIA "
        "~80-90% of AI GPUs",
    )
    chip_supply_shock_fraction: float = param(
        0.0, 0.0, 0.95, "fraction of capacity", "scenario input: foundry capacity cut"
    )
    chip_supply_shock_quarter: str = quarter_param("2027Q1", "scenario input")
    vendor_financing_share: float = param(
        0.05, 0.0, 0.5, "share of profit", "circular deals, e.g. NVIDIA stakes (DESIGN §4)"
    )

    # --- compute rental market -------------------------------------------------------------
    gpu_accounting_life_years: float = param(
        5.5, 1.0, 10.0, "years", "filings: Microsoft/Alphabet 6, Meta 5.5, Amazon 5-6"
    )
    rent_capital_charge_per_year: float = param(
        0.4477, 0.05, 2.0, "$ per $ of GPU per year",
        "fitted to the 2023-26 targets and the data-wall chain order by scripts/joint_fit.py "
        "within 0.3-0.9 (docs/CALIBRATION.md); was 0.6044: depreciation plus return on a GPU's "
        "price per year; payback ~2-3 years at normal utilization",
    )
    rent_opex_usd_per_hour: float = param(
        0.35, 0.0, 5.0, "$ per H100e-hour", "power and operations ~0.7 kW at ~$0.1/kWh x PUE"
    )
    opex_decline_per_generation: float = param(
        0.6, 0.1, 1.0, "opex multiple per generation", "energy per FLOP ~1.7x better per gen"
    )
    target_utilization: float = param(0.8, 0.3, 0.99, "fraction", "normal cloud utilization")
    rent_utilization_sensitivity: float = param(
        3.121, 0.0, 30.0, "log-price per unit utilization",
        "fitted to the 2023-26 targets and the data-wall chain order by scripts/joint_fit.py "
        "within 2.5-4 (docs/CALIBRATION.md); was 3.126: rents cyclical with utilization (Epoch "
        "AI price data)",
    )
    rent_adjustment_speed: float = param(
        0.6, 0.05, 1.0, "fraction per quarter",
        "spot GPU rents reprice within months: H100 ~$8/h (2023) to ~$2/h (late 2024) as supply "
        "came (E. Cheah, '$2 H100s', Oct 2024; Epoch AI price data)"
    )
    older_generation_rent_discount: float = param(
        1.242, 0.1, 1.5, "rent multiple per generation behind",
        "fitted to the 2023-26 targets and the data-wall chain order by scripts/joint_fit.py "
        "within 0.8-1.25, near the upper bound (docs/CALIBRATION.md); was 1.0: per H100e-hour a "
        "generation behind rents ~1.03-1.14x the newest on 2026 rate cards (RunPod, GMI Cloud: a "
        "B200 hour 2.0-2.2x an H100 hour for ~2.3x the dense FP8 FLOPs) and sells at ~1.5x per "
        "H100e (Epoch: H100 ~$23k in 2025, B200 at ~$30-40k for 2.3 H100e, press) (DESIGN §11 "
        "item 4)",
    )
    initial_rental_price_usd_per_hour: float = param(
        4.4, 0.5, 20.0, "$ per H100e-hour", "Epoch AI: H100 $4.0-4.8 at smaller clouds, 2023"
    )
    initial_fleet_h100e: float = param(
        603400.0, 1e3, 1e9, "H100e",
        "fitted to the 2023-26 targets and the data-wall chain order by scripts/joint_fit.py "
        "within 3e5-1.5e6 (docs/CALIBRATION.md); was 594100: A100/H100 base installed before "
        "2023 (our estimate)",
    )
    initial_utilization: float = param(0.9, 0.1, 1.0, "fraction", "2023 GPU shortage")
    initial_expected_growth_per_quarter: float = param(
        0.1519, 0.0, 0.3, "per quarter",
        "fitted to the 2023-26 targets and the data-wall chain order by scripts/joint_fit.py "
        "within 0-0.2 (docs/CALIBRATION.md); new (GPU owners had 0.08, chipmakers 0): growth of "
        "demand (owners) and of orders (chipmakers) expected at the start of 2023, after "
        "ChatGPT's launch (Nov 2022); NVIDIA's data-centre revenue grew ~4x over 2023 ($4.3B to "
        "$18.4B a quarter, 10-Q filings)",
    )
    big_four_fleet_share: float = param(
        0.7074, 0.1, 0.9, "fraction",
        "fitted to the 2023-26 targets and the data-wall chain order by scripts/joint_fit.py "
        "within 0.45-0.75 (docs/CALIBRATION.md); new (was fixed at 0.75): the big four's share "
        "of the opening fleet and of rented demand; the levered cloud holds 0.05, the other "
        "owners the rest (DESIGN §11 item 10: hyperscalers bought roughly half of the leading "
        "chipmaker's data-centre revenue)",
    )

    # --- hyperscalers ----------------------------------------------------------------------
    big_four_legacy_cash_flow_usd_b_per_quarter: float = param(
        110.0, 0.0, 2000.0, "$B per quarter", "big four operating cash flow ~$440B in 2023"
    )
    legacy_cash_flow_growth_per_year: float = param(
        0.1, -0.5, 1.0, "fraction per year", "cloud and ads growth ~10% (filings)"
    )
    non_ai_capex_usd_b_per_quarter: float = param(
        26.07, 0.0, 500.0, "$B per quarter",
        "fitted to the 2023-26 targets and the data-wall chain order by scripts/joint_fit.py "
        "within 15-40 (docs/CALIBRATION.md); was 27.5: big-four non-AI capex ~$110B in 2023",
    )
    datacenter_cost_per_gpu_dollar: float = param(
        0.6, 0.0, 3.0, "$ per $ of GPU", "buildings, power, networking ~40% of AI capex"
    )
    datacenter_build_quarters: int = param(4, 1, 16, "quarters", "DC projects take 1-2 years")
    capex_planning_horizon_quarters: int = param(
        7, 1, 24, "quarters",
        "fitted to the 2023-26 targets by bubble-abm fit within 3-10 (docs/CALIBRATION.md); "
        "was 6: capacity planned for demand this far ahead (lead times)",
    )
    demand_expectation_weight: float = param(
        0.5799, 0.01, 1.0, "weight",
        "fitted to the 2023-26 targets and the data-wall chain order by scripts/joint_fit.py "
        "within 0.45-0.6 (docs/CALIBRATION.md); was 0.5865: adaptive expectations of demand "
        "growth (our estimate)",
    )
    order_adjustment_speed: float = param(
        0.1729, 0.05, 1.0, "fraction per quarter",
        "fitted to the 2023-26 targets and the data-wall chain order by scripts/joint_fit.py "
        "within 0.15-0.22 (docs/CALIBRATION.md); was 0.178: orders move partway to target "
        "(DESIGN §11.18)",
    )
    peer_capex_weight: float = param(
        0.07549, 0.0, 1.0, "weight",
        "fitted to the 2023-26 targets by bubble-abm fit within 0-0.6 (docs/CALIBRATION.md); "
        "was 0.3: fear of falling behind peers' capex (DESIGN §4)",
    )
    sentiment_capex_weight: float = param(
        0.4903, 0.0, 3.0, "growth per unit sentiment",
        "fitted to the 2023-26 targets and the data-wall chain order by scripts/joint_fit.py "
        "within 0-1.5 (docs/CALIBRATION.md); was 0.161: expectations channel (DESIGN §11 item 9)",
    )
    replacement_floor_share: float = param(
        0.5, 0.0, 1.5, "share of depreciation", "maintenance capex floor (DESIGN §11 item 3)"
    )
    initial_inhouse_demand_h100e: float = param(
        576800.0, 0.0, 1e9, "H100e busy",
        "fitted to the 2023-26 targets and the data-wall chain order by scripts/joint_fit.py "
        "within 1e5-6e5 (docs/CALIBRATION.md); was 598100: big four's own AI products and "
        "recommenders (§11.8)",
    )
    inhouse_revenue_per_rent_dollar: float = param(
        0.8, 0.0, 5.0, "$ revenue per $ of compute", "own AI products earn cash (DESIGN §11.17)"
    )
    levered_debt_to_cash_flow: float = param(
        3.5, 0.0, 20.0, "debt / annual cash flow", "Oracle-like levered cloud (press)"
    )
    other_owner_equity_usd_b: float = param(
        341.0, 0.0, 1000.0, "$B each",
        "fitted to the 2023-26 targets and the data-wall chain order by scripts/joint_fit.py "
        "within 5-400 (docs/CALIBRATION.md); was 285.6: neocloud/sovereign buyers' initial funds "
        "(our estimate)",
    )
    max_debt_to_cash_flow: float = param(
        4.0, 0.5, 20.0, "debt / annual cash flow", "leverage ceiling of levered clouds, neoclouds"
    )
    min_interest_coverage: float = param(
        3.0, 0.5, 50.0, "cash flow / interest", "lenders size debt by interest cover: ~3x "
        "EBITDA/interest is the BB-BBB boundary (S&P, Moody's rating methodologies)"
    )
    big_four_max_debt_to_cash_flow: float = param(
        1.0, 0.1, 20.0, "debt / annual cash flow", "AA-rated big four stay near 1x (filings)"
    )
    strategic_stake_share: float = param(
        0.03, 0.0, 0.5, "share of cash flow per quarter", "bounded stakes in labs (§11.14)"
    )

    # --- model labs ------------------------------------------------------------------------
    initial_lab_cash_usd_b: float = param(8.0, 0.0, 500.0, "$B per closed lab", "2023 rounds")
    initial_api_price_usd_per_m_tokens: float = param(
        12.0, 0.01, 1000.0, "$ per million tokens", "GPT-4-class blended price, 2023"
    )
    inference_flop_per_token: float = param(
        5.6e11, 1e9, 1e14, "FLOP per token", "2 x ~280B active parameters (GPT-4 class)"
    )
    inference_utilization: float = param(
        0.3, 0.05, 1.0, "fraction of peak FLOP/s", "serving is memory-bound (~30%)"
    )
    lab_markup: float = param(1.5, 0.0, 20.0, "price/cost - 1", "API gross margins ~50-60%")
    frontier_premium_per_logit: float = param(
        1.5, 0.0, 20.0, "price multiple per logit gap", "premium over open models (DESIGN §3)"
    )
    lab_staff_cost_usd_b_per_quarter: float = param(
        0.3, 0.0, 50.0, "$B per quarter per lab", "research staff and overhead (press)"
    )
    lab_runway_target_quarters: float = param(
        7.0, 1.0, 24.0, "quarters", "rounds sized for 18-24 months of burn (DESIGN §11.10)"
    )
    lab_funding_trigger_quarters: float = param(
        4.0, 0.5, 24.0, "quarters", "a lab raises when runway falls below this"
    )

    # --- application companies and end customers ------------------------------------------
    initial_customer_spend_usd_b_per_quarter: float = param(
        2.5, 0.01, 1000.0, "$B per quarter",
        "the cited ~$10B a year of generative-AI app revenue in 2023 (press), chosen by a "
        "20-seed profile within the fit bounds 1.5-3 (bubble-abm fit gave 1.78 on 6 seeds; "
        "docs/CALIBRATION.md); was 1.5",
    )
    adoption_midpoint_year: float = param(
        2028.0, 2020.0, 2050.0, "calendar year", "diffusion S-curve midpoint (our estimate)"
    )
    adoption_speed_per_year: float = param(
        0.2, 0.05, 5.0, "logistic rate per year", "fast diffusion of generative AI (surveys)"
    )
    token_price_elasticity: float = param(
        1.15, 0.1, 4.0, "elasticity", "token demand elastic > 1 (DESIGN §11 items 1, 15)"
    )
    demand_widening_per_logit: float = param(
        0.2, 0.0, 5.0, "log demand per logit capability", "capability opens new tasks (§11.20)"
    )
    customer_wtp_share_of_gdp: float = param(
        0.015, 0.0, 1.0, "fraction of GDP at full adoption", "bounded willingness to pay"
    )
    gdp_usd_b_per_year: float = param(110_000.0, 1000.0, 1e6, "$B per year", "world GDP 2023")
    gdp_growth_per_year: float = param(0.03, -0.1, 0.2, "fraction per year", "IMF world growth")
    app_markup: float = param(1.0, 0.0, 10.0, "price/cost - 1", "apps resell tokens at ~2x")
    app_overhead_share: float = param(
        0.45, 0.0, 2.0, "share of revenue", "staff, sales, hosting (our estimate)"
    )
    capability_value_per_logit: float = param(
        2.0, 0.0, 10.0, "log value per logit", "apps pay for capability: frontier premium (§3)"
    )
    open_model_adoption_penalty_logit: float = param(
        0.6, 0.0, 5.0, "logit", "enterprises prefer closed models: open ~13% of use (Menlo 2025)"
    )
    app_switching_cost: float = param(
        0.15, 0.0, 5.0, "score advantage needed", "integration costs of changing model"
    )
    app_review_probability: float = param(
        0.25, 0.0, 1.0, "per quarter", "share of apps that review their model choice"
    )
    app_initial_cash_usd_b: float = param(0.05, 0.0, 10.0, "$B per app", "seed/Series A size")
    app_entry_rate: float = param(
        0.05, 0.0, 1.0, "entrants per incumbent per quarter at 100% margin", "entry on profit"
    )

    # --- investors and capital markets -----------------------------------------------------
    investor_wealth_usd_b: float = param(
        6000.0, 10.0, 1e6, "$B in total", "tech-focused investable wealth (our estimate)"
    )
    investor_inflow_per_quarter: float = param(
        0.01, 0.0, 0.2, "fraction of wealth", "new savings flowing to investors"
    )
    initial_trend_follower_share: float = param(
        0.3, 0.0, 1.0, "fraction", "Brock-Hommes strategy mix at start"
    )
    initial_narrative_share: float = param(0.3, 0.0, 1.0, "fraction", "narrative investors")
    intensity_of_choice: float = param(
        3.0, 0.0, 100.0, "per unit return", "Brock & Hommes 1998 logit switching"
    )
    strategy_review_probability: float = param(
        0.3, 0.0, 1.0, "per quarter", "share of investors reconsidering strategy"
    )
    equity_allocation_base: float = param(
        0.45, 0.0, 1.0, "fraction of wealth", "AI-exposed equity weight (our estimate)"
    )
    private_allocation_base: float = param(
        0.025, 0.0, 0.5, "fraction of wealth", "venture/private AI allocation"
    )
    bond_allocation_base: float = param(0.2, 0.0, 1.0, "fraction of wealth", "corporate bonds")
    allocation_return_sensitivity: float = param(
        2.0, 0.0, 50.0, "weight change per unit expected return", "demand sensitivity"
    )
    market_maker_speed: float = param(
        0.5, 0.01, 1.0, "share of log excess demand closed", "partial price adjustment"
    )
    trade_fraction: float = param(
        0.5, 0.01, 1.0, "fraction per quarter", "share of desired rebalancing executed"
    )
    equity_discount_rate: float = param(
        0.09, 0.01, 0.5, "per year", "cost of equity ~9% (CAPM, long-run)"
    )
    valuation_horizon_years: float = param(
        10.0, 1.0, 40.0, "years", "explicit DCF horizon on revenue levels (§11.2)"
    )
    risk_free_rate: float = param(0.045, 0.0, 0.3, "per year", "US 10-year yield 2023-25")
    base_credit_spread: float = param(0.008, 0.0, 0.2, "per year", "IG tech spread ~80 bp")
    spread_per_leverage: float = param(
        0.006, 0.0, 0.2, "per turn of debt/cash flow", "spread widens with leverage"
    )
    spread_per_sentiment: float = param(
        0.02, 0.0, 0.5, "per unit sentiment fall", "spread widens as sentiment falls"
    )
    rate_shock: float = param(0.0, 0.0, 0.2, "per year", "scenario input: rise in rates")
    spread_shock: float = param(
        0.0, 0.0, 0.2, "per year", "scenario input: jump in every borrower's credit spread"
    )
    rate_shock_quarter: str = quarter_param("2027Q1", "scenario input: when rates/spreads jump")
    bond_recovery_rate: float = param(0.4, 0.0, 1.0, "fraction", "Moody's senior unsecured ~40%")

    @field_validator(
        "start_quarter",
        "efficiency_jump_quarter",
        "chip_supply_shock_quarter",
        "rate_shock_quarter",
    )
    @classmethod
    def _is_quarter(cls, value: str) -> str:
        if not QUARTER_PATTERN.match(value):
            raise ValueError("must be a calendar quarter like 2027Q1")
        return value

    def with_overrides(self, **overrides: Any) -> Params:
        """A validated copy with some fields replaced."""
        return make_params({**self.model_dump(), **overrides})


def field_range(name: str) -> tuple[float, float] | None:
    """Allowed (low, high) of a numeric field, or None."""
    extra = Params.model_fields[name].json_schema_extra or {}
    if "low" in extra:
        return float(extra["low"]), float(extra["high"])
    return None


def _describe_error(error: dict[str, Any]) -> str:
    name = ".".join(str(part) for part in error["loc"]) or "parameters"
    value = error.get("input")
    if error["type"] == "extra_forbidden":
        close = difflib.get_close_matches(name, Params.model_fields, n=1)
        hint = f" (did you mean `{close[0]}`?)" if close else ""
        return f"unknown parameter `{name}`{hint}"
    field = Params.model_fields.get(name)
    extra = (field.json_schema_extra or {}) if field else {}
    unit = extra.get("unit", "")
    if "low" in extra:
        expected = "an integer" if field.annotation is int else "a number"
        allowed = f"{expected} in [{extra['low']:g}, {extra['high']:g}] ({unit})"
    elif field is not None and field.annotation is str:
        allowed = "a calendar quarter like 2027Q1"
    elif field is not None and get_origin(field.annotation) is Literal:
        allowed = "one of " + ", ".join(repr(v) for v in get_args(field.annotation))
    else:
        allowed = error["msg"]
    shown = repr(value)
    if isinstance(value, float) and not math.isfinite(value):
        shown = f"{value} (not finite)"
    return f"parameter `{name}` = {shown} is invalid: allowed {allowed}"


def make_params(values: dict[str, Any] | None = None) -> Params:
    """Build a validated :class:`Params`, raising :class:`ParameterError` with clear messages."""
    values = dict(values or {})
    for key, value in list(values.items()):  # TOML/JSON give ints where floats are meant
        field = Params.model_fields.get(key)
        if field is not None and field.annotation is float and type(value) is int:
            values[key] = float(value)
    try:
        return Params(**values)
    except ValidationError as exc:
        lines = [_describe_error(error) for error in exc.errors()]
        raise ParameterError("\n".join(lines)) from None


def describe_parameters() -> list[dict[str, Any]]:
    """Rows (name, default, unit, low, high, source) documenting every parameter."""
    rows = []
    for name, field in Params.model_fields.items():
        extra = field.json_schema_extra or {}
        rows.append(
            {
                "name": name,
                "default": field.default,
                "unit": extra.get("unit", ""),
                "low": extra.get("low"),
                "high": extra.get("high"),
                "source": extra.get("source", ""),
            }
        )
    return rows
