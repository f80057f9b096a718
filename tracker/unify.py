"""One frame's people: detections plus the previous frame's people carried along the flow.

The paper's box unification: boxes around the previous frame's joints, moved along the optical
flow and enlarged, join the detections in one NMS where detections rank first, so a propagated
box only adds a person the detector missed. Such a person gets a pose from a second, small pose
call; a pose with too few confident joints, or one that repeats a detected person (OKS above
`pose_nms_thr`), is dropped.

Person score: the box score times the mean of the joint scores above
`tracking.person_joint_thr` (0 when no joint is above it), the seed's rescoring of COCO results.
A propagated box carries the previous person's score as its box score, so a person kept alive
by propagation alone fades out frame after frame.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from tracker.config import TrackingConfig
from tracker.poses import NUM_JOINTS
from tracker.propagate import boxes_from_keypoints
from tracker.similarity import box_area, nms, oks, valid_boxes

MIN_JOINTS = 2  # a propagated person needs this many confident joints to be kept
Estimate = Callable[[Sequence[np.ndarray], Sequence[np.ndarray]], list[np.ndarray]]


def person_scores(keypoints: np.ndarray, box_scores: np.ndarray, joint_thr: float) -> np.ndarray:
    """Box score x mean score of the joints above `joint_thr` (0 when none is above it)."""
    joint = np.asarray(keypoints, dtype=np.float64)[..., 2]
    above = joint > joint_thr
    count = above.sum(axis=1)
    mean = np.where(count > 0, (joint * above).sum(axis=1) / np.maximum(count, 1), 0.0)
    return np.asarray(box_scores, dtype=np.float64).reshape(-1) * mean


def unify_boxes(
    det_boxes: np.ndarray,
    det_scores: np.ndarray,
    prop_boxes: np.ndarray,
    prop_scores: np.ndarray,
    iou_thr: float,
) -> tuple[np.ndarray, np.ndarray]:
    """NMS over detected and propagated boxes, detections ranked first: a propagated box
    survives only where no detection (and no better propagated box) overlaps it by IoU >
    `iou_thr`, i.e. it adds a person the detector missed. Returns kept indices of each."""
    n_det = len(det_boxes)
    if n_det + len(prop_boxes) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    boxes = np.concatenate([np.reshape(det_boxes, (-1, 4)), np.reshape(prop_boxes, (-1, 4))])
    # Propagated scores are person scores <= 1; lifting detections above them ranks them first.
    scores = np.concatenate([np.asarray(det_scores) + 2.0, np.asarray(prop_scores)])
    keep = np.asarray(nms(boxes, scores, iou_thr), dtype=np.int64)
    return np.sort(keep[keep < n_det]), np.sort(keep[keep >= n_det] - n_det)


def clip_boxes(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """Boxes clipped to the image."""
    out = np.array(boxes, dtype=np.float64).reshape(-1, 4)
    out[:, 0::2] = out[:, 0::2].clip(0, width - 1)
    out[:, 1::2] = out[:, 1::2].clip(0, height - 1)
    return out


def propagated_boxes(
    keypoints: np.ndarray, scores: np.ndarray, width: int, height: int, cfg: TrackingConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Boxes (enlarged by `box_enlarge`, clipped, non-empty) around already moved poses, with
    the person score of each as box score."""
    boxes, keep = boxes_from_keypoints(
        keypoints, score_thr=cfg.keypoint_thr, enlarge=cfg.box_enlarge, min_joints=MIN_JOINTS
    )
    boxes = clip_boxes(boxes, width, height)
    box_scores = np.asarray(scores, dtype=np.float64)[np.asarray(keep, dtype=np.int64)]
    valid = valid_boxes(boxes)
    return boxes[valid], box_scores[valid]


def unify_people(
    image: np.ndarray,
    detections: tuple[np.ndarray, np.ndarray],
    det_poses: np.ndarray,
    moved: np.ndarray,
    moved_scores: np.ndarray,
    estimate: Estimate,
    cfg: TrackingConfig,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keypoints (n, 17, 3), boxes (n, 4) and person scores (n,) of one frame: the detected
    people, plus the previous frame's people (`moved` along the flow) the detector missed."""
    det_boxes, det_scores = detections
    prop_boxes, prop_scores = np.zeros((0, 4)), np.zeros(0)
    if cfg.propagate_boxes and len(moved):
        height, width = image.shape[:2]
        prop_boxes, prop_scores = propagated_boxes(moved, moved_scores, width, height, cfg)
    keep_det, keep_prop = unify_boxes(det_boxes, det_scores, prop_boxes, prop_scores, cfg.nms_thr)
    keypoints, boxes = det_poses[keep_det], det_boxes[keep_det]
    box_scores = det_scores[keep_det]
    if len(keep_prop):
        extra = estimate([image], [prop_boxes[keep_prop]])[0]
        # Nobody there any more (too few confident joints), or the pose of someone already
        # detected (a box around part of them): drop the propagated person.
        alive = (extra[..., 2] >= cfg.keypoint_thr).sum(axis=1) >= MIN_JOINTS
        if len(keypoints) and alive.any():
            same = oks(extra, keypoints, box_area(boxes), score_thr=cfg.keypoint_thr)
            alive &= same.max(axis=1) <= cfg.pose_nms_thr
        keypoints = np.concatenate([keypoints, extra[alive]])
        boxes = np.concatenate([boxes, prop_boxes[keep_prop][alive]])
        box_scores = np.concatenate([box_scores, prop_scores[keep_prop][alive]])
    scores = person_scores(keypoints, box_scores, cfg.person_joint_thr)
    return keypoints.reshape(-1, NUM_JOINTS, 3), boxes.reshape(-1, 4), scores
