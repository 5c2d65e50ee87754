"""Loading a capture (a folder of images or a video) into ordered segments, and streaming its frames.

``load_capture`` dispatches on what the path is: a folder (:mod:`~viewsynth.capture.folder`) or a
video file (:mod:`~viewsynth.capture.video`); both end in :func:`~viewsynth.capture.segments.finish`
(projection, working size, segments, duplicates, yaw). It keeps no pixels. ``iter_frames`` later
decodes a segment one frame at a time, at the working size (photos of another shape centre-cropped
to it, never stretched), turned by each shot's yaw.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from viewsynth.capture.folder import load_folder
from viewsynth.capture.options import CaptureOptions
from viewsynth.capture.orientation import turn_sphere
from viewsynth.capture.shape import crop_and_resize, left_eye, whole_sphere
from viewsynth.capture.shot import Capture, Shot
from viewsynth.capture.video import load_video
from viewsynth.errors import ViewsynthError
from viewsynth.frames import (
    IMAGE_SUFFIXES,
    VIDEO_SUFFIXES,
    from_uint8,
    iter_video,
    not_read,
    read_image,
    resize,
)
from viewsynth.geometry import yaw_roll_columns


def load_capture(
    path: str | Path,
    options: CaptureOptions | None = None,
    *,
    spacing: float = 0.0,
    progress: Callable[[int, int | None], None] | None = None,
) -> Capture:
    """Read the capture at ``path`` (a folder of JPEG/PNG/HEIC images, or a video file).

    Raises ``ViewsynthError`` naming the path when it is missing, holds no images, or leaves fewer
    than two usable frames; bad or duplicate frames are skipped and listed in ``Capture.skipped``.
    ``spacing``: the job's ``--spacing`` (a video sampled every that many metres is read for it:
    :func:`~viewsynth.capture.video.load_video`); ``progress(done, total)``: a folder's images or
    a video's frames decoded so far (``total`` None when not known before).
    """
    options = options or CaptureOptions()
    path = Path(path)
    if not path.exists():
        raise ViewsynthError(f"{path}: no such file or folder")
    if path.is_dir():
        return load_folder(path, options, progress)
    suffix = path.suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        return load_video(path, options, spacing=spacing, progress=progress)
    if suffix in IMAGE_SUFFIXES:
        raise ViewsynthError(
            f"{path}: a single image is not a capture; give the folder that holds the images"
        )
    if reason := not_read(path):
        raise ViewsynthError(f"{path}: {reason}")
    raise ViewsynthError(
        f"{path}: not a capture (expected a folder of JPEG/PNG/HEIC images or a video: "
        f"{', '.join(VIDEO_SUFFIXES)})"
    )


def iter_frames(
    capture: Capture, segment: Sequence[Shot], *, apply_yaw: bool = True
) -> Iterator[tuple[Shot, np.ndarray]]:
    """Yield ``(shot, image)`` for each shot of ``segment`` in order, decoding one at a time.

    ``image`` is ``(H, W, 3)`` float32 RGB in [0, 1] at ``capture.working_size`` (a photo of
    another aspect ratio centre-cropped to the working size's first, not stretched); panoramas come
    turned by ``shot.orientation`` (what their tags say) and then, when ``apply_yaw``, by
    ``shot.yaw`` (whole columns), so their centre faces the direction of travel and consecutive
    frames share an orientation. Raises ``FrameError`` if a
    file stopped being readable since ``load_capture``.
    """
    width, height = capture.working_size
    # A photo of another shape is cut to the working size's (its hfov was, in segments.finish),
    # never stretched; panoramas are 2:1 (or forced to be by capture.projection) and resized.
    fit = resize if capture.equirect else crop_and_resize

    def prepare(shot: Shot, image: np.ndarray) -> np.ndarray:
        image = fit(image, width, height)
        if capture.equirect and shot.orientation is not None:
            image = turn_sphere(image, shot.orientation)
        if apply_yaw and capture.equirect and shot.yaw:
            image = np.roll(image, yaw_roll_columns(width, shot.yaw), axis=1)
        return image

    if capture.kind == "video":
        by_index = {shot.frame_index: shot for shot in segment}
        for index, frame in iter_video(capture.source, set(by_index)):
            shot = by_index[index]
            yield shot, prepare(shot, from_uint8(left_eye(frame, capture.stereo)))
        return
    for shot in segment:
        image = read_image(shot.path, max_pixels=capture.max_pixels).image
        if shot.sphere_rows is not None:
            image = whole_sphere(image, shot.sphere_rows)
        yield shot, prepare(shot, image)
