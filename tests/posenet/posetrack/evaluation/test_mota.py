"""CLEAR MOT per joint: event counts and the distance sum poseval reads from motmetrics."""

import numpy as np

from posenet.posetrack.evaluation.batch import SequenceBatch
from posenet.posetrack.evaluation.frames import EvalFrame
from posenet.posetrack.evaluation.mota import JointAccumulator, MOTCollector
from posenet.posetrack.evaluation.pose_ap import joint_distances


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


def _frame(gt_ids, gt_has, pr_ids, pr_has, gt_xy=None, pr_xy=None) -> EvalFrame:
    g, p = len(gt_ids), len(pr_ids)
    return EvalFrame(
        gt_xy=np.zeros((g, 15, 2)) if gt_xy is None else gt_xy,
        gt_has=np.asarray(gt_has, bool).reshape(g, 15),
        head_size=np.ones(g),
        gt_ids=np.asarray(gt_ids, np.int64),
        pr_xy=np.zeros((p, 15, 2)) if pr_xy is None else pr_xy,
        pr_has=np.asarray(pr_has, bool).reshape(p, 15),
        pr_score=np.ones((p, 15)),
        pr_ids=np.asarray(pr_ids, np.int64),
    )


def test_frame_without_predictions_counts_one_miss_and_one_false_positive_per_joint():
    empty = _frame([0, 1, 2], np.ones((3, 15)), [], np.zeros((0, 15)))
    mot = MOTCollector()
    mot.add_sequence(SequenceBatch.from_frames([empty, empty]))  # the last frame is left out
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


def test_collector_counts_like_one_accumulator_per_joint_frame_by_frame():
    # Random small sequences, crowded enough that many frames have competing pairs: the
    # vectorised MOTCollector must count exactly what one JointAccumulator per joint counts.
    rng = np.random.default_rng(3)
    competing = 0
    for _ in range(40):
        gt_tracks, pr_tracks = rng.permutation(50)[:4], rng.permutation(50)[:5]
        frames, accs = [], [JointAccumulator() for _ in range(15)]
        for _ in range(12):
            g, p = rng.integers(0, 4), rng.integers(0, 5)
            gt_xy = rng.random((g, 15, 2)) * 2
            pr_xy = rng.random((p, 15, 2)) * 2
            frame = _frame(
                rng.choice(gt_tracks, g, replace=False),
                rng.random((g, 15)) < 0.8,
                rng.choice(pr_tracks, p, replace=False),
                rng.random((p, 15)) < 0.8,
                gt_xy,
                pr_xy,
            )
            frames.append(frame)
        for frame in frames[:-1]:
            if not len(frame.gt_ids) or not len(frame.pr_ids):
                for acc in accs:  # poseval's stand-in: one object, missed, one false positive
                    acc.objects, acc.misses = acc.objects + 1, acc.misses + 1
                    acc.false_positives += 1
                continue
            dist = joint_distances(frame)
            for j, acc in enumerate(accs):
                gs, ps = np.flatnonzero(frame.gt_has[:, j]), np.flatnonzero(frame.pr_has[:, j])
                pairs = [
                    (a, b, dist[p, g, j])
                    for a, g in enumerate(gs)
                    for b, p in enumerate(ps)
                    if dist[p, g, j] <= 0.5
                ]
                near = np.array([[dist[p, g, j] <= 0.5 for p in ps] for g in gs]).reshape(
                    len(gs), len(ps)
                )
                competing += bool((near.sum(0) > 1).any() or (near.sum(1) > 1).any())
                acc.update(frame.gt_ids[gs].tolist(), frame.pr_ids[ps].tolist(), pairs)
        mot = MOTCollector()
        mot.add_sequence(SequenceBatch.from_frames(frames))
        result = mot.result()
        np.testing.assert_array_equal(result.num_switches, [a.switches for a in accs])
        np.testing.assert_array_equal(result.num_misses, [a.misses for a in accs])
        np.testing.assert_array_equal(result.num_false_positives, [a.false_positives for a in accs])
        np.testing.assert_array_equal(result.num_objects, [a.objects for a in accs])
        np.testing.assert_allclose(mot.totals["sum_d"], [a.sum_d for a in accs])
    assert competing > 100  # the sequential path was exercised, not only lone pairs
