"""PoseTrack evaluation on real ground truth, against numbers from the official code.

Reference numbers: computed once with the official evaluation code (github
leonid-pishchulin/poseval @4258a15, `python -m poseval.evaluate -g GT/ -p PRED/ -e -t`, in its
own virtualenv with motmetrics 1.2.0, scipy 1.17.1, numpy 2.4.6, shapely 2.2.0, no lap/lapsolver
installed) on the shared data and on prediction folders written by
`python -m tests.posenet.posetrack.evaluation.perturb GT OUT KIND SEED` (the same generator these
tests call; the seed fixes every file). Values are poseval's total_AP_metrics.json /
total_MOT_metrics.json (per joint in PoseTrack-2017 id order 0-14, then the mean), rounded to
6 decimals. Only the mmpose sequences were scored with -e alone: each has one labelled frame
and poseval's tracking stops there with an IndexError.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from posenet.errors import DataError
from posenet.posetrack.evaluation import evaluate_posetrack
from posenet.posetrack.evaluation.report import grouped
from tests.conftest import load_tool, shared_file
from tests.posenet.posetrack.evaluation.perturb import write_perturbed

nan = float("nan")
BONN18, BONN17 = "bonn-posetrack/posetrack18", "bonn-posetrack/posetrack17"
MMPOSE18 = "mmpose/posetrack18/annotations/val"

# name: (GT folder, perturbation kind, seed, official numbers)
CASES = {
    "bonn18_noise": (
        BONN18,
        "noise",
        0,
        dict(
            ap=[
                56.499807,
                56.389036,
                56.455059,
                56.715962,
                56.623992,
                55.708478,
                55.725038,
                58.250209,
                56.817110,
                57.075271,
                57.777903,
                55.445096,
                57.502300,
                0.000000,
                56.631911,
                52.907811,
            ],
            mota=[
                48.837209,
                50.119073,
                49.966880,
                50.677026,
                49.576837,
                48.179134,
                48.875899,
                51.683211,
                50.200321,
                50.786424,
                51.258993,
                47.814331,
                51.404899,
                nan,
                50.009169,
                49.956386,
            ],
            motp_pre_rec=(39.748318, 75.013699, 75.013699),
        ),
    ),
    "bonn18_drop": (
        BONN18,
        "drop",
        0,
        dict(
            ap=[
                82.290150,
                82.384190,
                81.969697,
                82.443912,
                82.201354,
                82.236684,
                82.159417,
                81.982173,
                82.288186,
                82.296748,
                82.142857,
                82.033149,
                82.382046,
                0.000000,
                82.336029,
                76.743106,
            ],
            mota=[
                81.928319,
                82.869855,
                82.576102,
                82.862352,
                82.552024,
                81.893521,
                82.582583,
                82.574917,
                83.075335,
                82.953820,
                82.566474,
                82.411479,
                83.541008,
                -100.000000,
                83.371169,
                70.517264,
            ],
            motp_pre_rec=(84.804269, 91.473682, 78.785387),
        ),
    ),
    "bonn18_swap": (
        BONN18,
        "swap",
        0,
        dict(
            ap=[
                100.000000,
                99.963299,
                100.000000,
                99.969128,
                99.975457,
                99.941584,
                100.000000,
                99.968603,
                100.000000,
                100.000000,
                100.000000,
                99.968494,
                100.000000,
                0.000000,
                100.000000,
                93.319104,
            ],
            mota=[
                91.390401,
                91.534964,
                91.874586,
                91.609323,
                91.737194,
                91.781496,
                91.794065,
                92.101856,
                91.506410,
                91.473510,
                91.973921,
                91.910771,
                91.588617,
                nan,
                91.857693,
                91.723915,
            ],
            motp_pre_rec=(64.063071, 99.982322, 99.982322),
        ),
    ),
    "bonn18_fp": (
        BONN18,
        "fp",
        0,
        dict(
            ap=[
                92.810672,
                91.688918,
                91.427359,
                91.567525,
                91.372159,
                92.535763,
                91.848851,
                91.577959,
                91.366247,
                91.558380,
                91.480716,
                91.259354,
                91.322484,
                0.000000,
                91.180153,
                85.533103,
            ],
            mota=[
                91.390401,
                90.668976,
                90.041952,
                90.321865,
                90.489978,
                91.363189,
                90.467626,
                90.418645,
                90.324519,
                90.480132,
                90.332734,
                90.153222,
                90.147695,
                nan,
                89.822116,
                90.458789,
            ],
            motp_pre_rec=(64.171392, 91.308279, 99.989824),
        ),
    ),
    "bonn18_nose": (
        BONN18,
        "nose",
        0,
        dict(  # nose predicted, never in GT: AP nan, Head nan
            ap=[
                99.964916,
                99.971336,
                99.959760,
                99.963757,
                99.959966,
                100.000000,
                99.958146,
                99.915318,
                99.969618,
                99.963596,
                100.000000,
                100.000000,
                99.978204,
                nan,
                100.000000,
                99.971758,
            ],
            mota=[
                99.950520,
                99.956701,
                99.955840,
                99.955605,
                99.955457,
                100.000000,
                99.955036,
                99.913681,
                99.959936,
                99.958609,
                100.000000,
                100.000000,
                99.963977,
                nan,
                100.000000,
                99.966097,
            ],
            motp_pre_rec=(65.117994, 93.317512, 99.983049),
        ),
    ),
    "bonn18_all": (
        BONN18,
        "all",
        0,
        dict(
            ap=[
                73.900739,
                73.419005,
                73.213985,
                73.315257,
                73.625789,
                73.717554,
                72.782281,
                72.487599,
                73.208197,
                73.009065,
                73.178629,
                73.472738,
                73.298809,
                nan,
                72.613413,
                73.231647,
            ],
            mota=[
                66.666667,
                66.786679,
                66.259507,
                66.104436,
                66.427911,
                66.319003,
                65.948982,
                65.788288,
                66.088229,
                66.400345,
                65.948478,
                65.908558,
                66.566322,
                -4610.416667,
                65.620214,
                -245.572203,
            ],
            motp_pre_rec=(62.928694, 82.806197, 77.900051),
        ),
    ),
    "bonn17_all": (
        BONN17,
        "all",
        1,
        dict(
            ap=[
                74.335364,
                74.998334,
                73.720774,
                73.168401,
                73.959814,
                74.582707,
                74.297777,
                73.742545,
                73.319892,
                73.399848,
                73.569609,
                73.542820,
                73.735200,
                nan,
                73.261223,
                73.831022,
            ],
            mota=[
                63.472293,
                64.379595,
                63.940774,
                62.897688,
                63.634280,
                63.608795,
                64.198102,
                64.023168,
                63.939519,
                63.341166,
                62.859796,
                63.067256,
                63.943294,
                -5269.411765,
                63.639825,
                -291.897748,
            ],
            motp_pre_rec=(62.469564, 82.523994, 78.309246),
        ),
    ),
    "mm18_noise": (
        MMPOSE18,
        "noise",
        2,
        dict(
            ap=[
                66.000000,
                82.000000,
                69.930070,
                75.147929,
                62.714286,
                64.000000,
                63.872491,
                75.283447,
                59.390609,
                45.068027,
                56.666667,
                86.776860,
                73.076923,
                56.933835,
                75.595238,
                67.497092,
            ],
        ),
    ),
    "mm18_all": (
        MMPOSE18,
        "all",
        2,
        dict(  # includes joints inside ignore regions
            ap=[
                93.636364,
                96.363636,
                92.820513,
                94.240631,
                94.545455,
                82.000000,
                96.212121,
                92.474490,
                97.142857,
                97.142857,
                86.190476,
                100.000000,
                92.170330,
                1.923077,
                92.678571,
                87.302759,
            ],
        ),
    ),
}


def _close(actual, expected) -> None:
    np.testing.assert_allclose(
        np.asarray(actual, float), np.asarray(expected, float), rtol=0, atol=2e-6
    )


@pytest.mark.parametrize("layout", [BONN18, BONN17])
def test_bonn_ground_truth_against_itself(layout):
    gt = shared_file(layout)
    result = evaluate_posetrack(gt, gt, "both")
    ap, mota = grouped(result.ap.ap), grouped(result.mot.mota)
    # Official: AP Head 66.7 (nose never labelled, averaged in as 0), Total 93.3; MOTA Head nan.
    assert np.isclose(ap["Head"], 200 / 3) and np.isclose(ap["Total"], 1400 / 15)
    assert all(
        np.isclose(ap[k], 100.0) for k in ("Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle")
    )
    assert np.isnan(mota["Head"]) and np.isclose(mota["Total"], 100.0)
    assert all(
        np.isclose(mota[k], 100.0) for k in ("Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle")
    )
    # Official MOTP 93.236478: nose counts as 0 and RAW candidate distances enter the sum.
    assert np.isclose(result.mot.motp[15], 93.236478, atol=2e-6)
    assert result.mot.num_switches.sum() == 0 and result.mot.num_false_positives.sum() == 0


def test_mmpose_ground_truth_against_itself_and_single_frame_sequences():
    gt = shared_file(MMPOSE18)
    result = evaluate_posetrack(gt, gt, "both")
    _close(result.ap.ap, [100.0] * 16)  # official: 100.0 for every group
    # every sequence has one labelled frame: nothing to track (poseval raises IndexError)
    assert np.isnan(result.mot.mota[15])
    assert sum("one scored frame only" in n for n in result.notes) == 3


@pytest.fixture(scope="module")
def perturbed(tmp_path_factory):
    """Writes (once per case) the perturbed prediction folder and returns its path."""
    made = {}

    def make(name: str):
        if name not in made:
            gt, kind, seed, _ = CASES[name]
            made[name] = tmp_path_factory.mktemp(name)
            write_perturbed(shared_file(gt), made[name], kind, seed)
        return made[name]

    return make


@pytest.mark.parametrize("name", sorted(CASES))
def test_perturbed_predictions_give_the_official_numbers(perturbed, name):
    gt, _, _, ref = CASES[name]
    mode = "both" if "mota" in ref else "pose"
    result = evaluate_posetrack(shared_file(gt), perturbed(name), mode)
    _close(result.ap.ap, ref["ap"])
    if "mota" in ref:
        _close(result.mot.mota, ref["mota"])
        _close(
            [result.mot.motp[15], result.mot.precision[15], result.mot.recall[15]],
            ref["motp_pre_rec"],
        )


def test_swapped_ids_are_counted_as_switches(perturbed):
    result = evaluate_posetrack(shared_file(BONN18), perturbed("bonn18_swap"), "track")
    assert result.ap is None and result.mot.num_switches.sum() > 0
    assert result.mot.num_false_positives.sum() <= 14  # near-exact poses; just the odd noisy joint


def _copy_folder(src, dst, names=None):
    dst.mkdir()
    for f in sorted(src.glob("*.json"))[: names or None]:
        (dst / f.name).write_bytes(f.read_bytes())
    return dst


def test_missing_extra_and_mismatched_sequences(tmp_path):
    gt = _copy_folder(shared_file(BONN18), tmp_path / "gt", 3)
    pred = _copy_folder(gt, tmp_path / "pred")
    (pred / "extra_video.json").write_text((gt / "000001.json").read_text())
    result = evaluate_posetrack(gt, pred, "both")
    assert any("extra_video.json" in n for n in result.notes)
    (pred / "000003.json").unlink()
    with pytest.raises(DataError, match=r"no predictions for 1 of 3 sequences: 000003\.json"):
        evaluate_posetrack(gt, pred, "both")
    data = json.loads((gt / "000003.json").read_text())
    dropped = data["images"].pop()  # with its people: people on no frame are another error
    data["annotations"] = [a for a in data["annotations"] if a["image_id"] != dropped["id"]]
    (pred / "000003.json").write_text(json.dumps(data))
    with pytest.raises(
        DataError, match=r"000003\.json: no prediction frame for 1 of 53 ground-truth frames"
    ):
        evaluate_posetrack(gt, pred, "both")


def _reverse_frames(data: dict) -> dict:
    key = "images" if "images" in data else "annolist"
    return {**data, key: data[key][::-1]}


@pytest.mark.parametrize("layout", [BONN18, BONN17])
def test_frames_in_another_order_are_matched_by_file_name(tmp_path, layout):
    gt = _copy_folder(shared_file(layout), tmp_path / "gt", 2)
    pred = _copy_folder(gt, tmp_path / "pred")
    for f in pred.glob("*.json"):
        f.write_text(json.dumps(_reverse_frames(json.loads(f.read_text()))))
    result = evaluate_posetrack(gt, pred, "both")
    ap, mota = grouped(result.ap.ap), grouped(result.mot.mota)
    assert np.isclose(ap["Total"], 1400 / 15) and np.isclose(mota["Total"], 100.0)
    assert result.mot.num_switches.sum() == 0


def test_frames_renamed_but_numbered_match_by_frame_id_and_strangers_are_noted(tmp_path):
    gt = _copy_folder(shared_file(BONN18), tmp_path / "gt", 1)
    pred = _copy_folder(gt, tmp_path / "pred")
    data = _reverse_frames(json.loads((pred / "000001.json").read_text()))
    for image in data["images"]:
        image["file_name"] = image["file_name"].replace(".jpg", ".png")  # matched by image id
    stranger = dict(data["images"][0], id=1, file_name="elsewhere/999999.jpg")
    data["images"].insert(3, stranger)
    (pred / "000001.json").write_text(json.dumps(data))
    result, same = evaluate_posetrack(gt, pred, "both"), evaluate_posetrack(gt, gt, "both")
    np.testing.assert_array_equal(result.ap.ap, same.ap.ap)
    np.testing.assert_array_equal(result.mot.mota, same.mot.mota)
    assert np.isclose(grouped(result.ap.ap)["Shoulder"], 100.0) and np.isclose(
        result.mot.mota[15], 100.0
    )
    assert any(
        "1 prediction frames match no ground-truth frame" in n and "999999.jpg" in n
        for n in result.notes
    )


def test_malformed_prediction_names_file_and_field(tmp_path):
    gt = _copy_folder(shared_file(BONN18), tmp_path / "gt", 1)
    pred = _copy_folder(gt, tmp_path / "pred")
    data = json.loads((pred / "000001.json").read_text())
    data["annotations"][5]["keypoints"] = data["annotations"][5]["keypoints"][:-3]
    (pred / "000001.json").write_text(json.dumps(data))
    with pytest.raises(DataError, match=r"pred/000001\.json: annotations\[5\]\.keypoints"):
        evaluate_posetrack(gt, pred, "pose")
    (pred / "000001.json").write_text('{"images": [')
    with pytest.raises(DataError, match=r"pred/000001\.json: not valid JSON"):
        evaluate_posetrack(gt, pred, "pose")


def test_duplicate_track_ids_fail_only_when_tracking(tmp_path):
    gt = _copy_folder(shared_file(BONN18), tmp_path / "gt", 1)
    pred = _copy_folder(gt, tmp_path / "pred")
    data = json.loads((pred / "000001.json").read_text())
    for ann in data["annotations"]:
        ann["track_id"] = 7
    (pred / "000001.json").write_text(json.dumps(data))
    assert np.isclose(grouped(evaluate_posetrack(gt, pred, "pose").ap.ap)["Shoulder"], 100.0)
    with pytest.raises(DataError, match="duplicate track_id"):
        evaluate_posetrack(gt, pred, "track")


def test_cli_prints_official_tables_and_writes_json(tmp_path, capsys):
    tool = load_tool("eval_posetrack")
    gt = shared_file(BONN18)
    out = tmp_path / "metrics.json"
    assert tool.main(["--gt", str(gt), "--pred", str(gt), "--json", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[:3] == [
        "Average Precision (AP) metric:",
        "& Head & Shou & Elb  & Wri  & Hip  & Knee & Ankl & Total\\\\",
        "& 66.7 &100.0 &100.0 &100.0 &100.0 &100.0 &100.0 & 93.3 \\\\",
    ]
    assert (
        printed[-1]
        == "&  nan &100.0 &100.0 &100.0 &100.0 &100.0 &100.0 &100.0 & 93.2 &100.0 &100.0 \\\\"
    )
    saved = json.loads(out.read_text())
    assert saved["track"]["mota"]["Head"] is None and saved["pose"]["ap"]["Shoulder"] == 100.0


def test_cli_bad_folder_is_a_one_line_error(tmp_path, capsys):
    from posenet.cli import run_cli

    tool = load_tool("eval_posetrack")
    code = run_cli(tool.main, ["--gt", str(tmp_path / "nope"), "--pred", str(tmp_path)])
    assert code == 2 and "nope: ground-truth folder not found" in capsys.readouterr().err
