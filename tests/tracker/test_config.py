"""Tracker config values out of range fail at load, naming the key."""

import pytest

from posenet.errors import ConfigError
from tracker.config import load_tracker_config


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("tracking.lost_seconds=.inf", "tracking.lost_seconds: expected a finite number"),
        ("tracking.min_similarity=.nan", "tracking.min_similarity: expected a finite number"),
        ("tracking.min_similarity=7", "tracking.min_similarity must be in [0, 1], got 7.0"),
        ("tracking.keypoint_thr=-0.1", "tracking.keypoint_thr must be in [0, 1], got -0.1"),
        (
            "tracking.confirm_hits=4",
            "tracking.confirm_hits (4) must be <= tracking.confirm_window (3)",
        ),
    ],
)
def test_out_of_range_tracking_values_fail_at_load(override, message):
    with pytest.raises(ConfigError) as info:
        load_tracker_config("default", [override])
    assert message in str(info.value)


def test_shipped_tracker_configs_load_by_short_name():
    for name in ("default", "paper", "cpu", "greedy", "iou", "posetrack_r50"):
        assert load_tracker_config(name).tracking.min_similarity >= 0


def test_pose_precision_names_are_posenets():
    from posenet.precision import AUTO, PRECISIONS
    from tracker.config import POSE_PRECISIONS

    assert set(POSE_PRECISIONS) == {AUTO, *PRECISIONS}
    assert load_tracker_config("cpu", ["pose.precision=fp32"]).pose.precision == "fp32"
    with pytest.raises(ConfigError, match="pose.precision must be one of"):
        load_tracker_config("cpu", ["pose.precision=int4"])
