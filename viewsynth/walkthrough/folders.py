"""Where the work is: the captures under a root, and an output folder that can be written.

A capture is a video file or a folder holding image files directly. A root that is not a capture
itself is a folder of captures (sub-folders and video files), each written to ``OUT/<name>/``:
the unit of work of the runners.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from viewsynth import frames
from viewsynth.capture.folder import output_like, own_outputs
from viewsynth.capture.track import list_names
from viewsynth.errors import ViewsynthError


def is_capture(path: Path) -> bool:
    """A capture is a video file or a folder holding image files directly, unless it holds one
    image only beside captures (sub-folders, videos): a root of captures with a stray photo."""
    if path.is_file():
        return path.suffix.lower() in frames.VIDEO_SUFFIXES
    if not path.is_dir():
        return False
    entries = [p for p in path.iterdir() if not p.name.startswith(".")]
    images = sum(p.suffix.lower() in frames.IMAGE_SUFFIXES and p.is_file() for p in entries)
    if images != 1:
        return images > 1
    return not any(is_capture(p) for p in entries)


def capture_name(source: Path) -> str:
    """A single capture's name in ``summary.json`` and its log lines, whatever became of it: a
    video's stem (``ride`` of ``ride.mp4``), a folder's name."""
    return source.stem if source.is_file() else source.name


def named_warning(warning: str, name: str, source: Path) -> str:
    """One of a capture's warnings as a log of several captures says it: led by the capture's
    ``name`` unless it names it already (by that name or its file's: ``ride.mp4: no GPS ...``)."""
    return warning if warning.startswith((f"{name}:", f"{source.name}:")) else f"{name}: {warning}"


def unsaid(warnings: Sequence[str], early: Sequence[str]) -> list[str]:
    """A finished capture's ``warnings`` less those its runner said ``early``, as it began (each
    said one said once: a warning twice in ``warnings`` and once early is left once)."""
    said, left = list(early), []
    for warning in warnings:
        if warning in said:
            said.remove(warning)
        else:
            left.append(warning)
    return left


def find_captures(root: Path, out: Path | None = None) -> list[tuple[str, Path]]:
    """``[(name, path)]``: ``root`` itself when it is a capture, else its capture sub-folders.

    A root's sub-folders are the unit of work of the runners; each is written to ``OUT/<name>/``,
    so names are unique: a video named as a folder or another video beside it (``ride/`` and
    ``ride.mp4``) is named with its extension (``ride-mp4``). ``out``: the output folder, never a
    capture when it lies inside the root. An empty root is an error naming it (and what it holds
    that is not a capture, if anything: :func:`find_strays`).
    """
    if not root.exists():
        raise ViewsynthError(f"{root}: no such file or folder")
    if root.is_file():
        if root.suffix.lower() in frames.VIDEO_SUFFIXES:
            return [("", root)]
        if root.suffix.lower() in frames.IMAGE_SUFFIXES:
            why = "a single image is not a capture; give the folder that holds the images"
        else:
            why = frames.not_read(root) or "not a capture folder or video file"
        raise ViewsynthError(f"{root}: {why}")
    if is_capture(root):
        return [("", root)]
    folders, videos, strays = _root_entries(root, out)
    subs = folders + videos
    if not subs:
        if strays:
            held = list_names([p.name for p, _ in strays])
            raw = [frames.not_read(p) for p, _ in strays if frames.not_read(p)]
            why = f": {raw[0]}" if raw else ""
            raise ViewsynthError(
                f"{root}: no images, videos or capture sub-folders (only {held}{why})"
            )
        raise ViewsynthError(f"{root}: empty folder (no images, videos or capture sub-folders)")
    names = [capture_name(p) for p in subs]
    taken = {name for name in names if names.count(name) > 1}
    return [
        (f"{p.stem}-{p.suffix[1:]}" if p.is_file() and name in taken else name, p)
        for name, p in zip(names, subs, strict=True)
    ]


def find_strays(root: Path, out: Path | None = None) -> list[tuple[str, str]]:
    """``[(name, reason)]``: the entries of a root of captures that are no capture (a stray
    document, a GPX file, a broken symbolic link), which its run skips; ``[]`` for a capture.

    Hidden entries and the output folder ``out`` are left alone on purpose, so are not listed.
    """
    if not root.is_dir() or is_capture(root):
        return []
    return [(p.name, reason) for p, reason in _root_entries(root, out)[2]]


def _root_entries(
    root: Path, out: Path | None
) -> tuple[list[Path], list[Path], list[tuple[Path, str]]]:
    """A root's sub-folders and video files (each sorted by name), and the other entries with
    why each is no capture; hidden entries and the output folder are in none of them."""
    skip = out.resolve() if out is not None else None
    folders, videos, strays = [], [], []
    for p in sorted(root.iterdir()):
        if p.name.startswith("."):
            continue
        if p.is_dir():  # (a symbolic link to a folder is one)
            if p.resolve() != skip:
                folders.append(p)
        elif p.is_file() and p.suffix.lower() in frames.VIDEO_SUFFIXES:
            videos.append(p)
        elif p.is_symlink():  # to nothing there (or a loop)
            strays.append((p, f"not a capture: a broken symbolic link (to {os.readlink(p)})"))
        elif p.is_file() and p.suffix.lower() in frames.IMAGE_SUFFIXES:
            strays.append((p, "not a capture: one photo beside captures"))
        elif p.is_file():
            why = frames.not_read(p) or "neither a folder of images nor a video file"
            strays.append((p, f"not a capture: {why}"))
        else:
            strays.append((p, "not a capture: not a file or folder"))
    return folders, videos, strays


def check_output_dir(out: Path) -> list[Path]:
    """Create ``out`` (and parents) or fail with one line naming it; returns the folders it made,
    ``out`` first (for :func:`remove_if_empty`)."""
    made = [p for p in (out, *out.parents) if not p.exists()]
    there = next((p for p in (out, *out.parents) if p.exists()), None)
    if there is not None and not there.is_dir():  # (else "not writable (File exists)")
        what = "a file" if there == out else f"{there} is a file"
        raise ViewsynthError(f"{out}: {what}, not a folder: give -o a folder for the outputs")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".viewsynth-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise ViewsynthError(f"{out}: output folder is not writable ({err.strerror})") from None
    return made


def check_not_theirs(out: Path, root: bool = False) -> None:
    """Refuse the output folder ``out`` when it holds files under the names of a run's outputs
    that no run wrote (no fingerprint in a manifest or resume ledger there): ``-o`` pointed at a
    folder of the user's own would overwrite their ``manifest.json``, ``frames/000000.png``.
    ``root``: the folder of a root's run, which writes only its ``summary.json`` there."""
    theirs = sorted(output_like(out)) if out.is_dir() and not own_outputs(out) else []
    theirs = [name for name in theirs if not (name == "summary.json" and _a_summary(out / name))]
    theirs = [name for name in theirs if name == "summary.json"] if root else theirs
    if theirs:
        names = [f"{name}/" if (out / name).is_dir() else name for name in theirs]
        raise ViewsynthError(
            f"{out}: holds {list_names(names)}, not written by viewsynth, which this run would "
            "replace: choose a new or empty output folder, or move them"
        )


def _a_summary(path: Path) -> bool:
    """Whether ``path`` is a ``summary.json`` a run wrote (a root's, which holds no fingerprint)."""
    try:
        return isinstance(json.loads(path.read_text()).get("captures"), list)
    except (OSError, ValueError, AttributeError):  # unreadable, not JSON, not an object
        return False


def remove_if_empty(folders: list[Path]) -> None:
    """Remove ``folders`` (innermost first) while they are empty: what a job that stopped before
    writing anything had made, so that a refused run leaves nothing behind."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:  # not empty, or not there
            return
