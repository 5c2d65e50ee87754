"""The methods compared in an evaluation: ours and the peers a user would otherwise pick.

- ``rnn`` (the project's network) at one or more iteration counts K, when weights exist: the
  shipped ``viewsynth/weights/default.msgpack`` or a file given with ``--weights``.
- ``flow`` (OpenCV DIS, both directions, occlusion-aware) and ``linear`` (cross-fade), from
  ``viewsynth.interpolators``.
- ``minterpolate``: FFmpeg's motion-compensated interpolation (``mi_mode=mci``, ``scd=none``)
  through the ffmpeg binary that imageio-ffmpeg ships. It returns nothing for a 2-frame input, so
  it is fed F0, F0, F1, F1 at 1 fps and asked for ``fps=D`` output, where ``t * D`` is a whole
  number; output frame ``(1 + t) * D`` (counting from 0) lies at ``t`` between the second and third
  input. Intermediates are PNG (rgb24). minterpolate itself works in YUV 4:4:4 (it has no RGB
  mode): that round trip is part of its result.
- ``ExternalCommand``: any program, given as a shell template containing ``{list}``. It is run once
  per dataset on a list file of ``img0 img1 out`` lines (absolute PNG paths, one pair per line,
  the middle frame t = 0.5 wanted at ``out``) and must write every ``out``.

Every in-process method is an ``Interpolator``: ``interp(img0, img1, times, equirect=...,
hfov=...)`` with ``(H, W, 3)`` float32 inputs in [0, 1], returning ``(T, H, W, 3)`` float32.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from viewsynth.errors import FrameError, ViewsynthError, WeightsError
from viewsynth.frames import read_image, write_image
from viewsynth.interpolators import Interpolator, make_interpolator

PEERS = ("linear", "flow", "sweep", "minterpolate", "rnn")
#: minterpolate is asked for at most this many output frames per input interval.
MAX_FPS = 64


class UnsupportedInput(ViewsynthError):
    """A method cannot handle this sample (e.g. a time it cannot produce); skipped with a note."""


def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary imageio-ffmpeg ships (or the one it was told to use)."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def minterpolate_rate(t: float) -> tuple[int, int]:
    """``(fps, index)``: ask minterpolate for ``fps`` and keep output frame ``index`` to get ``t``.

    ``fps`` is the smallest whole number up to ``MAX_FPS`` with ``t * fps`` whole.
    """
    if not 0.0 < t < 1.0:
        raise UnsupportedInput(f"minterpolate: t must lie strictly between 0 and 1, got {t}")
    frac = Fraction(t).limit_denominator(MAX_FPS)
    if abs(float(frac) - t) > 1e-6:
        raise UnsupportedInput(
            f"minterpolate: t={t:.6g} is not a multiple of 1/{MAX_FPS} or coarser"
        )
    fps = frac.denominator
    return fps, (frac.denominator + frac.numerator)


class MInterpolate:
    """FFmpeg ``minterpolate`` (``mi_mode=mci``, ``scd=none``) as an ``Interpolator``."""

    name = "minterpolate"

    def __init__(self, ffmpeg: str | None = None):
        self.ffmpeg = ffmpeg or ffmpeg_exe()
        # Largest memory peak of the ffmpeg processes run so far (they are not in our own RSS).
        self.child_peak_mib = 0.0

    def record(self) -> dict[str, str]:
        """How it interpolates, for a manifest."""
        return {"method": self.name}

    def last_pair(self) -> dict[str, str]:
        """Nothing to say per pair (``Interpolator``): every pair is made the same way."""
        return {}

    def __call__(
        self,
        img0: np.ndarray,
        img1: np.ndarray,
        times: Sequence[float],
        *,
        equirect: bool = False,
        hfov: float | None = None,
    ) -> np.ndarray:
        # minterpolate knows no seam: its borders are borders, whatever ``equirect`` says; nor
        # any camera (``hfov``, as every ``Interpolator`` takes it).
        with tempfile.TemporaryDirectory(prefix="viewsynth-mi-") as tmp:
            work = Path(tmp)
            write_image(work / "0000.png", img0)
            shutil.copyfile(work / "0000.png", work / "0001.png")
            write_image(work / "0002.png", img1)
            shutil.copyfile(work / "0002.png", work / "0003.png")
            return np.stack([self._one(work, float(t)) for t in times]).astype(np.float32)

    def _one(self, work: Path, t: float) -> np.ndarray:
        fps, index = minterpolate_rate(t)
        out = work / f"out_{fps}_{index}.png"
        graph = f"minterpolate=fps={fps}:mi_mode=mci:scd=none,select=eq(n\\,{index})"
        cmd = [
            self.ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
            "-framerate", "1", "-start_number", "0", "-i", str(work / "%04d.png"),
            "-vf", graph, "-frames:v", "1", "-pix_fmt", "rgb24", str(out),
        ]  # fmt: skip
        returncode, stderr, peak = run_sampling_memory(cmd)
        self.child_peak_mib = max(self.child_peak_mib, peak)
        if returncode != 0 or not out.is_file():
            last = (stderr.strip().splitlines() or ["no output"])[-1]
            raise ViewsynthError(f"minterpolate: ffmpeg failed (exit {returncode}): {last}")
        return read_image(out).image


def _vmhwm_mib(pid: int) -> float:
    """Peak resident memory of process ``pid`` (Linux ``VmHWM``) in MiB; 0 when unknown."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except (OSError, ValueError):
        pass
    return 0.0


