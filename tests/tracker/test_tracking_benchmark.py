"""tracker.tracking_benchmark: seeded perturbation, the tracking path, scoring, and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from posenet.errors import ConfigError, DataError
from posenet.posetrack.evaluation import (
    EvalFrame,
    EvalSequence,
    evaluate_sequences,
    prepare_frames,
)
from posenet.posetrack.formats import read_posetrack
from tracker import tracking_benchmark as tb

# A standing person: PoseTrack-2018 slots with a joint (nose and ears stay unlabelled, as in
# the Bonn data), relative to the person's top-left corner.
BODY = {
    1: (20, 20),
    2: (20, 0),
    5: (5, 25),
    6: (35, 25),
    7: (0, 45),
    8: (40, 45),
    9: (0, 65),
    10: (40, 65),
    11: (10, 70),
    12: (30, 70),
    13: (10, 95),
    14: (30, 95),
    15: (10, 120),
    16: (30, 120),
}


def person(x: float, y: float, scale: float = 1.0) -> list[float]:
    kp = np.zeros((17, 3))
    for slot, (dx, dy) in BODY.items():
        kp[slot] = (x + scale * dx, y + scale * dy, 1)
    return kp.ravel().tolist()


def write_gt(
    path, name: str, tracks: dict[int, list[tuple[float, float] | None]], scale: float = 1.0
):
    """A PoseTrack-2018 ground-truth file: tracks[id][frame] = top-left (x, y) or None."""
    frames = len(next(iter(tracks.values())))
    images = [{"id": k + 1, "file_name": f"images/{name}/{k:06d}.jpg"} for k in range(frames)]
    anns = [
        {
            "image_id": k + 1,
            "track_id": tid,
            "keypoints": person(*xy, scale),
            "bbox_head": [xy[0] + 8 * scale, xy[1] - 2 * scale, 24 * scale, 24 * scale],
        }
        for tid, spots in tracks.items()
        for k, xy in enumerate(spots)
        if xy is not None
    ]
    target = path / f"{name}.json"
    target.write_text(json.dumps({"images": images, "annotations": anns}))
    return read_posetrack(target)


def walkers(path, name="walk", frames=30, people=2):
    """`people` people side by side, each walking 2 px right per frame, in every frame."""
    tracks = {t: [(50 + 150 * t + 2 * k, 40) for k in range(frames)] for t in range(people)}
    return write_gt(path, name, tracks)


def presence(frames: list[tb.PerturbedFrame], track: int) -> list[int]:
    return [k for k, f in enumerate(frames) if track in f.track_ids[~f.spurious].tolist()]


def test_perturbation_is_seeded(tmp_path):
    seq = walkers(tmp_path)
    setting = tb.Setting(noise_px=2.0, drop=0.2, gap=4)
    a, b = (tb.perturb_sequence(seq, setting, seed=0) for _ in range(2))
    c = tb.perturb_sequence(seq, setting, seed=1)
    assert all(
        np.array_equal(x.keypoints, y.keypoints) and np.array_equal(x.track_ids, y.track_ids)
        for x, y in zip(a, b)
    )
    assert not all(
        x.keypoints.shape == z.keypoints.shape and np.array_equal(x.keypoints, z.keypoints)
        for x, z in zip(a, c)
    )


def test_gap_removes_exactly_g_consecutive_frames_per_person(tmp_path):
    seq = walkers(tmp_path, frames=30, people=3)
    frames = tb.perturb_sequence(seq, tb.Setting(noise_px=0.0, drop=0.0, gap=8), seed=3)
    for track in range(3):
        seen = presence(frames, track)
        missing = sorted(set(range(30)) - set(seen))
        assert len(missing) == 8
        assert missing == list(range(missing[0], missing[0] + 8))
        assert 0 < missing[0] and missing[-1] < 29  # seen before and after the gap
    # Without noise the joints are the ground truth's, scored 1 (0.5 + 0.5 exp(0)).
    f0, g0 = frames[0], seq.frames[0]
    order = [int(np.flatnonzero(g0.track_ids == t)[0]) for t in f0.track_ids]
    np.testing.assert_allclose(f0.keypoints[..., :2], g0.keypoints[order, :, :2])
    assert set(f0.keypoints[..., 2][g0.labelled[order]].tolist()) == {1.0}


def test_tracks_too_short_for_the_gap_keep_every_frame(tmp_path):
    spots = [(50, 40)] * 9 + [None] * 21  # 9 frames < 8 + 2
    seq = write_gt(tmp_path, "short", {0: spots, 1: [(300, 40)] * 30})
    frames = tb.perturb_sequence(seq, tb.Setting(noise_px=0.0, drop=0.0, gap=8), seed=0)
    assert presence(frames, 0) == list(range(9))
    assert len(presence(frames, 1)) == 22


def test_drops_the_fraction_asked_and_shuffles(tmp_path):
    seq = walkers(tmp_path, frames=200, people=5)
    frames = tb.perturb_sequence(seq, tb.Setting(noise_px=0.0, drop=0.3), seed=0)
    kept = sum(len(f.track_ids) for f in frames)
    assert 0.25 < 1 - kept / 1000 < 0.35
    orders = {tuple(f.track_ids.tolist()) for f in frames if len(f.track_ids) == 5}
    assert len(orders) > 1  # people are not always listed in ground-truth order


def test_spurious_poses_come_from_another_video(tmp_path):
    seq = walkers(tmp_path, frames=40)
    other = write_gt(tmp_path, "other", {7: [(500, 300)] * 5}, scale=1.7)  # a bigger person
    size = (960, 544)
    frames = tb.perturb_sequence(
        seq, tb.Setting(noise_px=0.0, drop=0.0, spurious=1.0), 0, [tb.pose_pool(other)], size
    )
    donor = tb.pose_pool(other)[0]
    extra = [(f, k) for f in frames for k in np.flatnonzero(f.spurious)]
    assert 20 < len(extra) < 60  # Poisson(1) per frame over 40 frames
    for f, k in extra:
        pose = f.keypoints[k]
        has = pose[:, 2] > 0
        np.testing.assert_array_equal(has, donor[:, 2] > 0)
        shift = pose[has, :2] - donor[has, :2]
        np.testing.assert_allclose(
            shift, np.broadcast_to(shift[0], shift.shape), atol=1e-9
        )  # moved
        assert (pose[has, 2] == 0.5).all() and f.scores[k] == 0.5
        assert (pose[has, 0] <= size[0] - 1).all() and (pose[has, 1] <= size[1] - 1).all()
        assert f.track_ids[k] >= 2  # above the video's own ids
    assert len({tuple(f.keypoints[k, 1, :2]) for f, k in extra}) == len(extra)  # placed anew
    with pytest.raises(DataError, match="another video"):
        tb.perturb_sequence(seq, tb.Setting(spurious=1.0), 0, [], size)


def test_person_id_changes_hand_worked():
    """GT 0 at x=0 and GT 1 at x=500; predicted ids 10/11 swap at frame 2, GT 0 is missed in
    frame 3. By hand: GT 0 sees 10, 10, 11, -, 11 (1 change), GT 1 sees 11, 11, 10, 10, 10 (1)."""
    xy = np.zeros((2, 15, 2))
    xy[1, :, 0] = 500
    has = np.ones((2, 15), dtype=bool)

    def frame(pred_ids, keep=(0, 1)):
        keep = list(keep)
        return EvalFrame(
            gt_xy=xy,
            gt_has=has,
            head_size=np.full(2, 20.0),
            gt_ids=np.array([0, 1]),
            pr_xy=xy[keep] + 3.0,
            pr_has=has[keep],
            pr_score=np.ones((len(keep), 15)),
            pr_ids=np.array(pred_ids),
        )

    frames = [
        frame([10, 11]),
        frame([10, 11]),
        frame([11, 10]),
        frame([10], keep=[1]),
        frame([11, 10]),
    ]
    assert tb.person_id_changes(frames) == 2
    assert tb.person_id_changes([frame([10, 11])] * 5) == 0
    # Listed in another order the same people are matched the same way.
    swapped = EvalFrame(
        **{**frames[0].__dict__, "pr_xy": xy[::-1] + 3.0, "pr_ids": np.array([11, 10])}
    )
    assert tb.person_id_changes([frames[0], swapped]) == 0


def test_iou_floor_and_default_run_the_poses_path(tmp_path):
    """A 3-frame gap: the default tracker (queue of 5) gives the ids back, the floor (queue 1)
    starts new ones; both outputs come from TrackingOutput (boxes and scores written)."""
    seq = walkers(tmp_path / "", "gapped", frames=20)
    frames = tb.perturb_sequence(seq, tb.Setting(noise_px=0.0, drop=0.0, gap=3), seed=0)
    det = tb.write_detections(frames, tmp_path / "det" / "gapped.json", "gapped")
    assert "track_id" not in json.loads(det.read_text())["annotations"][0]
    image = np.zeros((544, 960, 3), np.uint8)
    changes, idf1 = {}, {}
    for name, cfg in (("floor", tb.floor_config()), ("default", tb.tracker_config("default"))):
        out = tb.track_detections(cfg, det, tmp_path / name / "gapped.json", seq, image)
        ann = json.loads(out.read_text())["annotations"][0]
        assert {"track_id", "bbox", "score"} <= set(ann)
        scores = tb.score_predictions([seq], [out])
        changes[name] = scores["id_changes"]
        idf1[name] = scores["idf1"]
    assert changes == {"default": 0, "floor": 2}
    assert idf1["floor"] < idf1["default"]  # new ids after the gap cost the floor IDF1
    assert tb.floor_config().tracking.queue_length == 1


def test_perfect_ids_score_like_ground_truth_against_itself(shared_data, tmp_path):
    folder = shared_data("bonn-posetrack/posetrack18")
    gt = tb.load_ground_truth(folder, max_videos=2)
    # The data README: scored against itself, MOTA Total 100 and AP Total 93.3 (no nose).
    itself = evaluate_sequences([EvalSequence(g.name, prepare_frames(g, g, True)) for g in gt])
    assert itself.mot.mota[15] == pytest.approx(100.0)
    assert itself.ap.ap[15] == pytest.approx(93.333, abs=1e-3)
    clean = {"clean": tb.Setting(noise_px=0.0, drop=0.0)}
    (row,) = tb.run_benchmark(gt, clean, [0], {tb.PERFECT: None}, tmp_path)
    assert row["mota"] == pytest.approx(100.0) and row["map"] == pytest.approx(93.333, abs=1e-3)
    assert row["idsw"] == 0 and row["id_changes"] == 0
    # Every person found exactly under its own id: IDF1 and HOTA are perfect too.
    assert row["idf1"] == pytest.approx(100.0) and row["hota"] == pytest.approx(100.0)


def test_both_layouts_give_the_same_detections(shared_data):
    seqs = [
        read_posetrack(shared_data(f"bonn-posetrack/{layout}/000001.json"))
        for layout in ("posetrack17", "posetrack18")
    ]
    a, b = (tb.perturb_sequence(s, tb.SETTINGS["gap8"], 0, size=(960, 544)) for s in seqs)
    assert len(a) == len(b) == 76
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.track_ids, y.track_ids)
        np.testing.assert_allclose(x.keypoints, y.keypoints)


def test_unknown_tracker_names_the_choices():
    with pytest.raises(ConfigError, match="nope.*default"):
        tb.build_trackers(["nope"])
    assert list(tb.build_trackers(["default", "iou"])) == [tb.PERFECT, tb.FLOOR, "default", "iou"]


def run_two_videos(shared_data, **options) -> dict:
    """The default tracker on the first two Bonn videos, gap8, seed 0."""
    folder = shared_data("bonn-posetrack/posetrack18")
    return tb.run_tracking_benchmark(
        folder, ["default"], setting_names=["gap8"], seeds=[0], max_videos=2, **options
    )


def test_run_prints_the_table_and_reports_every_run(shared_data, tmp_path):
    lines, progress = [], []
    report = run_two_videos(shared_data, out=tmp_path, log=lines.append, progress=progress.append)
    assert tb.FLOW_NOTE in lines[0] and "2 videos (129 frames)" in lines[0]
    for name in (tb.PERFECT, tb.FLOOR, "default"):
        assert name in lines[0]
    assert lines[1].startswith("wall time") and progress[0].startswith("gap8 seed 0: ")
    means = {m["tracker"]: m for m in report["means"]}
    assert set(means) == {tb.PERFECT, tb.FLOOR, "default"} and report["videos"] == [
        "000001",
        "000003",
    ]
    assert means[tb.PERFECT]["id_changes"] == 0
    assert means[tb.FLOOR]["id_changes"] > means["default"]["id_changes"]
    # IDF1 and HOTA rank the floor's broken tracks below the default tracker, which on these
    # two videos keeps every id (as perfect ids do); the table shows them after the others.
    for key in ("idf1", "hota"):
        assert means[tb.PERFECT][key] >= means["default"][key] > means[tb.FLOOR][key] > 0
    assert "IDF1   HOTA" in lines[0]
    assert len(report["runs"]) == 3 and report["seeds"] == [0]
    assert (tmp_path / "gap8" / "seed0" / "default" / "000001.json").is_file()  # --out keeps


def test_unknown_setting_names_the_choices(tmp_path):
    with pytest.raises(ConfigError, match="--settings: unknown gap9 .*gap0"):
        tb.run_tracking_benchmark(tmp_path, setting_names=["gap9"])


def test_jitter_is_the_acceleration_error_against_the_ground_truth():
    """One person standing still; the prediction's joint 0 wobbles +1, -1, +1 px in x: its
    acceleration error is |1 - 2 * (-1) + 1| = 4 px/frame^2, the other joints' 0."""
    xy = np.tile(np.arange(15.0)[:, None] * 10, (1, 2))[None]  # (1, 15, 2)

    def frame(wobble: float, pred_id: int = 7) -> EvalFrame:
        pred = xy.copy()
        pred[0, 0, 0] += wobble
        return EvalFrame(
            gt_xy=xy,
            gt_has=np.ones((1, 15), bool),
            head_size=np.full(1, 20.0),
            gt_ids=np.array([0]),
            pr_xy=pred,
            pr_has=np.ones((1, 15), bool),
            pr_score=np.ones((1, 15)),
            pr_ids=np.array([pred_id]),
        )

    total, count = tb.jitter([frame(1.0), frame(-1.0), frame(1.0)])
    assert count == 15 and total == pytest.approx(4.0)
    # A different predicted id in the middle frame: no triple of one track, nothing counted.
    assert tb.jitter([frame(1.0), frame(-1.0, pred_id=8), frame(1.0)]) == (0.0, 0)


