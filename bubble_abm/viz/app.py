"""The dashboard page: ``solara run bubble_abm.viz.app`` (or ``bubble-abm viz``).

Mesa's :func:`~mesa.visualization.SolaraViz` draws the page (Step, Play and Reset, the
"Model Parameters" card with the sliders, the grid of tiles); this module adds a scenario
picker above it. Picking a scenario builds the page anew for that scenario file (see
:func:`dashboard_for`), so the model and the sliders start from the scenario's values; Reset
rebuilds the model from the scenario plus the sliders
(``DashboardModel(scenario_name=..., rng=seed, **sliders)``).

Run it offline with the ``viz`` extras installed (see the README, "Browser view")::

    SOLARA_TELEMETRY_MIXPANEL_ENABLE=false solara run bubble_abm.viz.app --production
"""

from __future__ import annotations

import functools

import reacton
import solara
from mesa.visualization import SolaraViz

from bubble_abm.scenarios import list_scenarios
from bubble_abm.viz.components import dashboard_components
from bubble_abm.viz.controls import (
    DEFAULT_SCENARIO,
    DEFAULT_SEED,
    DashboardModel,
    model_params,
    scenario_names,
)

__all__ = [
    "COMPONENTS", "TITLE", "Dashboard", "Layout", "Page", "ScenarioPicker", "dashboard_for",
]

TITLE = "AI investment bubble (bubble_abm)"
COMPONENTS = dashboard_components()  # built once: stable component types across renders


@solara.component
def ScenarioPicker(scenario: solara.Reactive[str]):
    """A select of the named scenarios (``runs/*.toml``) with the chosen one's description."""
    descriptions = dict(list_scenarios())
    with solara.Card("Scenario", classes=["bubble-scenario-picker"]):
        solara.Select(label="Scenario", value=scenario, values=scenario_names())
        solara.Text(descriptions.get(scenario.value, ""), style={"font-size": "0.85em"})


@solara.component
def Dashboard(scenario_name: str = DEFAULT_SCENARIO, seed: int = DEFAULT_SEED):
    """SolaraViz for one scenario: a fresh model, sliders at the scenario's values."""
    model = solara.use_memo(
        lambda: DashboardModel(scenario_name, rng=seed), [scenario_name, seed]
    )
    return SolaraViz(
        model,
        components=COMPONENTS,
        model_params=model_params(scenario_name, seed),
        name=TITLE,
        play_interval=150,
    )


@functools.cache
def dashboard_for(scenario_name: str):
    """The whole page for one scenario, a component type of its own per scenario.

    SolaraViz puts its controls in the sidebar, and Solara renders sidebar content (and keeps
    its state: the "Model Parameters" values that Reset uses, the sliders' positions) in the
    AppLayout, not where SolaraViz sits. So picking a scenario replaces the AppLayout too:
    a different component type makes reacton unmount the old page and mount a new one, whose
    model, sliders and Reset all start from the new scenario.
    """

    def ScenarioPage(scenario: solara.Reactive[str]):
        with solara.AppLayout() as main:  # SolaraViz sets the title in the app bar
            with solara.Sidebar():
                ScenarioPicker(scenario)
            Dashboard(scenario_name)
        return main

    ScenarioPage.__name__ = ScenarioPage.__qualname__ = f"Page_{scenario_name}"
    return reacton.component(ScenarioPage)  # as solara.component, minus its source check


@solara.component
def Layout(children: list | None = None):
    """Solara's layout around :func:`Page`: none, the page draws its own AppLayout."""
    return solara.Column(children=children or [], gap="0px", style={"padding": "0"})


@solara.component
def Page():
    """The page ``solara run`` serves: the dashboard of the chosen scenario."""
    scenario = solara.use_reactive(DEFAULT_SCENARIO)
    return dashboard_for(scenario.value)(scenario)
