"""CLEAR MOT per joint: event counts and the distance sum poseval reads from motmetrics."""
import numpy as np

from tracker.evaluation.mota import JointAccumulator, MOTCollector


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
    mot.add(np.array([0, 1, 2]), np.ones((3, 15), bool), np.zeros(0, int), np.zeros((0, 15), bool), None)
    result = mot.result()
    np.testing.assert_array_equal(result.num_objects, np.ones(15))
    np.testing.assert_array_equal(result.num_false_positives, np.ones(15))
    assert np.allclose(result.mota[:15], -100.0) and np.allclose(result.motp[:15], 0.0)


def test_small_competitions_are_solved_like_the_full_solver():
    from tracker.evaluation.mota import _assign, _motmetrics_lsa

    rng = np.random.default_rng(0)
    for _ in range(500):
        no, nh = rng.integers(1, 5, size=2)
        allowed = rng.random((no, nh)) < 0.6
        d = np.round(rng.random((no, nh)) * 0.5, 2)  # rounding makes some exact ties
        pairs = [(i, j, float(d[i, j])) for i in range(no) for j in range(nh) if allowed[i, j]]
        expected = sorted(_motmetrics_lsa(np.where(allowed, d, np.nan)))
        assert sorted((i, j) for i, j, _ in _assign(pairs, no, nh)) == expected
