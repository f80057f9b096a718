import numpy as np
import pytest

from tracker.tracks import TrackSet


def _person(x, y, rng, size=60.0):
    kp = np.ones((17, 3))
    kp[:, :2] = [x, y] + rng.uniform(-size / 2, size / 2, (17, 2))
    return kp


def _boxes(kp):
    return np.concatenate([kp[..., :2].min(1), kp[..., :2].max(1)], axis=1)


def test_people_moving_with_the_flow_keep_ids_and_plain_oks_loses_them():
    rng = np.random.default_rng(1)
    a, b = _person(100, 100, rng), _person(300, 100, rng)
    step = np.array([70.0, 0.0])  # fast motion: 70 px per frame, more than a person's width
    flow = np.zeros((400, 1000, 2), np.float32)
    flow[..., 0] = step[0]
    with_flow = TrackSet(similarity="flow_oks")
    without = TrackSet(similarity="oks")
    people = np.stack([a, b])
    first = with_flow.update(people, _boxes(people))
    without.update(people, _boxes(people))
    for _ in range(3):
        moved, _ = with_flow.predict(flow)
        np.testing.assert_allclose(moved[..., :2], people[..., :2] + step)  # last frame's people
        people = people.copy()
        people[..., :2] += step
        np.testing.assert_array_equal(with_flow.update(people, _boxes(people)), first)
        without.predict(flow)
        ids = without.update(people, _boxes(people))
    assert not np.array_equal(ids, first)  # without flow the poses no longer overlap


def test_predict_returns_last_frame_people_with_their_scores():
    rng = np.random.default_rng(2)
    tracks = TrackSet(queue_length=5)
    people = np.stack([_person(100, 100, rng), _person(300, 100, rng)])
    tracks.update(people, _boxes(people), np.array([0.8, 0.6]))
    tracks.predict(None)
    tracks.update(people[1:], _boxes(people[1:]), np.array([0.5]))  # the first one is hidden
    moved, scores = tracks.predict(None)
    np.testing.assert_allclose(moved, people[1:])
    np.testing.assert_allclose(scores, [0.5])


@pytest.mark.parametrize("queue_length, same_id", [(5, True), (1, False)])
def test_person_hidden_for_two_frames(queue_length, same_id):
    rng = np.random.default_rng(2)
    a = _person(100, 100, rng)[None]
    tracks = TrackSet(queue_length=queue_length)
    (first,) = tracks.update(a, _boxes(a))
    tracks.update(np.zeros((0, 17, 3)), np.zeros((0, 4)))
    tracks.update(np.zeros((0, 17, 3)), np.zeros((0, 4)))
    (back,) = tracks.update(a, _boxes(a))
    assert bool(back == first) is same_id


def test_ids_are_never_reused_and_unmatched_get_new_ones():
    rng = np.random.default_rng(3)
    tracks = TrackSet(queue_length=1)
    seen = set()
    for k in range(4):
        people = np.stack([_person(200 * k + 50, 300, rng)])  # jumps: never matched
        (i,) = tracks.update(people, _boxes(people))
        assert i not in seen
        seen.add(int(i))
    assert seen == {0, 1, 2, 3}


def test_iou_similarity_and_order_independence():
    rng = np.random.default_rng(4)
    people = np.stack([_person(100, 100, rng), _person(400, 100, rng)])
    tracks = TrackSet(similarity="iou", matcher="hungarian")
    ids = tracks.update(people, _boxes(people))
    again = tracks.update(people[::-1], _boxes(people[::-1]))
    np.testing.assert_array_equal(again, ids[::-1])


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="similarity"):
        TrackSet(similarity="cosine")
    with pytest.raises(ValueError, match="matcher"):
        TrackSet(matcher="auction")
