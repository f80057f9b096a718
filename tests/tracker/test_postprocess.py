"""Stream stages over tracked frames (tracker.postprocess) on hand-made results."""

import numpy as np
import pytest

from tracker.postprocess import confirmed_only, fill_gaps, smooth_keypoints
from tracker.types import FrameResult


def frame(index: int, people: dict[int, float]) -> FrameResult:
    """A frame whose person `id` stands at x = people[id] (all joints at that x, y = 10)."""
    ids = list(people)
    kp = np.zeros((len(ids), 17, 3))
    kp[..., 0] = np.array([people[i] for i in ids], dtype=np.float64)[:, None]
    kp[..., 1], kp[..., 2] = 10.0, 1.0
    boxes = np.array([[people[i] - 5, 0, people[i] + 5, 20] for i in ids], np.float64)
    return FrameResult(
        index,
        f"{index:06d}.jpg",
        kp,
        np.array(ids, np.int64).reshape(-1),
        boxes.reshape(-1, 4),
        np.ones(len(ids)),
    )


def test_confirmation_holds_back_first_frames_and_drops_one_frame_tracks():
    stream = [
        frame(0, {5: 1.0}),
        frame(1, {5: 2.0, 9: 50.0}),
        frame(2, {5: 3.0}),
        frame(3, {5: 4.0, 11: 80.0}),
        frame(4, {5: 5.0, 11: 81.0}),
    ]
    out = list(confirmed_only(iter(stream), hits=2))
    assert [r.index for r in out] == [0, 1, 2, 3, 4]  # nothing lost, order kept
    assert [r.track_ids.tolist() for r in out] == [[0], [0], [0], [0, 1], [0, 1]]
    assert out[0].keypoints[0, 0, 0] == 1.0  # the first frame of track 5 is kept
    assert out[3].keypoints[1, 0, 0] == 80.0
    # The one-frame track 9 is not shown but kept aside, under its own id, for linking.
    assert [r.unconfirmed is None for r in out] == [True, False, True, True, True]
    assert out[1].unconfirmed.track_ids.tolist() == [9]
    assert out[1].unconfirmed.keypoints[0, 0, 0] == 50.0 and out[1].unconfirmed.image is None


def test_confirmation_window_allows_a_miss():
    """hits 2 of window 3: id 4 (frames 0 and 2) is confirmed, id 6 (frames 1 and 4) is not."""
    stream = [
        frame(0, {4: 1.0}),
        frame(1, {6: 9.0}),
        frame(2, {4: 3.0}),
        frame(3, {}),
        frame(4, {6: 9.0}),
        frame(5, {}),
    ]
    out = list(confirmed_only(iter(stream), hits=2, window=3))
    assert [r.track_ids.tolist() for r in out] == [[0], [], [0], [], [], []]


@pytest.mark.parametrize("hits, window", [(2, 3), (3, 5), (2, None)])
def test_the_end_of_the_input_decides_tracks_still_waiting(hits, window):
    """A one-frame input shows its people; a person who enters in the last frame (or in every
    frame since the second-to-last) is shown; one seen in the second-to-last frame only, or
    with a miss since they began, is not."""
    out = list(confirmed_only(iter([frame(0, {2: 1.0, 5: 9.0})]), hits=hits, window=window))
    assert [r.track_ids.tolist() for r in out] == [[0, 1]]
    stream = [
        frame(0, {1: 1.0}),
        frame(1, {1: 2.0}),
        frame(2, {1: 3.0}),
        frame(3, {1: 4.0, 4: 30.0, 6: 60.0}),
        frame(4, {1: 5.0, 6: 61.0, 8: 90.0}),
    ]
    out = list(confirmed_only(iter(stream), hits=hits, window=window))
    shown = [dict(zip(r.track_ids.tolist(), r.keypoints[:, 0, 0].tolist())) for r in out]
    assert shown[4] == {0: 5.0, 1: 61.0, 2: 90.0}  # 6 and 8 shown, numbered by first frame
    assert shown[3] == {0: 4.0, 1: 60.0}  # 4 (second-to-last frame only) is not
    # While a confirmed person is missing, a newcomer at the end may be them come back: only
    # tracks confirmed by their hits show (6, when 2 hits confirm), 8 does not.
    out = list(
        confirmed_only(iter(stream), hits=hits, window=window, someone_may_return=lambda: True)
    )
    shown = [float(x) for x in out[4].keypoints[:, 0, 0]]
    assert shown == ([5.0, 61.0] if hits == 2 else [5.0])
    # 3 of 5: track 9, seen in frames 0 and 2 of a 3-frame input, missed one: not shown.
    gap = [frame(0, {9: 1.0}), frame(1, {}), frame(2, {9: 3.0})]
    out = list(confirmed_only(iter(gap), hits=3, window=5))
    assert [r.track_ids.tolist() for r in out] == [[], [], []]


