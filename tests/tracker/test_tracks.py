"""TrackSet on hand-made people: the paper's rules and the default's identity rules."""

from dataclasses import replace

import numpy as np
import pytest

from posenet.errors import ConfigError
from tracker.config import TrackingConfig
from tracker.tracks import TrackSet, TrackState

# The paper's tracker (configs/tracking/paper.yaml).
PAPER = TrackingConfig(
    lost_seconds=0,
    queue_length=5,
    motion="none",
    scale="last",
    min_common_joints=0,
    matcher="greedy",
    recent_first=True,
    lost_penalty=0,
    reid_weight=0,
    confirm_hits=1,
)
NOBODY = (np.zeros((0, 17, 3)), np.zeros((0, 4)))
TENTATIVE, TRACKED, LOST = TrackState.TENTATIVE, TrackState.TRACKED, TrackState.LOST


def paper(**changes) -> TrackSet:
    return TrackSet(replace(PAPER, **changes))


def _person(x, y, rng, size=60.0):
    kp = np.ones((17, 3))
    kp[:, :2] = [x, y] + rng.uniform(-size / 2, size / 2, (17, 2))
    return kp


def _boxes(kp):
    """Boxes around the confident joints, as --poses input gets them."""
    kp = np.asarray(kp, dtype=np.float64)
    seen = kp[..., 2:] > 0
    low = np.where(seen, kp[..., :2], np.inf).min(1)
    high = np.where(seen, kp[..., :2], -np.inf).max(1)
    return np.concatenate([low, high], axis=1)


def step(tracks: TrackSet, people: np.ndarray, flow=None) -> np.ndarray:
    """One frame: predict, then update with the people (n, 17, 3)."""
    tracks.predict(flow)
    people = np.asarray(people, dtype=np.float64).reshape(-1, 17, 3)
    return tracks.update(people, _boxes(people) if len(people) else np.zeros((0, 4)))


def test_people_moving_with_the_flow_keep_ids_and_plain_oks_loses_them():
    rng = np.random.default_rng(1)
    a, b = _person(100, 100, rng), _person(300, 100, rng)
    shift = np.array([70.0, 0.0])  # fast motion: 70 px per frame, more than a person's width
    flow = np.zeros((400, 1000, 2), np.float32)
    flow[..., 0] = shift[0]
    with_flow = paper(similarity="flow_oks")
    without = paper(similarity="oks")
    people = np.stack([a, b])
    first = with_flow.update(people, _boxes(people))
    without.update(people, _boxes(people))
    for _ in range(3):
        moved, _ = with_flow.predict(flow)
        np.testing.assert_allclose(moved[..., :2], people[..., :2] + shift)  # last frame's people
        people = people.copy()
        people[..., :2] += shift
        np.testing.assert_array_equal(with_flow.update(people, _boxes(people)), first)
        without.predict(flow)
        ids = without.update(people, _boxes(people))
    assert not np.array_equal(ids, first)  # without flow the poses no longer overlap


def test_predict_returns_last_frame_people_with_their_scores():
    rng = np.random.default_rng(2)
    tracks = paper()
    people = np.stack([_person(100, 100, rng), _person(300, 100, rng)])
    tracks.update(people, _boxes(people), np.array([0.8, 0.6]))
    tracks.predict(None)
    tracks.update(people[1:], _boxes(people[1:]), np.array([0.5]))  # the first one is hidden
    moved, scores = tracks.predict(None)
    np.testing.assert_allclose(moved, people[1:])
    np.testing.assert_allclose(scores, [0.5])


@pytest.mark.parametrize("queue_length, same_id", [(5, True), (1, False)])
def test_paper_person_hidden_for_two_frames(queue_length, same_id):
    a = _person(100, 100, np.random.default_rng(2))[None]
    tracks = paper(queue_length=queue_length)
    (first,) = step(tracks, a)
    step(tracks, NOBODY[0])
    step(tracks, NOBODY[0])
    (back,) = step(tracks, a)
    assert bool(back == first) is same_id


def test_ids_are_never_reused_and_unmatched_get_new_ones():
    rng = np.random.default_rng(3)
    tracks = paper(queue_length=1)
    seen = set()
    for k in range(4):
        (i,) = step(tracks, _person(200 * k + 50, 300, rng)[None])  # jumps: never matched
        assert i not in seen
        seen.add(int(i))
    assert seen == {0, 1, 2, 3}


