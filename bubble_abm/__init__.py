"""bubble_abm: an agent-based model of the AI investment bubble, built on Mesa 3.5.

The names below are imported on first use (PEP 562), so that ``import bubble_abm.console``
(the ``bubble-abm`` command's entry point) is instant and a Ctrl-C while the command's heavy
modules load ends with a one-line message rather than a traceback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bubble_abm.model import BubbleModel
    from bubble_abm.params import ParameterError, Params, make_params

__all__ = ["BubbleModel", "ParameterError", "Params", "make_params"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name == "BubbleModel":
        from bubble_abm.model import BubbleModel

        return BubbleModel
    if name in ("ParameterError", "Params", "make_params"):
        from bubble_abm import params

        return getattr(params, name)
    raise AttributeError(f"module 'bubble_abm' has no attribute {name!r}")
