"""``viewsynth pair``: in-between frames of two images.

    viewsynth pair IMG0 IMG1 -o OUT.png [--t 0.5 ...] [--method rnn|flow|sweep|linear]
    viewsynth pair --list FILE [--method ...]

    IMG0 ─┐                     one --t      ->  OUT.png
          ├─► interpolator ─►   several --t  ->  OUT-t0.250.png, OUT-t0.500.png, ...
    IMG1 ─┘

``--projection auto`` (the default) decides each pair as a capture is decided: the images' XMP
GPano or EXIF camera, else whether their left and right edges meet (the seam), else the 2:1 shape
with a warning; EXIF focal length gives perspective frames their field of view. Images are read
upright as a capture's: EXIF Orientation, a photo sphere short of the poles put back whole, and
panoramas turned by their GPano pose (a roll over 90 degrees always, a smaller tilt where it levels
both). IMG1 is brought
to IMG0's size: a photo of another shape is centre-cropped to IMG0's aspect ratio first (its field
of view with it), never stretched.

A list file holds one job per non-empty line not starting with '#': ``img0 img1 out [t]``
(whitespace-separated, paths relative to the current folder; "double quotes" around a path with
spaces; a '#' after a space starts a comment). Every line is checked before any work starts (its
images' headers, a panorama paired with a photo, outputs that would overwrite an input or each
other); the interpolator is loaded once and compiled once per image size.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from pathlib import Path

from viewsynth import frames
from viewsynth.capture.metadata import read_metadata
from viewsynth.capture.orientation import gpano_orientation, upright
from viewsynth.capture.projection import decide_images, decide_projection
from viewsynth.capture.shape import aspect_crop, crop_and_resize, whole_sphere
from viewsynth.capture.shot import DEFAULT_HFOV_BY
from viewsynth.errors import FrameError, ViewsynthError
from viewsynth.geometry.pose import DEFAULT_HFOV_DEG
from viewsynth.interpolators import DEFAULT_METHOD, METHODS, make_interpolator
from viewsynth.pipelines.options import Parser, add_frame_options, user_path

log = logging.getLogger("viewsynth")


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = Parser(prog="viewsynth pair", description=__doc__.split("\n\n")[0])
    p.add_argument("img0", nargs="?", type=user_path, help="first frame")
    p.add_argument("img1", nargs="?", type=user_path, help="second frame")
    p.add_argument(
        "-o", "--output", type=user_path, help="output PNG (several --t: stem + -t0.250 etc.)"
    )
    p.add_argument("--t", type=float, action="append", help="time in (0, 1); repeat for several")
    p.add_argument("--list", type=user_path, help="file of 'img0 img1 out [t]' lines")
    p.add_argument("--method", choices=METHODS, default=DEFAULT_METHOD)
    p.add_argument(
        "--hfov", type=float, default=0.0, metavar="DEG",
        help="photos without a focal length in EXIF: the camera's horizontal field of view "
        "(as capture.hfov; default 60, warned)",
    )  # fmt: skip
    add_frame_options(p, projection="auto")
    args = p.parse_args(argv)
    if not (args.hfov == 0.0 or 1.0 <= args.hfov < 180.0):  # (also NaN)
        p.error(f"--hfov must be degrees in [1, 180), got {args.hfov}")
    return args


def _check_t(t: float, where: str) -> float:
    if not 0.0 < t < 1.0:
        raise ViewsynthError(f"{where}t must be in (0, 1), got {t}")
    return t


def output_paths(out: Path, times: list[float]) -> list[Path]:
    """One time -> ``out``; several -> ``<stem>-t0.250<suffix>`` beside it (more digits where three
    would give two times one name). A time given twice is an error."""
    if len(times) == 1:
        return [out]
    repeated = sorted({t for t in times if times.count(t) > 1})
    if repeated:
        raise ViewsynthError(f"--t: {repeated[0]} is given twice")
    suffix = out.suffix or ".png"
    digits = 3
    while len({f"{t:.{digits}f}" for t in times}) < len(times):
        digits += 1
    return [out.with_name(f"{out.stem}-t{t:.{digits}f}{suffix}") for t in times]


def split_line(line: str) -> list[str]:
    """A list file's line as its fields: whitespace-separated, a "double-quoted" field kept whole
    (a path with spaces), a '#' opening a field the start of a comment."""
    fields = []
    for quoted, bare in re.findall(r'"([^"]*)"|(\S+)', line):
        if bare.startswith("#"):
            break
        fields.append(bare or quoted)
    return fields


def check_outputs(jobs) -> None:
    """No output may be an input of any job, nor another job's output: each would lose a file."""
    inputs = {_key(img): (img, where) for img0, img1, _, _, where in jobs for img in (img0, img1)}
    seen: dict[Path, str] = {}
    for _, _, _, outs, where in jobs:
        for out in outs:
            key = _key(out)
            if key in inputs:
                img, of = inputs[key]
                of = f" (of {of.rstrip(': ')})" if of and of != where else ""
                raise ViewsynthError(f"{where}{out}: would overwrite the input {img}{of}")
            if key in seen:
                raise ViewsynthError(f"{where}{out}: also the output of {seen[key].rstrip(': ')}")
            seen[key] = where


