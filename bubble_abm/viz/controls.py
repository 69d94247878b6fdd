"""What the dashboard's controls hand the model: slider specs and the model SolaraViz rebuilds.

Pure Python (no Solara import), so the tests can check every slider against the parameter
object without a browser.

- :data:`SLIDERS`: the parameters a user moves, each a :class:`Params` field; its range comes
  from :func:`~bubble_abm.params.field_range` and its starting value from the chosen scenario
  (the defaults of the parameter object for ``baseline``).
- :func:`model_params`: the ``model_params`` dict SolaraViz's "Model Parameters" card shows.
- :class:`DashboardModel`: :class:`~bubble_abm.BubbleModel` built from a scenario name plus the
  sliders' keyword arguments. It adds no behaviour to the model: it turns the keywords into a
  validated :class:`Params` (via :func:`~bubble_abm.scenarios.load_scenario`) and stops at the
  scenario's horizon, as ``bubble-abm run`` does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from bubble_abm import BubbleModel
from bubble_abm.params import Params, field_range
from bubble_abm.scenarios import list_scenarios, load_scenario

__all__ = [
    "DEFAULT_SCENARIO",
    "DEFAULT_SEED",
    "SEED_RANGE",
    "SLIDERS",
    "DashboardModel",
    "SliderSpec",
    "model_params",
    "scenario_names",
    "slider_overrides",
]

DEFAULT_SCENARIO = "baseline"
DEFAULT_SEED = 1  # the seed `bubble-abm run` uses by default
SEED_RANGE = (0, 100)


@dataclass(frozen=True)
class SliderSpec:
    """One slider: a :class:`Params` field, shown on a linear or a log10 scale."""

    field: str  # the Params field it sets
    label: str
    step: float  # in slider units (log10 units for a log slider)
    log10: bool = False  # the slider moves log10 of the value (for fields spanning decades)

    @property
    def name(self) -> str:
        """The keyword the model receives (SolaraViz passes slider values by name)."""
        return f"log10_{self.field}" if self.log10 else self.field

    def bounds(self) -> tuple[float, float]:
        """(min, max) of the slider, from the parameter object's allowed range."""
        rng = field_range(self.field)
        if rng is None:  # pragma: no cover - every slider field is a ranged number
            raise ValueError(f"parameter {self.field} has no range")
        low, high = rng
        return (math.log10(low), math.log10(high)) if self.log10 else (low, high)

    def to_slider(self, value: float) -> float:
        """Slider position of a parameter value, on the slider's grid of steps.

        The browser's slider snaps a value that is off its grid to the nearest step and
        reports the change, which would alter the parameter before the user touches it.
        """
        low, _ = self.bounds()
        position = math.log10(value) if self.log10 else float(value)
        decimals = max(0, -math.floor(math.log10(self.step)) + 1)
        return round(low + round((position - low) / self.step) * self.step, decimals)

    def to_param(self, slider_value: float) -> float:
        """Parameter value of a slider position, kept inside the allowed range.

        A log slider gives two significant digits (10**13.18 -> 1.5e13), so the positions of
        round values such as 1.5e13 give exactly those values back.
        """
        low, high = field_range(self.field)  # type: ignore[misc]
        if self.log10:
            value = float(f"{10.0 ** float(slider_value):.2g}")
        else:  # drop float noise such as 0.30000000000000004 from slider arithmetic
            value = round(float(slider_value), 10)
        return min(max(value, low), high)


#: The key parameters of issue 6: data wall, algorithmic efficiency, GPU accounting life,
#: open-model lag, investors' trend following, interest rate, end-customer willingness to pay.
SLIDERS: tuple[SliderSpec, ...] = (  # short labels: Mesa puts the label beside the slider
    SliderSpec("extra_data_worth", "Extra data worth (x stock)", 0.1),
    SliderSpec("data_stock_tokens", "Data stock (log10 tokens)", 0.01, log10=True),
    SliderSpec("algorithmic_doubling_years", "Algo. doubling (years)", 0.05),
    SliderSpec("gpu_accounting_life_years", "GPU book life (years)", 0.25),
    SliderSpec("open_model_lag_quarters", "Open-model lag (qtrs)", 0.1),
    SliderSpec("initial_trend_follower_share", "Trend followers (share)", 0.05),
    SliderSpec("risk_free_rate", "Interest rate (per year)", 0.005),
    SliderSpec("customer_wtp_share_of_gdp", "Customer WTP (GDP share)", 0.001),
)
_BY_NAME = {spec.name: spec for spec in SLIDERS}


def scenario_names() -> list[str]:
    """Named scenarios (``runs/*.toml``), the default one first."""
    names = [name for name, _ in list_scenarios()]
    return sorted(names, key=lambda n: (n != DEFAULT_SCENARIO, n))


def model_params(scenario_name: str = DEFAULT_SCENARIO, seed: int = DEFAULT_SEED
                 ) -> dict[str, Any]:
    """SolaraViz ``model_params``: the scenario (fixed), a seed slider and :data:`SLIDERS`.

    Every slider starts at the scenario's value, with the range of the parameter object.
    """
    params = load_scenario(scenario_name)
    out: dict[str, Any] = {
        "scenario_name": scenario_name,
        "rng": {
            "type": "SliderInt",
            "value": int(seed),
            "label": "Seed",
            "min": SEED_RANGE[0],
            "max": SEED_RANGE[1],
            "step": 1,
        },
    }
    for spec in SLIDERS:
        low, high = spec.bounds()
        out[spec.name] = {
            "type": "SliderFloat",
            "value": spec.to_slider(getattr(params, spec.field)),
            "label": spec.label,
            "min": low,
            "max": high,
            "step": spec.step,
        }
    return out


def slider_overrides(values: dict[str, Any]) -> dict[str, Any]:
    """Parameter overrides from keyword arguments by slider name (log sliders converted)."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        spec = _BY_NAME.get(name)
        out[spec.field if spec else name] = spec.to_param(value) if spec else value
    return out


class DashboardModel(BubbleModel):
    """A :class:`BubbleModel` from a named scenario and slider values (keyword arguments).

    SolaraViz's Reset calls ``type(model)(**model_params)`` and, in Mesa 3.5, also passes Mesa's
    own ``scenario=`` object; :class:`BubbleModel` keeps its parameters in :class:`Params`, so
    that object is ignored here. Other keywords override the scenario's parameters by name and
    are validated like a scenario file (a bad value raises ``ParameterError``).
    """

    def __init__(
        self,
        scenario_name: str = DEFAULT_SCENARIO,
        *,
        rng: Any = DEFAULT_SEED,
        scenario: Any = None,  # noqa: ARG002 - Mesa's Scenario object, see the class docstring
        **overrides: Any,
    ):
        params: Params = load_scenario(scenario_name, slider_overrides(overrides))
        super().__init__(params, rng=rng)
        self.scenario_name = scenario_name
        self.seed = rng

    def step(self) -> None:
        """One quarter; stops (``running = False``) at the scenario's ``n_quarters``."""
        super().step()
        self.running = self.steps < self.params.n_quarters
