"""The recurrent panoramic interpolation network: layers, warping, correlation, weights I/O.

Public surface: :class:`ModelConfig`, :class:`Network` (``network``), :class:`Init` and
:class:`Candidate` (``state``: the network's state, named), :class:`Output`, :class:`Fields`,
:class:`Encoding` (``output``), :func:`classical_init` and :func:`with_geometry` (``init``: the
classical start), :func:`save_weights`, :func:`load_weights` (``weights``). The interpolator that
runs the network on frames of any size is :class:`viewsynth.interpolators.RNNInterpolator`.
"""

from viewsynth.model.init import classical_init, with_geometry
from viewsynth.model.network import ModelConfig, Network
from viewsynth.model.output import Encoding, Fields, Output
from viewsynth.model.state import Candidate, Init
from viewsynth.model.weights import load_weights, save_weights

__all__ = [
    "Candidate",
    "Encoding",
    "Fields",
    "Init",
    "ModelConfig",
    "Network",
    "Output",
    "classical_init",
    "load_weights",
    "save_weights",
    "with_geometry",
]
