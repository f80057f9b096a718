"""tracker.identity_metrics: PCKh-share similarity, IDF1 and HOTA on hand-made sequences."""

from __future__ import annotations

import numpy as np
import pytest

from posenet.errors import UserError
from posenet.posetrack.evaluation import EvalFrame, SequenceBatch
from tracker.identity_metrics import identity_scores, pair_shares, sequence_data

HEAD = 20.0  # head size: a joint within 10 px is within PCKh@0.5


def body(x: float) -> np.ndarray:
    """(15, 2) joints of a person standing at x."""
    return np.stack([np.full(15, x), np.arange(15.0) * 10], axis=1)


def frame(
    gt: dict[int, float], pred: dict[int, float], pr_has: dict[int, np.ndarray] | None = None
) -> EvalFrame:
    """GT people {id: x} and predictions {id: x}, every joint labelled unless pr_has says."""
    pr_has = pr_has or {}
    return EvalFrame(
        gt_xy=np.array([body(x) for x in gt.values()]).reshape(-1, 15, 2),
        gt_has=np.ones((len(gt), 15), dtype=bool),
        head_size=np.full(len(gt), HEAD),
        gt_ids=np.array(list(gt), dtype=np.int64),
        pr_xy=np.array([body(x) for x in pred.values()]).reshape(-1, 15, 2),
        pr_has=np.array([pr_has.get(i, np.ones(15, bool)) for i in pred]).reshape(-1, 15),
        pr_score=np.ones((len(pred), 15)),
        pr_ids=np.array(list(pred), dtype=np.int64),
    )


def scores(frames: list[EvalFrame]):
    return identity_scores([SequenceBatch.from_frames(frames)])


def test_perfect_ids_give_idf1_and_hota_100():
    frames = [frame({1: 0.0, 2: 500.0}, {7: 0.0, 9: 500.0}) for _ in range(6)]
    s = scores(frames)
    assert s.idf1 == pytest.approx(100.0) and s.hota == pytest.approx(100.0)
    assert (s.idtp, s.idfn, s.idfp) == (12, 0, 0)


def test_one_id_switch_halfway_halves_idf1():
    """One person over 8 frames, predicted as id 7 then id 8: the best id mapping keeps 4 of 8
    frames, so IDTP 4, IDFN 4, IDFP 4 and IDF1 4 / (4 + 2 + 2) = 0.5."""
    frames = [frame({1: 0.0}, {7 if t < 4 else 8: 0.0}) for t in range(8)]
    s = scores(frames)
    assert (s.idtp, s.idfn, s.idfp) == (4, 4, 4)
    assert s.idf1 == pytest.approx(50.0)
    # HOTA: detection perfect (DetA 1), association 0.5 (each match's track pair shares 4 of 8).
    assert s.det_a == pytest.approx(100.0) and s.ass_a == pytest.approx(50.0)
    assert s.hota == pytest.approx(100.0 * np.sqrt(0.5))


def test_an_unmatched_track_lowers_hota():
    """A spurious track far from everyone: every prediction of it is a false positive."""
    clean = [frame({1: 0.0}, {7: 0.0}) for _ in range(4)]
    spurious = [frame({1: 0.0}, {7: 0.0, 8: 900.0}) for _ in range(4)]
    a, b = scores(clean), scores(spurious)
    assert a.hota == pytest.approx(100.0)
    assert b.hota == pytest.approx(100.0 * np.sqrt(0.5))  # DetA 4 / (4 + 4), AssA 1
    assert b.idfp == 4 and b.idf1 == pytest.approx(100.0 * 4 / 6)


def test_similarity_is_the_share_of_gt_joints_within_half_a_head():
    """Predicted joints 0-8 on the GT person, 9-14 moved 30 px (1.5 head sizes) away: 9 of 15;
    a prediction lacking joints 0-4 and otherwise exact: 10 of 15; one 30 px off: 0."""
    near = frame({1: 0.0}, {7: 0.0})
    near.pr_xy[0, 9:, 0] += 30.0
    assert pair_shares(SequenceBatch.from_frames([near])) == pytest.approx([9 / 15])
    edge = frame({1: 0.0}, {7: 10.0})  # every joint exactly 0.5 head size away: all within
    assert pair_shares(SequenceBatch.from_frames([edge])) == pytest.approx([1.0])
    partial = np.ones(15, bool)
    partial[:5] = False
    lacking = frame({1: 0.0}, {7: 0.0, 8: 30.0}, pr_has={7: partial})
    assert pair_shares(SequenceBatch.from_frames([lacking])) == pytest.approx([10 / 15, 0.0])
    # Under the IDF1 threshold of 0.5 a share of 9/15 still matches; 7/15 does not.
    assert scores([near] * 3).idf1 == pytest.approx(100.0)
    far = frame({1: 0.0}, {7: 0.0})
    far.pr_xy[0, 7:, 0] += 30.0
    assert scores([far] * 3).idf1 == pytest.approx(0.0)
    # HOTA counts the 9/15 match at alphas up to 0.6 only: 12 of its 19 alphas.
    assert scores([near] * 3).hota == pytest.approx(100.0 * 12 / 19)


def test_the_data_dict_renumbers_ids_per_frame_and_leaves_out_people_without_joints():
    """GT ids 40 and 3 become 1 and 0, predicted ids 12, 5, 6 become 2, 0, 1; a prediction
    with no joints is not a detection. Similarity rows are GT people, columns predictions."""
    none = np.zeros(15, bool)
    frames = [frame({40: 0.0, 3: 500.0}, {12: 500.0, 5: 0.0, 99: 200.0, 6: 3.0}, {99: none})]
    data = sequence_data(SequenceBatch.from_frames(frames))
    assert data["num_timesteps"] == 1
    assert data["num_gt_ids"] == 2 and data["num_tracker_ids"] == 3
    assert data["num_gt_dets"] == 2 and data["num_tracker_dets"] == 3
    np.testing.assert_array_equal(data["gt_ids"][0], [1, 0])
    np.testing.assert_array_equal(data["tracker_ids"][0], [2, 0, 1])
    np.testing.assert_allclose(data["similarity_scores"][0], [[0, 1, 1], [1, 0, 0]])


def test_a_track_id_twice_in_a_frame_is_refused():
    twice = frame({1: 0.0}, {7: 0.0, 8: 0.0})
    twice.pr_ids = np.array([7, 7])
    with pytest.raises(ValueError, match="predicted track id appears twice"):
        sequence_data(SequenceBatch.from_frames([twice]))


def test_empty_sequences_score_nan_and_no_predictions_score_zero():
    assert np.isnan(identity_scores([]).hota)
    s = scores([frame({1: 0.0}, {}) for _ in range(3)])
    assert s.idf1 == 0.0 and s.hota == 0.0 and s.idfn == 3


def test_without_trackeval_the_error_names_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "trackeval", None)  # as if not installed
    monkeypatch.setitem(sys.modules, "trackeval.metrics", None)
    with pytest.raises(UserError, match=r"pip install 'posetracker\[benchmark\]'"):
        identity_scores([])
