"""Browser view of the model: a Mesa SolaraViz dashboard (``bubble-abm viz``).

- :mod:`bubble_abm.viz.controls`: sliders from the parameter object and the model SolaraViz
  rebuilds on Reset (no Solara import).
- :mod:`bubble_abm.viz.figures`: the matplotlib figures, from the model's public tables.
- :mod:`bubble_abm.viz.components`: the Solara components (status, chain panel, plots, agents).
- :mod:`bubble_abm.viz.app`: the page (``solara run bubble_abm.viz.app``).

Needs the ``viz`` extras: ``pip install -e ".[viz]"``.
"""
