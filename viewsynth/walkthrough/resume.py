"""Resume: finished work is recognised and kept, by a ledger in the output folder.

``OUT/.viewsynth-state.json`` holds the fingerprint of the run (:func:`fingerprint`: the inputs'
names, sizes and bytes at their ends, the shots read from them, every setting and the
interpolator's own record), each segment finished under it (its file names and manifest rows),
the chunks finished of the segment in progress, and whether the whole capture was completed. A
segment is taken as done when the ledger lists it under the same fingerprint and its files still
exist; a capture when, besides, the ledger says complete and ``manifest.json`` exists. Any other
fingerprint starts the ledger afresh; the files that earlier one's segments had made and this run
does not remake are removed once this run completes (three segments' videos and GPX where
settings now make one). A capture completed under a fingerprint that differs in ``fps`` alone
(the ledger keeps the fingerprint less ``fps`` as ``frames``) is re-timed, not made again
(:mod:`~viewsynth.walkthrough.retime`).

Inside a segment, the videos are encoded in closed pieces of ``chunk_frames`` frames
(:mod:`viewsynth.export.chunks`); the run records the pieces its writer has closed after every
pair, and every finished segment, so an interrupted run resumes at the first frame of its
unfinished chunk.

The ledger is a log: its first record is the whole state (written aside, then renamed, when a run
begins), each later one a line appended (the pieces closed and the pair records made since the
last, a finished segment, completion), so the work of recording grows with the capture, not with
its square (rewritten whole at every closed piece, a 50,000-frame capture of 50 segments spent
449 s and 7.6 GB of writes on it). Read back, the records are applied in order; one cut short by
a kill (the last) is left out, with nothing before it lost. A ledger of one JSON object (the
earlier form) reads as a log of its first record. ``chunk_frames`` is not part of the
fingerprint (it does not change a frame of the outputs): a re-run with another chunk size keeps
finished segments and redoes only the one in progress.

Before the run writes anything, :func:`plan_segments` turns the ledger and the pieces on disk into
a :class:`SegmentPlan` per segment: finished (its record), or the closed pieces kept and, for
every pair, how many of its frames those hold; a pair whose frames they all hold is not
interpolated again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from viewsynth import config as config_lib
from viewsynth import frames
from viewsynth.capture import Capture
from viewsynth.capture.heading import HEADING_SMOOTHING
from viewsynth.capture.schedule import PairSchedule, video_pace
from viewsynth.errors import ViewsynthError
from viewsynth.export.chunks import finished_pieces
from viewsynth.export.segment import segment_names
from viewsynth.walkthrough.manifest import MANIFEST
from viewsynth.walkthrough.settings import InterpolateSettings

STATE_FILE = ".viewsynth-state.json"


def fingerprints(
    capture: Capture,
    settings: InterpolateSettings,
    record: dict[str, Any],
    *,
    fitted: tuple[int, int] | None = None,
) -> tuple[str, str]:
    """The run's fingerprint and its frames' (without ``fps``: runs that differ in the frame rate
    alone make the same frames). The fingerprint: a hash of the inputs (names, sizes and their
    bytes' ends: :func:`_sampled`), what the capture made of them (each shot's time, position,
    heading and turn: an edited ``--gpx`` track changes those and nothing else), every setting
    and the interpolator's record (``Interpolator.record()``); ``fitted``: the smaller working
    size the memory budget chose (a re-run with another never joins its pieces to these)."""
    h, frames_h = hashlib.sha256(), hashlib.sha256()  # (one pass over the inputs for both)
    decisive = config_lib.to_dict(settings)
    decisive.pop("chunk_frames", None)  # how the work is cut, not what it makes
    decisive.pop("max_memory", None)  # (what it makes: the working size, ``fitted``)
    if fitted is not None:
        decisive["fitted"] = list(fitted)
    # Settings newer than most runs' ledgers, at their defaults, hash as before they existed, so
    # those runs resume (what they change shows in the shots hashed below): left out, or the
    # heading smoothing in metres as the one in shots it replaced (tracked panoramas' turns are
    # not the same: they start again).
    reading = decisive["capture"]
    # capture.hfov decides nothing but the shots' fields of view, hashed with them below: a
    # panorama's run, or photos that carry their own, resume whatever it is
    reading.pop("hfov", None)
    # nor does an ordinary photo's heading (a manifest field, no pixel): left out, with the
    # align_heading that sets it (a finished run keeps its manifest, not made again for it)
    if flat := capture.projection == "perspective":
        reading.pop("align_heading", None)
    for held, key, default in (
        (reading, "duplicate_images", True),
        (decisive, "photos_weights", None),
    ):
        if key in held and held[key] == default:
            del held[key]
    if reading.get("heading_smoothing_metres") == HEADING_SMOOTHING:
        del reading["heading_smoothing_metres"]
        reading["heading_smoothing"] = 2.0
    h.update(json.dumps(decisive, sort_keys=True).encode())
    decisive.pop("fps")
    frames_h.update(json.dumps(decisive, sort_keys=True).encode())

    def update(data: bytes) -> None:
        h.update(data)
        frames_h.update(data)

    update(json.dumps(record, sort_keys=True).encode())
    # a variable-rate video's steps per pair follow its frames' times (hashed below) as the code
    # reads them: its runs before that did not, and start again (a constant rate's keep theirs)
    pace = video_pace(capture, settings.capture_options(capture.source), settings.factor)
    if pace is not None:
        update(json.dumps(dataclasses.asdict(pace), sort_keys=True).encode())
    files: dict[Path, str] = {}  # (a video's shots share one file)
    for segment in capture.segments:
        for shot in segment:
            if shot.path not in files:
                files[shot.path] = _sampled(shot.path)
            update(f"{shot.name}|{shot.frame_index}|{files[shot.path]}".encode())
            read = dataclasses.asdict(shot)
            read.pop("path")  # (the same capture by another path is the same capture)
            # fields newer than most runs' ledgers (--spacing on a video, a panorama's tags):
            # left out when unset, so those runs' captures keep their fingerprint
            for newer in ("along", "whole", "orientation"):
                if newer in read and read[newer] is None:
                    del read[newer]
            if flat:
                read.pop("view_heading", None)
            update(json.dumps(read, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16], frames_h.hexdigest()[:16]


#: Bytes read from each end of an input file for its fingerprint.
_SAMPLE_BYTES = 1 << 16


def _sampled(path: Path) -> str:
    """A file's size and a hash of its first and last ``_SAMPLE_BYTES``: what its content is,
    whatever its modification time (a card copied again, a ``touch``), read in a moment even for
    a video of gigabytes. An edit rewrites a JPEG's or an MP4's header or its encoded end."""
    size = path.stat().st_size
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read(_SAMPLE_BYTES))
        if size > 2 * _SAMPLE_BYTES:
            f.seek(size - _SAMPLE_BYTES)
        h.update(f.read())
    return f"{size}|{h.hexdigest()[:16]}"


class Ledger:
    """The resume state of one output folder under one fingerprint (see the module docstring)."""

    def __init__(self, out: Path, key: str, frames_key: str = "", fps: float | None = None):
        self.out = out
        self.path = out / STATE_FILE
        state = read_state(self.path)
        # fresh: nothing here was made under this fingerprint (other settings, inputs or weights)
        self.fresh = state.get("fingerprint") != key
        self.before = state if self.fresh else {}  # (what another fingerprint's run recorded)
        if self.fresh:
            # what runs under other fingerprints wrote here, removed once this run has its own
            # outputs (:meth:`complete`): a run cut short before then keeps them
            stale = list(state.get("stale", [])) + [
                f for seg in state.get("segments", {}).values() for f in seg["files"].values()
            ]
            state = {"fingerprint": key, "segments": {}, "stale": sorted(set(stale))}
        if frames_key:  # the fingerprint less fps, and fps: a later run at another rate re-times
            state.update(frames=frames_key, fps=fps)  # (:meth:`retimable`)
        self.state = state
        self._told: dict[int, int] = {}  # per segment: how many of its pair records are logged

    def finished_outputs(self) -> list[str] | None:
        """The video files of a capture completed under this fingerprint, when they all still
        exist (and the manifest does); else None."""
        if not ((self.out / MANIFEST).exists() and self.state.get("complete")):
            return None
        outputs = [
            str(self.out / f)
            for seg in self.state["segments"].values()
            for f in seg["files"].values()
        ]
        return outputs if all(Path(p).exists() for p in outputs) else None

    def retimable(self) -> float | None:
        """The frame rate of a capture completed here by a run whose fingerprint differs from
        this one's in ``fps`` alone (its frames are this run's), when all its files and the
        manifest exist; else None (a ledger from before runs recorded their frames' key, too)."""
        before, mine = self.before, self.state.get("frames")
        if not (mine and before.get("complete") and before.get("frames") == mine):
            return None
        if before.get("fps") == self.state["fps"] or not (self.out / MANIFEST).exists():
            return None
        files = [f for seg in before["segments"].values() for f in seg["files"].values()]
        return float(before["fps"]) if all((self.out / f).exists() for f in files) else None

    def retimed(self) -> None:
        """The earlier run's segments (:meth:`retimable`), re-timed, are this run's: recorded
        under this fingerprint, complete (the whole state written aside, then renamed)."""
        self.state.update(segments=self.before["segments"], complete=True)
        self.state.pop("stale", None)
        frames.write_text(self.path, json.dumps(self.state) + "\n")

    def begin(self) -> None:
        """Mark the capture incomplete before any output is touched: the whole state is written
        (aside, then renamed), the first record of this run's log."""
        self.state["complete"] = False
        frames.write_text(self.path, json.dumps(self.state) + "\n")

    def done_segment(self, seg: int) -> dict | None:
        """Segment ``seg``'s record (files and manifest rows) when it is finished and its files exist."""
        done = self.state["segments"].get(str(seg))
        if done and all((self.out / f).exists() for f in done["files"].values()):
            return done
        return None

    def done_chunks(self, seg: int, chunk_frames: int) -> int:
        """How many chunks of ``chunk_frames`` frames of segment ``seg`` a previous run finished
        (:func:`plan_segments` checks that their pieces still exist)."""
        done = self.state.get("chunks", {}).get(str(seg))
        if done and done["chunk_frames"] == chunk_frames:
            return int(done["done"])
        return 0

    def done_pairs(self, seg: int, chunk_frames: int) -> list[dict]:
        """The pair records (the manifest's ``pairs``) of segment ``seg``'s pairs interpolated
        before its last closed piece by a previous run (with this ``chunk_frames``), by pair."""
        done = self.state.get("chunks", {}).get(str(seg))
        if done and done["chunk_frames"] == chunk_frames:
            return list(done.get("pairs", []))
        return []

    def finish_chunks(
        self,
        seg: int,
        chunk_frames: int,
        done: int,
        pairs: Sequence[dict] = (),
        frames: int | None = None,
    ) -> None:
        """The first ``done`` chunks of segment ``seg`` are closed pieces (logged when that is news),
        holding ``frames`` frames (None: ``done`` whole chunks; the last piece may be shorter),
        with the records of the pairs interpolated so far (``pairs``: a list that only grows, each
        with its ``"pair"``), which a resumed run keeps for the pairs it does not make again. Only
        the records not logged yet are written."""
        if done == self.done_chunks(seg, chunk_frames):
            return
        new = list(pairs[self._told.get(seg, 0) :])
        self._told[seg] = len(pairs)
        record = {"chunks": seg, "chunk_frames": chunk_frames, "done": done, "pairs": new}
        if frames is not None:
            record["frames"] = frames
        _apply(self.state, record)
        self._append(record)

    def finish_segment(self, seg: int, record: dict) -> None:
        entry = {"segment": seg, "record": record}
        _apply(self.state, entry)
        self._append(entry)

    def complete(self) -> None:
        """The capture is done: its outputs are in place. Earlier settings' outputs that these
        did not replace (other segment files) are removed now."""
        ours = {f for seg in self.state["segments"].values() for f in seg["files"].values()}
        for name in self.state.get("stale", []):
            if name not in ours and Path(name).name == name:  # (a file of this folder only)
                (self.out / name).unlink(missing_ok=True)
        _apply(self.state, {"complete": True})
        self._append({"complete": True})

    def _append(self, record: dict) -> None:
        """One record, one line at the end of the log (:meth:`begin` wrote its first)."""
        try:
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(record) + "\n")
        except OSError as err:  # a full disk: one line naming the file (a record cut short is
            # left out when the log is read back)
            raise ViewsynthError(
                f"{self.path}: could not write it ({err.strerror or err})"
            ) from None


