"""Vimeo-90K's triplet layout, as its authors ship it (``vimeo_triplet.zip``)::

    vimeo_triplet/
      tri_testlist.txt      one triplet a line: 00001/0389
      tri_trainlist.txt
      sequences/00001/0389/im1.png, im2.png (the middle), im3.png

A path is read as this layout when it is such a root (its test list: the set evaluation scores) or
one of its list files (``tri_trainlist.txt`` is what training reads). Lines are triplets in the
list's order; blank lines are skipped; a listed folder without its three frames is left out with a
note (a partial download), and a list that names none is an error naming the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from viewsynth.errors import ViewsynthError
from viewsynth.frames import read_image

#: The lists beside ``sequences/`` in a Vimeo-90K triplet root; the first is evaluation's.
LISTS = ("tri_testlist.txt", "tri_trainlist.txt")
FRAMES = ("im1.png", "im2.png", "im3.png")


def list_file(path: str | Path, default: str = LISTS[0]) -> Path | None:
    """The list file ``path`` names: itself (a ``.txt`` with ``sequences/`` beside it) or a root's
    ``default`` list; None when ``path`` is not this layout."""
    path = Path(path)
    if path.is_file() and path.suffix == ".txt" and (path.parent / "sequences").is_dir():
        return path
    if path.is_dir() and (path / "sequences").is_dir():
        if (path / default).is_file():
            return path / default
        others = [name for name in LISTS if (path / name).is_file()]
        if others:  # (a partial download: taken for a capture, "no images in this folder")
            raise ViewsynthError(
                f"{path}: a Vimeo-90K root without {default}: give one of its lists instead "
                f"({', '.join(str(path / name) for name in others)})"
            )
    return None


def triplets(listed: Path) -> tuple[list[tuple[str, list[Path]]], list[str]]:
    """``(name, [im1, im2, im3])`` per line of the list file ``listed``, and notes on the lines
    left out; a ``ViewsynthError`` naming the file when it lists no complete triplet."""
    sequences = listed.parent / "sequences"
    try:
        lines = listed.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise ViewsynthError(f"{listed}: cannot read the Vimeo-90K list ({err})") from None
    found, missing = [], []
    for line in (line.strip() for line in lines):
        if not line:
            continue
        files = [sequences / line / name for name in FRAMES]
        if all(f.is_file() for f in files):
            found.append((line, files))
        else:
            missing.append(line)
    notes = []
    if missing:
        notes.append(
            f"{listed.name}: {len(missing)} listed triplets have no {', '.join(FRAMES)} under "
            f"sequences/ (first: {missing[0]}): left out"
        )
    if not found:
        raise ViewsynthError(
            f"{listed}: lists no triplet with {', '.join(FRAMES)} under {sequences}"
        )
    return found, notes


class VimeoTriplets:
    """A training source: a Vimeo-90K list's triplets, read from disk when drawn (the train list's
    51,313 triplets would hold 53 GB decoded). ``sample(rng)`` is a ``synth.Triplet`` at t = 0.5."""

    def __init__(self, path: str | Path):
        listed = list_file(path, LISTS[1])
        if listed is None:
            raise ViewsynthError(
                f"data.vimeo {path}: not a Vimeo-90K triplet root (sequences/ and "
                f"{LISTS[1]}) or list file"
            )
        self.name = str(listed)
        self.items, self.notes = triplets(listed)

    def __len__(self) -> int:
        return len(self.items)

    def sample(self, rng: np.random.Generator):
        from viewsynth.synth import Triplet

        _name, files = self.items[int(rng.integers(len(self.items)))]
        img0, mid, img1 = (read_image(f).image for f in files)
        return Triplet(img0, mid, img1, 0.5, False)