def run_sampling_memory(cmd: list[str], every_s: float = 0.05) -> tuple[int, str, float]:
    """Run ``cmd``; return its exit status, its stderr and its peak memory in MiB.

    The peak is the child's ``VmHWM``, sampled every ``every_s`` while it runs: ``ru_maxrss`` of
    a child cannot be used, as the kernel hands it the parent's peak at exec.
    """
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak = 0.0
    while True:
        # Popen returns after the exec, so every sample is of the new program.
        peak = max(peak, _vmhwm_mib(proc.pid))
        try:
            _, stderr = proc.communicate(timeout=every_s)
            return proc.returncode, stderr, peak
        except subprocess.TimeoutExpired:
            continue


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


@dataclass(frozen=True)
class ExternalCommand:
    """A user's interpolator run as ``template`` with ``{list}`` replaced by the list file's path.

    ``{list}``: one ``img0 img1 out`` line a pair, and the frame wanted is the midpoint. A command
    written with ``{list_t}`` instead gets ``img0 img1 out t`` lines and any t in (0, 1)."""

    name: str
    template: str

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ViewsynthError(
                f"--external {self.name!r}: a name is letters, digits and _.+- (e.g. rife)"
            )
        if "{list}" not in self.template and "{list_t}" not in self.template:
            raise ViewsynthError(
                f"--external {self.name}: the command must contain {{list}} or {{list_t}}, "
                f"got {self.template!r}"
            )

    @property
    def takes_time(self) -> bool:
        """Whether the command reads a t on each line (``{list_t}``), not only midpoints."""
        return "{list_t}" in self.template

    def accepts(self, times: Sequence[float]) -> bool:
        """Whether the command can be asked for ``times`` (a ``{list}`` one: midpoints only)."""
        return self.takes_time or all(abs(t - 0.5) <= 1e-9 for t in times)

    def run(
        self,
        triplets: Sequence[tuple[Path, Path, Path]],
        list_file: Path,
        times: Sequence[float] | None = None,
    ) -> list[np.ndarray]:
        """Write ``list_file``, run the command once, and return each ``out`` as ``(H, W, 3)`` float32.

        ``times`` (default: all 0.5) go on the lines of a ``{list_t}`` command; a ``{list}``
        command is asked for midpoints, so other times are refused.

        Raises ``ViewsynthError`` naming this method when the command fails or an output is
        missing or unreadable.
        """
        times = [0.5] * len(triplets) if times is None else list(times)
        if len(times) != len(triplets) or not all(0.0 < t < 1.0 for t in times):
            raise ViewsynthError(f"--external {self.name}: one t in (0, 1) per pair, got {times}")
        if not self.accepts(times):
            raise ViewsynthError(f"--external {self.name}: a {{list}} command gets midpoints only")
        lines = []
        for paths, t in zip(triplets, times, strict=True):
            if any(" " in str(p) for p in paths):
                raise ViewsynthError(
                    f"--external {self.name}: paths must not contain spaces: {paths}"
                )
            lines.append(" ".join(str(p) for p in paths) + (f" {t:.9g}" if self.takes_time else ""))
        list_file.write_text("\n".join(lines) + "\n")
        placeholder = "{list_t}" if self.takes_time else "{list}"
        command = self.template.replace(placeholder, shlex.quote(str(list_file)))
        proc = subprocess.run(command, shell=True, capture_output=True, text=True)
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["no message on stderr"])[-1]
            raise ViewsynthError(
                f"--external {self.name}: command failed with exit status {proc.returncode}: {last}"
            )
        outputs = []
        for k, (_, _, out) in enumerate(triplets, start=1):
            if not out.is_file():
                raise ViewsynthError(
                    f"--external {self.name}: no output at {out} (line {k} of {list_file})"
                )
            try:
                outputs.append(read_image(out).image)
            except FrameError as err:
                raise ViewsynthError(f"--external {self.name}: {err}") from None
        return outputs


