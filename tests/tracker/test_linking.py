"""Offline tracklet linking on synthetic people whose right links are known."""

import numpy as np

from tracker.linking import LinkConfig, TrackletSummaries, chain_ids, relabel

# A standing person, 17 COCO joints, about 40 x 100 px, centred on (0, 0).
BODY = np.array(
    [
        [0, -45],
        [-4, -48],
        [4, -48],
        [-8, -46],
        [8, -46],
        [-16, -30],
        [16, -30],
        [-20, -10],
        [20, -10],
        [-22, 8],
        [22, 8],
        [-10, 10],
        [10, 10],
        [-11, 30],
        [11, 30],
        [-12, 50],
        [12, 50],
    ],
    dtype=float,
)


def pose(x: float, y: float = 200.0, stretch: float = 1.0) -> np.ndarray:
    xy = BODY * [1.0, stretch] + [x, y]
    return np.column_stack([xy, np.ones(17)])


def summaries(people: dict[int, dict[int, np.ndarray]], cfg: LinkConfig | None = None):
    """people: id -> {frame: pose}; fed frame by frame as the tracker would."""
    s = TrackletSummaries(cfg)
    frames = sorted({f for track in people.values() for f in track})
    for f in frames:
        ids = [t for t in people if f in people[t]]
        s.add(f, ids, np.stack([people[t][f] for t in ids]) if ids else np.zeros((0, 17, 3)))
    return s


def test_a_person_hidden_for_a_while_is_linked_to_their_return():
    walk = {f: pose(100 + 4 * f) for f in range(60)}
    s = summaries(
        {
            1: {f: p for f, p in walk.items() if f < 20},
            2: {f: p for f, p in walk.items() if f >= 36},
        }
    )
    assert s.links() == [(1, 2)]
    assert chain_ids(s.links()) == {2: 1}
    assert relabel([2, 5, 1], chain_ids(s.links())) == [1, 5, 1]


def test_tracklets_that_share_a_frame_are_never_linked():
    same = {f: pose(300) for f in range(40)}
    s = summaries({1: {f: same[f] for f in range(0, 21)}, 2: {f: same[f] for f in range(20, 40)}})
    assert s.links() == []
    items, scores = s.pair_scores()
    assert (scores == 0).all()


def test_people_crossing_while_hidden_keep_their_directions():
    # A walks right, B walks left; they cross during the gap (frames 20-39) and come back as
    # ids 3 and 4. Their ends lie close to the wrong person: motion from both ends decides.
    a = {f: pose(100 + 5 * f) for f in range(60)}
    b = {f: pose(400 - 5 * f) for f in range(60)}
    people = {
        1: {f: a[f] for f in range(20)},
        2: {f: b[f] for f in range(20)},
        3: {f: a[f] for f in range(40, 60)},
        4: {f: b[f] for f in range(40, 60)},
    }
    assert sorted(summaries(people).links()) == [(1, 3), (2, 4)]


def test_shape_tells_apart_two_people_returning_at_the_same_place():
    tall = {f: pose(200, stretch=1.0) for f in range(50)}
    short = {f: pose(200, stretch=0.6) for f in range(50)}
    people = {1: {f: tall[f] for f in range(10)}, 2: {f: short[f] for f in range(30, 50)}}
    assert summaries(people).links() == []  # a different body is not the same person
    people[3] = {f: tall[f] for f in range(30, 50)}
    people[2] = {f + 100: p for f, p in people[2].items()}  # the other one comes much later
    assert (1, 3) in summaries(people).links()


def test_a_gap_longer_than_max_gap_is_not_bridged_and_chains_follow_links():
    walk = {f: pose(100 + 2 * f) for f in range(100)}
    people = {
        1: {f: walk[f] for f in range(10)},
        2: {f: walk[f] for f in range(30, 40)},
        3: {f: walk[f] for f in range(60, 70)},
    }
    assert sorted(summaries(people).links()) == [(1, 2), (2, 3)]
    assert chain_ids([(1, 2), (2, 3)]) == {2: 1, 3: 1}
    assert summaries(people, LinkConfig(max_gap=10)).links() == []
