"""tools/track_video.py end to end on a real 5-frame PoseTrack clip (video and JPEG folder),
with a random-init ResNet-18 pose net at a small input size and replayed detections."""

from __future__ import annotations

import argparse
import json

import av
import numpy as np
import pytest

from posenet.errors import ConfigError
from posenet.posetrack.formats import read_posetrack
from tests.conftest import TINY_TRACKER, load_tool, shared_file
from tracker.config import DetectorConfig

CLIP = "mmpose/posetrack18/videos/000001_mpiinew_test"
NAME = "000001_mpiinew_test"
FAST = [*TINY_TRACKER, "--set", "flow.scale=0.25"]
# Two people per frame, the second one missing in frame 2 (a frame may have fewer people).
BOXES = [[300.0, 200.0, 120.0, 300.0], [700.0, 150.0, 150.0, 380.0]]


@pytest.fixture(scope="module")
def tool():
    return load_tool("track_video")


@pytest.fixture
def detections(tmp_path):
    """A COCO-results detection file for the clip: image ids 0-4 give the frame order."""
    entries = [
        {"image_id": t, "category_id": 1, "bbox": [x + 4 * t, y, w, h], "score": 0.9}
        for t in range(5)
        for k, (x, y, w, h) in enumerate(BOXES)
        if not (t == 2 and k == 1)
    ]
    path = tmp_path / "detections.json"
    path.write_text(json.dumps(entries))
    return path


