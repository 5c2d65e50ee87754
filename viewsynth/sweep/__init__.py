"""The sphere sweep: a panorama between two shots from their relative pose (``--method sweep``).

- :mod:`.cameras`: the relative pose, the in-between camera at t (position ``t c1``, rotation
  ``slerp(I, R, t)``) and the two lookups of a ray at an inverse depth (DESIGN 3a).
- :mod:`.rectify`: both panoramas turned so camera 1 sits at the pole: epipolar lines are columns.
- :mod:`.cost`: locally normalised grey at a working scale (survives exposure and white-balance
  changes) and the cost volume over inverse depths, by 1-D lookups along the columns.
- :mod:`.aggregate`: the guided filter, wrapping in longitude.
- :mod:`.depth`: each input's inverse depth once per pair (winner, parabola), their consistency.
- :mod:`.render`: each t by reprojection, z-test visibility, blend by visibility and t; full size.
- :mod:`.pinhole`: the same for ordinary photos (pinhole bearings from the field of view): each
  input's depth by ``cv2.remap`` per hypothesis (:mod:`.pinhole_sweep`, the hypotheses spread
  over two cores); :mod:`.pinhole_render`: the t view by forward splatting, the epipole and the
  unseen borders marked.

Pure NumPy/OpenCV functions (no JAX: every step is a remap, a box sum or a gather, which OpenCV
does on this CPU without a compile; rotations go through ``cv2.transform``).
Images are ``(H, W, 3)`` float32 RGB in [0, 1], equirect panoramas.
"""

from viewsynth.sweep.cameras import PairCameras, slerp_rotation
from viewsynth.sweep.depth import PairDepth, SweepConfig, pair_depth
from viewsynth.sweep.pinhole import PinholeDepth
from viewsynth.sweep.render import render, render_times, view_depth

__all__ = [
    "PairCameras",
    "PairDepth",
    "PinholeDepth",
    "SweepConfig",
    "pair_depth",
    "render",
    "render_times",
    "slerp_rotation",
    "view_depth",
]
