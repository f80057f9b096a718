"""What a finite input's outputs get once it has ended: offline links, linked gaps, a timeline.

`TrackingOutput` (tracker.output) hands every frame it writes to these while the run goes:

- `Spans` keeps the frames each track was seen in as run-length ranges (one pair per stretch,
  not one number per frame) for the timeline image (`tracker.timeline`);
- `Linker` (when linking is on) keeps `tracker.linking.TrackletSummaries` and the first and
  last person of each track, and spools the frames' people to a hidden file beside the JSON
  instead of writing them: at the end `link()` picks the links, and `replay()` reads the spool
  back once, with the linked ids and the linked gaps filled, into the PoseTrack writer.

Memory stays flat: per track a few poses, per frame nothing (the spool is on disk).
"""

from __future__ import annotations

import itertools
import os
import pickle
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from tracker.linking import LinkConfig, TrackletSummaries, chain_ids
from tracker.postprocess import gap_people, select_people, with_people
from tracker.types import FrameResult


class Spans:
    """Frames (positions in the output, from 0) each track was seen in, as [start, stop) ranges."""

    def __init__(self) -> None:
        self.ranges: dict[int, list[list[int]]] = {}
        self.num_frames = 0

    def add(self, track_ids: Iterable[int]) -> None:
        """Count one frame and the tracks seen in it."""
        position = self.num_frames
        for track_id in track_ids:
            runs = self.ranges.setdefault(int(track_id), [])
            if runs and runs[-1][1] == position:
                runs[-1][1] = position + 1
            else:
                runs.append([position, position + 1])
        self.num_frames += 1

    def frames(self, mapping: dict[int, int] | None = None) -> dict[int, Iterable[int]]:
        """Frames per track, tracks under their linked id (`mapping`: id -> written id; ids it
        does not hold are not written and left out) merged; no mapping: the ids as they are."""
        merged: dict[int, list[list[int]]] = {}
        for track_id, runs in self.ranges.items():
            if mapping is not None and track_id not in mapping:
                continue
            merged.setdefault(track_id if mapping is None else mapping[track_id], []).extend(runs)
        return {
            t: itertools.chain.from_iterable(range(a, b) for a, b in sorted(runs))
            for t, runs in merged.items()
        }


@dataclass
class SpooledFrame:
    """One frame's people as written: PoseTrack-2018 keypoints besides the COCO ones."""

    file_name: str
    result: FrameResult  # no image; posetrack_keypoints filled in


@dataclass
class Links:
    """What linking found: the (earlier, later) pairs it joined (online ids), piece -> written
    id, the linked gaps (written id, last position before, first position after) and the
    people filling them."""

    pairs: list[tuple[int, int]] = field(default_factory=list)
    mapping: dict[int, int] = field(default_factory=dict)
    gaps: list[tuple[int, int, int]] = field(default_factory=list)
    fills: dict[int, list] = field(default_factory=dict)  # position -> people to add
    unjoined: int = 0  # joins of the online pass that linking undid
    glimpses: int = 0  # unconfirmed tracks linked to a shown one (written)
    glimpse_people: int = 0  # their people, written besides the online pass's
    seconds: float = 0.0

    @property
    def filled(self) -> int:
        """People added in linked gaps."""
        return sum(len(people) for people in self.fills.values())


