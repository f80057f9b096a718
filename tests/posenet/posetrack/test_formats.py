"""PoseTrack JSON reading (both layouts, real files) and the streaming writers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from posenet.errors import DataError
from posenet.posetrack.formats import PoseTrack17Writer, PoseTrack18Writer, read_posetrack
from tests.conftest import shared_file


def _people(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    kp = np.concatenate([rng.uniform(10, 500, (n, 17, 2)), rng.uniform(0.1, 1, (n, 17, 1))], axis=2)
    kp[:, 3:5] = 0.0  # ears: not in PoseTrack
    boxes = np.tile(np.array([[10.0, 20.0, 110.0, 220.0]]), (n, 1))
    return kp, np.arange(n) + 5, boxes, np.full(n, 0.9)


def test_bonn_2017_and_2018_files_read_the_same():
    a = read_posetrack(shared_file("bonn-posetrack/posetrack17/000001.json"))
    b = read_posetrack(shared_file("bonn-posetrack/posetrack18/000001.json"))
    assert (a.layout, b.layout) == ("posetrack17", "posetrack18")
    assert len(a) == len(b) == 76  # README: 000001 has 76 frames, 152 poses, 2 tracks
    assert sum(len(f) for f in a) == sum(len(f) for f in b) == 152
    for fa, fb in zip(a, b):
        np.testing.assert_array_equal(fa.labelled, fb.labelled)
        np.testing.assert_allclose(fa.keypoints[..., :2], fb.keypoints[..., :2])
        np.testing.assert_allclose(fa.head_boxes, fb.head_boxes)
        np.testing.assert_array_equal(fa.track_ids, fb.track_ids)
    assert {int(t) for f in b for t in f.track_ids} == {0, 1}
    # nose and ears never labelled in this dataset
    assert not any(f.labelled[:, [0, 3, 4]].any() for f in b)
    assert b.frames[0].frame_index == 0 and a.frames[0].frame_index == 0


def test_mmpose_posetrack18_file_with_ignore_regions():
    seq = read_posetrack(shared_file("mmpose/posetrack18/annotations/val/003418_mpii_test.json"))
    labelled = [f for f in seq if len(f)]
    assert len(labelled) == 1 and len(labelled[0].ignore_regions) == 9
    frame = labelled[0]
    # first person: head box [346, 337, 296, 237] xywh, nose at (621, 471)
    np.testing.assert_allclose(frame.head_boxes[0], [346, 337, 642, 574])
    np.testing.assert_allclose(frame.keypoints[0, 0], [621, 471, 1])
    assert frame.image_id == 10034180000


def test_writer_2018_round_trip_and_image_ids(tmp_path):
    kp, ids, boxes, scores = _people(3)
    out = tmp_path / "000342_mpii_test.json"
    with PoseTrack18Writer(out, "000342_mpii_test") as w:
        w.add_frame("images/val/000342_mpii_test/000000.jpg", 0, kp, ids, boxes, scores)
        w.add_frame(
            "images/val/000342_mpii_test/000001.jpg", 1, kp[:0], ids[:0], boxes[:0], scores[:0]
        )
        w.add_frame(
            "images/val/000342_mpii_test/000002.jpg", 2, kp[:2], ids[:2], boxes[:2], scores[:2]
        )
    data = json.loads(out.read_text())
    assert [im["id"] for im in data["images"]] == [10003420000, 10003420001, 10003420002]
    assert all(im["nframes"] == 3 for im in data["images"])
    assert data["annotations"][0]["bbox"] == [10.0, 20.0, 100.0, 200.0]
    seq = read_posetrack(out)
    assert [len(f) for f in seq] == [3, 0, 2]
    np.testing.assert_allclose(seq.frames[0].keypoints, kp, atol=1e-3)
    np.testing.assert_allclose(seq.frames[0].joint_scores, kp[..., 2], atol=1e-3)
    np.testing.assert_array_equal(seq.frames[2].track_ids, [5, 6])
    assert not seq.frames[0].labelled[:, 3:5].any() and seq.frames[0].labelled[:, 5:].all()
    assert list(tmp_path.iterdir()) == [out]  # temp parts removed


@pytest.mark.parametrize("writer", [PoseTrack18Writer, PoseTrack17Writer])
def test_writers_never_write_nan_or_infinity(tmp_path, writer):
    kp, ids, boxes, scores = _people(2)
    kp[0, 6, 0], kp[0, 7, 2], kp[1, 8, 1] = np.nan, np.nan, np.inf
    boxes[1, 2], scores[0] = np.nan, np.nan
    out = tmp_path / "000001_x.json"
    with writer(out, "000001_x") as w:
        w.add_frame("a/000000.jpg", 0, kp, ids, boxes, scores)
    text = out.read_text()
    json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} written"))
    frame = read_posetrack(out).frames[0]
    assert not frame.labelled[0, 6] and not frame.labelled[1, 8] and frame.labelled[0, 5]
    assert np.isfinite(frame.keypoints).all()


@pytest.mark.parametrize("layout", ["2017", "2018"])
def test_non_finite_numbers_are_rejected_naming_file_and_annotation(tmp_path, layout):
    if layout == "2018":
        content = (
            '{"images": [{"id": 1, "file_name": "a/0.jpg"}], "annotations": ['
            '{"image_id": 1, "keypoints": '
            + str([1] * 51)
            + '}, {"image_id": 1, "keypoints": [NaN'
            + ", 1" * 50
            + "]}]}"
        )
        field = "annotations[1].keypoints[0]: NaN"
    else:
        content = (
            '{"annolist": [{"image": [{"name": "a.jpg"}], "annorect": [{"annopoints": [{"point": '
            '[{"id": [0], "x": [1], "y": [Infinity]}]}]}]}]}'
        )
        field = "annolist[0].annorect[0].annopoints[0].point[0].y[0]: Infinity"
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(DataError) as err:
        read_posetrack(path)
    assert str(err.value).startswith(str(path)) and field in str(err.value)


def test_2018_file_with_other_joint_names_is_an_error(tmp_path):
    data = {
        "images": [{"id": 1, "file_name": "a/0.jpg"}],
        "annotations": [{"image_id": 1, "keypoints": [1] * 51}],
        "categories": [{"keypoints": [str(k) for k in range(17)]}],
    }
    path = tmp_path / "numbered.json"
    path.write_text(json.dumps(data))
    with pytest.raises(
        DataError,
        match=r"numbered\.json: categories\[0\]\.keypoints: unknown joint names "
        r"\['0', '1', '2', '3'\]; expected PoseTrack names: nose, head_bottom",
    ):
        read_posetrack(path)


def test_writer_2018_sequential_ids_without_video_number(tmp_path):
    kp, ids, boxes, scores = _people(1)
    with PoseTrack18Writer(tmp_path / "clip.json", "clip") as w:
        for i in (4, 9):
            w.add_frame(f"clip/{i:06d}.jpg", i, kp, ids, boxes, scores)
    assert [im["id"] for im in json.loads((tmp_path / "clip.json").read_text())["images"]] == [1, 2]


def test_writer_2017_round_trip(tmp_path):
    kp, ids, boxes, scores = _people(2, seed=1)
    kp[1, 7] = 0.0  # an unlabelled joint is left out
    with PoseTrack17Writer(tmp_path / "v.json", "v") as w:
        w.add_frame("images/v/00001.jpg", 0, kp, ids, boxes, scores)
    seq = read_posetrack(tmp_path / "v.json")
    assert seq.layout == "posetrack17" and len(seq.frames[0]) == 2
    frame = seq.frames[0]
    assert frame.labelled[1].sum() == 14 and not frame.labelled[1, 7]
    np.testing.assert_allclose(frame.keypoints[0, 5:], kp[0, 5:], atol=1e-3)
    np.testing.assert_array_equal(frame.track_ids, ids)


def test_writer_interrupted_run_still_closes_to_valid_json(tmp_path):
    kp, ids, boxes, scores = _people(2)
    out = tmp_path / "001_mpii.json"
    with pytest.raises(KeyboardInterrupt):
        with PoseTrack18Writer(out, "001_mpii") as w:
            w.add_frame("a/000000.jpg", 0, kp, ids, boxes, scores)
            raise KeyboardInterrupt
    data = json.loads(out.read_text())
    assert len(data["images"]) == 1 and len(data["annotations"]) == 2


@pytest.mark.parametrize("writer_cls", [PoseTrack18Writer, PoseTrack17Writer])
def test_writer_abort_leaves_an_earlier_file_as_it_was(tmp_path, writer_cls):
    kp, ids, boxes, scores = _people(2)
    out = tmp_path / "v.json"
    out.write_text("earlier run")
    w = writer_cls(out, "v")
    w.add_frame("v/000000.jpg", 0, kp, ids, boxes, scores)
    w.abort()
    w.close()  # a no-op once aborted
    assert out.read_text() == "earlier run"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.json"]  # no part files left


@pytest.mark.parametrize("writer_cls", [PoseTrack18Writer, PoseTrack17Writer])
def test_writer_failing_while_joining_keeps_the_earlier_file_and_no_temp_files(
    tmp_path, writer_cls, monkeypatch
):
    kp, ids, boxes, scores = _people(2)
    out = tmp_path / "v.json"
    out.write_text("earlier run")
    w = writer_cls(out, "v")
    w.add_frame("v/000000.jpg", 0, kp, ids, boxes, scores)

    def fail(self, f):
        f.write('{"half": ')
        raise OSError("disk gone")

    monkeypatch.setattr(writer_cls, "_join", fail)
    with pytest.raises(OSError, match="disk gone"):
        w.close()
    assert out.read_text() == "earlier run"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.json"]  # no temp or part files


def test_writer_rejects_duplicate_track_ids_and_use_after_close(tmp_path):
    kp, _, boxes, scores = _people(2)
    w = PoseTrack18Writer(tmp_path / "x.json", "x")
    with pytest.raises(ValueError, match="duplicate track ids"):
        w.add_frame("x/0.jpg", 0, kp, np.array([1, 1]), boxes, scores)
    w.close()
    with pytest.raises(ValueError, match="closed"):
        w.add_frame("x/0.jpg", 0, kp, np.array([1, 2]), boxes, scores)


@pytest.mark.parametrize(
    "content, field",
    [
        ("{not json", "not valid JSON"),
        ('{"foo": 1}', "neither 'annolist'"),
        (
            '{"images": [{"id": 1, "file_name": "a/0.jpg"}], '
            '"annotations": [{"image_id": 1, "keypoints": [1, 2]}]}',
            "annotations[0].keypoints",
        ),
        (
            '{"images": [{"id": 1, "file_name": "a/0.jpg"}], "annotations": '
            '[{"image_id": 1, "keypoints": ' + str([0] * 51) + ', "track_id": "x"}]}',
            "annotations[0].track_id",
        ),
        (
            '{"annolist": [{"image": [{"name": "a.jpg"}], "annorect": [{"annopoints": [{"point": '
            '[{"id": [0], "x": ["a"], "y": [1]}]}]}]}]}',
            "annolist[0].annorect[0].annopoints[0].point[0].x",
        ),
    ],
)
def test_malformed_files_name_the_file_and_field(tmp_path, content, field):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(DataError) as err:
        read_posetrack(path)
    assert str(path) in str(err.value) and field in str(err.value)


def _file_2018(**changes) -> dict:
    """A tiny PoseTrack 2018 file: two frames (ids 1 and 2), one person on each."""
    people = [{"image_id": k, "track_id": 0, "keypoints": [10.0, 20.0, 1.0] * 17} for k in (1, 2)]
    images = [{"id": k, "file_name": f"v/{k:06d}.jpg"} for k in (1, 2)]
    return {"images": images, "annotations": people} | changes


@pytest.mark.parametrize(
    "change, field, problem",
    [
        (lambda d: d["annotations"][1].update(image_id=[2]), "annotations[1].image_id", "a list"),
        (lambda d: d["images"][1].update(id={"id": 2}), "images[1].id", "an object"),
        (lambda d: d.update(categories={"0": {}}), "categories", "got an object"),
        (lambda d: d.update(categories=["person"]), "categories[0]", "expected an object"),
        (lambda d: d.update(annotations={"0": {}}), "annotations", "expected a list"),
        (lambda d: d.update(images=None), "images", "expected a list, got null"),
        (lambda d: d["annotations"].append(7), "annotations[2]", "expected an object"),
        (lambda d: d["images"].insert(0, "x.jpg"), "images[0]", "expected an object"),
        (
            lambda d: d["annotations"][0].update(keypoints=[1.0] * 50),
            "annotations[0].keypoints",
            "expected 51 numbers, got a list of 50",
        ),
    ],
    ids=[
        "image_id_list",
        "id_object",
        "categories_dict",
        "category_string",
        "annotations_dict",
        "images_null",
        "annotation_number",
        "image_string",
        "keypoints_short",
    ],
)
def test_wrong_structure_is_one_line_naming_file_and_field(tmp_path, change, field, problem):
    data = _file_2018()
    change(data)
    path = tmp_path / "seq.json"
    path.write_text(json.dumps(data))
    with pytest.raises(DataError) as err:
        read_posetrack(path)
    message = str(err.value)
    assert message.startswith(f"{path}: {field}: ") and problem in message
    assert "\n" not in message


def test_two_frames_sharing_an_image_id_is_an_error(tmp_path):
    data = _file_2018()
    data["images"][1]["id"] = 1  # both frames claim the people of image 1
    path = tmp_path / "seq.json"
    path.write_text(json.dumps(data))
    with pytest.raises(DataError) as err:
        read_posetrack(path)
    assert str(err.value) == (
        f"{path}: images[1].id: image id 1 is also the id of images[0]; each frame needs its own id"
    )


def test_people_on_no_image_are_an_error_naming_the_first_id_and_count(tmp_path):
    data = _file_2018()
    data["annotations"] += [dict(data["annotations"][0], image_id=k) for k in (9, 8, 9)]
    path = tmp_path / "seq.json"
    path.write_text(json.dumps(data))
    with pytest.raises(DataError) as err:
        read_posetrack(path)
    assert str(err.value) == (
        f"{path}: annotations[2].image_id: 9 is the id of no entry in images (3 of 5 annotations "
        "name no image, so they cannot be placed on a frame)"
    )


def test_a_folder_named_like_a_file_is_an_error(tmp_path):
    path = tmp_path / "seq.json"
    path.mkdir()
    with pytest.raises(DataError, match=r"seq\.json: is a folder, expected a JSON file$"):
        read_posetrack(path)
