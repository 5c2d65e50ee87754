"""Which triplets a fine-tune learns: ``(k - g, k, k + g)`` inside one segment, the middle ``k``
picked by ``targets``: 'all', or by the parity of the frame's number as ``viewsynth evaluate``
counts it for ``--parity`` (:func:`stored_ranks`), so that ``finetune --targets odd`` and
``evaluate --parity even`` never share a frame. (Counted in capture order, a capture whose clock
order is not its file names' order, or that drops a duplicate, trained on frames the other
parity then scored.)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from viewsynth.capture import Capture
from viewsynth.frames import IMAGE_SUFFIXES, natural_key

Targets = Literal["all", "even", "odd"]


def stored_ranks(path: str | Path, capture: Capture) -> list[int]:
    """Each of ``capture.shots``' number as leave-one-out evaluation counts frames: its place in
    natural file-name order among the folder's images (every one, duplicates too), or its frame
    number in a video."""
    if not Path(path).is_dir():
        return [int(shot.frame_index or 0) for shot in capture.shots]
    names = [p.name for p in Path(path).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES]
    place = {name: i for i, name in enumerate(sorted(names, key=natural_key))}
    return [place[shot.name] for shot in capture.shots]


def target_indices(n: int, targets: Targets) -> list[int]:
    """Middle shots allowed as targets of gap-1 triplets in a capture of one segment of ``n``."""
    return [k for _, k, _ in triplet_choices([n], (1,), targets)]


def _is_target(index: int, targets: Targets) -> bool:
    return targets == "all" or (index % 2 == 1) == (targets == "odd")


def triplet_choices(
    segment_lengths: Sequence[int],
    gaps: Sequence[int],
    targets: Targets,
    ranks: Sequence[int] | None = None,
) -> list[tuple[int, int, int]]:
    """Triplets ``(k - g, k, k + g)`` of shot indices in ``capture.shots`` (time order over all
    segments, from 0), each inside one segment; ``targets`` picks the middle ``k`` by the parity
    of ``ranks[k]`` (:func:`stored_ranks`; None: of ``k``)."""
    starts = np.cumsum([0, *segment_lengths[:-1]]).tolist()
    return [
        (start + j - g, start + j, start + j + g)
        for g in gaps
        for start, n in zip(starts, segment_lengths, strict=True)
        for j in range(g, n - g)
        if _is_target(start + j if ranks is None else ranks[start + j], targets)
    ]