class Linker:
    """Tracklet summaries and the spooled frames of one run; `link()` then `replay()`."""

    def __init__(self, cfg: LinkConfig, spool_path: str | os.PathLike, fill_gaps: int = 0):
        self.summaries = TrackletSummaries(cfg)
        self.fill_gaps = fill_gaps
        self.spool_path = Path(spool_path)
        self.spool_path.parent.mkdir(parents=True, exist_ok=True)
        self._spool = open(self.spool_path, "wb")
        self.num_frames = 0
        # Per track, the frame (position, the result without its image) of its first and last
        # person and the row there: a few frames' people per track, never an image.
        self.first: dict[int, tuple[int, FrameResult, int]] = {}
        self.last: dict[int, tuple[int, FrameResult, int]] = {}
        self.seconds = 0.0  # time spent on the summaries
        # Pieces: an online track re-found after cfg.split_gap missing frames or more starts a
        # new piece, so linking may re-judge the online join. Everything here (summaries,
        # spool, first/last) is keyed by piece; `online` gives each piece's online id.
        self.online: dict[int, int] = {}  # piece -> online track id
        self.joins: list[tuple[int, int]] = []  # (piece, next piece) the online pass joined
        self._piece: dict[int, tuple[int, int]] = {}  # online id -> (its current piece, last frame)
        # Unconfirmed tracks (FrameResult.unconfirmed) are pieces too, written only when
        # linking joins them to a shown one.
        self._glimpse: dict[int, int] = {}  # tentative id -> its piece
        self.glimpses: dict[int, int] = {}  # glimpse piece -> its people
        self._next_piece = 0

    def _pieces(self, frame: int, track_ids: Iterable[int]) -> list[int]:
        """The pieces of one frame's people (-1 stays -1)."""
        out = []
        for track_id in track_ids:
            if track_id < 0:
                out.append(track_id)
                continue
            piece, last = self._piece.get(track_id, (None, frame))
            split = self.summaries.cfg.split_gap
            if piece is None or (split > 0 and frame - last > split):
                new = self._new_piece()
                self.online[new] = track_id
                if piece is not None:
                    self.joins.append((piece, new))
                piece = new
            self._piece[track_id] = (piece, frame)
            out.append(piece)
        return out

    def _new_piece(self) -> int:
        self._next_piece += 1
        return self._next_piece - 1

    def add(self, result: FrameResult, file_name: str) -> list[int]:
        """Summarise one output frame and spool its people, the unconfirmed ones after the
        shown (`result` and its `unconfirmed` carry PoseTrack-2018 keypoints; the image is not
        kept); returns the pieces of all its people."""
        t0 = time.perf_counter()
        pieces = self._pieces(result.index, result.track_ids.tolist())
        people = replace(
            result,
            image=None,
            timings={},
            merged={},
            unconfirmed=None,
            track_ids=np.asarray(pieces, np.int64),
        )
        hidden = result.unconfirmed
        if hidden is not None and len(hidden):
            glimpses = [self._glimpse_piece(int(i)) for i in hidden.track_ids]
            for piece in glimpses:
                self.glimpses[piece] += 1
            people = with_people(people, list(zip(glimpses, *_rows(hidden))))
        every = people.track_ids.tolist()
        self.summaries.add(result.index, every, people.keypoints)
        position = self.num_frames
        for row, track_id in enumerate(every):
            if track_id not in self.first:
                self.first[track_id] = (position, people, row)
            self.last[track_id] = (position, people, row)
        self.seconds += time.perf_counter() - t0
        pickle.dump((file_name, people), self._spool, protocol=pickle.HIGHEST_PROTOCOL)
        self._spool.flush()  # on disk as it goes, as the JSON writers' parts are
        self.num_frames += 1
        return every

    def _glimpse_piece(self, tentative: int) -> int:
        if tentative not in self._glimpse:
            self._glimpse[tentative] = piece = self._new_piece()
            self.glimpses[piece] = 0
        return self._glimpse[tentative]

    def link(self) -> Links:
        """The links among the tracklets seen, their chains, and the linked gaps of at most
        `fill_gaps` frames filled with interpolated people (as `fill_gaps` does online)."""
        t0 = time.perf_counter()
        joined = self.summaries.links(kept=self.joins, leave_out=self.glimpses.keys())
        chain = chain_ids(joined)  # piece -> the first piece of its chain
        chains: dict[int, list[int]] = {}
        for piece in self.online:
            chains.setdefault(chain.get(piece, piece), []).append(piece)
        attached = self.summaries.attach(chains, sorted(self.glimpses))
        found = Links(mapping=self._output_ids(chain | attached))
        kept = set(self.joins)
        found.pairs = [
            (self.online[a], self.online[b])
            for a, b in joined
            if (a, b) not in kept and a in self.online and b in self.online
        ]
        found.unjoined = len(kept - set(joined))
        kept_glimpses = self.glimpses.keys() & found.mapping.keys()
        found.glimpses = len(kept_glimpses)
        found.glimpse_people = sum(self.glimpses[p] for p in kept_glimpses)
        for earlier, later in joined:
            if (earlier, later) in kept:  # the online pass's own join: as it wrote it
                continue
            before, after = self.last[earlier], self.first[later]
            track = found.mapping[earlier]
            found.gaps.append((track, before[0], after[0]))
            if 0 < after[0] - before[0] - 1 <= self.fill_gaps:
                for position, people in gap_people(before, after, track).items():
                    found.fills.setdefault(position, []).extend(people)
        found.seconds = self.seconds + time.perf_counter() - t0
        return found

    def _output_ids(self, chain: dict[int, int]) -> dict[int, int]:
        """Piece -> the id it is written under: a chain takes the online id of its first
        shown piece, or, when an earlier chain has that id already, a new one. Glimpses not
        linked to a shown piece are left out (not written)."""
        members: dict[int, list[int]] = {}
        for piece in sorted(self.first, key=lambda p: (self.first[p][0], p)):
            members.setdefault(chain.get(piece, piece), []).append(piece)
        shown = {
            root: next(p for p in pieces if p in self.online)
            for root, pieces in members.items()
            if any(p in self.online for p in pieces)
        }
        taken: set[int] = set()
        fresh = max(self.online.values(), default=-1) + 1
        out: dict[int, int] = {}
        for root in sorted(shown, key=lambda r: (self.first[shown[r]][0], shown[r])):
            track_id = self.online[shown[root]]
            if track_id in taken:
                track_id, fresh = fresh, fresh + 1
            taken.add(track_id)
            out.update((p, track_id) for p in members[root])
        return out

    def written_ids(self, links: Links | None) -> dict[int, int]:
        """Piece -> the id it is written under: the links', or, unlinked, its online id."""
        return links.mapping if links else self.online

    def replay(self, links: Links | None = None) -> Iterator[SpooledFrame]:
        """The spooled frames in order, with the linked ids and filled gaps of `links`."""
        self._spool.close()
        mapping = self.written_ids(links)
        fills = links.fills if links else {}
        with open(self.spool_path, "rb") as spool:
            for position in range(self.num_frames):
                file_name, result = pickle.load(spool)
                pieces = result.track_ids.tolist()
                written = [p < 0 or p in mapping for p in pieces]  # unlinked glimpses: not
                ids = [mapping.get(p, p) for p, w in zip(pieces, written) if w]
                result = select_people(result, np.array(written, bool), np.array(ids, np.int64))
                yield SpooledFrame(file_name, with_people(result, fills.get(position, [])))

    def close(self) -> None:
        """Remove the spool."""
        self._spool.close()
        self.spool_path.unlink(missing_ok=True)


def _rows(result: FrameResult) -> tuple[list, ...]:
    """Per person: keypoints, box, score, PoseTrack keypoints (as `with_people` takes them
    after the id)."""
    n = len(result)
    native = result.posetrack_keypoints
    return (
        list(result.keypoints),
        list(result.boxes),
        result.scores.tolist(),
        list(native) if native is not None else [None] * n,
    )
