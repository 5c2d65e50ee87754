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
turn's warps by a pixel or two. So a pair is taken for a turn only when DIS finds next to no
motion left once the turn is taken out (:meth:`Turn.confirmed`, :data:`AGREE_PX`).
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from viewsynth import geometry
from viewsynth.classical import pair_flows
from viewsynth.geometry.pose import best_rotation
from viewsynth.sweep.cameras import rays_of, rotate, short_way, slerp_rotation, to_pixels
from viewsynth.warp import blend, fuse, resample, seam_remap

#: A turn's flows are smooth but near the poles: made at most this many columns wide and resampled
#: to the frame (:meth:`Turn.render_times`), a 2048x1024 frame is within 68 dB (WS-PSNR) of the one
#: from full-size flows, in an eighth of the time (80 ms against 625 per t).
WORK_WIDTH = 512
#: The most a pair may still move once its turn is taken out (:meth:`Turn.confirmed`: the 90th
#: percentile, pixels at :data:`WORK_WIDTH` columns). Measured (TRAINING_LOG.md, session 25):
#: exact rotations of real panoramas and of a street render 0.04-0.06, the real walks' standing
#: first pairs 0.19-0.22; street renders whose camera also moved 1-4 cm 0.28-1.22 (the turn lost
#: up to 2 dB to DIS on the farther ones).
AGREE_PX = 0.3


