"""Relative pose of two neighbouring shots from their images (SIFT + pycolmap's LO-RANSAC).

Frames (DESIGN 3a): a point X in camera 0's axes is ``R @ X + t`` in camera 1's; ``t`` is a unit
vector, camera 1's centre in camera 0 is ``c1 = -R.T @ t`` (|c1| = 1, depth in baselines). Axes are
viewsynth's (x right, y up, z forward; equirect centre column forward). pycolmap's camera frame has
y DOWN, so its rays and poses are conjugated by ``diag(1, -1, 1)`` on the way in and out.

The estimator is ``pycolmap.estimate_relative_pose`` on unit bearings (LO-RANSAC over the 5-point
solver, tangent Sampson error), then ``pycolmap.refine_relative_pose`` on its inliers. When geometry
cannot serve a pair, ``usable`` is False and ``reason`` says why (the caller falls back to flow):
too small, projections differ, featureless, too few inliers, pure rotation (a pair of panoramas
may still be a turn: :mod:`viewsynth.sweep.turn`), too little parallax, and for ordinary photos
sideways motion (:data:`MAX_OFF_AXIS_DEG`).

``confidence`` = inlier ratio x min(1, inliers / 100) x min(1, median parallax / 4 px): near 1 for a
well-textured pair with clear parallax, 0 when unusable. ``prior`` (GPS and compass tags) never
changes ``usable``; a pose that contradicts it gets a ``flags`` entry.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import signal
import threading

import numpy as np

from viewsynth.errors import ViewsynthError
from viewsynth.geometry.features import WORK_WIDTH, match_views
from viewsynth.geometry.pinhole import focal_from_hfov
from viewsynth.geometry.seam import canonical_seam

#: Default horizontal field of view of a perspective photo without a focal length.
DEFAULT_HFOV_DEG = 60.0
MIN_SIDE = 16
MIN_KEYPOINTS = 40
MIN_INLIERS = 30
#: RANSAC threshold in working-scale pixels (converted to an angle per projection).
MAX_ERROR_PX = 0.7
#: Inliers whose derotated displacement stays below this (90th percentile) are a pure rotation.
ROTATION_ONLY_PX = 0.8
#: The reason of such a pose (a pair taken from one place: :class:`viewsynth.sweep.turn.Turn`).
PURE_ROTATION = "pure rotation"
#: Median derotated displacement of the inliers needed for a usable translation.
MIN_PARALLAX_PX = 1.5
#: Prior checks: allowed disagreement with the compass (rotation) and the GPS track (travel).
#: Ordinary photos: a usable pose moves the camera within this angle of its optical axis (forward
#: or back), as a street capture's phone, dashcam or action camera does. Sideways solutions were
#: wrong poses on the benchmark's photos (moving people, a narrow view of a straight road): the
#: pinhole sweep lost up to 2.1 dB to `flow` on them, and the gate took every loss away
#: (TRAINING_LOG.md, session 23). A panorama sees every direction: no such test.
MAX_OFF_AXIS_DEG = 25.0
HEADING_TOL_DEG = 20.0
BEARING_TOL_DEG = 45.0
MIN_GPS_DISTANCE_M = 2.0

_FLIP = np.diag([1.0, -1.0, 1.0])  # viewsynth (y up) <-> COLMAP (y down)


@dataclasses.dataclass(frozen=True)
class RelativePose:
    """The pose of camera 1 relative to camera 0; see the module docstring for the frames."""

    rotation: np.ndarray
    translation: np.ndarray
    inliers: int
    matches: int
    confidence: float
    usable: bool
    reason: str
    flags: tuple[str, ...] = ()

    @property
    def centre1(self) -> np.ndarray:
        """Camera 1's centre in camera 0's axes, ``-R.T @ t`` (unit length when usable)."""
        return -self.rotation.T @ self.translation

    def unrolled(self, shift: float, width: int) -> RelativePose:
        """This pose, solved on both panoramas rolled left by ``shift`` of ``width`` columns
        (``np.roll(img, -shift, 1)``), in the axes of the panoramas as they were."""
        if shift % width == 0:
            return self
        turn = _yaw(-2.0 * math.pi * shift / width)  # original directions -> rolled ones
        return dataclasses.replace(
            self, rotation=turn.T @ self.rotation @ turn, translation=turn.T @ self.translation
        )

    def record(self) -> dict:
        """JSON-ready: rotation as an angle-axis vector in degrees (axis x angle), the rest as is."""
        return {
            "rotation_deg": [round(float(v), 4) for v in rotation_vector_deg(self.rotation)],
            "translation": [round(float(v), 5) for v in self.translation],
            "inliers": int(self.inliers),
            "matches": int(self.matches),
            "confidence": round(float(self.confidence), 4),
            "usable": bool(self.usable),
            "reason": self.reason,
            "flags": list(self.flags),
        }


def rotation_vector_deg(rotation: np.ndarray) -> np.ndarray:
    """Angle-axis vector (unit axis x angle in degrees) of a rotation matrix."""
    r = np.asarray(rotation, np.float64)
    angle = math.acos(max(-1.0, min(1.0, (np.trace(r) - 1.0) / 2.0)))
    axis = np.array([r[2, 1] - r[1, 2], r[0, 2] - r[2, 0], r[1, 0] - r[0, 1]])
    norm = np.linalg.norm(axis)
    if norm < 1e-12:
        if angle < 1e-6:
            return np.zeros(3)
        w, v = np.linalg.eigh(r + np.eye(3))  # angle ~ pi: the axis is the eigenvector of 1
        axis, norm = v[:, -1], 1.0
    return axis / norm * math.degrees(angle)


def rotation_angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    """The angle in degrees of the rotation ``a.T @ b`` (0 when equal)."""
    c = (np.trace(np.asarray(a).T @ np.asarray(b)) - 1.0) / 2.0
    return math.degrees(math.acos(max(-1.0, min(1.0, c))))


def unusable(reason: str, matches: int = 0, inliers: int = 0, flags=()) -> RelativePose:
    """A pose that cannot serve, and why (``reason``)."""
    return RelativePose(np.eye(3), np.zeros(3), inliers, matches, 0.0, False, reason, tuple(flags))


def _check_input(img0: np.ndarray, img1: np.ndarray) -> None:
    for name, img in (("img0", img0), ("img1", img1)):
        if not isinstance(img, np.ndarray) or img.ndim != 3 or img.shape[2] != 3:
            shape = getattr(img, "shape", type(img).__name__)
            raise ViewsynthError(f"relative_pose: {name} must be an (H, W, 3) image, got {shape}")
    if img0.shape != img1.shape:
        raise ViewsynthError(
            f"relative_pose: the two views differ in size ({img0.shape[1]}x{img0.shape[0]} "
            f"and {img1.shape[1]}x{img1.shape[0]}); resize one first"
        )


@functools.cache
def load_pycolmap():
    """pycolmap, imported once. Its glog installs a handler for SIGTERM on import that dumps a
    stack and aborts, past Python's own: ``kill`` then lost ``viewsynth train``'s checkpoint and
    filled a job's console with a stack dump. Imported on the main thread (jobs call this before
    their work), Python's handling of SIGTERM is put back."""
    before = signal.getsignal(signal.SIGTERM)
    import pycolmap

    if threading.current_thread() is threading.main_thread() and before is not None:
        signal.signal(signal.SIGTERM, before)
    return pycolmap


