"""Tracking quality without images: ground-truth PoseTrack poses are perturbed into untracked
"detections" (seeded), tracked through the `tools/track_video.py --poses` code path, and scored
with PoseTrack MOTA, ID switches and mAP plus a person-level id-change count.

Perturbation of one video (numpy Generator seeded by (seed, video name), so a video's
detections do not depend on which other videos run; draws in this order):
  1. occlusion gap: per person (track id, in id order) the frames [s, s + G) are removed, s drawn
     uniformly so the person is still seen before and after the gap (a person whose span of
     frames is shorter than G + 2 keeps every frame);
  2. per frame: Gaussian noise of `noise_px` on x and y of every labelled joint; each pose
     dropped with probability `drop`; Poisson(`spurious`) spurious poses, each a real pose of
     another video (uniform video, then uniform pose) shifted to a uniform position inside the
     frame; then the people of the frame are shuffled.
Joints are clipped to the frame. Joint scores say how far the noise moved the joint (a pose
net's confidence): 0.5 + 0.5 exp(-d^2 / (2 * 8 px^2)), always above the tracker's keypoint
threshold so every labelled joint takes part; spurious poses score 0.5 (joints and person).
The person score is the mean joint score. No box is written: GivenPoses uses the joints' extent.
"""

from __future__ import annotations

import json
import os
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from posenet.errors import ConfigError, DataError
from posenet.posetrack.evaluation import (
    EvalFrame,
    EvalSequence,
    evaluate_sequences,
    joint_distances,
    prepare_frames,
)
from posenet.posetrack.formats import (
    POSETRACK18_CATEGORY,
    PoseTrackSequence,
    read_posetrack,
)

# The tracker's pieces this benchmark drives: the tools/track_video.py --poses path.
from tracker.config import TrackerConfig, apply_options, load_tracker_config
from tracker.output import TrackingOutput
from tracker.pipeline import PoseTracker
from tracker.poses import GivenPoses
from tracker.video import Frame

TRACKING_CONFIG_DIR = "configs/tracking"  # tracker names resolve to <dir>/<name>.yaml
PERFECT = "perfect ids"
FLOOR = "iou floor"
FLOOR_OVERRIDES = (
    "tracking.similarity=iou",
    "tracking.queue_length=1",
    "tracking.propagate_boxes=false",
)
FLOOR_BASE = "paper"  # the floor is the paper's tracker reduced to previous-frame box IoU
FLOW_NOTE = "no flow (flow.name=none): the videos have no images"
NO_FLOW = ("flow.name=none",)
JOINT_SCORE_SCALE_PX = 8.0
SPURIOUS_SCORE = 0.5
PERSON_MATCH_THR = 1.0  # person-level matching: mean joint distance <= 1 head size (PCKh units)
FRAME_MULTIPLE = 32  # the blank frame covers every coordinate, rounded up to this


@dataclass(frozen=True)
class Setting:
    """One perturbation: joint noise (px), fraction of poses dropped, occlusion gap (frames per
    person) and spurious poses per frame (Poisson mean)."""

    noise_px: float = 2.0
    drop: float = 0.1
    gap: int = 0
    spurious: float = 0.0

    def describe(self) -> str:
        """'2px 10% gap 8 +0.5/frame' for the table."""
        text = f"{self.noise_px:g}px {100 * self.drop:g}% gap {self.gap}"
        return text + (f" +{self.spurious:g}/frame" if self.spurious else "")


SETTINGS = {
    "gap0": Setting(gap=0),
    "gap8": Setting(gap=8),
    "gap20": Setting(gap=20),
    "noise8": Setting(noise_px=8.0, gap=8),
    "drop30": Setting(drop=0.3, gap=8),
    "spurious": Setting(gap=8, spurious=0.5),
}
# Extra settings, run when named with --settings: jitter of smoothing is judged at 4 px noise.
EXTRA_SETTINGS = {"noise4": Setting(noise_px=4.0, gap=0)}
ALL_SETTINGS = {**SETTINGS, **EXTRA_SETTINGS}


@dataclass
class PerturbedFrame:
    """One frame of detections; PoseTrack-2018 slots, unlabelled joints (0, 0, 0)."""

    file_name: str
    frame_index: int
    keypoints: np.ndarray  # (m, 17, 3) x, y, joint score
    track_ids: np.ndarray  # (m,) true ids; spurious poses get ids above the video's own
    scores: np.ndarray  # (m,) person scores
    spurious: np.ndarray  # (m,) bool


# ----------------------------------------------------------------------------- perturbation


