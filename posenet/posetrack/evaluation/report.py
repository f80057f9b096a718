"""poseval's result tables: joints grouped into Head, Shoulder, ... Ankle, then Total."""

from __future__ import annotations

import numpy as np

from posenet.keypoints import POSETRACK17_NAMES

# PoseTrack-2017 joint ids per group; Head averages head_top, neck and nose as poseval does
# (a nan for any of them, e.g. nose never labelled, makes Head nan).
GROUPS = {
    "Head": (14, 12, 13),
    "Shoulder": (8, 9),
    "Elbow": (7, 10),
    "Wrist": (6, 11),
    "Hip": (2, 3),
    "Knee": (1, 4),
    "Ankle": (0, 5),
}
# poseval's names of the PoseTrack-2017 joints (it calls head_bottom "neck").
JOINT_NAMES = tuple("neck" if n == "head_bottom" else n for n in POSETRACK17_NAMES)
AP_HEADER = "& Head & Shou & Elb  & Wri  & Hip  & Knee & Ankl & Total\\\\"
MOT_HEADER = (
    "& MOTA & MOTA & MOTA & MOTA & MOTA & MOTA & MOTA & MOTA & MOTP & Prec & Rec  \\\\\n"
    "& Head & Shou & Elb  & Wri  & Hip  & Knee & Ankl & Total& Total& Total& Total\\\\"
)


def grouped(per_joint: np.ndarray) -> dict[str, float]:
    """Group means (nan-propagating, as poseval) plus 'Total' = per_joint[15]."""
    out = {name: float(np.mean(per_joint[list(ids)])) for name, ids in GROUPS.items()}
    out["Total"] = float(per_joint[15])
    return out


def format_row(values: list[float]) -> str:
    """poseval's row: '&', each value as %1.1f right-aligned in 5, ' &' between, ' \\\\' last."""
    cells = [f"{f'{v:1.1f}':>5}" for v in values]
    return "&" + " &".join(cells) + " \\\\"


def ap_table(ap: np.ndarray) -> str:
    """The 'Average Precision (AP) metric' table of the official tool."""
    return "\n".join(
        ["Average Precision (AP) metric:", AP_HEADER, format_row(list(grouped(ap).values()))]
    )


def mot_table(mota: np.ndarray, motp: np.ndarray, precision: np.ndarray, recall: np.ndarray) -> str:
    """The 'Multiple Object Tracking (MOT) metrics' table of the official tool."""
    values = list(grouped(mota).values()) + [motp[15], precision[15], recall[15]]
    return "\n".join(["Multiple Object Tracking (MOT) metrics:", MOT_HEADER, format_row(values)])