def test_a_merged_tentative_track_shows_its_held_frame_under_the_lost_tracks_id():
    """Track 3 is confirmed, then lost; tentative track 7 starts at frame 3, and at frame 4
    the tracker says 7 was 3 come back (3 took the person): frame 3 shows them as 0 too."""
    stream = [
        frame(0, {3: 1.0}),
        frame(1, {3: 2.0}),
        frame(2, {}),
        frame(3, {7: 4.0}),
        frame(4, {3: 5.0}),
    ]
    stream[4].merged = {7: 3}
    out = list(confirmed_only(iter(stream), hits=2, window=3))
    assert [r.track_ids.tolist() for r in out] == [[0], [0], [], [0], [0]]
    assert out[3].keypoints[0, 0, 0] == 4.0
    # Without the merge the tentative track dies unconfirmed and its frame is dropped.
    stream[4].merged = {}
    out = list(confirmed_only(iter(stream), hits=2, window=3))
    assert [r.track_ids.tolist() for r in out] == [[0], [0], [], [], [0]]


def test_confirmation_flushes_held_frames_when_the_source_fails():
    def broken():
        yield frame(0, {1: 1.0})
        yield frame(1, {1: 2.0, 2: 9.0})
        raise RuntimeError("video broken at frame 2")

    got = []
    with pytest.raises(RuntimeError, match="frame 2"):
        for r in confirmed_only(broken(), hits=2):
            got.append(r)
    # The frames that exist decide: track 2, seen in the last frame before the failure, shows.
    assert [r.track_ids.tolist() for r in got] == [[0], [0, 1]]


def test_fill_gaps_interpolates_missed_frames_with_lower_scores():
    stream = [
        frame(0, {3: 0.0}),
        frame(1, {}),
        frame(2, {}),
        frame(3, {3: 30.0}),
        frame(4, {3: 40.0}),
        frame(5, {}),
        frame(6, {}),
        frame(7, {}),
        frame(8, {}),
        frame(9, {3: 0.0}),
        frame(10, {3: 0.0}),
    ]
    out = list(fill_gaps(iter(stream), max_gap=3))
    assert [r.index for r in out] == list(range(11))
    assert [len(r) for r in out] == [1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1]  # 4 frames stay empty
    np.testing.assert_allclose([out[t].keypoints[0, 0, 0] for t in (1, 2)], [10.0, 20.0])
    np.testing.assert_allclose(out[1].keypoints[0, :, 2], 0.5)
    np.testing.assert_allclose(out[2].boxes[0], [15, 0, 25, 20])
    assert out[1].track_ids.tolist() == [3]


def test_fill_gaps_leaves_a_one_frame_stray_re_finding_alone():
    """Track 3 is missed 3 frames, takes a stray pose at frame 4 and is not seen in the next 3
    frames: frames 1-3 are not drawn towards it. Gaps of 1-2 frames are filled at once, and a
    re-finding in the last frame of the video is filled."""
    gone = [frame(t, {}) for t in (5, 6, 7, 8)]
    stray = [frame(0, {3: 0.0}), *(frame(t, {}) for t in (1, 2, 3)), frame(4, {3: 90.0}), *gone]
    assert [len(r) for r in fill_gaps(iter(stray), max_gap=4)] == [1, 0, 0, 0, 1, 0, 0, 0, 0]
    short = [frame(0, {3: 0.0}), frame(1, {}), frame(2, {3: 20.0}), *gone]
    assert [len(r) for r in fill_gaps(iter(short), max_gap=4)] == [1, 1, 1, 0, 0, 0, 0]
    ending = [frame(0, {3: 0.0}), *(frame(t, {}) for t in (1, 2, 3)), frame(4, {3: 40.0})]
    out = list(fill_gaps(iter(ending), max_gap=4))
    assert [len(r) for r in out] == [1, 1, 1, 1, 1]
    np.testing.assert_allclose([out[t].keypoints[0, 0, 0] for t in (1, 2, 3)], [10, 20, 30])


def test_one_euro_smoothing_cuts_jitter_and_passes_missing_joints():
    rng = np.random.default_rng(0)
    truth = np.arange(60) * 1.0  # walking 1 px a frame
    noisy = [frame(t, {0: truth[t] + rng.normal(0, 3.0)}) for t in range(60)]
    noisy[30].keypoints[0, 4, 2] = 0.0  # a missing joint
    noisy[30].keypoints[0, 4, 0] = -999.0
    out = list(smooth_keypoints(iter(noisy), fps=25.0, min_cutoff=1.0, beta=0.05))
    raw = np.array([r.keypoints[0, 0, 0] for r in noisy])
    smooth = np.array([r.keypoints[0, 0, 0] for r in out])
    jitter = lambda x: np.abs(np.diff(x, 2)).mean()  # noqa: E731
    assert jitter(smooth) < 0.5 * jitter(raw)
    assert out[30].keypoints[0, 4, 0] == -999.0  # left as it was
    assert abs(out[31].keypoints[0, 4, 0] - truth[31]) < 10  # its filter was not dragged away