def test_iou_similarity_and_order_independence():
    rng = np.random.default_rng(4)
    people = np.stack([_person(100, 100, rng), _person(400, 100, rng)])
    tracks = paper(similarity="iou", matcher="hungarian")
    ids = step(tracks, people)
    again = step(tracks, people[::-1])
    np.testing.assert_array_equal(again, ids[::-1])


def test_bad_settings_are_named():
    with pytest.raises(ConfigError, match="similarity"):
        paper(similarity="cosine")
    with pytest.raises(ConfigError, match="matcher must be one of greedy, hungarian"):
        paper(matcher="auction")
    with pytest.raises(ConfigError, match="lost_penalty"):  # the config's checks, all of them
        paper(lost_penalty=2.0)


# ----------------------------------------------------------------------------- the default


def walker(x0: float, vx: float, t: int, rng=None) -> np.ndarray:
    """A 17-joint person (about 40x120 px) walking right at vx px per frame."""
    offsets = np.column_stack([np.linspace(-20, 20, 17), np.linspace(-60, 60, 17)])
    kp = np.ones((17, 3))
    kp[:, :2] = [x0 + vx * t, 300] + offsets
    return kp


def test_a_person_back_after_one_second_keeps_the_id_at_25_fps():
    """Hidden 20 frames (0.8 s) while walking 3 px a frame: the paper's queue forgets them, the
    default remembers them for 1 s and looks for them where they should be by now."""
    default, old = TrackSet(TrackingConfig(), fps=25), paper()
    ids = {"default": [], "paper": []}
    for t in range(40):
        people = walker(100, 3.0, t)[None] if not 10 <= t < 30 else NOBODY[0]
        for name, tracks in (("default", default), ("paper", old)):
            ids[name] += [int(i) for i in step(tracks, people)]
    assert len(set(ids["default"])) == 1
    assert len(set(ids["paper"])) == 2
    # Gone longer than lost_seconds: a new id.
    late = TrackSet(TrackingConfig(lost_seconds=0.4), fps=25)
    seen = set()
    for t in range(40):
        people = walker(100, 3.0, t)[None] if not 10 <= t < 30 else NOBODY[0]
        seen.update(int(i) for i in step(late, people))
    assert len(seen) == 2


def test_two_people_crossing_keep_their_ids():
    """A walks right and B left along the same line; they overlap for a few frames, during which
    only the front one (A) is seen. Constant velocity brings B back under the right id."""
    tracks = TrackSet(TrackingConfig(), fps=25)
    a_ids, b_ids = set(), set()
    for t in range(30):
        a, b = walker(100, 8.0, t), walker(420, -8.0, t)
        hidden = abs(a[0, 0] - b[0, 0]) < 60
        people = [a] if hidden else [a, b]
        ids = step(tracks, np.stack(people))
        a_ids.add(int(ids[0]))
        if not hidden:
            b_ids.add(int(ids[1]))
    assert len(a_ids) == 1 and len(b_ids) == 1 and a_ids != b_ids


def test_a_fast_mover_without_flow_keeps_the_id():
    """A runner speeding up by 4 px a frame to 44 px a frame, wider than the person: the last
    pose no longer overlaps, the prediction does."""
    default, old = TrackSet(TrackingConfig(), fps=25), paper()
    got = {"default": set(), "paper": set()}
    for t in range(12):
        kp = walker(50 + 2.0 * t * (t + 1), 0.0, t)  # x advances 4t px at frame t
        for name, tracks in (("default", default), ("paper", old)):
            got[name].update(int(i) for i in step(tracks, kp[None]))
    assert len(got["default"]) == 1 and len(got["paper"]) > 1


def test_few_confident_joints_use_the_scale_of_the_full_poses():
    """Frames where only two joints are seen: their box has almost no area, but the track's
    scale comes from its full poses, so OKS stays high."""
    default, old = TrackSet(TrackingConfig(), fps=25), paper()
    got = {"default": set(), "paper": set()}
    for t in range(8):
        kp = walker(100, 1.0, t)
        if t % 2:
            kp[:, 2] = 0.0
            kp[[9, 10], 2] = 1.0  # two neighbouring joints, 5 px apart
        for name, tracks in (("default", default), ("paper", old)):
            got[name].update(int(i) for i in step(tracks, kp[None]))
    assert len(got["default"]) == 1 and len(got["paper"]) > 1


