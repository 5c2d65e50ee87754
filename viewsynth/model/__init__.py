"""The recurrent panoramic interpolation network: layers, warping, correlation, weights I/O.

Public surface: :class:`ModelConfig`, :class:`Network` (``network``), :class:`Output`,
:class:`Encoding` (``output``), :class:`Init` and :func:`classical_init` (``init``),
:func:`save_weights`, :func:`load_weights` (``weights``). The interpolator
(``viewsynth.model.interpolator``) is imported on demand.
"""

from viewsynth.model.init import Init, classical_init
from viewsynth.model.network import ModelConfig, Network
from viewsynth.model.output import Encoding, Output
from viewsynth.model.weights import load_weights, save_weights

__all__ = [
    "Encoding",
    "Init",
    "ModelConfig",
    "Network",
    "Output",
    "classical_init",
    "load_weights",
    "save_weights",
]