def parse_external(spec: str) -> ExternalCommand:
    """``"NAME=cmd ... {list}"`` (the ``--external`` flag) -> ``ExternalCommand``."""
    name, sep, template = spec.partition("=")
    if not sep or not name.strip() or not template.strip():
        raise ViewsynthError(f"--external {spec!r}: expected NAME='command {{list}}'")
    return ExternalCommand(name.strip(), template.strip())


def default_weights() -> Path:
    """Where the shipped model's weights live (:data:`viewsynth.model.weights.DEFAULT_WEIGHTS`)."""
    from viewsynth.model.weights import DEFAULT_WEIGHTS  # imports JAX: only when rnn is asked for

    return DEFAULT_WEIGHTS


@dataclass(frozen=True)
class MethodSpec:
    """A method to run, by name: picklable, so speed tests can build it in another process."""

    name: str
    iters: int | None = None
    weights: str | None = None
    photos_weights: str | None = None  # rnn: the network for ordinary photos (None: shipped)

    @property
    def label(self) -> str:
        """Its name in reports and file names: ``flow``, ``rnn-k8``."""
        return f"{self.name}-k{self.iters}" if self.iters is not None else self.name

    def build(self) -> Interpolator:
        """The interpolator, loaded (weights read, nothing compiled yet)."""
        if self.name == "minterpolate":
            return MInterpolate()
        return make_interpolator(
            self.name, iters=self.iters, weights=self.weights, photos_weights=self.photos_weights
        )


def ready(
    methods: Sequence[Any],
    externals: Sequence[ExternalCommand] = (),
    log: Callable[[str], None] | None = None,
) -> list[tuple[str, Any]]:
    """Each method as ``(label, method)``: a spec (``.label``, ``.build()``: ``MethodSpec``) built
    (said to ``log``), or a ready method (a user's own: a callable with a ``name``; scoring needs
    no more of the ``Interpolator`` interface) as it is, labelled by its name. Anything else, or
    two methods or ``externals`` of one name (the second's scores replaced the first's under it,
    silently), is refused in one line."""
    built = []
    for spec in methods:
        if callable(getattr(spec, "build", None)):
            if log:
                log(f"loading {spec.label}")
            built.append((spec.label, spec.build()))
            continue
        name = getattr(spec, "name", None)
        if not (callable(spec) and isinstance(name, str) and name):
            raise ViewsynthError(
                f"method {type(spec).__name__}: not an Interpolator; give it a `name` (its "
                f"column in the table) and `__call__(img0, img1, times, *, equirect, hfov=None)` "
                f"returning (T, H, W, 3)"
            )
        built.append((name, spec))
    labels = [label for label, _ in built] + [ext.name for ext in externals]
    for label in labels:
        if labels.count(label) > 1:
            raise ViewsynthError(
                f"method {label}: two methods of that name, one row in the table; rename one "
                f"(--external {label}2='...')"
            )
    return built