def test_a_one_frame_spurious_pose_is_never_confirmed():
    """Seen once at frame 1: tentative through its window (frames 1-3), then forgotten; a
    person missed once among their first 3 frames is still confirmed."""
    tracks = TrackSet(TrackingConfig(confirm_hits=2, confirm_window=3), fps=25)
    for t in range(4):
        people = [walker(100, 2.0, t)] + ([walker(500, 0.0, 0)] if t == 1 else [])
        people += [walker(300, 1.0, t)] if t in (0, 2) else []
        step(tracks, np.stack(people))
        if t == 2:
            assert [tr.state for tr in tracks.tracks] == [TRACKED, TRACKED, TENTATIVE]
    assert [tr.state for tr in tracks.tracks] == [TRACKED, LOST]  # the second missed at 3


def state_of(tracks: TrackSet, track_id: int) -> TrackState:
    """A track's state after the last update; removed tracks are no longer listed."""
    return next((t.state for t in tracks.tracks if t.id == track_id), TrackState.REMOVED)


def test_a_track_goes_tentative_tracked_lost_tracked_and_is_removed_when_lost_too_long():
    """Standing still, seen in frames 0-1 and 4: confirmed by its second frame, lost while
    hidden, tracked again under the same id when re-found, and removed once missed for
    lost_seconds (0.2 s at 25 fps: 5 frames)."""
    tracks = TrackSet(TrackingConfig(confirm_hits=2, lost_seconds=0.2), fps=25)
    states = []
    for t in range(10):
        people = walker(100, 0.0, t)[None] if t in (0, 1, 4) else NOBODY[0]
        assert step(tracks, people).tolist() == ([0] if len(people) else [])
        states.append(state_of(tracks, 0))
    removed = TrackState.REMOVED
    assert states == [TENTATIVE, TRACKED, LOST, LOST, TRACKED, *[LOST] * 4, removed]
    assert tracks.tracks == []


def test_a_tentative_track_is_removed_when_its_window_ends_unconfirmed():
    """confirm_hits 3 in a window of 3 frames: A, seen in frames 0-2, is tracked at frame 2;
    B, missed at frame 2, is removed then (not lost: it was never confirmed)."""
    tracks = TrackSet(TrackingConfig(confirm_hits=3, confirm_window=3), fps=25)
    got = []
    for t in range(3):
        people = [walker(100, 0.0, t)] + ([walker(400, 0.0, t)] if t < 2 else [])
        step(tracks, np.stack(people))
        got.append((state_of(tracks, 0), state_of(tracks, 1)))
    assert got == [(TENTATIVE, TENTATIVE), (TENTATIVE, TENTATIVE), (TRACKED, TrackState.REMOVED)]


def test_confirmed_tracks_are_matched_before_tentative_ones():
    """Frame 0: A; frame 1: A is missed, B appears (tentative); frame 2: the matching rounds
    take A (confirmed, lost 2 frames) before B (tentative, seen in the last frame)."""
    tracks = TrackSet(TrackingConfig(confirm_hits=1), fps=25)
    step(tracks, walker(100, 0.0, 0)[None])
    tracks.cfg = TrackingConfig(confirm_hits=2)
    step(tracks, walker(400, 0.0, 0)[None])
    assert [t.state for t in tracks.tracks] == [LOST, TENTATIVE]
    tracks.frame += 1  # the next frame, before its people are matched
    assert [[tracks.tracks[i].id for i in group] for group in tracks._rounds()] == [[0], [1]]


def test_a_person_who_stopped_while_hidden_is_re_identified():
    """Walking right 6 px a frame, hidden 20 frames, back where they were hidden: constant
    velocity looks for them 120 px further on, where OKS in place is 0; re-identification (the
    same pose shape near the last seen place) keeps the id, and without it they are new."""
    got = {}
    for name, weight in (("reid", 0.8), ("without", 0.0)):
        tracks = TrackSet(TrackingConfig(reid_weight=weight), fps=25)
        ids = set()
        for t in range(40):
            x = 100 + 6.0 * min(t, 9)
            people = walker(x, 0.0, t)[None] if not 10 <= t < 30 else NOBODY[0]
            ids.update(int(i) for i in step(tracks, people))
        got[name] = ids
    assert len(got["reid"]) == 1
    assert len(got["without"]) == 2


