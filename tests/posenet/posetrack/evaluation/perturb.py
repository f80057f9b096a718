"""Deterministic perturbations of PoseTrack ground truth, used as predictions in the tests.

The reference numbers in test_posetrack_eval.py were computed once by the official evaluation
code (poseval) on folders written by this module:
    python -m tests.posenet.posetrack.evaluation.perturb GT_DIR OUT_DIR KIND [SEED]
Change nothing here without recomputing them: the same seed must give the same files.
Works on the raw JSON (2018 `annotations`, 2017 `annorect`), independent of the code under test.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import numpy as np

KINDS = ("noise", "drop", "swap", "fp", "nose", "all")
# PoseTrack-2018 slots of the head joints.
NOSE, HEAD_TOP = 0, 2
# 2017 joint id -> 2018 slot (posenet.keypoints order; fixed here so the files never change).
PT17_TO_PT18 = (16, 14, 12, 11, 13, 15, 10, 8, 6, 5, 7, 9, 1, 0, 2)


def _head_diag(box: list[float]) -> float:
    return float(np.hypot(box[2], box[3]))


def _perturb_people(
    people: list[dict], rng: np.random.Generator, kind: str, ctx: dict
) -> list[dict]:
    """people: dicts with 'kp' (17, 3) array (labelled: not all zero), 'head' xywh, 'tid'."""
    out = []
    for person in people:
        if kind in ("drop", "all") and rng.random() < 0.15:
            continue
        kp = person["kp"].copy()
        labelled = ~np.all(kp == 0, axis=1)
        sigma = (0.3 if kind == "noise" else 0.12) * 0.6 * _head_diag(person["head"])
        if kind in ("noise", "all", "nose", "fp", "swap", "drop"):
            kp[:, :2] += rng.normal(0.0, sigma if kind != "drop" else 0.3 * sigma, (17, 2))
        scores = rng.uniform(0.05, 1.0, 17)
        if kind in ("nose", "all") and labelled[HEAD_TOP]:
            labelled[NOSE] = True  # a joint the ground truth never has
            kp[NOSE, :2] = kp[HEAD_TOP, :2] + rng.normal(0.0, sigma, 2)
        kp[~labelled] = 0.0
        kp[labelled, 2] = 1.0
        tid = person["tid"]
        if kind in ("swap", "all"):
            tid = ctx["swap"].get(tid, tid)
        out.append(
            {
                "kp": kp,
                "scores": np.where(labelled, scores, 0.0),
                "tid": tid,
                "head": person["head"],
            }
        )
    if kind in ("swap", "all") and len(out) > 1 and rng.random() < 0.05:
        ids = [p["tid"] for p in out]
        for p, t in zip(out, rng.permutation(ids)):
            p["tid"] = int(t)  # a one-frame shuffle of ids
    if kind in ("fp", "all") and people and rng.random() < 0.4:
        src = people[int(rng.integers(len(people)))]
        near = rng.random() < 0.5  # a near duplicate competes for the same GT person
        shift = (
            rng.normal(0.0, 0.25 * 0.6 * _head_diag(src["head"]), 2)
            if near
            else rng.uniform(150, 400, 2)
        )
        kp = src["kp"].copy()
        labelled = ~np.all(kp == 0, axis=1)
        kp[labelled, :2] += shift
        scores = rng.uniform(0.05, 1.0, 17)
        kp[labelled, 2] = 1.0
        ctx["next_fp"] += 1
        out.append(
            {
                "kp": kp,
                "scores": np.where(labelled, scores, 0.0),
                "tid": ctx["next_fp"],
                "head": src["head"],
            }
        )
    if kind in ("drop", "all") and rng.random() < 0.05:
        return []  # a frame without any prediction
    return out


def _new_context(rng: np.random.Generator, track_ids: list[int], num_frames: int) -> dict:
    ctx = {"next_fp": 900, "swap": {}, "swap_from": num_frames}
    if len(track_ids) >= 2:
        a, b = rng.choice(sorted(track_ids), 2, replace=False)
        ctx["pair"] = (int(a), int(b))
        ctx["swap_from"] = int(
            rng.integers(num_frames // 3, max(num_frames // 3 + 1, 2 * num_frames // 3))
        )
    return ctx


def perturb_2018(data: dict, rng: np.random.Generator, kind: str) -> dict:
    """A perturbed copy of a PoseTrack 2018 file (images and categories kept)."""
    by_image: dict = {}
    for ann in data["annotations"]:
        by_image.setdefault(ann["image_id"], []).append(ann)
    tids = sorted({a["track_id"] for a in data["annotations"]})
    ctx = _new_context(rng, tids, len(data["images"]))
    annotations = []
    for f, image in enumerate(data["images"]):
        if "pair" in ctx and f == ctx["swap_from"]:
            a, b = ctx["pair"]
            ctx["swap"] = {a: b, b: a}
        people = [
            {
                "kp": np.array(a["keypoints"], dtype=np.float64).reshape(17, 3),
                "head": a["bbox_head"],
                "tid": a["track_id"],
            }
            for a in by_image.get(image["id"], [])
        ]
        for p in _perturb_people(people, rng, kind, ctx):
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image["id"],
                    "category_id": 1,
                    "track_id": int(p["tid"]),
                    "keypoints": [round(float(v), 4) for v in p["kp"].ravel()],
                    "scores": [float(v) for v in p["scores"]],  # unrounded: no tied scores
                }
            )
    out = {k: v for k, v in data.items() if k != "annotations"}
    out["annotations"] = annotations
    return out


def perturb_2017(data: dict, rng: np.random.Generator, kind: str) -> dict:
    """A perturbed copy of a PoseTrack 2017 annolist file."""
    annolist = data["annolist"]
    tids = sorted({r["track_id"][0] for e in annolist for r in e.get("annorect", [])})
    ctx = _new_context(rng, tids, len(annolist))
    out = []
    for f, entry in enumerate(annolist):
        if "pair" in ctx and f == ctx["swap_from"]:
            a, b = ctx["pair"]
            ctx["swap"] = {a: b, b: a}
        people = []
        for rect in entry.get("annorect", []):
            kp = np.zeros((17, 3))
            for pt in rect["annopoints"][0]["point"]:
                kp[PT17_TO_PT18[pt["id"][0]]] = (pt["x"][0], pt["y"][0], 1.0)
            head = [
                rect["x1"][0],
                rect["y1"][0],
                rect["x2"][0] - rect["x1"][0],
                rect["y2"][0] - rect["y1"][0],
            ]
            people.append({"kp": kp, "head": head, "tid": rect["track_id"][0]})
        rects = []
        for p in _perturb_people(people, rng, kind, ctx):
            points = [
                {
                    "id": [j],
                    "x": [round(float(p["kp"][s, 0]), 4)],
                    "y": [round(float(p["kp"][s, 1]), 4)],
                    "score": [float(p["scores"][s])],
                }
                for j, s in enumerate(PT17_TO_PT18)
                if not np.all(p["kp"][s] == 0)
            ]
            rects.append({"track_id": [int(p["tid"])], "annopoints": [{"point": points}]})
        e = copy.deepcopy({k: v for k, v in entry.items() if k != "annorect"})
        e["annorect"] = rects
        out.append(e)
    return {"annolist": out}


def write_perturbed(
    gt_dir: str | Path, out_dir: str | Path, kind: str, seed: int = 0
) -> list[Path]:
    """Write one perturbed prediction file per GT file (sorted by name, one rng for all)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    rng = np.random.default_rng(seed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted(Path(gt_dir).glob("*.json")):
        data = json.loads(path.read_text())
        pred = (
            perturb_2017(data, rng, kind) if "annolist" in data else perturb_2018(data, rng, kind)
        )
        target = out_dir / path.name
        target.write_text(json.dumps(pred))
        written.append(target)
    return written


if __name__ == "__main__":
    write_perturbed(
        sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 0
    )