def made_by(interp: Any) -> str | None:
    """The weights file whose network made ``interp``'s last pair, for ``rnn``: its own, or the
    shipped photos network's or 2D network's it hands pairs to (``last_pair`` says which); None
    for a method without weights (or a user's class short of the ``Interpolator`` interface)."""
    if not isinstance(interp, Interpolator):
        return None
    record, last = interp.record(), interp.last_pair()
    if "weights" not in record:
        return None
    if last.get("network") == "photos":
        record = record["photos"]
    if last.get("geometry") is False and "flow_only" in record:
        record = record["flow_only"]
    return record["weights"]


def others_note(label: str, interp: Any, made: Sequence[str | None]) -> list[str]:
    """Which weights files made a set's samples, when more than one did or one other than the
    file ``label`` was given (a researcher's own network scored on photos made none of them,
    silently): the count per file, the one given first."""
    own = None if not any(made) else interp.record().get("weights")
    files = [m for m in made if m is not None]
    if own is None or set(files) <= {own}:
        return []
    shipped = default_weights().parent
    name = lambda f: Path(f).name if Path(f).parent == shipped else f  # noqa: E731 (shipped: named)
    counts = {f: files.count(f) for f in sorted(set(files), key=lambda f: (f != own, f))}
    given = lambda f: f == own and Path(f).parent != shipped  # noqa: E731 (one's own file)
    parts = [f"{n} by {name(f)}" + (" (--weights)" if given(f) else "") for f, n in counts.items()]
    return [f"{label}: of {len(made)} samples, made {', '.join(parts)}"]


def resolve_methods(
    names: Sequence[str],
    iters: Sequence[int] = (),
    weights: str | None = None,
    photos_weights: str | None = None,
) -> tuple[list[MethodSpec], list[str]]:
    """Method specs for ``names`` (``rnn`` once per K in ``iters``) and notes on those skipped.

    ``rnn`` is skipped with a note when no weights were given and none are shipped, or when the
    model code is absent; weights given explicitly but missing are an error.
    """
    specs: list[MethodSpec] = []
    notes: list[str] = []
    if (weights is not None or photos_weights or iters) and "rnn" not in names:  # (unsaid)
        notes.append("--weights and --iters apply to rnn, which is not among the methods: unused")
    for name in dict.fromkeys(names):
        if name not in PEERS:
            raise ViewsynthError(
                f"--method: unknown method {name!r} (choose from {', '.join(PEERS)})"
            )
        if name != "rnn":
            specs.append(MethodSpec(name))
            continue
        if weights is not None:
            if Path(weights).is_dir():
                raise WeightsError(f"--weights {weights}: a folder, not a weights file")
            if not Path(weights).is_file():
                raise WeightsError(f"--weights {weights}: no such file")
            path = str(Path(weights).resolve())
        elif default_weights().is_file():
            path = str(default_weights())
        else:
            notes.append(
                f"rnn: skipped, no weights (none shipped at {default_weights()}; pass --weights FILE)"
            )
            continue
        try:
            import viewsynth.interpolators.rnn  # noqa: F401
        except ImportError as err:
            notes.append(f"rnn: skipped, the model code is not importable ({err})")
            continue
        photos = photos_weights and str(Path(photos_weights).resolve())
        if photos and not Path(photos).is_file():
            raise WeightsError(f"--photos-weights {photos_weights}: no such file")
        specs.extend(MethodSpec("rnn", k, path, photos) for k in (iters or [None]))
    return specs, notes