def test_a_lost_track_does_not_take_a_person_a_recent_track_explains_as_well():
    """A stands still at x = 300 and is hidden from frame 5; B walks right at 8 px a frame and
    passes A's place at frame 7. There both tracks predict the person perfectly: the recent track
    (B) keeps them, the lost one (A) must be clearly more similar to take them."""

    def run(lost_penalty: float) -> list[int]:
        tracks = TrackSet(TrackingConfig(lost_penalty=lost_penalty), fps=25)
        b_ids = []
        for t in range(10):
            people = [walker(300, 0.0, t)] if t < 5 else []
            b = walker(244, 8.0, t)
            ids = step(tracks, np.stack([*people, b]))
            b_ids.append(int(ids[-1]))
        return b_ids

    assert len(set(run(0.05))) == 1
    assert len(set(run(0.0))) == 2  # a tie: the older track (first in the list) wins it


def test_a_track_begun_one_frame_before_its_lost_track_re_found_them_is_merged():
    """Standing at x = 100, hidden frames 5-14; back at frame 15 a little off (x = 140, too far
    for the lost track with a short reach), at frame 16 nearer (x = 130): the lost track takes
    them, and the tentative track begun at frame 15 is reported as merged into it."""
    tracks = TrackSet(TrackingConfig(reid_reach=0.3), fps=25)
    for t in range(17):
        x = {15: 140.0, 16: 130.0}.get(t, 100.0)
        people = walker(x, 0.0, t)[None] if not 5 <= t < 15 else NOBODY[0]
        ids = step(tracks, people)
        if t == 15:
            assert int(ids[0]) == 1 and tracks.merged == {}
    assert int(ids[0]) == 0
    assert tracks.merged == {1: 0}
    assert [t.id for t in tracks.tracks] == [0]


def test_people_seen_by_one_joint_keep_their_track():
    """Frames where only one joint (a wrist) is seen: its box has no area, so box overlap says
    nothing; the joint near where the track's wrist should be keeps the id."""
    tracks = TrackSet(TrackingConfig(), fps=25)
    got = set()
    for t in range(8):
        kp = walker(100, 2.0, t)
        if t >= 3:
            kp[:, 2] = 0.0
            kp[9, 2] = 1.0
        got.update(int(i) for i in step(tracks, kp[None]))
    assert got == {0}


def test_a_lost_track_is_re_identified_by_its_fullest_pose_not_a_last_glimpse():
    """Two people hidden together; B was last glimpsed by its two shoulders, which A's shoulders
    match as well. A comes back nearer to B's place: compared by that glimpse, B's track would
    take A; compared by B's last full pose, the shape tells them apart and A keeps the id."""
    rng = np.random.default_rng(5)
    shape_a = _person(0, 0, rng, size=100)
    shape_b = _person(0, 0, rng, size=100)
    shape_b[5:7] = shape_a[5:7]  # the same shoulders
    a, b = shape_a + [200, 300, 0], shape_b + [300, 300, 0]
    glimpse = b.copy()
    glimpse[:5, 2] = glimpse[7:, 2] = 0.0
    tracks = TrackSet(TrackingConfig(), fps=25)
    for t in range(6):
        assert step(tracks, [a, b if t < 5 else glimpse]).tolist() == [0, 1]
    for _ in range(10):
        step(tracks, NOBODY[0])
    assert step(tracks, [shape_a + [260, 300, 0]]).tolist() == [0]


def test_someone_may_return_while_a_confirmed_person_is_missing():
    """A tentative newcomer that vanishes does not count; a confirmed person missed is lost
    (may return), and still counts once the tracker forgot them."""
    rng = np.random.default_rng(0)
    a, b = _person(100, 100, rng), _person(400, 100, rng)
    tracks = paper(confirm_hits=2, confirm_window=3, queue_length=2)
    step(tracks, a[None])
    step(tracks, NOBODY[0])
    step(tracks, NOBODY[0])
    assert not tracks.someone_may_return()  # a was never confirmed
    step(tracks, b[None])
    step(tracks, b[None])
    assert not tracks.someone_may_return()
    step(tracks, NOBODY[0])
    assert tracks.someone_may_return() and tracks.tracks[0].state is LOST
    for _ in range(3):
        step(tracks, NOBODY[0])
    assert tracks.tracks == [] and tracks.someone_may_return()
    tracks.reset()
    assert not tracks.someone_may_return()