def test_true_ids_give_the_predicted_poses_the_ground_truth_ids(tmp_path):
    """Two walkers (ground-truth ids 0 and 1) whose predicted ids 5 and 6 swap at frame 10, and
    a person far from both predicted as id 0: under true ids the swap is gone, and the far
    person keeps one id of its own, never a ground-truth one."""
    gt = walkers(tmp_path, "walk", frames=20)
    a = [(50 + 2 * k, 40) for k in range(20)]
    b = [(200 + 2 * k, 40) for k in range(20)]
    (tmp_path / "pred").mkdir()
    write_gt(
        tmp_path / "pred", "walk", {5: a[:10] + b[10:], 6: b[:10] + a[10:], 0: [(700, 300)] * 20}
    )
    path = tmp_path / "pred" / "walk.json"
    raw = tb.score_predictions([gt], [path])
    true = tb.score_predictions([gt], [path], true_ids=True)
    assert raw["id_changes"] == 2 and true["id_changes"] == 0 and true["idsw"] == 0
    assert true["mota"] > raw["mota"] and true["idf1"] > raw["idf1"]
    frames = prepare_frames(gt, read_posetrack(path), True)
    tb.take_true_ids(frames)
    far_ids = set()
    for f in frames:
        far = f.pr_xy[:, 0, 0] > 600
        assert sorted(f.pr_ids[~far].tolist()) == [0, 1]
        far_ids.update(f.pr_ids[far].tolist())
    assert len(far_ids) == 1 and far_ids.isdisjoint({0, 1})


def test_true_ids_rows_follow_each_named_tracker(shared_data):
    report = run_two_videos(shared_data, log=lambda _: None, true_ids=True)
    rows = [r["tracker"] for r in report["runs"]]
    assert rows == [tb.PERFECT, tb.FLOOR, "default", "default" + tb.TRUE_IDS]
    means = {m["tracker"]: m for m in report["means"]}
    assert means["default" + tb.TRUE_IDS]["id_changes"] == 0 and report["true_ids"]
    assert means["default" + tb.TRUE_IDS]["map"] == means["default"]["map"]  # same poses