@dataclasses.dataclass(frozen=True)
class Turn:
    """The pair's rotation R ``(3, 3)``: a point X in camera 0's axes is ``R X`` in camera 1's."""

    rotation: np.ndarray

    def flows_at(self, tau: float, width: int, height: int, rows: slice | None = None):
        """The view at ``tau`` as a candidate of :func:`viewsynth.warp.fuse`, as
        :func:`viewsynth.sweep.render.flows_at` gives it: ``flow_t0``, ``flow_t1``
        ``(H, W, 2)`` float32 (x wrapped to [-W/2, W/2)) and ``weight0 = 1 - tau``; ``rows``: only
        those rows of the view (all by default)."""
        rows = slice(0, height) if rows is None else rows
        rays = rays_of(width, height, slerp_rotation(self.rotation, tau), rows)  # camera 0's axes
        gx = np.arange(width, dtype=np.float32)[None, :]
        gy = np.arange(rows.start, rows.stop, dtype=np.float32)[:, None]
        flows = []
        for dirs in (rays, rotate(rays, self.rotation)):
            mx, my = to_pixels(dirs, width, height)
            flows.append(np.dstack([short_way(mx - gx, width), my - gy]).astype(np.float32))
        return flows[0], flows[1], np.full(rays.shape[:2], 1.0 - tau, np.float32)

    def render_times(self, img0: np.ndarray, img1: np.ndarray, times) -> np.ndarray:
        """``(T, H, W, 3)`` float32: the panoramas ``img0``, ``img1`` turned to each t and blended.

        The flows are made at most :data:`WORK_WIDTH` columns wide and resampled by the fusion,
        except where they are not smooth: around a pole a turned view's x flow jumps between
        -W/2 and W/2 from one pixel to the next, and resampling across the jump lands between the
        two. The rows within two working rows of a jump are warped again by full-size flows."""
        h, w = img0.shape[:2]
        cw = min(w, WORK_WIDTH)
        ch = max(1, round(h * cw / w))
        out = np.empty((len(times), h, w, 3), np.float32)
        for i, t in enumerate(times):
            small = self.flows_at(float(t), cw, ch)
            fuse(img0, img1, [small], equirect=True, out=out[i])
            for band in [] if cw == w else _jump_bands(small[:2], h):
                to0, to1, weight0 = self.flows_at(float(t), w, h, band)
                cols = np.arange(w, dtype=np.float32)[None, :]
                rows = np.arange(band.start, band.stop, dtype=np.float32)[:, None]
                warped = [
                    seam_remap(img, cols + f[..., 0], rows + f[..., 1], equirect=True)
                    for img, f in ((img0, to0), (img1, to1))
                ]
                out[i][band] = blend(*warped, weight0)
        return out

    @classmethod
    def confirmed(cls, rotation: np.ndarray, img0: np.ndarray, img1: np.ndarray):
        """``(turn, left)``: the pair's turn from its pose's ``rotation``, corrected by DIS's dense
        motion, and how far the pair still moves once that turn is taken out (in pixels of a
        :data:`WORK_WIDTH`-column panorama; inf when too little of it can be measured). Near zero
        for a turn; the parallax of what is near for a camera that also moved.

        ``img1`` is turned back onto ``img0`` by ``rotation`` and DIS measures what still moves,
        over the pixels both see (forward-backward visibility over 0.9) whose grey gradient is
        above the median (where DIS is measured). (DIS between the inputs themselves is the less
        exact the more they turned, so the turn is taken out first.) The rotation that best
        explains that motion (least squares on the sphere, refitted on the best 80 % twice)
        corrects the pose's, which comes from sparse matches and was off by 0.2 degrees of tilt
        on a real pair; ``left`` is the 90th percentile of what it leaves unexplained."""
        h, w = img0.shape[:2]
        cw = min(w, WORK_WIDTH)
        ch = max(1, round(h * cw / w))
        a, b = (resample(x, cw, ch, equirect=True) for x in (img0, img1))
        to0, to1, weight0 = cls(rotation).flows_at(0.0, cw, ch)  # camera 0's view of img1
        back = fuse(a, b, [(to0, to1, np.zeros_like(weight0))], equirect=True)
        residual = pair_flows(a, back, equirect=True)
        grey = cv2.cvtColor(a, cv2.COLOR_RGB2GRAY)
        grad = np.hypot(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1))
        ys, xs = np.nonzero((residual.vis0 > 0.9) & (grad > np.median(grad)))
        if len(xs) < 3:
            return cls(rotation), float("inf")
        moved = residual.f01[ys, xs].astype(np.float64)
        x, y = xs.astype(np.float64), ys.astype(np.float64)
        d0 = geometry.lonlat_to_direction(*geometry.pixel_to_lonlat(x, y, cw, ch))
        d1 = geometry.lonlat_to_direction(
            *geometry.pixel_to_lonlat(x + moved[:, 0], y + moved[:, 1], cw, ch)
        )
        fix = best_rotation(d0, d1)
        for _ in range(2):
            err = np.linalg.norm(d0 @ fix.T - d1, axis=1)
            best = err <= np.percentile(err, 80)
            fix = best_rotation(d0[best], d1[best])
        mx, my = to_pixels(d0 @ fix.T, cw, ch)
        explained = np.stack([short_way(mx - x, cw), my - y], axis=1)
        left = np.linalg.norm(moved - explained, axis=1)
        # back(p + m) shows what img0 shows at p; back's direction d is img1's R d, so img1 sees
        # img0's direction d0 at R fix d0
        left_px = float(np.percentile(left, 90)) * WORK_WIDTH / cw  # (in pixels of 512 columns)
        return cls(np.asarray(rotation, np.float64) @ fix), left_px


def _jump_bands(flows, height: int) -> list[slice]:
    """The frame rows (of ``height``) within two rows of the small ``flows`` ``(h, w, 2)`` where
    an x flow jumps by over a quarter of the width to a neighbour (around a pole), as slices."""
    ch, cw = flows[0].shape[:2]
    jumps = np.zeros(ch, bool)
    for f in flows:
        x = f[..., 0]
        jumps |= (np.abs(x - np.roll(x, 1, axis=1)) > cw / 4).any(axis=1)
        across = (np.abs(np.diff(x, axis=0)) > cw / 4).any(axis=1)
        jumps[:-1] |= across
        jumps[1:] |= across
    near = np.convolve(jumps, np.ones(5), mode="same") > 0
    edges = np.flatnonzero(np.diff(np.concatenate([[0], near.astype(np.int8), [0]])))
    return [
        slice(int(a) * height // ch, min(height, -(-int(b) * height // ch)))
        for a, b in zip(edges[::2], edges[1::2], strict=True)
    ]
