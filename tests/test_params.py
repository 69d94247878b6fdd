"""The parameter object rejects bad input with messages naming the field and its range."""

from __future__ import annotations

import math

import pytest

from bubble_abm import BubbleModel, ParameterError, make_params
from bubble_abm.params import Params, describe_parameters, field_range


def test_defaults_are_valid_and_documented():
    params = make_params()
    for row in describe_parameters():
        assert row["unit"], f"{row['name']} has no unit"
        assert row["source"], f"{row['name']} has no source note"
        if row["low"] is not None:
            value = getattr(params, row["name"])
            assert row["low"] <= value <= row["high"], row["name"]


@pytest.mark.parametrize(
    ("values", "field", "allowed"),
    [
        ({"n_investors": -1}, "n_investors", "[1, 200000]"),
        ({"n_app_companies": 0}, "n_app_companies", "[1, 200000]"),
        ({"target_utilization": 1.5}, "target_utilization", "[0.3, 0.99]"),
        ({"leader_market_share": -0.2}, "leader_market_share", "[0.1, 1]"),
        ({"bond_recovery_rate": 1.01}, "bond_recovery_rate", "[0, 1]"),
        ({"data_stock_tokens": math.nan}, "data_stock_tokens", "not finite"),
        ({"risk_free_rate": math.inf}, "risk_free_rate", "not finite"),
        ({"n_quarters": "forty"}, "n_quarters", "an integer"),
        ({"n_quarters": 2.5}, "n_quarters", "an integer"),
        ({"extra_data_worth": "1.0"}, "extra_data_worth", "a number"),
        ({"start_quarter": "2023-01"}, "start_quarter", "like 2027Q1"),
    ],
)
def test_invalid_values_are_rejected_naming_field_and_range(values, field, allowed):
    with pytest.raises(ParameterError) as error:
        make_params(values)
    message = str(error.value)
    assert f"`{field}`" in message
    assert allowed in message


def test_unknown_parameter_is_rejected_with_a_suggestion():
    with pytest.raises(ParameterError, match=r"unknown parameter `n_investor`.*n_investors"):
        make_params({"n_investor": 10})


def test_every_problem_is_reported_at_once():
    with pytest.raises(ParameterError) as error:
        make_params({"n_investors": -1, "target_utilization": 2.0, "nonsense": 1})
    assert len(str(error.value).splitlines()) == 3


def test_integers_are_accepted_for_float_fields():
    assert make_params({"risk_free_rate": 0}).risk_free_rate == 0.0


def test_parameters_are_immutable_and_overrides_are_validated():
    params = make_params()
    with pytest.raises(Exception):  # noqa: B017 - pydantic's frozen-instance error
        params.n_quarters = 10  # type: ignore[misc]
    with pytest.raises(ParameterError, match="n_chipmakers"):
        params.with_overrides(n_chipmakers=0)


def test_model_keyword_overrides_are_validated_like_a_scenario_file():
    with pytest.raises(ParameterError, match="gpu_accounting_life_years"):
        BubbleModel(rng=1, gpu_accounting_life_years=-3.0)
    model = BubbleModel(rng=1, n_investors=15, n_app_companies=15)
    assert model.params.n_investors == 15


def test_field_range_reports_numeric_bounds():
    assert field_range("target_utilization") == (0.3, 0.99)
    assert field_range("start_quarter") is None
    assert set(Params.model_fields) == {row["name"] for row in describe_parameters()}


def test_constant_set_must_be_one_of_the_published_fits():
    with pytest.raises(ParameterError, match="one of 'besiroglu2024', 'hoffmann2022'"):
        make_params({"chinchilla_constants": "kaplan2020"})


def test_the_odd_states_the_current_defaults():
    """docs/ODD.md quotes parameter values as "`name` = value" or "`name` (value)"; each must be
    today's default (refits changed many, and the document lagged). Its last section, the
    differences from the design document, is history and is not checked."""
    import re
    from pathlib import Path

    text = (Path(__file__).parents[1] / "docs" / "ODD.md").read_text(encoding="utf-8")
    text = text.split("## Differences from the design document")[0]
    params = make_params()
    number = r"(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)"
    quoted = re.finditer(rf"`([a-z_0-9]+)`\s*(?:=\s*{number}(?![\d.]\d)|\({number}\))", text)
    stale = []
    for match in quoted:
        name, value = match.group(1), float(match.group(2) or match.group(3))
        default = getattr(params, name, None)
        if (isinstance(default, int | float) and name in Params.model_fields
                and not math.isclose(value, float(default), rel_tol=1e-9)):
            stale.append(f"{name}: ODD says {value:g}, default is {default}")
    assert not stale, stale
