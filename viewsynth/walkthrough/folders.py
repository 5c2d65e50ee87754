"""Where the work is: the captures under a root, and an output folder that can be written.

A capture is a video file or a folder holding image files directly. A root that is not a capture
itself is a folder of captures (sub-folders and video files), each written to ``OUT/<name>/``:
the unit of work of the runners.
"""

from __future__ import annotations

import os
from pathlib import Path

from viewsynth import frames
from viewsynth.errors import ViewsynthError


def is_capture(path: Path) -> bool:
    """A capture is a video file or a folder holding image files directly."""
    if path.is_file():
        return path.suffix.lower() in frames.VIDEO_SUFFIXES
    return path.is_dir() and any(
        p.suffix.lower() in frames.IMAGE_SUFFIXES and not p.name.startswith(".")
        for p in path.iterdir()
    )


def find_captures(root: Path, out: Path | None = None) -> list[tuple[str, Path]]:
    """``[(name, path)]``: ``root`` itself when it is a capture, else its capture sub-folders.

    A root's sub-folders are the unit of work of the runners; each is written to ``OUT/<name>/``,
    so names are unique: a video named as a folder or another video beside it (``ride/`` and
    ``ride.mp4``) is named with its extension (``ride-mp4``). ``out``: the output folder, never a
    capture when it lies inside the root. An empty root is an error naming it.
    """
    if not root.exists():
        raise ViewsynthError(f"{root}: no such file or folder")
    if root.is_file():
        if root.suffix.lower() in frames.VIDEO_SUFFIXES:
            return [("", root)]
        raise ViewsynthError(f"{root}: not a capture folder or video file")
    if is_capture(root):
        return [("", root)]
    skip = out.resolve() if out is not None else None
    subs = sorted(
        p
        for p in root.iterdir()
        if p.is_dir() and not p.name.startswith(".") and p.resolve() != skip
    )
    subs += sorted(
        p for p in root.iterdir() if p.is_file() and p.suffix.lower() in frames.VIDEO_SUFFIXES
    )
    if not subs:
        raise ViewsynthError(f"{root}: empty folder (no images, videos or capture sub-folders)")
    names = [p.stem if p.is_file() else p.name for p in subs]
    taken = {name for name in names if names.count(name) > 1}
    return [
        (f"{p.stem}-{p.suffix[1:]}" if p.is_file() and name in taken else name, p)
        for name, p in zip(names, subs, strict=True)
    ]


def check_output_dir(out: Path) -> list[Path]:
    """Create ``out`` (and parents) or fail with one line naming it; returns the folders it made,
    ``out`` first (for :func:`remove_if_empty`)."""
    made = [p for p in (out, *out.parents) if not p.exists()]
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".viewsynth-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise ViewsynthError(f"{out}: output folder is not writable ({err.strerror})") from None
    return made


def remove_if_empty(folders: list[Path]) -> None:
    """Remove ``folders`` (innermost first) while they are empty: what a job that stopped before
    writing anything had made, so that a refused run leaves nothing behind."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:  # not empty, or not there
            return
