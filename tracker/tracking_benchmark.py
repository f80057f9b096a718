"""Tracking quality without images: ground-truth PoseTrack poses are perturbed into untracked
"detections" (seeded; see tracker/perturbation.py), tracked through the `tools/track_video.py
--poses` code path, and scored with PoseTrack MOTA, ID switches and mAP, a person-level id-change
count, the joints' jitter, and IDF1 and HOTA (people matched by PCKh share, see
tracker/identity_metrics.py)."""

from __future__ import annotations

import os
import time
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
    prepare_batch,
)
from posenet.posetrack.formats import (
    PoseTrackSequence,
    read_posetrack,
)
from posenet.shared_data import shared_data_path

# The tracker's pieces this benchmark drives: the tools/track_video.py --poses path.
from tracker.config import TrackerConfig, apply_options, load_tracker_config
from tracker.identity_metrics import identity_scores
from tracker.output import TrackingOutput
from tracker.perturbation import (  # noqa: F401  (Setting and SETTINGS are part of this API)
    ALL_SETTINGS,
    SETTINGS,
    PerturbedFrame,
    Setting,
    frame_size,
    perturb_sequence,
    pose_pool,
    write_detections,
)
from tracker.pipeline import PoseTracker
from tracker.poses import GivenPoses
from tracker.types import Frame

BONN_GT = "bonn-posetrack/posetrack18"  # the default ground truth, in the shared data folder
PERFECT = "perfect ids"
FLOOR = "iou floor"
TRUE_IDS = " + true ids"  # a tracker's row scored with ground-truth ids (run_job, true_ids)
FLOOR_OVERRIDES = (
    "tracking.similarity=iou",
    "tracking.queue_length=1",
    "tracking.propagate_boxes=false",
    "tracking.link=off",  # no offline linking: the floor is the online pass alone
)
FLOOR_BASE = "paper"  # the floor is the paper's tracker reduced to previous-frame box IoU
FLOW_NOTE = "no flow (flow.name=none): the videos have no images"
NO_FLOW = ("flow.name=none",)
PERSON_MATCH_THR = 1.0  # person-level matching: mean joint distance <= 1 head size (PCKh units)


# ----------------------------------------------------------------------------- tracking


def tracker_config(name: str, overrides: Sequence[str] = ()) -> TrackerConfig:
    """A tracker by config name (default, paper, iou, hungarian, ...) or YAML path, as
    track_video.py loads it (overrides on top), without flow, on CPU, writing PoseTrack 2018."""
    cfg = load_tracker_config(str(name), [*NO_FLOW, *overrides])  # ConfigError lists the names
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
    with TrackingOutput.from_config(  # a file: tracking.link auto links its tracklets
        cfg.output, out_path, seq.name, source=str(poses_path), tracking=cfg.tracking
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


def take_true_ids(frames: Sequence[EvalFrame], thr: float = PERSON_MATCH_THR) -> None:
    """Give every predicted person matched to a ground-truth person (person_matches) that
    person's id, in place, and every other one an id no ground-truth person has: a tracker's
    own poses with every id right, to show what its ids cost. (Joints are matched within half
    a head size, people within one, so under heavy joint noise a few joints still switch.)"""
    gt_most = max((int(f.gt_ids.max()) for f in frames if len(f.gt_ids)), default=-1)
    pr_least = min((int(f.pr_ids.min()) for f in frames if len(f.pr_ids)), default=0)
    offset = gt_most + 1 - min(pr_least, 0)  # unmatched ids shifted above every GT id
    for frame in frames:
        ids = frame.pr_ids + offset
        for g, p in person_matches(frame, thr):
            ids[p] = frame.gt_ids[g]
        frame.pr_ids[:] = ids


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
    gt: Sequence[PoseTrackSequence],
    pred_paths: Sequence[str | os.PathLike],
    true_ids: bool = False,
) -> dict:
    """MOTA (total), IDSW (switches summed over joints), mAP (total AP) from our PoseTrack
    evaluator, person-level id changes, jitter, and IDF1 and HOTA (percent, TrackEval's, people
    matched by PCKh share) of prediction files against the ground truth; `true_ids` scores the
    predicted poses under ground-truth ids (take_true_ids)."""
    batches = [prepare_batch(g, read_posetrack(p), True) for g, p in zip(gt, pred_paths)]
    if true_ids:
        for batch in batches:
            take_true_ids(batch.frames())  # the frames are views: the batch changes too
    sequences = [EvalSequence(g.name, b.frames(), b) for g, b in zip(gt, batches)]
    ev = evaluate_sequences(sequences, "both")
    identity = identity_scores(batches)
    return {
        "mota": float(ev.mot.mota[15]),
        "idsw": int(ev.mot.num_switches.sum()),
        "map": float(ev.ap.ap[15]),
        "id_changes": sum(person_id_changes(s.frames) for s in sequences),
        "jitter": _pooled([jitter(s.frames) for s in sequences]),
        "idf1": identity.idf1,
        "hota": identity.hota,
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
    true_ids: bool = False  # also score each tracker's output under ground-truth ids


def run_job(job: Job) -> list[dict]:
    """Rows {setting, seed, tracker, mota, idsw, map, id_changes, jitter, idf1, hota, seconds}
    of a job; with `true_ids`, each tracker's row is followed by its TRUE_IDS row."""
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
        named = cfg is not None and name != FLOOR  # the built-in rows get none
        variants = [(name, False)] + ([(name + TRUE_IDS, True)] if job.true_ids and named else [])
        for label, true_ids in variants:
            scores = score_predictions(job.gt, outputs, true_ids)
            rows.append(
                {
                    "setting": job.setting,
                    "seed": job.seed,
                    "tracker": label,
                    **scores,
                    "seconds": round(time.perf_counter() - t0, 3),
                }
            )
            t0 = time.perf_counter()  # a TRUE_IDS row's seconds: its scoring only
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
    true_ids: bool = False,
) -> list[dict]:
    """Every setting x seed x tracker; rows as run_job gives them, in that order. `workers` > 1
    runs jobs in that many processes; `true_ids` adds each tracker's TRUE_IDS row."""
    size = frame_size(gt)
    jobs = [
        Job(s, seed, settings[s], dict(trackers), Path(workdir), list(gt), size, true_ids)
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
            for k in ("mota", "idsw", "map", "id_changes", "jitter", "idf1", "hota")
        }
        out.append({"setting": setting, "tracker": tracker, "seeds": len(group), **mean})
    return out


