"""bubble_abm: an agent-based model of the AI investment bubble, built on Mesa 3.5."""

from bubble_abm.model import BubbleModel
from bubble_abm.params import ParameterError, Params, make_params

__all__ = ["BubbleModel", "ParameterError", "Params", "make_params"]
__version__ = "0.1.0"
