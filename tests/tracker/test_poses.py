"""People given in a PoseTrack file (tracker.poses.GivenPoses)."""

import json

import numpy as np

from tracker.poses import GivenPoses


def pose_file(path, frame_indexes, xy=(20.0, 20.0)):
    """A PoseTrack-2018 file with one person (4 joints around `xy`) per listed frame."""
    images, annotations = [], []
    for k, t in enumerate(frame_indexes):
        images.append({"id": k + 1, "file_name": f"other/{t:06d}.jpg", "frame_index": t})
        kp = np.zeros((17, 3))
        kp[5:9] = [[xy[0] + dx, xy[1] + dy, 1] for dx, dy in ((0, 0), (6, 0), (0, 8), (6, 8))]
        annotations.append({"image_id": k + 1, "keypoints": kp.ravel().tolist()})
    path.write_text(json.dumps({"images": images, "annotations": annotations}))
    return path


def test_given_poses_fill_boxes_and_scores(tmp_path):
    kp = np.zeros((17, 3))
    kp[5:9] = [[10, 20, 1], [30, 40, 1], [20, 60, 1], [25, 80, 1]]
    data = {
        "images": [{"id": 7, "file_name": "images/val/s/000004.jpg"}],
        "annotations": [{"image_id": 7, "keypoints": kp.ravel().tolist()}],
    }
    path = tmp_path / "given.json"
    path.write_text(json.dumps(data))
    given = GivenPoses(path)
    pt18, boxes, scores = given.lookup(4, "000004.jpg")
    np.testing.assert_allclose(boxes, [[10, 20, 30, 80]])
    np.testing.assert_allclose(scores, [1.0])  # no scores in the file: labelled joints count 1
    assert pt18[0, 0, 2] == 0 and pt18[0, 5, 2] == 1
    assert len(given.lookup(5, "000005.jpg")[0]) == 0