def estimate_pycolmap(
    d0: np.ndarray, d1: np.ndarray, max_error: float, seed: int = 0, min_trials: int | None = None
):
    """LO-RANSAC + refinement on unit bearings ``(M, 3)`` (viewsynth axes); ``max_error`` radians.
    ``min_trials``: RANSAC's least number of samples (None: pycolmap's, 1000); it stops after
    that many once its confidence (0.9999) is reached.

    Returns ``(R, t, inlier mask)`` in viewsynth axes, or None when RANSAC finds nothing.
    """
    pycolmap = load_pycolmap()

    opt = pycolmap.RANSACOptions()
    opt.max_error = float(max_error)
    opt.random_seed = int(seed)
    if min_trials is not None:
        opt.min_num_trials = int(min_trials)
    r0, r1 = d0 @ _FLIP, d1 @ _FLIP
    found = pycolmap.estimate_relative_pose(r0, r1, opt)
    if found is None:
        return None
    pose, mask = found["cam2_from_cam1"], np.asarray(found["inlier_mask"], bool).reshape(-1)
    if mask.sum() >= 5:
        refined = pycolmap.refine_relative_pose(pose, r0, r1, mask)
        if refined is not None:
            pose = refined["cam2_from_cam1"] if isinstance(refined, dict) else refined
    rot = _FLIP @ pose.rotation.matrix() @ _FLIP
    t = _FLIP @ np.asarray(pose.translation, np.float64)
    return rot, t / max(np.linalg.norm(t), 1e-12), mask


