"""CLEAR MOT per joint: event counts and the distance sum poseval reads from motmetrics."""

import numpy as np

from posenet.posetrack.evaluation.mota import JointAccumulator, MOTCollector


def test_accumulator_matches_motmetrics_event_table():
    # The same four frames fed to motmetrics 1.2.0's MOTAccumulator (the version poseval
    # requires) give: misses 3, switches 3, false positives 0, objects 8, detections 5, and
    # events['D'].sum() == 2.8 (RAW rows + MATCH/SWITCH + TRANSFER + ASCEND distances).
    acc = JointAccumulator()
    acc.update([1, 2], [10, 20], [(0, 0, 0.1), (1, 1, 0.2)])
    acc.update([1, 2], [10, 20], [(0, 1, 0.1), (1, 0, 0.2)])  # both ids swap
    acc.update([1, 2, 3], [30], [(0, 0, 0.3), (2, 0, 0.4)])  # 1 and 3 compete for a new id
    acc.update([3], [], [])
    assert (acc.misses, acc.switches, acc.false_positives, acc.objects) == (3, 3, 0, 8)
    assert acc.matches + acc.switches == 5
    assert np.isclose(acc.sum_d, 2.8)


def test_carried_over_match_wins_over_a_closer_newcomer():
    acc = JointAccumulator()
    acc.update([1], [10], [(0, 0, 0.3)])
    acc.update([1], [10, 11], [(0, 0, 0.4), (0, 1, 0.0)])  # 10 still within reach: kept
    assert (acc.matches, acc.switches, acc.false_positives) == (2, 0, 1)


def test_frame_without_predictions_counts_one_miss_and_one_false_positive_per_joint():
    mot = MOTCollector()
    mot.start_sequence()
    mot.add(
        np.array([0, 1, 2]), np.ones((3, 15), bool), np.zeros(0, int), np.zeros((0, 15), bool), None
    )
    result = mot.result()
    np.testing.assert_array_equal(result.num_objects, np.ones(15))
    np.testing.assert_array_equal(result.num_false_positives, np.ones(15))
    assert np.allclose(result.mota[:15], -100.0) and np.allclose(result.motp[:15], 0.0)


def test_small_competitions_are_solved_like_the_full_solver():
    from posenet.posetrack.evaluation.mota import _assign, _motmetrics_lsa

    rng = np.random.default_rng(0)
    for _ in range(500):
        no, nh = rng.integers(1, 5, size=2)
        allowed = rng.random((no, nh)) < 0.6
        d = np.round(rng.random((no, nh)) * 0.5, 2)  # rounding makes some exact ties
        pairs = [(i, j, float(d[i, j])) for i in range(no) for j in range(nh) if allowed[i, j]]
        expected = sorted(_motmetrics_lsa(np.where(allowed, d, np.nan)))
        assert sorted((i, j) for i, j, _ in _assign(pairs, no, nh)) == expected


def test_collector_fast_path_counts_like_the_accumulator():
    # Random small sequences: MOTCollector (numpy fast path for settled joints) must count
    # exactly what one JointAccumulator per joint counts frame by frame.
    rng = np.random.default_rng(3)
    for _ in range(20):
        gt_tracks, pr_tracks = rng.permutation(50)[:4], rng.permutation(50)[:5]
        frames = []
        for _ in range(12):
            g, p = rng.integers(1, 4), rng.integers(1, 5)
            dist = np.where(rng.random((p, g, 15)) < 0.5, rng.random((p, g, 15)), np.inf)
            frames.append(
                (
                    rng.choice(gt_tracks, g, replace=False),
                    rng.random((g, 15)) < 0.8,
                    rng.choice(pr_tracks, p, replace=False),
                    rng.random((p, 15)) < 0.8,
                    dist,
                )
            )
        mot = MOTCollector()
        mot.start_sequence(gt_tracks, pr_tracks)
        accs = [JointAccumulator() for _ in range(15)]
        for gt_ids, gt_has, pr_ids, pr_has, dist in frames:
            dist = np.where(pr_has[:, None] & gt_has[None], dist, np.inf)
            mot.add(gt_ids, gt_has, pr_ids, pr_has, dist)
            for j, acc in enumerate(accs):
                gs, ps = np.flatnonzero(gt_has[:, j]), np.flatnonzero(pr_has[:, j])
                pairs = [
                    (a, b, dist[p, g, j])
                    for a, g in enumerate(gs)
                    for b, p in enumerate(ps)
                    if dist[p, g, j] <= 0.5
                ]
                acc.update(gt_ids[gs].tolist(), pr_ids[ps].tolist(), pairs)
        result = mot.result()
        np.testing.assert_array_equal(result.num_switches, [a.switches for a in accs])
        np.testing.assert_array_equal(result.num_misses, [a.misses for a in accs])
        np.testing.assert_array_equal(result.num_false_positives, [a.false_positives for a in accs])
        np.testing.assert_allclose(mot.totals["sum_d"], [a.sum_d for a in accs])