def _key(path: Path) -> Path:
    """One name per file, however it is written (relative, ``..``, a link)."""
    return path.resolve()


def read_jobs(args: argparse.Namespace) -> list[tuple[Path, Path, list[float], list[Path]]]:
    """All jobs as (img0, img1, times, outputs), checked before any work."""
    jobs = []
    if args.list is not None:
        if args.img0 or args.img1:
            raise ViewsynthError("--list: give either a list file or IMG0 IMG1, not both")
        try:
            text = args.list.read_text(encoding="utf-8-sig")  # (a BOM is not part of a path)
        except OSError as err:
            raise ViewsynthError(f"{args.list}: cannot read list file ({err.strerror})") from None
        except UnicodeDecodeError:
            raise ViewsynthError(
                f"{args.list}: not a text list file (lines of 'img0 img1 out [t]')"
            ) from None
        for number, line in enumerate(text.splitlines(), start=1):
            parts = split_line(line)
            if not parts:  # (blank, or a comment)
                continue
            where = f"{args.list}:{number}: "
            if len(parts) not in (3, 4):
                raise ViewsynthError(f"{where}expected 'img0 img1 out [t]', got {line!r}")
            try:
                t = float(parts[3]) if len(parts) == 4 else 0.5
            except ValueError:
                raise ViewsynthError(f"{where}t must be a number, got {parts[3]!r}") from None
            jobs.append(
                (Path(parts[0]), Path(parts[1]), [_check_t(t, where)], [Path(parts[2])], where)
            )
        if not jobs:
            raise ViewsynthError(f"{args.list}: no jobs in list file")
    else:
        if not (args.img0 and args.img1 and args.output):
            raise ViewsynthError("give IMG0 IMG1 -o OUT.png, or --list FILE")
        times = [_check_t(t, "--t: ") for t in (args.t or [0.5])]
        out = Path(args.output)
        jobs.append((Path(args.img0), Path(args.img1), times, output_paths(out, times), ""))
    for img0, img1, _, outs, where in jobs:  # every image's header read (none decoded)
        sizes = []
        for img in (img0, img1):
            try:
                sizes.append((img.name, frames.probe_image(img)))
            except FrameError as err:
                raise ViewsynthError(f"{where}{err}") from None
        # a panorama with a photo, refused now rather than after the jobs before it wrote theirs
        try:
            decide_projection(
                img0, sizes, [None, None], [None, None], args.projection, "--projection"
            )
        except ViewsynthError as err:
            raise ViewsynthError(f"{where}{err}") from None
        for out in outs:
            if out.suffix.lower() not in (".png", ".jpg", ".jpeg"):
                raise ViewsynthError(f"{where}{out}: output must end in .png or .jpg")
            parent = out.parent if str(out.parent) else Path(".")
            if parent.exists() and not parent.is_dir():
                raise ViewsynthError(f"{where}{parent}: not a folder (the output's folder)")
            if not parent.is_dir():
                raise ViewsynthError(f"{where}{parent}: output folder does not exist")
    check_outputs(jobs)
    return [job[:4] for job in jobs]


