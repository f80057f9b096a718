"""Offline tracklet linking on synthetic people whose right links are known."""

import numpy as np

from tracker.linking import LinkConfig, TrackletSummaries, chain_ids, limb_proportions, relabel
from tracker.linking_speed import BODY

# BODY: a standing person, 17 COCO joints, about 40 x 100 px (the linking benchmark's too).


def pose(x: float, y: float = 200.0, stretch: float = 1.0) -> np.ndarray:
    centre = BODY.mean(axis=0)  # stretched about its centre: the position does not change
    xy = (BODY - centre) * [1.0, stretch] + centre + [x, y]
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


def test_shape_picks_the_same_body_among_people_returning_at_the_same_place():
    # Two people come back where person 1 stood, at the same time: a short-legged one (id 2,
    # listed first, so a tie would pick it) and one with person 1's body (id 3). Motion and
    # gap cannot tell them apart; the limb proportions over whole tracklets do.
    tall = {f: pose(200, stretch=1.0) for f in range(50)}
    short = {f: pose(200, stretch=0.6) for f in range(50)}
    people = {
        1: {f: tall[f] for f in range(10)},
        2: {f: short[f] for f in range(30, 50)},
        3: {f: tall[f] for f in range(30, 50)},
    }
    s = summaries(people)
    assert s.links() == [(1, 3)]
    items, scores = s.pair_scores()
    row = [t.track_id for t in items].index(1)
    by_id = {t.track_id: scores[row, k] for k, t in enumerate(items)}
    assert by_id[3] > by_id[2] > 0


def test_limb_proportions_do_not_depend_on_size_or_position_and_skip_unseen_limbs():
    p = pose(100)
    big = np.column_stack([BODY * 2.5 + [400, 300], np.ones(17)])
    assert np.allclose(limb_proportions(p[None], 0.3), limb_proportions(big[None], 0.3))
    p[[9, 10], 2] = 0.0  # both wrists unseen: no forearm, the rest unchanged
    props = limb_proportions(np.stack([p, big]), 0.3)
    assert np.isnan(props[0, 3]) and not np.isnan(props[1, 3])
    assert np.allclose(np.delete(props[0], 3), np.delete(props[1], 3))
    p[[5, 6, 11, 12], 2] = 0.0  # no torso: nothing to measure against
    assert np.isnan(limb_proportions(p[None], 0.3)).all()


def test_a_person_who_stopped_while_hidden_is_linked():
    # Walks right at 5 px/frame until frame 19, stops behind something just after, and is
    # seen again standing there 40 frames later. A point extrapolated at the old speed would
    # be 200 px (two person sizes) away; the path from where they were last seen passes by.
    walk = {f: pose(100 + 5 * f) for f in range(20)}
    stand = {f: pose(200) for f in range(60, 80)}
    s = summaries({1: walk, 2: stand})
    assert s.links() == [(1, 2)]
    path, turn, shape, size_change = s.features(s.tracklets[1], s.tracklets[2])
    assert path < 0.1 and shape < 0.01 and size_change < 0.01


def scaled(x: float, k: float) -> np.ndarray:
    """pose(x) scaled by k about its centre: the same proportions, another size."""
    p = pose(x)
    centre = p[:, :2].mean(axis=0)
    p[:, :2] = (p[:, :2] - centre) * k + centre
    return p


def test_size_picks_the_adult_over_a_child_returning_at_the_same_place():
    # An adult stands still until frame 19; at frame 40 a child (0.6 of the size, the same
    # proportions) appears where they stood, and at 41 the adult, 10 px away. Without the size
    # term the child, nearer in place and time, would win the link.
    adult = {f: pose(100) for f in range(20)}
    child = {f: scaled(100, 0.6) for f in range(40, 60)}
    back = {f: pose(110) for f in range(41, 60)}
    s = summaries({1: adult, 2: child, 3: back})
    size_change = s.features(s.tracklets[1], s.tracklets[2])[3]
    assert abs(size_change - abs(np.log(0.6))) < 0.01
    assert s.links() == [(1, 3)]


def test_an_online_join_stands_at_keep_score_unless_a_better_pair_wins():
    # 1 and 2 are the online pass's join of one person: kept even though no evidence links
    # them (1 stood far left, 2 stands far right); 3 then fits 1 better than the kept score.
    left = {f: pose(100) for f in range(20)}
    right = {f: pose(600) for f in range(40, 60)}
    s = summaries({1: left, 2: right})
    assert s.links() == [] and s.links(kept=[(1, 2)]) == [(1, 2)]
    s = summaries({1: left, 2: right, 3: {f: pose(102) for f in range(30, 60)}})
    assert s.links(kept=[(1, 2)]) == [(1, 3)]
    assert summaries({1: left, 2: right}, LinkConfig(keep_score=0.0)).links(kept=[(1, 2)]) == []


def test_a_pose_cut_to_a_few_joints_keeps_its_person_size():
    # The person's last poses show only the two hips (walking out behind a car); the size
    # that turns pixels into person sizes is the largest the tracklet showed, not those two.
    seen = {f: pose(100) for f in range(15)}
    for f in range(15, 20):
        seen[f] = pose(100)
        seen[f][[k for k in range(17) if k not in (11, 12)], 2] = 0.0
    back = {f: pose(130) for f in range(30, 45)}  # 30 px away: a third of a person
    s = summaries({1: seen, 2: back})
    assert s.tracklets[1].size > 60
    assert s.links() == [(1, 2)]


def test_a_tracklet_without_an_extent_is_measured_by_the_other_ones_size():
    # Person 1 showed only the left hip (one joint: no extent, size 0) before the gap and
    # comes back whole 30 px away, a third of their size. Counted in pixels (1 px units), the
    # 30 px would be 30 person sizes and no link could be made.
    hip = {f: pose(100) for f in range(20)}
    for p in hip.values():
        p[[k for k in range(17) if k != 11], 2] = 0.0
    back = {f: pose(130) for f in range(30, 45)}
    s = summaries({1: hip, 2: back})
    assert s.tracklets[1].size == 0 and s.tracklets[2].size > 60
    f = s.features(s.tracklets[1], s.tracklets[2])
    assert f is not None and f[0] < 1.0  # person sizes, not pixels
    assert s.links() == [(1, 2)]


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