def read_state(path: Path) -> dict:
    """The state a ledger's log at ``path`` records: its first record, each later one applied
    (:func:`_apply`); a record cut short (a kill while it was written) and anything after it are
    left out. ``{}`` when there is none (no file, not a ledger)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, ValueError):
        return {}
    decoder, state, at = json.JSONDecoder(), None, 0
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at == len(text):
            break
        try:
            record, at = decoder.raw_decode(text, at)
        except ValueError:
            break
        if not isinstance(record, dict):  # (not a ledger's record: nothing from it on)
            break
        if state is None:
            state = record
        else:
            _apply(state, record)
    return state or {}


def held_frames(out: Path) -> tuple[str, int]:
    """The fingerprint of the ledger in ``out`` and how many output frames its finished segments
    and closed pieces hold (what a re-run under that fingerprint keeps); ``("", 0)`` without one."""
    state = read_state(out / STATE_FILE)
    held = sum(len(seg.get("frames", [])) for seg in state.get("segments", {}).values())
    for chunks in state.get("chunks", {}).values():
        held += int(chunks.get("frames", chunks["done"] * chunks["chunk_frames"]))
    return str(state.get("fingerprint", "")), held


def _apply(state: dict, record: dict) -> None:
    """Bring ``state`` up to date with one record of the log: the pieces closed of a segment
    (its pair records merged by pair: a resumed run makes some again), a finished segment (its
    pieces no longer needed), completion (other settings' outputs removed)."""
    if "chunks" in record:
        chunks = state.setdefault("chunks", {})
        seg = str(record["chunks"])
        now = chunks.get(seg)
        if now is None or now["chunk_frames"] != record["chunk_frames"]:
            now = chunks[seg] = {"chunk_frames": record["chunk_frames"], "pairs": []}
        now["done"] = record["done"]
        now["frames"] = record.get("frames", record["done"] * record["chunk_frames"])
        old, new = now["pairs"], record["pairs"]
        if new and old and new[0]["pair"] <= old[-1]["pair"]:  # (pairs made again: by pair)
            by_pair = {p["pair"]: p for p in old} | {p["pair"]: p for p in new}
            now["pairs"] = [by_pair[k] for k in sorted(by_pair)]
        else:  # (a run's next pairs: the common case, kept linear)
            old.extend(new)
    elif "segment" in record:
        state.setdefault("segments", {})[str(record["segment"])] = record["record"]
        state.get("chunks", {}).pop(str(record["segment"]), None)
    elif "complete" in record:
        state["complete"] = record["complete"]
        state.pop("stale", None)


@dataclass(frozen=True)
class PairStep:
    """Pair ``k`` of a segment (its shots ``k`` and ``k + 1``) and what is left of it.

    The pair gives a frame for each of its ``times``: t = 0 is its first image, t = 1 its second
    (the segment's last pair's), the others interpolated; a pair may have none (``--spacing`` on a
    video: two frames no step falls between). The first ``held`` of them are in finished pieces and are
    not written again.
    """

    k: int
    times: tuple[float, ...]  # ascending, in [0, 1]
    held: int = 0

    @property
    def size(self) -> int:
        return len(self.times)

    @property
    def todo(self) -> bool:
        """Whether any of its frames is still to be made (then the pair is interpolated)."""
        return self.held < self.size


@dataclass(frozen=True)
class SegmentPlan:
    """What is left of segment ``seg``: nothing when ``finished`` (its record, as the ledger
    kept it), else its pairs. ``kept_chunks`` closed pieces of a previous run are kept."""

    seg: int
    names: dict[str, str]  # its video file names (``export.segment.segment_names``)
    first_index: int  # the number of its first frame among the capture's output frames
    n_frames: int
    finished: dict | None = None
    kept_chunks: int = 0
    pairs: tuple[PairStep, ...] = ()


def plan_segments(
    ledger: Ledger,
    schedules: Sequence[Sequence[PairSchedule]],
    *,
    panoramic: bool,
    chunk_frames: int,
) -> list[SegmentPlan]:
    """The plan of every segment of a capture (``schedules``: one per segment).

    A segment is finished when the ledger says so and its files exist. Of the others, the closed
    pieces kept are those the ledger lists (with this ``chunk_frames``) that every video of the
    segment still has, from piece 0 on; the writer removes any later ones.
    """
    plans = []
    first_index = 0
    for seg, schedule in enumerate(schedules):
        names = segment_names(len(schedules), seg, panoramic)
        n_frames = sum(len(pair.times) for pair in schedule)
        done = ledger.done_segment(seg)
        if done is not None:
            plans.append(SegmentPlan(seg, names, first_index, n_frames, finished=done))
        else:
            kept = min(
                [ledger.done_chunks(seg, chunk_frames)]
                + [finished_pieces(ledger.out, name) for name in names.values()]
            )
            held = kept * chunk_frames  # frames of the segment those pieces hold
            pairs, start = [], 0
            for pair in schedule:  # pair k's frames are start .. start + size - 1
                size = len(pair.times)
                pairs.append(PairStep(pair.index, pair.times, min(max(held - start, 0), size)))
                start += size
            plans.append(
                SegmentPlan(seg, names, first_index, n_frames, kept_chunks=kept, pairs=tuple(pairs))
            )
        first_index += n_frames
    return plans