def video_rng(seed: int, video: str) -> np.random.Generator:
    """The Generator of one video under one seed."""
    return np.random.default_rng([seed, zlib.crc32(video.encode())])


def frame_size(sequences: Sequence[PoseTrackSequence]) -> tuple[int, int]:
    """(width, height) covering every labelled joint, rounded up to FRAME_MULTIPLE."""
    most = np.zeros(2)
    for seq in sequences:
        for f in seq.frames:
            if f.labelled.any():
                most = np.maximum(most, f.keypoints[f.labelled][:, :2].max(axis=0))
    w, h = (int(np.ceil((m + 1) / FRAME_MULTIPLE)) * FRAME_MULTIPLE for m in most)
    return w, h


def pose_pool(seq: PoseTrackSequence) -> np.ndarray:
    """All poses of a video (N, 17, 3): x, y, 1 for labelled joints, zeros elsewhere."""
    poses = [
        np.where(
            f.labelled[..., None], np.dstack([f.keypoints[..., :2], np.ones(f.labelled.shape)]), 0.0
        )
        for f in seq.frames
        if len(f)
    ]
    return np.concatenate(poses) if poses else np.zeros((0, 17, 3))


def gap_mask(seq: PoseTrackSequence, gap: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Per frame, (n,) bool: the person is inside their occlusion gap."""
    hidden = [np.zeros(len(f), dtype=bool) for f in seq.frames]
    if gap <= 0:
        return hidden
    seen: dict[int, list[int]] = {}
    for k, f in enumerate(seq.frames):
        for t in f.track_ids.tolist():
            seen.setdefault(t, []).append(k)
    for t in sorted(seen):
        first, last = seen[t][0], seen[t][-1]
        starts = last - first - gap  # starts in [first + 1, last - gap]
        if starts < 1:
            continue
        s = first + 1 + int(rng.integers(starts))
        for k in range(s, s + gap):
            hidden[k] |= seq.frames[k].track_ids == t
    return hidden


def perturb_sequence(
    seq: PoseTrackSequence,
    setting: Setting,
    seed: int,
    donors: Sequence[np.ndarray] = (),
    size: tuple[int, int] | None = None,
) -> list[PerturbedFrame]:
    """Untracked detections of one video (see the module doc); `donors` are pose pools
    (pose_pool) of other videos for spurious poses, `size` the frame (width, height)."""
    rng = video_rng(seed, seq.name)
    width, height = size or frame_size([seq])
    if setting.spurious > 0 and not any(len(d) for d in donors):
        raise DataError(f"{seq.path}: spurious poses need poses of another video")
    donors = [d for d in donors if len(d)]
    hidden = gap_mask(seq, setting.gap, rng)
    next_id = max((int(f.track_ids.max()) for f in seq.frames if len(f)), default=-1) + 1
    out = []
    for f, gone in zip(seq.frames, hidden):
        n = len(f)
        noise = rng.normal(0.0, 1.0, (n, 17, 2)) * setting.noise_px
        keep = (rng.random(n) >= setting.drop) & ~gone
        kp = f.keypoints[..., :2] + noise
        dist = np.hypot(noise[..., 0], noise[..., 1])
        score = 0.5 + 0.5 * np.exp(-(dist**2) / (2 * JOINT_SCORE_SCALE_PX**2))
        poses = np.where(f.labelled[..., None], np.dstack([kp, score]), 0.0)[keep]
        ids = f.track_ids[keep]
        count = int(rng.poisson(setting.spurious)) if setting.spurious > 0 else 0
        extra = [_spurious_pose(donors, rng, width, height) for _ in range(count)]
        if extra:
            poses = np.concatenate([poses, np.stack(extra)])
            ids = np.concatenate([ids, np.arange(next_id, next_id + count)])
            next_id += count
        spurious = np.arange(len(poses)) >= keep.sum()
        order = rng.permutation(len(poses))
        poses, ids, spurious = poses[order], ids[order], spurious[order]
        present = poses[..., 2] > 0
        poses[..., 0] = np.where(present, poses[..., 0].clip(0, width - 1), 0.0)
        poses[..., 1] = np.where(present, poses[..., 1].clip(0, height - 1), 0.0)
        count_j = present.sum(axis=1)
        person = np.where(count_j > 0, poses[..., 2].sum(axis=1) / np.maximum(count_j, 1), 0.0)
        out.append(
            PerturbedFrame(
                f.file_name, f.frame_index, poses, ids.astype(np.int64), person, spurious
            )
        )
    return out


def _spurious_pose(
    donors: Sequence[np.ndarray], rng: np.random.Generator, width: int, height: int
) -> np.ndarray:
    """A real pose of another video moved to a uniform place inside the frame, joints scored 0.5."""
    pool = donors[int(rng.integers(len(donors)))]
    pose = pool[int(rng.integers(len(pool)))].copy()
    present = pose[:, 2] > 0
    lo, hi = pose[present, :2].min(axis=0), pose[present, :2].max(axis=0)
    room = np.maximum(np.array([width - 1, height - 1]) - (hi - lo), 0.0)
    pose[present, :2] += rng.uniform(0.0, 1.0, 2) * room - lo
    pose[present, 2] = SPURIOUS_SCORE
    return pose


def write_detections(
    frames: Sequence[PerturbedFrame], path: str | os.PathLike, video: str, with_ids: bool = False
) -> Path:
    """PoseTrack-2018 JSON of the detections (what `track_video.py --poses` reads), track ids
    only when `with_ids` (the perfect-ids prediction); written atomically."""
    images, annotations = [], []
    for k, f in enumerate(frames):
        images.append(
            {
                "id": k + 1,
                "file_name": f.file_name,
                "frame_index": int(f.frame_index),
                "vid_id": video,
                "is_labeled": True,
            }
        )
        keypoints = np.round(f.keypoints, 3).reshape(len(f.keypoints), 51).tolist()
        joint_scores = np.round(f.keypoints[..., 2], 4).tolist()
        scores = np.round(f.scores, 4).tolist()
        for p in range(len(f.keypoints)):
            ann = {
                "id": len(annotations) + 1,
                "image_id": k + 1,
                "category_id": 1,
                "keypoints": keypoints[p],
                "scores": joint_scores[p],
                "score": scores[p],
            }
            if with_ids:
                ann["track_id"] = int(f.track_ids[p])
            annotations.append(ann)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    data = {"images": images, "annotations": annotations, "categories": [POSETRACK18_CATEGORY]}
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)
    return path


# ----------------------------------------------------------------------------- tracking


def tracker_config(name: str, overrides: Sequence[str] = ()) -> TrackerConfig:
    """A tracker by config name (default, paper, iou, hungarian, ...) or YAML path, as
    track_video.py loads it (overrides on top), without flow, on CPU, writing PoseTrack 2018."""
    text = str(name)
    if not text.lower().endswith((".yaml", ".yml")):
        text = f"{TRACKING_CONFIG_DIR}/{text}.yaml"
    cfg = load_tracker_config(text, [*NO_FLOW, *overrides])  # ConfigError lists the names
    return apply_options(cfg, device="cpu", format="posetrack18")


def floor_config() -> TrackerConfig:
    """The floor: previous-frame box IoU (no queue, no propagated boxes), same code path."""
    return tracker_config(FLOOR_BASE, FLOOR_OVERRIDES)


def track_detections(
    cfg: TrackerConfig,
    poses_path: str | os.PathLike,
    out_path: str | os.PathLike,
    seq: PoseTrackSequence,
    image: np.ndarray,
) -> Path:
    """Track a detection file as `track_video.py --poses` does, frames being the ground truth's
    (names and indices) on one shared blank `image`; writes PoseTrack JSON to `out_path`."""
    tracker = PoseTracker(cfg, poses=GivenPoses(poses_path))
    names = {os.path.basename(f.file_name): f.file_name for f in seq.frames}
    frames = (Frame(f.frame_index, image, os.path.basename(f.file_name)) for f in seq.frames)
    with TrackingOutput(
        out_path,
        seq.name,
        format=cfg.output.format,
        render_thr=cfg.output.render_thr,
        derive_head=cfg.output.derive_head,
        source=str(poses_path),
    ) as output:
        for result in tracker.track(frames, keep_images=False):
            output.write(result, file_name=names[result.name])
    return Path(out_path)


# ----------------------------------------------------------------------------- scoring


def person_matches(frame: EvalFrame, thr: float = PERSON_MATCH_THR) -> list[tuple[int, int]]:
    """(GT index, predicted index) pairs of one frame: Hungarian on the mean PCKh distance over
    the joints both have; pairs with no common joint or a mean above `thr` are not matched."""
    if not len(frame.gt_ids) or not len(frame.pr_ids):
        return []
    dist = joint_distances(frame)  # (P, G, 15), inf where either lacks the joint
    finite = np.isfinite(dist)
    count = finite.sum(axis=2)
    mean = np.where(finite, dist, 0.0).sum(axis=2) / np.maximum(count, 1)
    valid = (count > 0) & (mean <= thr)
    if not valid.any():
        return []
    if valid.sum(axis=0).max() <= 1 and valid.sum(axis=1).max() <= 1:  # no competition
        return [(int(g), int(p)) for p, g in zip(*np.nonzero(valid))]
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(np.where(valid, mean, 1e6).T)
    return [(int(g), int(p)) for g, p in zip(rows, cols) if valid[p, g]]


def person_id_changes(frames: Sequence[EvalFrame], thr: float = PERSON_MATCH_THR) -> int:
    """Person-level id changes: in every frame each GT person is matched to at most one
    predicted person (person_matches); a change is a frame where the predicted id matched to a
    GT person differs from the one matched the last time that person was matched (frames where
    it is unmatched are bridged). Perfect ids give 0."""
    last: dict[int, int] = {}
    changes = 0
    for frame in frames:
        for g, p in person_matches(frame, thr):
            gt_id, pr_id = int(frame.gt_ids[g]), int(frame.pr_ids[p])
            if last.get(gt_id, pr_id) != pr_id:
                changes += 1
            last[gt_id] = pr_id
    return changes


def jitter(frames: Sequence[EvalFrame], thr: float = PERSON_MATCH_THR) -> tuple[float, int]:
    """Mean joint acceleration error (px per frame^2) against the ground truth: for every GT
    person matched to the same predicted id in three consecutive scored frames, the norm of
    (p[t+1] - 2 p[t] + p[t-1]) - (g[t+1] - 2 g[t] + g[t-1]) over joints both have in all three.
    Smoothing lowers it; noise and id changes raise it. Returns (sum, count) for pooling."""
    matched: list[dict[int, tuple[int, np.ndarray, np.ndarray, np.ndarray]]] = []
    for frame in frames:
        by_gt = {}
        for g, p in person_matches(frame, thr):
            has = frame.gt_has[g] & frame.pr_has[p]
            by_gt[int(frame.gt_ids[g])] = (
                int(frame.pr_ids[p]),
                frame.gt_xy[g],
                frame.pr_xy[p],
                has,
            )
        matched.append(by_gt)
    total, count = 0.0, 0
    for before, now, after in zip(matched, matched[1:], matched[2:]):
        for gt_id, (pr_id, g1, p1, h1) in now.items():
            if gt_id not in before or gt_id not in after:
                continue
            (pr0, g0, p0, h0), (pr2, g2, p2, h2) = before[gt_id], after[gt_id]
            if not pr0 == pr_id == pr2:
                continue
            has = h0 & h1 & h2
            err = (p2 - 2 * p1 + p0) - (g2 - 2 * g1 + g0)
            total += float(np.linalg.norm(err[has], axis=1).sum())
            count += int(has.sum())
    return total, count


def score_predictions(
    gt: Sequence[PoseTrackSequence], pred_paths: Sequence[str | os.PathLike]
) -> dict:
    """MOTA (total), IDSW (switches summed over joints), mAP (total AP) from our PoseTrack
    evaluator, and person-level id changes, of prediction files against the ground truth."""
    sequences = [
        EvalSequence(g.name, prepare_frames(g, read_posetrack(p), True))
        for g, p in zip(gt, pred_paths)
    ]
    ev = evaluate_sequences(sequences, "both")
    return {
        "mota": float(ev.mot.mota[15]),
        "idsw": int(ev.mot.num_switches.sum()),
        "map": float(ev.ap.ap[15]),
        "id_changes": sum(person_id_changes(s.frames) for s in sequences),
        "jitter": _pooled([jitter(s.frames) for s in sequences]),
    }


# ----------------------------------------------------------------------------- the run


@dataclass
class Job:
    """One setting under one seed: perturb every video, track with every tracker, score."""

    setting: str
    seed: int
    params: Setting
    trackers: dict[str, TrackerConfig | None]  # None: perfect ids
    workdir: Path
    gt: list[PoseTrackSequence] = field(repr=False)
    size: tuple[int, int] = (0, 0)


def run_job(job: Job) -> list[dict]:
    """Rows {setting, seed, tracker, mota, idsw, map, id_changes, jitter, seconds} of a job."""
    folder = job.workdir / job.setting / f"seed{job.seed}"
    pools = {seq.name: pose_pool(seq) for seq in job.gt}
    image = np.zeros((job.size[1], job.size[0], 3), np.uint8)
    plain, perfect = [], []
    for seq in job.gt:
        donors = [pool for name, pool in pools.items() if name != seq.name]
        frames = perturb_sequence(seq, job.params, job.seed, donors, job.size)
        plain.append(write_detections(frames, folder / "detections" / f"{seq.name}.json", seq.name))
        perfect.append(
            write_detections(frames, folder / "perfect" / f"{seq.name}.json", seq.name, True)
        )
    rows = []
    for name, cfg in job.trackers.items():
        t0 = time.perf_counter()
        if cfg is None:
            outputs = perfect
        else:
            outputs = [
                track_detections(cfg, det, folder / _slug(name) / f"{seq.name}.json", seq, image)
                for seq, det in zip(job.gt, plain)
            ]
        scores = score_predictions(job.gt, outputs)
        rows.append(
            {
                "setting": job.setting,
                "seed": job.seed,
                "tracker": name,
                **scores,
                "seconds": round(time.perf_counter() - t0, 3),
            }
        )
    return rows


def _pooled(parts: Sequence[tuple[float, int]]) -> float:
    count = sum(c for _, c in parts)
    return sum(t for t, _ in parts) / count if count else float("nan")


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name)


def run_benchmark(
    gt: Sequence[PoseTrackSequence],
    settings: dict[str, Setting],
    seeds: Sequence[int],
    trackers: dict[str, TrackerConfig | None],
    workdir: str | os.PathLike,
    workers: int = 1,
    progress: Callable[[list[dict]], None] | None = None,
) -> list[dict]:
    """Every setting x seed x tracker; rows as run_job gives them, in that order. `workers` > 1
    runs jobs in that many processes."""
    size = frame_size(gt)
    jobs = [
        Job(s, seed, settings[s], dict(trackers), Path(workdir), list(gt), size)
        for s in settings
        for seed in seeds
    ]
    rows: list[dict] = []

    def collect(job_rows: list[dict]) -> None:
        rows.extend(job_rows)
        if progress is not None:
            progress(job_rows)

    if workers <= 1:
        for job in jobs:
            collect(run_job(job))
    else:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(workers) as pool:
            for job_rows in pool.map(run_job, jobs):
                collect(job_rows)
    return rows


def summarize(rows: Sequence[dict]) -> list[dict]:
    """Means over seeds per (setting, tracker), in first-seen order."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["setting"], r["tracker"]), []).append(r)
    out = []
    for (setting, tracker), group in groups.items():
        mean = {
            k: float(np.mean([r[k] for r in group]))
            for k in ("mota", "idsw", "map", "id_changes", "jitter")
        }
        out.append({"setting": setting, "tracker": tracker, "seeds": len(group), **mean})
    return out


def format_table(
    means: Sequence[dict], settings: dict[str, Setting], num_videos: int, num_frames: int
) -> str:
    """One table: setting x tracker -> MOTA, IDSW, mAP, person-level id changes, jitter."""
    seeds = sorted({m["seeds"] for m in means})
    head = (
        f"Tracking quality on {num_videos} videos ({num_frames} frames), means over "
        f"{'/'.join(map(str, seeds))} seed(s); {FLOW_NOTE}"
    )
    width = max([len(m["tracker"]) for m in means] + [7])
    lines = [
        head,
        f"{'setting':9s} {'noise drop gap spurious':24s} {'tracker':{width}s}"
        "   MOTA    IDSW    mAP  id changes  jitter",
    ]
    previous = None
    for m in means:
        s = m["setting"]
        label = (s, settings[s].describe()) if s != previous else ("", "")
        previous = s
        lines.append(
            f"{label[0]:9s} {label[1]:24s} {m['tracker']:{width}s} {m['mota']:6.1f} "
            f"{m['idsw']:7.1f} {m['map']:6.1f} {m['id_changes']:11.1f} {m['jitter']:7.2f}"
        )
    return "\n".join(lines)


def settings_json(settings: dict[str, Setting]) -> dict:
    """Settings as plain dicts for the JSON report."""
    return {name: asdict(s) for name, s in settings.items()}


def load_ground_truth(
    folder: str | os.PathLike, max_videos: int | None = None
) -> list[PoseTrackSequence]:
    """The ground-truth videos of a folder (PoseTrack 2017 or 2018 JSON), sorted by name."""
    paths = sorted(Path(folder).glob("*.json"))
    if not paths:
        raise DataError(f"{folder}: no PoseTrack ground-truth .json files")
    return [read_posetrack(p) for p in paths[:max_videos]]


def build_trackers(
    names: Sequence[str], overrides: Sequence[str] = ()
) -> dict[str, TrackerConfig | None]:
    """The ceiling (perfect ids), the floor (previous-frame box IoU) and the named trackers
    (config names or YAML paths) with `overrides` applied to the named ones only."""
    trackers: dict[str, TrackerConfig | None] = {PERFECT: None, FLOOR: floor_config()}
    for name in names:
        if name in trackers:
            raise ConfigError(f"--trackers: {name!r} given twice or clashes with a built-in row")
        trackers[name] = tracker_config(name, overrides)
    return trackers
