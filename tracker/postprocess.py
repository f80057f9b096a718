"""Stages over the stream of tracked frames: confirmation, gap filling, smoothing.

Each stage takes and yields `FrameResult`s in order and holds back at most a few frames, so
memory stays flat however long the video:

- `confirmed_only`: a track is shown once it was seen in `hits` of its first `window` frames;
  its first frames are held back until then (not dropped), people of tracks never confirmed
  are dropped (unless the tracker merged them into a lost track it re-found: then they show
  under its id), and confirmed tracks are numbered 0, 1, 2, ... in the order of confirmation.
  When the input ends (or fails) inside a track's window, the frames that exist decide: a
  track seen in every frame since it began is shown (a one-frame video, a person who enters
  in the last frame), one that missed a frame is not, nor any while a confirmed person is
  missing (lost or forgotten: the newcomer may be them come back).
- `fill_gaps`: a track re-found after missing up to `max_gap` frames (after more than 2, once
  it is seen again soon after) gets interpolated poses in the frames it missed (joint scores
  scaled by `score_factor`); holds back `max_gap + FILL_CONFIRM` frames.
- `smooth_keypoints`: a causal One-Euro filter per track and joint; holds nothing back.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace

import numpy as np

from tracker.types import FrameResult

GAP_SCORE_FACTOR = 0.5  # interpolated joints score half their neighbours' mean
FILL_CONFIRM = 3  # a track re-found after a longer gap must be seen again within this many
# frames before the gap is filled; gaps of at most SHORT_GAP frames are filled at once
SHORT_GAP = 2


def _pull(results: Iterable[FrameResult]) -> Iterator[FrameResult | BaseException]:
    """The results, then, if the source failed (a broken video, Ctrl-C), its exception as a
    last item: a stage flushes the frames it holds before the error goes on."""
    iterator = iter(results)
    while True:
        try:
            yield next(iterator)
        except StopIteration:
            return
        except (Exception, KeyboardInterrupt) as err:
            yield err
            return


def select_people(
    result: FrameResult, keep: np.ndarray, ids: np.ndarray | None = None
) -> FrameResult:
    """The people `keep` (bool or index) of a result, with new ids if given."""
    native = result.posetrack_keypoints
    return replace(
        result,
        keypoints=result.keypoints[keep],
        boxes=result.boxes[keep],
        track_ids=result.track_ids[keep] if ids is None else ids,
        scores=result.scores[keep],
        posetrack_keypoints=None if native is None else native[keep],
    )


def confirmed_only(
    results: Iterable[FrameResult],
    hits: int,
    window: int | None = None,
    someone_may_return: Callable[[], bool] | None = None,
) -> Iterator[FrameResult]:
    """Show only tracks seen in `hits` of their first `window` frames (default `hits`, i.e.
    consecutive frames); the tracker deletes a tentative track whose window passed, so its id
    never comes back. At the end of the input, tracks still waiting are shown if seen in
    every frame since they began, unless `someone_may_return()` says a confirmed person is
    missing (lost, or forgotten after): the newcomer may be them come back (the frames that
    would tell do not exist), and a new id would be an id change. See the module doc."""
    if hits <= 1:
        yield from results
        return
    window = max(window or hits, hits)
    seen: dict[int, list[int]] = {}  # tentative id -> [first position, frames seen]
    number: dict[int, int] = {}  # confirmed id -> output id
    dead: set[int] = set()
    held: deque[FrameResult] = deque()

    def decided(result: FrameResult) -> bool:
        return all(int(i) in number or int(i) in dead for i in result.track_ids)

    def release(result: FrameResult) -> FrameResult:
        keep = np.array([int(i) in number for i in result.track_ids], dtype=bool)
        ids = np.array([number[int(i)] for i in result.track_ids[keep]], dtype=np.int64)
        hidden = None
        if not keep.all():  # kept aside for offline linking, under their tentative ids
            hidden = replace(select_people(result, ~keep), image=None, timings={}, merged={})
        return replace(select_people(result, keep, ids), unconfirmed=hidden)

    failure = None
    last = -1  # position of the last frame that came
    for position, result in enumerate(_pull(results)):
        if isinstance(result, BaseException):
            failure = result
            break
        last = position
        for tentative, lost in result.merged.items():
            if lost in number and tentative in seen:
                number[tentative] = number[lost]  # its held frames take the lost track's id
                del seen[tentative]
        for i in {int(i) for i in result.track_ids} - number.keys():
            first_and_count = seen.setdefault(i, [position, 0])
            first_and_count[1] += 1
            if first_and_count[1] >= hits:
                number[i] = len(number)
                del seen[i]
        for i in [i for i, (first, _) in seen.items() if position - first + 1 >= window]:
            dead.add(i)  # its window is over, unconfirmed
            del seen[i]
        held.append(result)
        while held and decided(held[0]):
            yield release(held.popleft())
        dead.difference_update(i for i in list(dead) if not any(i in h.track_ids for h in held))
    may_return = someone_may_return is not None and someone_may_return()
    if seen and not may_return:  # the input ended inside their windows
        for i in sorted(seen, key=lambda i: (seen[i][0], i)):
            first, count = seen[i]
            if count == last - first + 1:  # seen in every frame that exists since it began
                number[i] = len(number)
    dead.update(i for i in seen if i not in number)
    while held:
        yield release(held.popleft())
    if failure is not None:
        raise failure


def fill_gaps(
    results: Iterable[FrameResult], max_gap: int, score_factor: float = GAP_SCORE_FACTOR
) -> Iterator[FrameResult]:
    """Interpolate people in the frames a track missed (at most `max_gap` in a row) once the
    track is seen again: at once for gaps of up to `SHORT_GAP` frames, else once it is seen
    once more within `FILL_CONFIRM` frames (or the video ends), so a lost track that took a
    stray pose for one frame is not drawn across the gap towards it. Joints confident at both
    ends are interpolated linearly; others are left out (score 0). Results are held back
    `max_gap + FILL_CONFIRM` frames."""
    if max_gap <= 0:
        yield from results
        return
    held: deque[tuple[int, FrameResult]] = deque()
    last: dict[int, tuple[int, FrameResult, int]] = {}  # id -> (position, result, row)
    pending: dict[int, tuple[tuple[int, FrameResult, int], tuple[int, FrameResult, int]]] = {}
    failure = None
    for position, result in enumerate(_pull(results)):
        if isinstance(result, BaseException):
            failure = result
            break
        added: dict[int, list] = {}  # held position -> people to add
        for row, track_id in enumerate(int(i) for i in result.track_ids):
            gap = pending.pop(track_id, None)
            if gap is not None:  # seen again after the re-finding frame: fill the gap
                _fill(added, track_id, *gap, score_factor)
            before = last.get(track_id)
            if before is not None and 1 < position - before[0] <= max_gap + 1:
                if position - before[0] - 1 <= SHORT_GAP:  # a frame or two: fill at once
                    _fill(added, track_id, before, (position, result, row), score_factor)
                else:
                    pending[track_id] = (before, (position, result, row))
            last[track_id] = (position, result, row)
        if added:
            held = deque((p, with_people(r, added.get(p, []))) for p, r in held)
        held.append((position, result))
        while len(held) > max_gap + FILL_CONFIRM:
            yield held.popleft()[1]
        pending = {i: g for i, g in pending.items() if position - g[1][0] < FILL_CONFIRM}
        stale = position - max_gap - 1
        last = {i: v for i, v in last.items() if v[0] >= stale}
    if failure is None and pending:  # the video ended before these tracks were seen again
        added = {}
        for track_id, gap in pending.items():
            _fill(added, track_id, *gap, score_factor)
        held = deque((p, with_people(r, added.get(p, []))) for p, r in held)
    for _, result in held:
        yield result
    if failure is not None:
        raise failure


def _fill(added: dict[int, list], track_id: int, before: tuple, after: tuple, factor: float):
    """Interpolated people of `track_id` for the frames between `before` and `after` (each
    (position, result, row)), added to `added` (position -> people)."""
    (start, earlier, earlier_row), (end, later, later_row) = before, after
    for p in range(start + 1, end):
        w = (p - start) / (end - start)
        person = _interpolate(earlier, earlier_row, later, later_row, w, factor)
        added.setdefault(p, []).append((track_id, *person))


def _interpolate(a: FrameResult, ra: int, b: FrameResult, rb: int, w: float, factor: float):
    """Keypoints, box, score and native keypoints a fraction `w` of the way from a to b."""

    def mix(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        out = (1 - w) * x + w * y
        both = (x[:, 2] > 0) & (y[:, 2] > 0)
        out[:, 2] = np.where(both, factor * out[:, 2], 0.0)
        out[~both, :2] = 0.0
        return out

    native = None
    if a.posetrack_keypoints is not None and b.posetrack_keypoints is not None:
        native = mix(a.posetrack_keypoints[ra], b.posetrack_keypoints[rb])
    box = (1 - w) * a.boxes[ra] + w * b.boxes[rb]
    score = factor * ((1 - w) * a.scores[ra] + w * b.scores[rb])
    return mix(a.keypoints[ra], b.keypoints[rb]), box, score, native


def gap_people(
    before: tuple[int, FrameResult, int],
    after: tuple[int, FrameResult, int],
    track_id: int,
    score_factor: float = GAP_SCORE_FACTOR,
) -> dict[int, list]:
    """Interpolated people of `track_id` for the positions between the ends `before` and
    `after`, each (position, result, row): how a gap closed after the pass (an offline link,
    tracker.linked) is filled as `fill_gaps` fills one online. position -> people, each as
    `with_people` takes them."""
    added: dict[int, list] = {}
    _fill(added, track_id, before, after, score_factor)
    return added


def with_people(result: FrameResult, people: list) -> FrameResult:
    """`result` with interpolated people appended (id, keypoints, box, score, native)."""
    if not people:
        return result
    ids, kps, boxes, scores, natives = zip(*people)
    native = result.posetrack_keypoints
    if native is not None:
        native = (
            np.concatenate([native, np.stack(natives)])
            if all(n is not None for n in natives)
            else None
        )
    return replace(
        result,
        keypoints=np.concatenate([result.keypoints, np.stack(kps)]),
        track_ids=np.concatenate([result.track_ids, np.asarray(ids, np.int64)]),
        boxes=np.concatenate([result.boxes, np.stack(boxes)]),
        scores=np.concatenate([result.scores, np.asarray(scores, np.float64)]),
        posetrack_keypoints=native,
    )


class OneEuro:
    """One-Euro filter (Casiez et al. 2012) over arrays: a low-pass filter whose cut-off
    rises with the speed of the signal, so it smooths jitter at rest and lags little in motion."""

    def __init__(self, min_cutoff: float, beta: float, d_cutoff: float = 1.0) -> None:
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.x: np.ndarray | None = None
        self.dx: np.ndarray | None = None

    @staticmethod
    def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
        tau = 1.0 / (2 * math.pi * cutoff)
        return 1.0 / (1.0 + tau / dt)

    def __call__(self, x: np.ndarray, dt: float) -> np.ndarray:
        if self.x is None:
            self.x, self.dx = x.copy(), np.zeros_like(x)
            return x
        dx = (x - self.x) / dt
        a_d = self._alpha(self.d_cutoff, dt)
        self.dx = a_d * dx + (1 - a_d) * self.dx
        a = self._alpha(self.min_cutoff + self.beta * np.abs(self.dx), dt)
        self.x = a * x + (1 - a) * self.x
        return self.x


def smooth_keypoints(
    results: Iterable[FrameResult], fps: float, min_cutoff: float, beta: float
) -> Iterator[FrameResult]:
    """Filter each track's joint positions with a One-Euro filter (causal, no delay). A joint
    missing in a frame passes through and leaves its filter as it was; a track unseen for a
    frame starts its filter anew."""
    filters: dict[tuple[int, str], tuple[int, OneEuro]] = {}
    for position, result in enumerate(results):
        changes = {}
        for field in ("keypoints", "posetrack_keypoints"):
            kp = getattr(result, field)
            if kp is None or len(kp) == 0:
                continue
            kp = kp.copy()
            for row, track_id in enumerate(int(i) for i in result.track_ids):
                last = filters.get((track_id, field))
                one_euro = (
                    last[1] if last and last[0] == position - 1 else OneEuro(min_cutoff, beta)
                )
                valid = kp[row, :, 2:] > 0
                xy = kp[row, :, :2]
                if one_euro.x is not None:
                    xy = np.where(valid, xy, one_euro.x)  # a missing joint does not move it
                kp[row, :, :2] = np.where(valid, one_euro(xy, 1.0 / fps), kp[row, :, :2])
                filters[(track_id, field)] = (position, one_euro)
            changes[field] = kp
        filters = {k: v for k, v in filters.items() if v[0] == position}
        yield replace(result, **changes) if changes else result
