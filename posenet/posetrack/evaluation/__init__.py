"""PoseTrack multi-person pose (AP) and tracking (MOTA) evaluation, same numbers as poseval."""

from .batch import SequenceBatch
from .evaluate import MODES, PoseTrackEvaluation, evaluate_posetrack, evaluate_sequences
from .frames import EvalFrame, EvalSequence, load_folders, prepare_batch, prepare_frames
from .mota import JointAccumulator, MOTResult
from .pose_ap import APResult, assign_people, joint_distances, precision_recall, voc_ap

__all__ = [
    "MODES",
    "PoseTrackEvaluation",
    "evaluate_posetrack",
    "evaluate_sequences",
    "EvalFrame",
    "EvalSequence",
    "load_folders",
    "prepare_batch",
    "prepare_frames",
    "SequenceBatch",
    "JointAccumulator",
    "MOTResult",
    "APResult",
    "assign_people",
    "joint_distances",
    "precision_recall",
    "voc_ap",
]