def format_table(
    means: Sequence[dict], settings: dict[str, Setting], num_videos: int, num_frames: int
) -> str:
    """One table: setting x tracker -> MOTA, IDSW, mAP, person-level id changes, jitter, IDF1,
    HOTA."""
    seeds = sorted({m["seeds"] for m in means})
    head = (
        f"Tracking quality on {num_videos} videos ({num_frames} frames), means over "
        f"{'/'.join(map(str, seeds))} seed(s); {FLOW_NOTE}"
    )
    width = max([len(m["tracker"]) for m in means] + [7])
    lines = [
        head,
        f"{'setting':9s} {'noise drop gap spurious':24s} {'tracker':{width}s}"
        "   MOTA    IDSW    mAP  id changes  jitter   IDF1   HOTA",
    ]
    previous = None
    for m in means:
        s = m["setting"]
        label = (s, settings[s].describe()) if s != previous else ("", "")
        previous = s
        lines.append(
            f"{label[0]:9s} {label[1]:24s} {m['tracker']:{width}s} {m['mota']:6.1f} "
            f"{m['idsw']:7.1f} {m['map']:6.1f} {m['id_changes']:11.1f} {m['jitter']:7.2f} "
            f"{m['idf1']:6.1f} {m['hota']:6.1f}"
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


def default_ground_truth() -> str:
    """The ground truth the benchmark scores by default: the Bonn set in the shared data."""
    return str(shared_data_path(BONN_GT))


def run_tracking_benchmark(
    gt_folder: str | os.PathLike,
    tracker_names: Sequence[str] = ("default",),
    overrides: Sequence[str] = (),
    setting_names: Sequence[str] | None = None,
    seeds: Sequence[int] = (0, 1, 2),
    max_videos: int | None = None,
    workers: int = 1,
    out: str | os.PathLike | None = None,
    log: Callable[[str], None] = print,
    progress: Callable[[str], None] | None = None,
    true_ids: bool = False,
) -> dict:
    """The `benchmark.py tracking` run: every setting x seed x tracker on the ground truth of
    `gt_folder`; `log` gets the table and the wall time, `progress` a line per job; returns
    the report (means and every run). `out` keeps the detections and tracks; `true_ids` adds
    a row per named tracker: its output under ground-truth ids."""
    import tempfile

    names = list(setting_names or SETTINGS)
    unknown = [s for s in names if s not in ALL_SETTINGS]
    if unknown:
        raise ConfigError(
            f"--settings: unknown {', '.join(unknown)} (known: {', '.join(ALL_SETTINGS)})"
        )
    settings = {name: ALL_SETTINGS[name] for name in names}
    trackers = build_trackers(tracker_names, overrides)
    gt = load_ground_truth(gt_folder, max_videos)
    frames = sum(len(seq) for seq in gt)

    def job_done(rows: list[dict]) -> None:
        if progress is not None:
            seconds = sum(r["seconds"] for r in rows)
            progress(f"{rows[0]['setting']} seed {rows[0]['seed']}: {seconds:.1f} s")

    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tracking_benchmark_") as tmp:
        workdir = Path(out) if out else Path(tmp)
        rows = run_benchmark(gt, settings, seeds, trackers, workdir, workers, job_done, true_ids)
    wall = time.perf_counter() - start
    means = summarize(rows)
    log(format_table(means, settings, len(gt), frames))
    log(f"wall time {wall:.1f} s ({workers} worker(s))")
    return {
        "benchmark": "tracking",
        "gt": str(gt_folder),
        "videos": [seq.name for seq in gt],
        "frames": frames,
        "seeds": list(seeds),
        "settings": settings_json(settings),
        "trackers": {
            name: (None if cfg is None else asdict(cfg.tracking)) for name, cfg in trackers.items()
        },
        "overrides": list(overrides),
        "true_ids": true_ids,
        "flow": FLOW_NOTE,
        "workers": workers,
        "wall_seconds": round(wall, 2),
        "means": means,
        "runs": rows,
    }
