"""The detail measures (issue 33): detail ratio, the walkthrough's pulse and step ratio."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from viewsynth import config as cfgmod
from viewsynth.errors import ViewsynthError
from viewsynth.evaluation.detail import (
    detail,
    detail_ratio,
    grey,
    step_size,
    walk_measures,
)

REPO = Path(__file__).resolve().parents[1]


def _texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Smoothed noise: fine detail at several scales, (h, w, 3) float32 in [0, 1]."""
    rng = np.random.default_rng(seed)
    img = rng.uniform(0, 1, (h, w, 3)).astype(np.float32)
    return np.clip(cv2.GaussianBlur(img, (0, 0), 0.7) * 1.5 - 0.25, 0, 1)


def _blur(img: np.ndarray, sigma: float = 2.0) -> np.ndarray:
    return cv2.GaussianBlur(img, (0, 0), sigma)


def test_detail_ratio_is_one_for_the_truth_and_below_for_a_blur():
    img = _texture(48, 96)
    assert detail_ratio(img, img, equirect=False) == 1.0
    assert detail_ratio(img, img, equirect=True) == 1.0
    assert detail_ratio(_blur(img), img, equirect=False) < 0.5
    assert detail_ratio(img, _blur(img), equirect=True) > 2.0
    # uint8 and float [0, 1] are the same picture
    u8 = np.round(img * 255).astype(np.uint8)
    assert detail(u8, equirect=False) == pytest.approx(detail(u8 / 255.0, equirect=False))


def test_detail_is_the_mean_squared_sobel_magnitude_of_the_grey_image():
    # A vertical ramp of slope s per pixel: the 3x3 Sobel gives 8 s inside, and reflect-101
    # borders give 0 in the first and last rows (the ramp turns back there).
    h, w, s = 10, 20, 0.02
    ramp = np.repeat((np.arange(h) * s)[:, None, None], w, axis=1).repeat(3, axis=2)
    expected = (8 * s) ** 2 * (h - 2) / h
    assert detail(ramp.astype(np.float32), equirect=False) == pytest.approx(expected, rel=1e-5)


def test_detail_works_at_512_wide_and_never_enlarges():
    small = _texture(16, 40)
    assert grey(small).shape == (16, 40)
    big = _texture(300, 1200)
    assert grey(big).shape == (128, 512)
    # area averaging: a 2x2 checkerboard at 1024 wide is flat at 512 wide
    board = np.indices((64, 1024)).sum(axis=0) % 2
    board = np.repeat(board[..., None], 3, axis=2).astype(np.float32)
    assert detail(board, equirect=False) == pytest.approx(0.0, abs=1e-9)


def test_detail_near_the_poles_counts_less_on_panoramas():
    h, w = 64, 128
    flat = np.full((h, w, 3), 0.5, np.float32)
    tex = _texture(h, w, seed=3)
    pole, equator = flat.copy(), flat.copy()
    pole[:8] = tex[:8]  # the same texture in a band at the top ...
    equator[28:36] = tex[28:36]  # ... and in a band across the equator
    assert detail(pole, equirect=False) == pytest.approx(detail(equator, equirect=False), rel=0.2)
    assert detail(pole, equirect=True) < 0.3 * detail(equator, equirect=True)


def test_panorama_detail_wraps_at_the_seam():
    img = _texture(32, 64, seed=5)
    rolled = np.roll(img, 17, axis=1)
    assert detail(rolled, equirect=True) == pytest.approx(detail(img, equirect=True), rel=1e-9)
    assert detail(rolled, equirect=False) != pytest.approx(detail(img, equirect=False), rel=1e-6)


def _walk(photos, make_between, n_between=5):
    """Frames in order (photos with ``n_between`` frames between each two) and photo positions."""
    frames, positions = [], []
    for k, photo in enumerate(photos):
        positions.append(len(frames))
        frames.append(photo)
        if k + 1 < len(photos):
            frames += [make_between(k, j, n_between) for j in range(1, n_between + 1)]
    return frames, positions


