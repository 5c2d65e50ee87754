"""A pair of panoramas taken from one place: camera 1 is camera 0 turned, and nothing else moved.

The pose test calls such a pair a pure rotation (:func:`viewsynth.geometry.pose.pose_from_bearings`:
90 % of its matches move by less than :data:`~viewsynth.geometry.pose.ROTATION_ONLY_PX` working
pixels once the rotation is taken out). There is no baseline to measure depth along, and none is
needed: it is the sweep with every point at infinity (inverse depth 0 in
:func:`viewsynth.sweep.cameras.lookups`). The camera at t is camera 0 turned by
``slerp(I, R, t)``; each of its rays ``d`` (camera 0's axes) is ``d`` in camera 0 and ``R d`` in
camera 1, both inputs see every ray, and they blend by t. Street captures start and stop this way
(a walker standing, a car at a light); before, such pairs went to the fallback (DIS, or the 2D
network at full size, four to sixteen times a posed pair's network work at 2048 wide).

The pose test sees sparse matches at 512 columns, mostly of far things, so a camera that also
moved a few centimetres can pass it; at full size the near things' parallax then misplaces the
turn's warps by a pixel or two. So a pair is taken for a turn only when DIS's dense motion agrees
with it too (:meth:`Turn.disagreement`, :data:`AGREE_PX`).
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from viewsynth.classical import pair_flows
from viewsynth.sweep.cameras import rays_of, rotate, slerp_rotation, to_pixels
from viewsynth.warp import fuse, resample

#: A turn's flows are smooth: made at most this many columns wide and resampled to the frame, a
#: 2048x1024 frame is within 68 dB (WS-PSNR) of the one from full-size flows, in an eighth of the
#: time (80 ms against 625 per t).
WORK_WIDTH = 512
#: The most a turn may differ from DIS's motion (median over the textured pixels both inputs see,
#: in pixels at :data:`WORK_WIDTH` columns). Measured there (TRAINING_LOG.md, session 25): exact
#: rotations of real panoramas 0.10-0.16, the real walks' standing first pairs 0.07-0.09; street
#: renders whose camera also moved 1-4 cm 0.19-0.47, where the turn lost up to 2 dB to DIS.
AGREE_PX = 0.2


@dataclasses.dataclass(frozen=True)
class Turn:
    """The pair's rotation R ``(3, 3)``: a point X in camera 0's axes is ``R X`` in camera 1's."""

    rotation: np.ndarray

    def flows_at(self, tau: float, width: int, height: int):
        """The view at ``tau`` as a candidate of :func:`viewsynth.warp.fuse`, as
        :func:`viewsynth.sweep.render.flows_at` gives it: ``flow_t0``, ``flow_t1``
        ``(H, W, 2)`` float32 (x wrapped to [-W/2, W/2)) and ``weight0 = 1 - tau``."""
        rays = rays_of(width, height, slerp_rotation(self.rotation, tau))  # camera 0's axes
        gx = np.arange(width, dtype=np.float32)[None, :]
        gy = np.arange(height, dtype=np.float32)[:, None]
        flows = []
        for dirs in (rays, rotate(rays, self.rotation)):
            mx, my = to_pixels(dirs, width, height)
            dx = np.mod(mx - gx + width / 2.0, width) - width / 2.0
            flows.append(np.dstack([dx, my - gy]).astype(np.float32))
        return flows[0], flows[1], np.full((height, width), 1.0 - tau, np.float32)

    def render_times(self, img0: np.ndarray, img1: np.ndarray, times) -> np.ndarray:
        """``(T, H, W, 3)`` float32: the panoramas ``img0``, ``img1`` turned to each t and blended."""
        h, w = img0.shape[:2]
        cw = min(w, WORK_WIDTH)
        ch = max(1, round(h * cw / w))
        out = np.empty((len(times), h, w, 3), np.float32)
        for i, t in enumerate(times):
            fuse(img0, img1, [self.flows_at(float(t), cw, ch)], equirect=True, out=out[i])
        return out

    def disagreement(self, img0: np.ndarray, img1: np.ndarray) -> float:
        """The median distance in pixels (at most :data:`WORK_WIDTH` columns) between DIS's motion
        from ``img0`` to ``img1`` and the turn's, over the pixels both see (DIS's forward-backward
        visibility over 0.9) whose grey gradient is above the median (where DIS is measured)."""
        h, w = img0.shape[:2]
        cw = min(w, WORK_WIDTH)
        ch = max(1, round(h * cw / w))
        a, b = (resample(x, cw, ch, equirect=True) for x in (img0, img1))
        dis = pair_flows(a, b, equirect=True)
        _, turn01, _ = self.flows_at(0.0, cw, ch)  # (at t = 0: camera 0's pixels into camera 1)
        d = dis.f01 - turn01
        d[..., 0] = np.mod(d[..., 0] + cw / 2.0, cw) - cw / 2.0
        grey = cv2.cvtColor(a, cv2.COLOR_RGB2GRAY)
        grad = np.hypot(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1))
        keep = (dis.vis0 > 0.9) & (grad > np.median(grad))
        if not keep.any():
            return float("inf")
        return float(np.median(np.hypot(d[..., 0], d[..., 1])[keep]))