def decoded_frames(path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def test_video_to_json_mp4_and_summary(tool, tmp_path, detections, capsys):
    video = shared_file(f"{CLIP}/{NAME}.mp4")
    out = tmp_path / "out"
    # A random pose net gives no confident joints to compare, so track by box IoU here.
    args = [
        str(video),
        "--out",
        str(out),
        "--detections",
        str(detections),
        "--config",
        "configs/tracking/iou.yaml",
        *FAST,
    ]
    assert tool.main(args) == 0
    seq = read_posetrack(out / f"{NAME}.json")
    assert seq.layout == "posetrack18"
    assert [len(f) for f in seq.frames] == [2, 2, 1, 2, 2]
    assert [f.frame_index for f in seq.frames] == [0, 1, 2, 3, 4]
    for frame in seq.frames:
        assert frame.keypoints.shape[1:] == (17, 3)
        assert np.isfinite(frame.joint_scores[:, 5:]).all()
        assert (frame.track_ids >= 0).all()
    # The boxes barely move, so every person keeps one id (2 tracks in all).
    ids = {int(i) for f in seq.frames for i in f.track_ids}
    assert len(ids) == 2
    assert decoded_frames(out / f"{NAME}.mp4") == 5
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames"] == 5 and summary["tracks"] == 2 and summary["complete"] is True
    assert summary["people"] == 9
    assert summary["pose_runtime"].startswith("torch ")  # what ran the pose net is named
    assert set(summary["fps_per_stage"]) >= {"decode", "detect", "flow", "pose", "track"}
    printed = capsys.readouterr().out
    assert "5 frames" in printed and "tracks: 2" in printed


def test_folder_of_frames_posetrack17_no_render(tool, tmp_path, detections):
    folder = shared_file(CLIP)  # holds 000000.jpg ... 000004.jpg (and the mp4, not an image)
    out = tmp_path / "out17"
    args = [
        str(folder),
        "--out",
        str(out),
        "--detections",
        str(detections),
        "--format",
        "posetrack17",
        "--no-render",
        "--end",
        "4",
        *FAST,
    ]
    assert tool.main(args) == 0
    data = json.loads((out / f"{NAME}.json").read_text())
    assert "annolist" in data and len(data["annolist"]) == 4
    seq = read_posetrack(out / f"{NAME}.json")
    assert seq.layout == "posetrack17"
    assert [len(f) for f in seq.frames] == [2, 2, 1, 2]
    assert not (out / f"{NAME}.mp4").exists()


def test_poses_mode_only_tracks_given_people(tool, tmp_path):
    """--poses: people come from a PoseTrack-2018 file without track ids; no nets are built."""
    video = shared_file(f"{CLIP}/{NAME}.mp4")
    rng = np.random.default_rng(0)
    # Three people far apart (x = 200, 600, 1000), each walking right 5 px per frame.
    base = np.array([[[200.0, 300.0]], [[600.0, 300.0]], [[1000.0, 300.0]]])
    base = base + rng.normal(0, 25, (3, 17, 2))
    images, annotations = [], []
    for t in range(5):
        images.append({"id": t + 1, "file_name": f"images/x/{NAME}/{t:06d}.jpg"})
        for k in (2, 0, 1):  # listed in a different order than left to right
            xy = base[k] + [5.0 * t, 0.0]
            kp = np.column_stack([xy, np.ones(17)]).ravel().round(2).tolist()
            annotations.append({"image_id": t + 1, "keypoints": kp, "scores": [0.9] * 17})
    poses = tmp_path / "poses.json"
    poses.write_text(json.dumps({"images": images, "annotations": annotations}))
    out = tmp_path / "tracked"
    # Weights that do not exist prove that no pose net is built. The made-up people do not
    # follow the footage (the camera pans fast), so compare poses without flow.
    args = [
        str(video),
        "--out",
        str(out),
        "--poses",
        str(poses),
        "--device",
        "cpu",
        "--pose-weights",
        str(tmp_path / "missing.pth"),
        "--no-render",
        "--set",
        "tracking.similarity=oks",
    ]
    assert tool.main(args) == 0
    seq = read_posetrack(out / f"{NAME}.json")
    assert [len(f) for f in seq.frames] == [3] * 5
    left_to_right = [
        f.track_ids[np.argsort(f.keypoints[:, 5:, 0].mean(axis=1))] for f in seq.frames
    ]
    for ids in left_to_right[1:]:  # each person keeps the id it got in the first frame
        np.testing.assert_array_equal(ids, left_to_right[0])
    assert len(set(left_to_right[0].tolist())) == 3
    np.testing.assert_allclose(seq.frames[2].keypoints[:, 5:, 2], 0.9)


def test_missing_input_is_one_line_error(tool, tmp_path, capsys):
    code = tool.run_cli(tool.main, [str(tmp_path / "nope.mp4"), "--device", "cpu"])
    err = capsys.readouterr().err
    assert code != 0
    assert err.count("\n") == 1 and "nope.mp4" in err


def test_unknown_config_key_names_it(tool, tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text("tracking:\n  simlarity: iou\n")
    video = shared_file(f"{CLIP}/{NAME}.mp4")
    code = tool.run_cli(tool.main, [str(video), "--config", str(config)])
    err = capsys.readouterr().err
    assert code != 0 and err.count("\n") == 1
    assert "tracking.simlarity" in err and "bad.yaml" in err


def test_bad_choice_in_set_is_an_error(tool, tmp_path, capsys):
    video = shared_file(f"{CLIP}/{NAME}.mp4")
    code = tool.run_cli(tool.main, [str(video), "--set", "tracking.matcher=best"])
    assert code != 0 and "tracking.matcher" in capsys.readouterr().err


def test_broken_video_mid_way_keeps_frames_so_far(tool, tmp_path, detections, monkeypatch, capsys):
    """A DataError at frame 3 still leaves valid JSON and MP4 with frames 0-2."""
    import tracker.video as video_module
    from posenet.errors import DataError

    class BrokenReader(video_module.FrameReader):
        def __iter__(self):
            for frame in super().__iter__():
                if frame.index == 3:
                    raise DataError(f"{self.source}: video broken at frame 3")
                yield frame

    monkeypatch.setattr(tool, "FrameReader", BrokenReader)
    video = shared_file(f"{CLIP}/{NAME}.mp4")
    out = tmp_path / "broken"
    args = [str(video), "--out", str(out), "--detections", str(detections), *FAST]
    code = tool.run_cli(tool.main, args)
    assert code == 2
    assert "video broken at frame 3" in capsys.readouterr().err
    seq = read_posetrack(out / f"{NAME}.json")
    assert [f.frame_index for f in seq.frames] == [0, 1, 2]
    assert decoded_frames(out / f"{NAME}.mp4") == 3
    assert json.loads((out / "summary.json").read_text())["complete"] is False


def test_pose_weights_that_do_not_fit_are_one_line_error(tool, tmp_path, detections, capsys):
    import torch

    weights = tmp_path / "other_net.pth"
    torch.save({"conv1.weight": torch.zeros(8, 3, 3, 3)}, weights)
    video = shared_file(f"{CLIP}/{NAME}.mp4")
    args = [
        str(video),
        "--out",
        str(tmp_path / "o"),
        "--detections",
        str(detections),
        *FAST,
        "--pose-weights",
        str(weights),
    ]
    code = tool.run_cli(tool.main, args)
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "other_net.pth" in err
    assert not (tmp_path / "o").exists()  # nothing is written before the nets are ready


def test_detections_option_sets_the_replay_key(tool, detections):
    """--detections fills detector.replay and leaves detector.name a model name; a detection
    file given as detector.name is refused with a pointer to the new key."""
    options = dict(device="cpu", format=None, pose_weights=None, det_weights=None)
    args = argparse.Namespace(config=None, overrides=[], detections=str(detections), **options)
    cfg = tool.load_config_from_args(args)
    assert cfg.detector.replay == str(detections)
    assert cfg.detector.name == DetectorConfig().name
    with pytest.raises(ConfigError, match=r"detector\.name .* detector\.replay"):
        tool.main(["clip.mp4", "--set", f"detector.name={detections}"])