def _match_size(img1, img1_path: Path, img0, img0_path: Path, equirect: bool):
    """``img1`` at ``img0``'s size, said in a warning: a photo of another shape centre-cropped to
    ``img0``'s aspect ratio, never stretched (``decide_images`` gave it the crop's field of view),
    then resized; a panorama (2:1, or forced to be by --projection) resized."""
    (h, w), size = img0.shape[:2], (img1.shape[1], img1.shape[0])
    _, _, kept_w, kept_h = aspect_crop(size, (w, h))
    if equirect or (kept_w, kept_h) == size:
        stretched = frames.stretched(size, (w, h))
        log.warning(
            "%s: resized from %dx%d to %dx%d to match %s%s", img1_path, *size, w, h, img0_path,
            " (stretched: another aspect ratio)" * stretched,
        )  # fmt: skip
        return frames.resize(img1, w, h)
    log.warning(
        "%s: centre-cropped from %dx%d to %dx%d (the aspect ratio of %s, not stretched), then "
        "resized to %dx%d", img1_path, *size, kept_w, kept_h, img0_path, w, h,
    )  # fmt: skip
    return crop_and_resize(img1, w, h)


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    args = parse_args(argv)
    jobs = read_jobs(args)
    interp = make_interpolator(
        args.method, iters=args.iters, scale=args.scale, weights=args.weights,
        photos_weights=args.photos_weights,
    )  # fmt: skip
    written = 0
    for img0_path, img1_path, times, outs in jobs:
        try:
            a, b = frames.read_image(img0_path), frames.read_image(img1_path)
        except FrameError as err:
            raise ViewsynthError(str(err)) from None
        for path, d in ((img0_path, a), (img1_path, b)):
            for note in d.notes:
                log.warning("%s: %s", path, note)
        paths = [img0_path, img1_path]
        metas = [read_metadata(path) for path in paths]
        images = [a.image, b.image]
        if args.projection != "perspective":  # a photo sphere short of the poles, put back whole
            images = [whole_sphere(im, m.sphere_rows) if m.sphere_rows else im
                      for im, m in zip(images, metas, strict=True)]  # fmt: skip
        # (before any resize: a panorama and a photo are a mix, refused as a capture's would be)
        decision, hfov, hfov_by = decide_images(paths, images, args.projection)
        if decision.warning:
            log.warning("%s", decision.warning)
        equirect = decision.projection == "equirect"
        if equirect:  # upright by their GPano pose, as a capture's panoramas
            tilts = [gpano_orientation(m.pose_pitch, m.pose_roll) for m in metas]
            images, left = upright(images, tilts)
            if left:
                log.warning(
                    "%s, %s: GPano PosePitchDegrees/PoseRollDegrees not applied: the pictures are "
                    "level as stored", *paths,
                )  # fmt: skip
        img0, img1 = images
        if img1.shape[:2] != img0.shape[:2]:
            img1 = _match_size(img1, img1_path, img0, img0_path, equirect)
        if not equirect and hfov is None and args.hfov:  # the camera's, given
            hfov, hfov_by = args.hfov, f"--hfov {args.hfov:g} (no focal length in EXIF)"
        # without a focal length the geometry assumes its default, said and shown as a capture's
        shown, shown_by = (DEFAULT_HFOV_DEG, DEFAULT_HFOV_BY) if hfov is None else (hfov, hfov_by)
        if not equirect and hfov is None and args.method in ("sweep", "rnn"):
            log.warning(
                "%s: no focal length in EXIF: geometry assumes a %g degree horizontal field of "
                "view (the camera's: --hfov DEG)", img0_path, DEFAULT_HFOV_DEG,
            )  # fmt: skip
        log.info(
            "%s: %s (%s)%s", img0_path, decision.projection, decision.by,
            "" if equirect else f", hfov {shown:.1f} deg ({shown_by})",
        )  # fmt: skip
        mids = interp(img0, img1, times, equirect=equirect, hfov=hfov)
        # (a 2D network given as --photos-weights says only {"network": "photos"})
        ran = {"method": args.method, **interp.last_pair()}
        if ran["method"] != args.method or ran.get("geometry") is False:
            log.warning(
                "%s: %s fell back to %s (%s)", img0_path, args.method,
                ran["method"] if ran["method"] != args.method else "its fallback", ran["reason"],
            )  # fmt: skip
        for mid, out in zip(mids, outs, strict=True):
            frames.write_image(out, mid)
            written += 1
    log.info("wrote %d frame%s with %s", written, "" if written == 1 else "s", args.method)
    return 0
