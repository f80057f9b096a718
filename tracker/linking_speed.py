"""What offline linking costs next to tracking: a synthetic video of given poses, tracked with
tracking.link off and on (`tools/benchmark.py linking`).

People walk across a 1920x1080 frame and each is hidden now and then (10 to 40 frames), so the
online tracker forgets some and linking has tracklets to join. The poses are given (as with
track_video.py --poses): no detector or pose net runs, so tracking here is the tracker's own
work alone, the least that linking is compared with.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from tracker.config import load_tracker_config
from tracker.output import TrackingOutput
from tracker.pipeline import PoseTracker
from tracker.poses import GivenPoses
from tracker.types import Frame

WIDTH, HEIGHT = 1920, 1080
# A standing person's COCO-17 joints around their centre, about 40 x 100 px.
BODY = np.array(
    [[0, -45], [-4, -48], [4, -48], [-8, -46], [8, -46], [-16, -30], [16, -30], [-20, -10],
     [20, -10], [-22, 8], [22, 8], [-10, 10], [10, 10], [-11, 30], [11, 30], [-12, 50],
     [12, 50]],
    dtype=float,
)  # fmt: skip


def synthetic_poses(path: Path, frames: int, people: int, seed: int) -> None:
    """A --poses file: `people` walkers bouncing off the frame edges, each hidden for 10-40
    frames about every 150 frames."""
    rng = np.random.default_rng(seed)
    position = rng.uniform([100, 100], [WIDTH - 100, HEIGHT - 100], (people, 2))
    velocity = rng.uniform(-4, 4, (people, 2))
    scale = rng.uniform(1.0, 2.0, people)
    hidden_until = np.full(people, -1)
    images, annotations = [], []
    for t in range(frames):
        images.append({"id": t + 1, "file_name": f"synthetic/{t:06d}.jpg"})
        start = (hidden_until < t) & (rng.random(people) < 1 / 150)
        hidden_until[start] = t + rng.integers(10, 41, start.sum())
        for k in np.flatnonzero(hidden_until < t):
            xy = position[k] + BODY * scale[k] + rng.normal(0, 1.0, BODY.shape)
            kp = np.column_stack([xy, np.full(17, 0.9)])
            annotations.append({"image_id": t + 1, "keypoints": kp.ravel().round(2).tolist()})
        position += velocity
        bounce = (position < 100) | (position > [WIDTH - 100, HEIGHT - 100])
        velocity[bounce] *= -1
    path.write_text(json.dumps({"images": images, "annotations": annotations}))


def run(poses: Path, frames: int, link: str, out: Path) -> tuple[float, dict]:
    """Track the synthetic poses as the tracking benchmark does; (wall seconds, summary)."""
    cfg = load_tracker_config("default", ["flow.name=none", f"tracking.link={link}"])
    cfg.device = "cpu"
    image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    t0 = time.perf_counter()
    tracker = PoseTracker(cfg, poses=GivenPoses(poses, (WIDTH, HEIGHT)))
    source = (Frame(t, image, f"{t:06d}.jpg") for t in range(frames))
    output = TrackingOutput.from_config(
        cfg.output, out, "synthetic", source=str(poses), tracking=cfg.tracking
    )
    with output:
        for result in tracker.track(source, keep_images=False):
            output.write(result)
    return time.perf_counter() - t0, output.summary.to_dict()


def linking_benchmark(
    frames: int = 1000,
    people: int = 10,
    seed: int = 0,
    repeat: int = 3,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Tracking wall time with linking off and on (the best of `repeat` runs each, alternated),
    linking's share (summaries while tracking + the assignment at the end), JSON writing of
    each (linked: spooled, then written at close) and the links made."""
    with tempfile.TemporaryDirectory() as tmp:
        poses = Path(tmp) / "poses.json"
        synthetic_poses(poses, frames, people, seed)
        runs: dict[str, list[tuple[float, dict]]] = {"off": [], "on": []}
        for _ in range(repeat):  # the first run of each also pays the imports
            for link in runs:
                runs[link].append(run(poses, frames, link, Path(tmp) / f"{link}.json"))
    off, plain = min(runs["off"], key=lambda r: r[0])
    on, summary = min(runs["on"], key=lambda r: r[0])
    link = summary["seconds_per_stage"]["link"]
    write_off, write_on = plain["seconds_per_stage"]["write"], summary["seconds_per_stage"]["write"]
    log(f"{frames} frames, {people} people: {summary['links']} links")
    log(f"tracking, link off: {off * 1000:.0f} ms; link on: {on * 1000:.0f} ms")
    log(f"linking (summaries + assignment): {link * 1000:.1f} ms = {100 * link / on:.1f} %")
    log(f"JSON writing, link off: {write_off * 1000:.0f} ms; on: {write_on * 1000:.0f} ms")
    return {
        "benchmark": "linking",
        "frames": frames,
        "people": people,
        "links": summary["links"],
        "tracking_s": {"link_off": off, "link_on": on},
        "linking_s": link,
        "linking_share": link / on,
        "write_s": {"link_off": write_off, "link_on": write_on},
    }
