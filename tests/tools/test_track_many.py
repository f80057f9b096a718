"""Many videos over torchrun: two CPU processes (gloo) give the same outputs as one, the merged
summary shows each process's share, and a rerun redoes only the video whose output is gone."""

from __future__ import annotations

import json

import av
import numpy as np
import pytest

from tests.conftest import load_tool, shared_file, torchrun
from tests.tools.test_track_posetrack import FAST as POSETRACK_FAST
from tests.tools.test_track_posetrack import tiny_config
from tests.tools.test_track_video import FAST
from tracker.posetrack_split import track_split

# Short clips of different lengths (frames), so the plan is not round-robin.
CLIPS = {"walk": 9, "run": 6, "stand": 3}
BOXES = [[40.0, 30.0, 60.0, 150.0], [180.0, 40.0, 70.0, 160.0]]


def write_clip(path, frames: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.options = {"preset": "ultrafast"}
        for i in range(frames):
            image = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
            image[:, 3 * i : 3 * i + 40] = 200  # something that moves
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode(None))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Three clips made here, a list file naming them, and replayed boxes for every frame."""
    root = tmp_path_factory.mktemp("clips")
    for seed, (name, frames) in enumerate(CLIPS.items()):
        write_clip(root / f"{name}.mp4", frames, seed)
    listing = root / "videos.txt"
    listing.write_text("# the clips\nwalk.mp4\n\nrun.mp4\nstand.mp4\n")
    detections = root / "detections.json"
    entries = [
        {"image_id": t, "category_id": 1, "bbox": [x + 2 * t, y, w, h], "score": 0.9}
        for t in range(max(CLIPS.values()))
        for x, y, w, h in BOXES
    ]
    detections.write_text(json.dumps(entries))
    return listing, detections


def same(a, b) -> bool:
    return a.read_text() == b.read_text()


def test_videos_over_two_processes_match_one_and_resume(inputs, tiny_pose_weights, tmp_path):
    listing, detections = inputs
    folder = shared_file("mmpose/posetrack18/videos/000001_mpiinew_test")
    common = [str(listing), str(folder), "--detections", str(detections), "--no-render"]
    common += [*FAST, "--pose-weights", str(tiny_pose_weights)]
    one, two = tmp_path / "one", tmp_path / "two"
    tool = load_tool("track_video")
    assert tool.main([*common, "--out", str(one)]) == 0
    torchrun("track_video", *common, "--out", str(two))

    names = [*CLIPS, "000001_mpiinew_test"]
    for name in names:
        assert same(one / name / f"{name}.json", two / name / f"{name}.json"), name
        assert json.loads((two / name / "summary.json").read_text())["complete"] is True
    merged = json.loads((two / "summary.json").read_text())
    assert merged["frames"] == 9 + 6 + 3 + 5 and merged["complete"] is True
    assert merged["skipped"] == 0
    # Longest first to the least loaded: walk (9) to 0, run (6) to 1, the folder (5) to 1,
    # stand (3) to 0: 12 frames each.
    shares = {p["rank"]: (p["videos"], p["frames"]) for p in merged["processes"]}
    assert shares == {0: (2, 12), 1: (2, 11)}

    (two / "run" / "run.json").unlink()
    kept = {n: (two / n / f"{n}.json").stat().st_mtime_ns for n in names if n != "run"}
    done = torchrun("track_video", *common, "--out", str(two))
    assert "] run: 6 frames" in done.stderr
    assert "] walk:" not in done.stderr and "] stand:" not in done.stderr
    assert {n: (two / n / f"{n}.json").stat().st_mtime_ns for n in kept} == kept
    assert same(two / "run" / "run.json", one / "run" / "run.json")
    merged = json.loads((two / "summary.json").read_text())
    assert merged["skipped"] == 3 and merged["frames"] == 23
    assert sum(p["videos"] for p in merged["processes"]) == 1


def test_posetrack_split_over_two_processes_matches_one(tiny_pose_weights, tmp_path):
    data = shared_file("mmpose/posetrack18")
    detections = shared_file(
        "mmpose/posetrack18/annotations/test_posetrack18_human_detections.json"
    )
    common = ["--data", str(data), "--split", "val", "--detections", str(detections)]
    common += [*POSETRACK_FAST, "--pose-weights", str(tiny_pose_weights)]
    one, two = tmp_path / "one", tmp_path / "two"
    cfg = tiny_config(pose_weights=str(tiny_pose_weights))

    def track_in_one_process():
        total = track_split(cfg, data, "val", one, str(detections))
        assert total is not None and total.complete

    track_in_one_process()
    torchrun("track_posetrack", *common, "--out", str(two))
    sequences = sorted(p.name for p in (data / "annotations" / "val").glob("*.json"))
    for name in sequences:
        assert same(one / name, two / name), name
    merged = json.loads((two / "summary.json").read_text())
    assert len(merged["processes"]) == 2 and merged["complete"] is True
    assert sum(p["videos"] for p in merged["processes"]) == len(sequences)
    # A rerun in one process skips every finished sequence but the one whose output is gone.
    (one / sequences[1]).unlink()
    track_in_one_process()
    assert same(one / sequences[1], two / sequences[1])
    merged = json.loads((one / "summary.json").read_text())
    assert merged["skipped"] == len(sequences) - 1
    assert merged["processes"][0]["videos"] == 1