def best_rotation(d0: np.ndarray, d1: np.ndarray) -> np.ndarray:
    """The rotation that best maps bearings ``d0`` onto ``d1`` (least squares, Kabsch)."""
    u, _, vt = np.linalg.svd(d1.T @ d0)
    s = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))])
    return u @ s @ vt


def _angles(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.arctan2(np.linalg.norm(np.cross(a, b), axis=-1), np.sum(a * b, axis=-1))


def _wrap_deg(a: float) -> float:
    return (a + 180.0) % 360.0 - 180.0


def check_prior(rotation: np.ndarray, translation: np.ndarray, prior: dict) -> list[str]:
    """Flags where the pose contradicts GPS/compass tags.

    ``prior`` keys (all optional): ``heading0_deg``/``heading1_deg`` (compass direction each camera
    faces, degrees clockwise from north), ``bearing_deg`` (GPS direction of travel from shot 0 to
    shot 1, same units) and ``distance_m`` (GPS distance). Yaw is positive to the right, i.e.
    clockwise seen from above, like a compass.
    """
    flags = []
    fwd1 = rotation.T @ np.array([0.0, 0.0, 1.0])  # camera 1's forward, in camera 0's axes
    yaw = math.degrees(math.atan2(fwd1[0], fwd1[2]))
    h0, h1 = prior.get("heading0_deg"), prior.get("heading1_deg")
    if h0 is not None and h1 is not None:
        tagged = _wrap_deg(float(h1) - float(h0))
        if abs(_wrap_deg(yaw - tagged)) > HEADING_TOL_DEG:
            flags.append(f"rotation contradicts headings (images {yaw:.0f} deg, tags {tagged:.0f})")
    bearing, dist = prior.get("bearing_deg"), prior.get("distance_m")
    if bearing is not None and h0 is not None and (dist is None or dist >= MIN_GPS_DISTANCE_M):
        c1 = -rotation.T @ translation
        travel = float(h0) + math.degrees(math.atan2(c1[0], c1[2]))
        if abs(_wrap_deg(travel - float(bearing))) > BEARING_TOL_DEG:
            flags.append(
                f"travel contradicts GPS (images {travel % 360:.0f} deg, GPS {float(bearing):.0f})"
            )
    return flags


def _yaw(angle: float) -> np.ndarray:
    """The turn about ``y`` that adds ``angle`` radians to every direction's longitude."""
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def relative_pose(
    img0: np.ndarray,
    img1: np.ndarray,
    *,
    equirect: bool,
    focal_px: float | None = None,
    prior: dict | None = None,
    work_width: int = WORK_WIDTH,
    min_trials: int | None = None,
    seed: int = 0,
) -> RelativePose:
    """Pose of view 1 relative to view 0 from two same-size ``(H, W, 3)`` float RGB images.
    ``min_trials``, ``seed``: RANSAC's least number of samples and its random seed
    (:func:`estimate_pycolmap`).

    Panoramas (``equirect``) need a 2:1 aspect; perspective views use ``focal_px`` (pixels at the
    given size) or, without it, a :data:`DEFAULT_HFOV_DEG` field of view (noted in ``flags``).
    Raises :class:`ViewsynthError` for input that is not a pair of images of one size.

    A pair of panoramas is matched with both rolled so that view 0's :func:`canonical_seam` sits
    at the seam, and the pose is turned back (``R = Y^T R' Y``, ``t = Y^T t'``): rolling both
    inputs by any number of columns turns the pose exactly with them (the roll property of
    ``--method sweep``), where SIFT and RANSAC alone move it by hundredths of a degree.
    """
    _check_input(img0, img1)
    if not (equirect and img0.shape[0] >= MIN_SIDE and abs(img0.shape[1] - 2 * img0.shape[0]) <= 1):
        return _relative_pose(img0, img1, equirect, focal_px, prior, work_width, min_trials, seed)
    w = img0.shape[1]
    shift = canonical_seam(img0)
    h0 = None if not prior else prior.get("heading0_deg")
    rolled_prior = prior
    if h0 is not None:  # camera 0 of the rolled pair faces 360 * shift / W further clockwise
        rolled_prior = {**prior, "heading0_deg": float(h0) + 360.0 * shift / w}
        if prior.get("heading1_deg") is not None:
            rolled_prior["heading1_deg"] = float(prior["heading1_deg"]) + 360.0 * shift / w
    pose = _relative_pose(
        np.roll(img0, -shift, 1), np.roll(img1, -shift, 1), True, focal_px, rolled_prior,
        work_width, min_trials, seed,
    )  # fmt: skip
    return pose.unrolled(shift, w)


def _relative_pose(
    img0, img1, equirect, focal_px, prior, work_width, min_trials, seed
) -> RelativePose:
    h, w = img0.shape[:2]
    flags: list[str] = []
    if min(h, w) < MIN_SIDE:
        return unusable(f"image too small ({w}x{h})")
    if equirect and abs(w - 2 * h) > 1:
        return unusable(f"projections differ (equirect needs 2:1, got {w}x{h})")
    if focal_px is not None and not (math.isfinite(focal_px) and focal_px > 0):
        raise ViewsynthError(f"relative_pose: focal length must be positive pixels, got {focal_px}")
    if not equirect and focal_px is None:
        focal_px = focal_from_hfov(w, DEFAULT_HFOV_DEG)
        flags.append(
            f"no focal length: assumed {DEFAULT_HFOV_DEG:.0f} deg horizontal field of view"
        )
    m = match_views(img0, img1, equirect=equirect, focal_px=focal_px, work_width=work_width)
    ww = m.size[0]
    pixel = 2.0 * math.pi / ww if equirect else w / (float(focal_px) * ww)
    n = len(m.d0)
    if min(m.keypoints) < MIN_KEYPOINTS:
        return unusable(f"featureless ({min(m.keypoints)} keypoints)", n, flags=flags)
    pose = pose_from_bearings(
        m.d0, m.d1, pixel, MAX_ERROR_PX, flags=flags, prior=prior, min_trials=min_trials,
        seed=seed,
    )  # fmt: skip
    if equirect or not pose.usable or (off := off_axis_deg(pose.centre1)) <= MAX_OFF_AXIS_DEG:
        return pose
    reason = f"sideways motion ({off:.0f} deg off the optical axis > {MAX_OFF_AXIS_DEG:.0f})"
    return dataclasses.replace(pose, usable=False, confidence=0.0, reason=reason)


def off_axis_deg(centre: np.ndarray) -> float:
    """The angle in degrees between the line through a camera's two centres (``centre``, camera
    1's in camera 0's axes) and camera 0's optical axis, forward or back (0 to 90)."""
    norm = float(np.linalg.norm(centre))
    if norm == 0.0:
        return 0.0
    return math.degrees(math.acos(min(1.0, abs(float(centre[2])) / norm)))


def pose_from_bearings(
    d0: np.ndarray,
    d1: np.ndarray,
    pixel: float,
    max_error_px: float,
    *,
    flags: list[str] | None = None,
    prior: dict | None = None,
    min_trials: int | None = None,
    seed: int = 0,
) -> RelativePose:
    """The pose from matched unit bearings ``d0``, ``d1`` ``(M, 3)`` (view 0's and view 1's),
    with every check of :func:`relative_pose` after matching: ``pixel``, one working pixel as an
    angle (radians); ``max_error_px``, RANSAC's threshold in those pixels; ``min_trials``, see
    :func:`estimate_pycolmap` (and ``seed``, its random seed)."""
    flags = list(flags or [])
    n = len(d0)
    if n < MIN_INLIERS:
        return unusable(f"too few inliers ({n} matches < {MIN_INLIERS})", n, flags=flags)
    found = estimate_pycolmap(d0, d1, max_error_px * pixel, seed, min_trials)
    if found is None:
        return unusable("no geometry found", n, flags=flags)
    rot, t, mask = found
    k = int(mask.sum())
    if k < MIN_INLIERS:
        return unusable(f"too few inliers ({k} < {MIN_INLIERS})", n, k, flags)
    d0, d1 = d0[mask], d1[mask]
    spin = best_rotation(d0, d1)
    still = np.percentile(_angles(d0 @ spin.T, d1), 90) / pixel
    parallax = float(np.median(_angles(d0 @ rot.T, d1)) / pixel)
    if still < ROTATION_ONLY_PX:
        return RelativePose(spin, np.zeros(3), k, n, 0.0, False, PURE_ROTATION, tuple(flags))
    if parallax < MIN_PARALLAX_PX:
        reason = f"too little parallax (median {parallax:.1f} px)"
        return RelativePose(rot, t, k, n, 0.0, False, reason, tuple(flags))
    if prior:
        flags += check_prior(rot, t, prior)
    confidence = (k / n) * min(1.0, k / 100.0) * min(1.0, parallax / 4.0)
    return RelativePose(rot, t, k, n, float(confidence), True, "", tuple(flags))