def test_pulse_sees_soft_in_between_frames_and_not_sharp_moving_ones():
    scene = _texture(40, 200, seed=1)
    at = lambda x: np.ascontiguousarray(scene[:, x : x + 80])  # noqa: E731 - a camera panning
    photos = [at(0), at(60), at(120)]
    blurred, _ = _walk(photos, lambda k, j, n: _blur(at(60 * k + 60 * j // (n + 1)), 1.5))
    sharp, positions = _walk(photos, lambda k, j, n: at(60 * k + 60 * j // (n + 1)))
    soft = walk_measures(blurred, positions, equirect=False)
    crisp = walk_measures(sharp, positions, equirect=False)
    assert soft.pulse < 0.6 and len(soft.pair_pulses) == 2
    assert crisp.pulse == pytest.approx(1.0, abs=0.1)


def test_pulse_takes_the_mid_pair_frame():
    img = _texture(24, 48)
    # 3 frames between photos at 0 and 4: the mid-pair frame is 2, softened; 1 and 3 are flat.
    flat = np.full_like(img, 0.5)
    frames = [img, flat, _blur(img, 1.0), flat, img]
    m = walk_measures(frames, [0, 4], equirect=False)
    expected = detail(_blur(img, 1.0), equirect=False) / detail(img, equirect=False)
    assert m.pulse == pytest.approx(expected)
    # An even number between: the mean of the two middle frames' details.
    frames = [img, flat, img, flat, flat, img]
    assert walk_measures(frames, [0, 5], equirect=False).pulse == pytest.approx(0.5)


def test_step_ratio_of_uneven_steps():
    # Grey frames whose level moves 0.1 next to each photo and 0.05 between in-betweens:
    # photo 0.0 -> 0.1, 0.15, 0.2 -> photo 0.3 -> 0.4, 0.45, 0.5 -> photo 0.6.
    levels = [0.0, 0.1, 0.15, 0.2, 0.3, 0.4, 0.45, 0.5, 0.6]
    frames = [np.full((8, 16, 3), v, np.float32) for v in levels]
    m = walk_measures(frames, [0, 4, 8], equirect=True)
    assert m.edge_step == pytest.approx(0.1, abs=1e-6)
    assert m.inner_step == pytest.approx(0.05, abs=1e-6)
    assert m.step_ratio == pytest.approx(2.0, rel=1e-4)
    even = [np.full((8, 16, 3), k / 10, np.float32) for k in range(9)]
    assert walk_measures(even, [0, 4, 8], equirect=False).step_ratio == pytest.approx(1.0)
    assert step_size(frames[0], frames[1], equirect=False) == pytest.approx(0.1, abs=1e-6)


def test_motion_step_ratio_tells_a_soft_frame_from_a_jump():
    # A camera panning over a texture, photos 36 pixels apart, 5 frames between. "soft": even
    # 6-pixel steps, every in-between frame blurred (the pulse seen as a step); "jump": sharp
    # frames stepping 8 pixels next to each photo and 5 between. The step ratio rises for the
    # soft frames (and not for the jump: fine texture moved 5 or 8 pixels differs as much); the
    # motion step ratio for the jump only.
    scene = _texture(64, 300, seed=3)
    at = lambda x: np.ascontiguousarray(scene[:, x : x + 128])  # noqa: E731
    photos = [at(0), at(36), at(72)]
    soft, positions = _walk(photos, lambda k, j, n: _blur(at(36 * k + 6 * j), 1.5))
    moves = [0, 8, 13, 18, 23, 28]  # then 8 more to the next photo
    jump, _ = _walk(photos, lambda k, j, n: at(36 * k + moves[j]))
    even, _ = _walk(photos, lambda k, j, n: at(36 * k + 6 * j))
    m_soft = walk_measures(soft, positions, equirect=False)
    m_jump = walk_measures(jump, positions, equirect=False)
    m_even = walk_measures(even, positions, equirect=False)
    assert m_soft.step_ratio > 1.3 and m_soft.motion_step_ratio == pytest.approx(1.0, abs=0.1)
    assert m_jump.motion_step_ratio > 1.25 and m_jump.step_ratio == pytest.approx(1.0, abs=0.05)
    assert m_even.motion_step_ratio == pytest.approx(1.0, abs=0.1)
    # On panoramas the low-pass wraps at the seam: a frame rolled by half its width steps as far
    # as the original (it would not with mirrored borders).
    a, b = soft[1], soft[2]
    rolled = [np.roll(x, 64, axis=1) for x in (a, b)]
    assert step_size(*rolled, equirect=True, sigma=4.0) == pytest.approx(
        step_size(a, b, equirect=True, sigma=4.0), rel=1e-6
    )


def test_walk_measures_refuses_bad_positions():
    frames = [np.zeros((8, 16, 3), np.float32)] * 4
    with pytest.raises(ViewsynthError, match="ascending"):
        walk_measures(frames, [2, 1], equirect=False)
    with pytest.raises(ViewsynthError, match="outside the 4 frames"):
        walk_measures(frames, [0, 4], equirect=False)
    with pytest.raises(ViewsynthError, match="differ in shape"):
        detail_ratio(frames[0], np.zeros((8, 8, 3)), equirect=False)


def test_the_benchmark_measures_the_sample_walk():
    from viewsynth.evaluation.evaluate import BenchmarkConfig

    for name in ("benchmark.yaml", "benchmark_full.yaml"):
        path = REPO / "configs" / name
        walk = cfgmod.load(BenchmarkConfig, path).walk
        assert walk.enabled and (path.parent / walk.capture).resolve() == REPO / "samples" / (
            "fusion_forest"
        )
        assert walk.pairs * (walk.factor - 1) >= 30  # enough frames to be stable


def test_the_walk_section_reports_every_method(tmp_path):
    from viewsynth.evaluation.peers import MethodSpec
    from viewsynth.evaluation.report import render_markdown
    from viewsynth.evaluation.walk import WalkConfig, measure_walk

    folder = tmp_path / "walk"
    folder.mkdir()
    # A camera panning 4 pixels a photo over a smooth texture: flow can follow it.
    rng = np.random.default_rng(2)
    scene = cv2.GaussianBlur(rng.uniform(0, 1, (60, 200, 3)).astype(np.float32), (0, 0), 1.5)
    scene = ((scene - scene.min()) / (scene.max() - scene.min()) * 255).astype(np.uint8)
    for k in range(4):
        cv2.imwrite(str(folder / f"{k:02d}.png"), scene[:, 4 * k : 4 * k + 96, ::-1])
    cfg = WalkConfig(capture="walk", pairs=2, start=1, factor=4)
    rows, notes = measure_walk(cfg, [MethodSpec("linear"), MethodSpec("flow")], tmp_path)
    assert [r["method"] for r in rows] == ["linear", "flow"] and not notes
    linear, flow = rows
    assert len(linear["pair_pulses"]) == 2
    assert linear["pulse"] < 0.6 and flow["pulse"] > 0.9  # a cross-fade doubles the edges
    assert linear["step_ratio"] == pytest.approx(1.0, abs=0.05)  # and steps evenly
    assert linear["motion_step_ratio"] == pytest.approx(1.0, abs=0.05)
    info = {"commit": "x", "cpu": "cpu", "cores": 2, "platform": "p", "python": "3", "started": "t"}
    info["command"] = "viewsynth benchmark"
    text = render_markdown(info, [], walk_rows=rows)
    assert "pairs 2-3 of its photos at `--factor 4`" in text and "| linear |" in text
    assert "| motion step ratio |" in text
    # a run published from before the motion step ratio: its cell is blank
    old = [{k: v for k, v in r.items() if k != "motion_step_ratio"} for r in rows]
    assert "| linear | " in render_markdown(info, [], walk_rows=old)
    with pytest.raises(ViewsynthError, match="pairs 1..3 asked"):
        measure_walk(WalkConfig(capture="walk", pairs=3, start=1), [MethodSpec("linear")], tmp_path)
    with pytest.raises(ViewsynthError, match="nowhere: no such file or folder"):
        measure_walk(WalkConfig(capture="nowhere"), [MethodSpec("linear")], tmp_path)
