"""Evaluation inputs that cannot be scored as given: one-line errors, never silent changes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from posenet.cli import run_cli
from posenet.errors import DataError
from posenet.posetrack.evaluation import evaluate_posetrack
from tests.conftest import load_tool


def _sequence(frames: int = 4, people: bool = True) -> dict:
    """A tiny PoseTrack 2018 file: `frames` frames, two people on each (none if not `people`)."""
    images = [{"id": 100 + k, "file_name": f"v/{k:06d}.jpg"} for k in range(frames)]
    annotations = []
    for k in range(frames if people else 0):
        for track, x in ((0, 50.0), (1, 300.0)):
            xy = np.stack([x + np.arange(17) * 4.0, 40 + np.arange(17) * 9.0], axis=1) + k
            kp = np.concatenate([xy, np.ones((17, 1))], axis=1)
            annotations.append(
                {
                    "image_id": 100 + k,
                    "track_id": track,
                    "keypoints": kp.ravel().tolist(),
                    "scores": [0.9] * 17,
                    "bbox_head": [x, 10.0, 20.0, 25.0],
                }
            )
    return {"images": images, "annotations": annotations}


def _folders(tmp_path: Path, gt: dict, pred: dict) -> tuple[Path, Path]:
    gt_dir, pred_dir = tmp_path / "gt", tmp_path / "pred"
    for folder, data in ((gt_dir, gt), (pred_dir, pred)):
        folder.mkdir()
        (folder / "seq.json").write_text(json.dumps(data))
    return gt_dir, pred_dir


def test_the_tiny_sequence_scores_perfectly(tmp_path):
    gt, pred = _folders(tmp_path, _sequence(), _sequence())
    result = evaluate_posetrack(gt, pred, "both")
    assert np.isclose(result.ap.ap[15], 100.0) and np.isclose(result.mot.mota[15], 100.0)


def test_predictions_on_no_frame_are_an_error_not_dropped(tmp_path):
    pred = _sequence()
    for ann in pred["annotations"][1::2]:
        ann["image_id"] += 1000  # an id that no images entry has: these people would be lost
    gt_dir, pred_dir = _folders(tmp_path, _sequence(), pred)
    with pytest.raises(DataError) as err:
        evaluate_posetrack(gt_dir, pred_dir, "both")
    assert str(err.value) == (
        f"{pred_dir / 'seq.json'}: annotations[1].image_id: 1100 is the id of no entry in images "
        "(4 of 8 annotations name no image, so they cannot be placed on a frame)"
    )


def test_ground_truth_frames_sharing_an_image_id_are_an_error_not_merged(tmp_path):
    gt = _sequence()
    gt["images"][2]["id"] = 101
    gt_dir, pred_dir = _folders(tmp_path, gt, _sequence())
    with pytest.raises(DataError, match=r"gt/seq\.json: images\[2\]\.id: image id 101 is also"):
        evaluate_posetrack(gt_dir, pred_dir, "both")


def test_ground_truth_without_people_has_nothing_to_score(tmp_path, capsys):
    gt_dir, pred_dir = _folders(tmp_path, _sequence(people=False), _sequence())
    with pytest.raises(DataError, match="nothing to score"):
        evaluate_posetrack(gt_dir, pred_dir, "pose")
    code = run_cli(load_tool("eval_posetrack").main, ["--gt", str(gt_dir), "--pred", str(pred_dir)])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == "" and captured.err.count("\n") == 1
    assert captured.err.endswith(
        f": error: no labelled person in the ground truth of {gt_dir}: nothing to score\n"
    )


def test_ground_truth_people_without_joints_have_nothing_to_score(tmp_path):
    gt = _sequence()
    for ann in gt["annotations"]:
        ann["keypoints"] = [0.0] * 51  # listed, but not one labelled joint
    gt_dir, pred_dir = _folders(tmp_path, gt, _sequence())
    with pytest.raises(DataError, match="no labelled person in the ground truth of .*gt: nothing"):
        evaluate_posetrack(gt_dir, pred_dir, "both")


@pytest.mark.parametrize("side", ["gt", "pred"])
def test_a_folder_named_like_a_sequence_file_is_a_one_line_error(tmp_path, capsys, side):
    gt_dir, pred_dir = _folders(tmp_path, _sequence(), _sequence())
    (tmp_path / side / "seq.json").unlink()
    (tmp_path / side / "seq.json").mkdir()
    code = run_cli(load_tool("eval_posetrack").main, ["--gt", str(gt_dir), "--pred", str(pred_dir)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert err.endswith(
        f": error: {tmp_path / side / 'seq.json'}: is a folder, expected a JSON file\n"
    )
