"""PoseTrack 2017 (annolist) and 2018 (COCO-like) JSON: one reader, two streaming writers.

Both layouts are read into the PoseTrack-2018 17-slot order (posenet.keypoints). A joint counts
as labelled by the rule of the official evaluation code (poseval): in 2018 files every slot
except those stored as exactly [0, 0, 0]; in 2017 files every point listed with an id 0-14.
"""

from __future__ import annotations

import itertools
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from posenet.boxes import xywh_to_xyxy
from posenet.errors import DataError
from posenet.files import atomic_open
from posenet.keypoints import POSETRACK17_NAMES, POSETRACK18_NAMES

NUM_JOINTS = 17
NO_TRACK_ID = -1
# PoseTrack 2018 image ids: 1 (MPII video source) * 10^10 + video number * 10^4 + frame index.
IMAGE_ID_BASE = 10_000_000_000
IMAGE_ID_VIDEO_STRIDE = 10_000
# PoseTrack-2017 joint id (0-14) -> PoseTrack-2018 slot.
PT17_TO_PT18 = np.array([POSETRACK18_NAMES.index(n) for n in POSETRACK17_NAMES], dtype=np.int64)
POSETRACK18_CATEGORY = {
    "supercategory": "person",
    "id": 1,
    "name": "person",
    "keypoints": list(POSETRACK18_NAMES),
    "skeleton": [
        [16, 14],
        [14, 12],
        [17, 15],
        [15, 13],
        [12, 13],
        [6, 12],
        [7, 13],
        [6, 7],
        [6, 8],
        [7, 9],
        [8, 10],
        [9, 11],
        [2, 3],
        [1, 2],
        [1, 3],
        [2, 4],
        [3, 5],
        [4, 6],
        [5, 7],
    ],
}


@dataclass
class PoseTrackFrame:
    """One image of a sequence with its people; arrays are (n, ...) in PoseTrack-2018 slots."""

    file_name: str
    frame_index: int
    keypoints: np.ndarray  # (n, 17, 3) x, y, visibility (ground truth) or score
    labelled: np.ndarray  # (n, 17) bool: the joint is present (official rule)
    joint_scores: np.ndarray  # (n, 17) per-joint scores; nan where the file gives none
    track_ids: np.ndarray  # (n,) int64; NO_TRACK_ID where missing
    head_boxes: np.ndarray  # (n, 4) xyxy; nan where missing
    boxes: np.ndarray  # (n, 4) xyxy person boxes; nan where missing
    scores: np.ndarray  # (n,) person scores; nan where missing
    image_id: int | None = None
    is_labeled: bool = True
    ignore_regions: list[np.ndarray] = field(default_factory=list)  # polygons (m, 2)
    num_annotations: int = 0  # people listed in the file, including any without points
    frame_id: int | None = (
        None  # the file's own frame number: 2018 image id, 2017 imgnum; None if absent
    )

    def __len__(self) -> int:
        return len(self.keypoints)


@dataclass
class PoseTrackSequence:
    """A video's frames in file order, read from one PoseTrack JSON file."""

    path: Path
    name: str
    layout: str  # "posetrack17" or "posetrack18"
    frames: list[PoseTrackFrame]

    def __len__(self) -> int:
        return len(self.frames)

    def __iter__(self) -> Iterator[PoseTrackFrame]:
        return iter(self.frames)


def _unknown_people(n: int) -> dict[str, np.ndarray]:
    """Arrays for n people with nothing known (all joints unlabelled, boxes nan)."""
    return {
        "keypoints": np.zeros((n, NUM_JOINTS, 3)),
        "labelled": np.zeros((n, NUM_JOINTS), dtype=bool),
        "joint_scores": np.full((n, NUM_JOINTS), np.nan),
        "track_ids": np.full(n, NO_TRACK_ID, dtype=np.int64),
        "head_boxes": np.full((n, 4), np.nan),
        "boxes": np.full((n, 4), np.nan),
        "scores": np.full(n, np.nan),
    }


# ----------------------------------------------------------------------------- reading


def _fail(path: Path, where: str, problem: str) -> DataError:
    return DataError(f"{path}: {where}: {problem}")


def _number(value: Any, path: Path, where: str) -> float:
    """A JSON number (or a one-element list of one, as 2017 files store scalars)."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(path, where, f"expected a number, got {value!r}"[:200])
    return float(value)


def _track_id(value: Any, path: Path, where: str) -> int:
    number = _number(value, path, where)
    if number != int(number) or number < 0:
        raise _fail(path, where, f"expected a non-negative integer track id, got {number}")
    return int(number)


def _frame_index(file_name: str, position: int) -> int:
    """The frame number in the file name's stem (PoseTrack names frames by it) or the position."""
    base = os.path.basename(file_name)
    if "." in base.lstrip("."):  # os.path.splitext's rule, without its cost per frame
        base = base[: base.rfind(".")]
    stem = base.split("_")[0]
    return int(stem) if stem.isdigit() else position


def _polygons_2018(image: dict, path: Path, where: str) -> list[np.ndarray]:
    xs, ys = image.get("ignore_regions_x") or [], image.get("ignore_regions_y") or []
    if not xs and not ys and isinstance(xs, list) and isinstance(ys, list):
        return []
    if not isinstance(xs, list) or not isinstance(ys, list) or len(xs) != len(ys):
        raise _fail(path, f"{where}.ignore_regions_x/_y", "expected two lists of equal length")
    polygons = []
    for r, (px, py) in enumerate(zip(xs, ys)):
        try:
            poly = np.array([px, py], dtype=np.float64).T
        except (TypeError, ValueError):
            raise _fail(
                path, f"{where}.ignore_regions_x[{r}]", "expected lists of numbers"
            ) from None
        if poly.ndim != 2 or poly.shape[1] != 2:
            raise _fail(path, f"{where}.ignore_regions_x[{r}]", "x and y lists differ in length")
        polygons.append(poly)
    return polygons


def _slot_map_2018(data: dict, path: Path) -> np.ndarray:
    """For each keypoint triple of an annotation, its PoseTrack-2018 slot (-1: not evaluated)."""
    categories = data.get("categories")
    if not categories:
        return np.arange(NUM_JOINTS)
    if not isinstance(categories, list):
        problem = f"expected a list of category objects, got {_kind(categories)}"
        raise _fail(path, "categories", problem)
    if not isinstance(categories[0], dict):
        problem = f"expected an object with 'keypoints', got {categories[0]!r}"[:200]
        raise _fail(path, "categories[0]", problem)
    names = categories[0].get("keypoints")
    if not isinstance(names, list) or len(names) not in (15, 17):
        raise _fail(path, "categories[0].keypoints", "expected a list of 15 or 17 joint names")
    unknown = [n for n in names if n not in POSETRACK18_NAMES]
    if unknown or len(set(names)) != len(names):
        problem = f"unknown joint names {unknown[:4]}" if unknown else "repeated joint names"
        raise _fail(
            path,
            "categories[0].keypoints",
            f"{problem}; expected PoseTrack names: {', '.join(POSETRACK18_NAMES)}",
        )
    return np.array([POSETRACK18_NAMES.index(n) for n in names])


def _kind(value: Any) -> str:
    """The JSON name of a parsed value's type, for messages."""
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    return names.get(type(value), "null" if value is None else "a number")


def _check_ids(ids: list, path: Path, where: str) -> None:
    """Image ids (images[*].id, annotations[*].image_id) must be integers or strings: a list
    or an object cannot name a frame. `where` is the field with {} for the entry's index."""
    if set(map(type, ids)) <= {int, str}:
        return
    k = next(k for k, v in enumerate(ids) if type(v) not in (int, str))
    problem = f"expected an integer image id, got {_kind(ids[k])}: {ids[k]!r}"[:200]
    raise _fail(path, where.format(k), problem)


def _image_ids(images: list, path: Path) -> list:
    """Each image's id, checked: an object with an id, an integer or string, none repeated
    (two frames with one id could not tell whose people are whose)."""
    for i, image in enumerate(images):
        if not isinstance(image, dict):
            raise _fail(path, f"images[{i}]", f"expected an object, got {_kind(image)}")
        if "id" not in image:
            raise _fail(path, f"images[{i}].id", "missing")
    ids = [image["id"] for image in images]
    _check_ids(ids, path, "images[{}].id")
    if len(set(ids)) != len(ids):
        first: dict = {}
        for i, image_id in enumerate(ids):
            if image_id in first:
                raise _fail(
                    path,
                    f"images[{i}].id",
                    f"image id {image_id!r} is also the id of images[{first[image_id]}]; "
                    "each frame needs its own id",
                )
            first[image_id] = i
    return ids


def _read_2018(data: dict, path: Path) -> list[PoseTrackFrame]:
    images, annotations = data.get("images"), data.get("annotations", [])
    for name, value in (("images", images), ("annotations", annotations)):
        if not isinstance(value, list):
            raise _fail(path, name, f"expected a list, got {_kind(value)}")
    image_ids = _image_ids(images, path)
    people = _people_2018(annotations, _slot_map_2018(data, path), path)
    by_image: dict[Any, list[int]] = {}
    for a, ann in enumerate(annotations):
        by_image.setdefault(ann["image_id"], []).append(a)
    position = {image_id: i for i, image_id in enumerate(image_ids)}
    unplaced = [ids for image_id, ids in by_image.items() if image_id not in position]
    if unplaced:
        a = min(ids[0] for ids in unplaced)
        raise _fail(
            path,
            f"annotations[{a}].image_id",
            f"{annotations[a]['image_id']!r} is the id of no entry in images "
            f"({sum(map(len, unplaced))} of {len(annotations)} annotations name no image, "
            "so they cannot be placed on a frame)",
        )
    # Sort the people by image, so that each frame's arrays are slices (views) instead of one
    # fancy-indexed copy per frame.
    where_image = [position[image_id] for image_id in by_image]
    order = np.array(
        [a for _, ids in sorted(zip(where_image, by_image.values())) for a in ids],
        dtype=np.int64,
    )
    people = {key: value[order] for key, value in people.items()}
    counts = np.zeros(len(images), dtype=np.int64)
    for k, ids in zip(where_image, by_image.values()):
        counts[k] = len(ids)
    bounds = np.r_[0, np.cumsum(counts)].tolist()
    frames = []
    for i, image in enumerate(images):
        where = f"images[{i}]"
        file_name = image.get("file_name")
        if not isinstance(file_name, str):
            raise _fail(path, f"{where}.file_name", f"expected a string, got {file_name!r}")
        span = slice(bounds[i], bounds[i + 1])
        image_id = image_ids[i] if isinstance(image_ids[i], int) else None
        frames.append(
            PoseTrackFrame(
                file_name=file_name,
                frame_index=_frame_index(file_name, i),
                image_id=image_id,
                frame_id=image_id,
                is_labeled=bool(image.get("is_labeled", True)),
                ignore_regions=_polygons_2018(image, path, where),
                num_annotations=int(counts[i]),
                **{key: value[span] for key, value in people.items()},
            )
        )
    return frames


def _rows(
    values: list, width: int, path: Path, field_name: str, fill: float = np.nan
) -> np.ndarray:
    """(N, width) float array from per-annotation lists (None -> fill); names the bad entry."""
    types = set(map(type, values))
    if types == {type(None)}:
        return np.full((len(values), width), fill)
    rows = [[fill] * width if v is None else v for v in values] if None in values else values
    try:
        if types <= {list, type(None)} and set(map(len, rows)) == {width}:
            flat = itertools.chain.from_iterable(rows)
            return np.fromiter(flat, np.float64, count=len(rows) * width).reshape(-1, width)
        out = np.array(rows, dtype=np.float64)
        if out.shape == (len(rows), width):
            return out
    except (TypeError, ValueError):
        pass
    for a, row in enumerate(rows):
        try:
            ok = np.array(row, dtype=np.float64).shape == (width,)
        except (TypeError, ValueError):
            ok = False
        if not ok:
            got = f"a list of {len(row)}: " if isinstance(row, list) else ""
            problem = f"expected {width} numbers, got {got}{row!r}"[:200]
            raise _fail(path, f"annotations[{a}].{field_name}", problem)
    raise _fail(path, f"annotations[*].{field_name}", "malformed")  # unreachable in practice


_MISSING = object()


def _people_2018(annotations: list, slots: np.ndarray, path: Path) -> dict[str, np.ndarray]:
    """All annotations of a file as PoseTrackFrame arrays, converted in one go."""
    n, width = len(annotations), len(slots)
    out = _unknown_people(n)
    for a, ann in enumerate(annotations):
        if not isinstance(ann, dict):
            raise _fail(path, f"annotations[{a}]", f"expected an object, got {_kind(ann)}")
        if "image_id" not in ann:
            raise _fail(path, f"annotations[{a}].image_id", "missing")
    _check_ids([ann["image_id"] for ann in annotations], path, "annotations[{}].image_id")
    if not n:
        return out
    kps = [ann.get("keypoints") for ann in annotations]
    # poseval treats an empty list of scores as "no scores"
    scores = [ann.get("scores") or None for ann in annotations]
    track_ids = [ann.get("track_id", _MISSING) for ann in annotations]
    if all(type(t) is int and t >= 0 or t is _MISSING for t in track_ids):
        out["track_ids"][:] = [NO_TRACK_ID if t is _MISSING else t for t in track_ids]
    else:
        for a, ann in enumerate(annotations):
            if "track_id" in ann:
                out["track_ids"][a] = _track_id(ann["track_id"], path, f"annotations[{a}].track_id")
    person_scores = [ann.get("score") for ann in annotations]
    if all(type(v) is float or v is None for v in person_scores):
        out["scores"][:] = [np.nan if v is None else v for v in person_scores]
    else:
        for a, value in enumerate(person_scores):
            if value is not None:
                out["scores"][a] = _number(value, path, f"annotations[{a}].score")
    for a, kp in enumerate(kps):
        if not isinstance(kp, list):
            problem = f"expected a list of {width * 3} numbers, got {kp!r}"[:200]
            raise _fail(path, f"annotations[{a}].keypoints", problem)
    kp = _rows(kps, width * 3, path, "keypoints").reshape(n, width, 3)
    keep = slots >= 0
    out["keypoints"][:, slots[keep]] = kp[:, keep]
    # poseval converts 2018 to 2017 and drops only points stored as exactly (0, 0, 0).
    out["labelled"][:, slots[keep]] = ~np.all(kp[:, keep] == 0, axis=2)
    out["joint_scores"][:, slots[keep]] = _rows(scores, width, path, "scores")[:, keep]
    for key, name in (("head_boxes", "bbox_head"), ("boxes", "bbox")):
        values = [ann.get(name) for ann in annotations]
        out[key] = xywh_to_xyxy(_rows(values, 4, path, name))
    return out


def _read_2017(data: dict, path: Path) -> list[PoseTrackFrame]:
    annolist = data["annolist"]
    if not isinstance(annolist, list):
        raise _fail(path, "annolist", "expected a list")
    frames, people, spans = [], [], []
    for i, entry in enumerate(annolist):
        where = f"annolist[{i}]"
        try:
            file_name = entry["image"][0]["name"]
        except (KeyError, IndexError, TypeError):
            raise _fail(path, f"{where}.image[0].name", "missing") from None
        rects = entry.get("annorect") or []
        if not isinstance(rects, list):
            raise _fail(path, f"{where}.annorect", "expected a list")
        # poseval drops people without an "annopoints" entry holding a "point" list.
        start = len(people)
        people += [
            (f"{where}.annorect[{r}]", rect) for r, rect in enumerate(rects) if _has_points(rect)
        ]
        spans.append((start, len(people)))
        imgnum = entry.get("imgnum")
        index = int(_number(imgnum, path, f"{where}.imgnum")) - 1 if imgnum is not None else None
        frames.append(
            dict(
                file_name=file_name,
                frame_index=index if index is not None else _frame_index(file_name, i),
                frame_id=None if index is None else index + 1,
                is_labeled=_is_labeled_2017(entry.get("is_labeled")),
                ignore_regions=_polygons_2017(entry, path, where),
                num_annotations=len(rects),
            )
        )
    arrays = _people_2017(people, path)
    return [
        PoseTrackFrame(**meta, **{key: value[start:end] for key, value in arrays.items()})
        for meta, (start, end) in zip(frames, spans)
    ]


def _is_labeled_2017(value: Any) -> bool:
    if isinstance(value, list):
        return bool(value[0]) if value else True
    return True if value is None else bool(value)


def _has_points(rect: Any) -> bool:
    ap = rect.get("annopoints") if isinstance(rect, dict) else None
    return isinstance(ap, list) and len(ap) > 0 and isinstance(ap[0], dict) and "point" in ap[0]


def _points_2017_checked(points: Any, path: Path, where: str) -> list[tuple[float, ...]]:
    """(id, x, y, score, visibility) per point with an id, validating each value."""
    if not isinstance(points, list):
        raise _fail(path, f"{where}.annopoints[0].point", "expected a list")
    rows = []
    for k, point in enumerate(points):
        pwhere = f"{where}.annopoints[0].point[{k}]"
        if not isinstance(point, dict):
            raise _fail(path, pwhere, "expected an object")
        if point.get("id") is None:
            continue  # poseval skips points without an id
        jid = _number(point["id"], path, f"{pwhere}.id")
        x, y = (
            _number(point.get("x"), path, f"{pwhere}.x"),
            _number(point.get("y"), path, f"{pwhere}.y"),
        )
        score = (
            _number(point["score"], path, f"{pwhere}.score")
            if point.get("score") is not None
            else np.nan
        )
        vis = point.get("is_visible")
        vis = 1.0 if vis is None else _number(vis, path, f"{pwhere}.is_visible")
        rows.append((jid, x, y, score, vis))
    return rows


def _people_2017(people: list[tuple[str, dict]], path: Path) -> dict[str, np.ndarray]:
    """All posed annorects of a file as PoseTrackFrame arrays, points converted in one go."""
    out = _unknown_people(len(people))
    rows: list[tuple] = []
    for p, (where, rect) in enumerate(people):
        points = rect["annopoints"][0]["point"] or []
        try:  # fast path for well-formed points; the checked path names what is wrong
            rows += [
                (
                    p,
                    q["id"][0],
                    q["x"][0],
                    q["y"][0],
                    q["score"][0] if "score" in q else np.nan,
                    q["is_visible"][0] if "is_visible" in q else 1.0,
                )
                for q in points
                if q["id"] is not None
            ]
        except (KeyError, IndexError, TypeError):
            rows += [(p,) + row for row in _points_2017_checked(points, path, where)]
        if "track_id" in rect:
            out["track_ids"][p] = _track_id(rect["track_id"], path, f"{where}.track_id")
        if all(rect.get(k) is not None for k in ("x1", "y1", "x2", "y2")):
            out["head_boxes"][p] = [
                _number(rect[k], path, f"{where}.{k}") for k in ("x1", "y1", "x2", "y2")
            ]
        if rect.get("score") is not None:
            out["scores"][p] = _number(rect["score"], path, f"{where}.score")
    try:
        table = np.array(rows, dtype=np.float64).reshape(-1, 6)
    except (TypeError, ValueError):
        for where, rect in people:  # find and name the bad value
            _points_2017_checked(rect["annopoints"][0]["point"] or [], path, where)
        raise _fail(path, "annolist", "malformed points") from None
    ids = table[:, 1]
    table = table[(ids >= 0) & (ids <= 14) & (ids == np.floor(ids))]  # poseval looks up ids 0-14
    # poseval uses the first point with a given id
    _, first = np.unique(table[:, 0] * 15 + table[:, 1], return_index=True)
    table = table[np.sort(first)]
    person, slot = table[:, 0].astype(np.int64), PT17_TO_PT18[table[:, 1].astype(np.int64)]
    score = table[:, 4]
    third = np.where(np.isnan(score), table[:, 5], score)  # score for predictions, else visibility
    out["keypoints"][person, slot] = np.stack([table[:, 2], table[:, 3], third], axis=1)
    out["labelled"][person, slot] = True
    out["joint_scores"][person, slot] = score
    return out


def _polygons_2017(entry: dict, path: Path, where: str) -> list[np.ndarray]:
    regions = entry.get("ignore_regions") or []
    polygons = []
    for r, region in enumerate(regions):
        rwhere = f"{where}.ignore_regions[{r}].point"
        points = region.get("point") if isinstance(region, dict) else None
        if not isinstance(points, list):
            raise _fail(path, rwhere, "expected a list of points")
        xy = []
        for k, q in enumerate(points):
            if not isinstance(q, dict):
                raise _fail(path, f"{rwhere}[{k}]", "expected an object with x and y")
            x = _number(q.get("x"), path, f"{rwhere}[{k}].x")
            xy.append((x, _number(q.get("y"), path, f"{rwhere}[{k}].y")))
        polygons.append(np.array(xy, dtype=np.float64).reshape(-1, 2))
    return polygons


class _NonFinite(str):
    """Stands for a NaN or Infinity read from a file until its place is found and reported."""


def _find_non_finite(value: Any, where: str) -> Iterator[tuple[str, str]]:
    """(place, literal) of each NaN/Infinity in parsed JSON, e.g. annotations[3].keypoints[5]."""
    if isinstance(value, _NonFinite):
        yield where, str(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _find_non_finite(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list):
        for k, item in enumerate(value):
            yield from _find_non_finite(item, f"{where}[{k}]")


def read_posetrack(path: str | Path) -> PoseTrackSequence:
    """Read a PoseTrack 2017 or 2018 JSON file (layout detected from its keys)."""
    path = Path(path)
    non_finite: list[str] = []
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(
                f, parse_constant=lambda name: non_finite.append(name) or _NonFinite(name)
            )
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a folder, expected a JSON file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not valid JSON: {exc}") from None
    if non_finite:
        where, value = next(_find_non_finite(data, ""))
        raise _fail(path, where or "top level", f"{value} is not a finite number")
    if not isinstance(data, dict):
        raise _fail(path, "top level", "expected a JSON object")
    if "annolist" in data:
        layout, frames = "posetrack17", _read_2017(data, path)
    elif "images" in data:
        layout, frames = "posetrack18", _read_2018(data, path)
    else:
        raise _fail(
            path, "top level", "neither 'annolist' (PoseTrack 2017) nor 'images' (PoseTrack 2018)"
        )
    return PoseTrackSequence(path=path, name=path.stem, layout=layout, frames=frames)


# ----------------------------------------------------------------------------- writing


def base_name(file_name: str) -> str:
    """Last path component of a frame's file name, written with / or \\ separators: how
    frames of two files (ground truth and predictions, a video and its poses) are matched."""
    return file_name.replace("\\", "/").rsplit("/", 1)[-1]


def _video_number(video_name: str) -> int | None:
    match = re.match(r"\d+", video_name)
    return int(match.group()) if match else None


def _as_people(keypoints, track_ids, boxes, scores) -> tuple[np.ndarray, ...]:
    """Arrays to write, with no NaN/Infinity left (JSON has none): a joint with a non-finite
    coordinate becomes (0, 0, 0), i.e. unlabelled; non-finite scores and boxes become 0."""
    kp = np.asarray(keypoints, dtype=np.float64).reshape(-1, NUM_JOINTS, 3).copy()
    n = len(kp)
    ids = np.asarray(track_ids, dtype=np.int64).reshape(n)
    bx = np.nan_to_num(
        np.asarray(boxes, dtype=np.float64).reshape(n, 4), nan=0.0, posinf=0.0, neginf=0.0
    )
    sc = np.nan_to_num(
        np.asarray(scores, dtype=np.float64).reshape(n), nan=0.0, posinf=0.0, neginf=0.0
    )
    kp[~np.isfinite(kp[..., :2]).all(axis=2)] = 0.0
    kp[..., 2] = np.nan_to_num(kp[..., 2], nan=0.0, posinf=0.0, neginf=0.0)
    return kp, ids, bx, sc


def _r(value: float) -> float:
    return round(float(value), 3)


class _StreamingJsonWriter:
    """Appends entries to temp files next to `path`, one per part of the output (PARTS);
    close() joins them and renames atomically."""

    PARTS: tuple[str, ...] = ("frames",)

    def __init__(self, path: str | Path, video_name: str) -> None:
        self.path = Path(path)
        self.video_name = video_name
        self.video_number = _video_number(video_name)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._parts = [self.path.with_name(f".{self.path.name}.{k}.part") for k in self.PARTS]
        self._files = [open(p, "w", encoding="utf-8") for p in self._parts]
        self.num_frames = 0
        self.num_people = 0
        self.closed = False

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()  # also after an exception: what was written so far becomes a valid file

    def close(self) -> None:
        """Join the parts into `path` (atomically, through posenet.files) and remove them."""
        if self.closed:
            return
        self.closed = True
        for f in self._files:
            f.close()
        try:
            with atomic_open(self.path) as out:
                self._join(out)
        finally:
            for p in self._parts:
                p.unlink(missing_ok=True)

    def add_frame(self, file_name: str, frame_index: int, *people: np.ndarray) -> None:
        """Append one frame. `people`: keypoints (n, 17, 3) in PoseTrack-2018 slots, track ids
        (n,), boxes (n, 4) xyxy and person scores (n,)."""
        self._write_frame(file_name, frame_index, *self._start_frame(frame_index, *people))

    def _write_frame(self, file_name: str, frame_index: int, kp, ids, bx, sc) -> None:
        raise NotImplementedError

    def _start_frame(self, frame_index, keypoints, track_ids, boxes, scores) -> tuple:
        """Checked, finite people arrays of a new frame (see _as_people); counts the frame."""
        self._check_open()
        kp, ids, bx, sc = _as_people(keypoints, track_ids, boxes, scores)
        if len(np.unique(ids)) != len(ids):
            raise ValueError(
                f"{self.path}: frame {frame_index}: duplicate track ids {ids.tolist()}"
            )
        self.num_frames += 1
        return kp, ids, bx, sc

    def abort(self) -> None:
        """Drop everything added (e.g. a run that tracked no frame): `path` is left as it was."""
        if self.closed:
            return
        self.closed = True
        for f in self._files:
            f.close()
        for p in self._parts:
            p.unlink(missing_ok=True)

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError(f"{self.path}: writer is closed")

    def _lines(self, k: int) -> Iterator[str]:
        with open(self._parts[k], encoding="utf-8") as f:
            for line in f:
                yield line.rstrip("\n")

    def _join(self, out) -> None:
        raise NotImplementedError


class PoseTrack18Writer(_StreamingJsonWriter):
    """Writes one video's tracks as PoseTrack 2018 JSON, streamed frame by frame.

    Image ids are 10000000000 + video_number * 10000 + frame_index when the video name starts
    with a number (PoseTrack's rule), otherwise 1, 2, 3, ... in the order frames are added.
    """

    PARTS = ("frames", "people")  # the "images" and "annotations" lists

    def _write_frame(self, file_name: str, frame_index: int, kp, ids, bx, sc) -> None:
        if self.video_number is not None:
            image_id = IMAGE_ID_BASE + self.video_number * IMAGE_ID_VIDEO_STRIDE + int(frame_index)
        else:
            image_id = self.num_frames
        image = {
            "file_name": file_name,
            "id": image_id,
            "frame_id": image_id,
            "frame_index": int(frame_index),
            "vid_id": self.video_name,
            "is_labeled": True,
            "has_no_densepose": True,
        }
        self._files[0].write(json.dumps(image) + "\n")
        for k in range(len(kp)):
            self.num_people += 1
            x1, y1, x2, y2 = bx[k]
            ann = {
                "id": self.num_people,
                "image_id": image_id,
                "category_id": 1,
                "track_id": int(ids[k]),
                "keypoints": [_r(v) for v in kp[k].ravel()],
                "scores": [_r(v) for v in kp[k, :, 2]],
                "bbox": [_r(x1), _r(y1), _r(x2 - x1), _r(y2 - y1)],
                "score": _r(sc[k]),
            }
            self._files[1].write(json.dumps(ann) + "\n")
        for f in self._files:
            f.flush()

    def _join(self, out) -> None:
        out.write('{"images": [')
        for i, line in enumerate(self._lines(0)):
            image = json.loads(line)
            image["nframes"] = self.num_frames
            out.write((",\n" if i else "\n") + json.dumps(image))
        out.write('\n], "annotations": [')
        for i, line in enumerate(self._lines(1)):
            out.write((",\n" if i else "\n") + line)
        out.write('\n], "categories": [' + json.dumps(POSETRACK18_CATEGORY) + "]}\n")


class PoseTrack17Writer(_StreamingJsonWriter):
    """Writes one video's tracks as PoseTrack 2017 annolist JSON (joint ids 0-14), streamed.

    x1/y1/x2/y2 of each annorect hold the person box, as in poseval's prediction example; joints
    stored as (0, 0, score 0) are left out (unlabelled).
    """

    def _write_frame(self, file_name: str, frame_index: int, kp, ids, bx, sc) -> None:
        kp17 = kp[:, PT17_TO_PT18]
        rects = []
        for k in range(len(kp)):
            points = [
                {"id": [j], "x": [_r(x)], "y": [_r(y)], "score": [_r(s)]}
                for j, (x, y, s) in enumerate(kp17[k])
                if not (x == 0 and y == 0 and s == 0)
            ]
            x1, y1, x2, y2 = bx[k]
            rects.append(
                {
                    "x1": [_r(x1)],
                    "y1": [_r(y1)],
                    "x2": [_r(x2)],
                    "y2": [_r(y2)],
                    "score": [_r(sc[k])],
                    "track_id": [int(ids[k])],
                    "annopoints": [{"point": points}],
                }
            )
        entry = {
            "image": [{"name": file_name}],
            "imgnum": [int(frame_index) + 1],
            "annorect": rects,
        }
        self._files[0].write(json.dumps(entry) + "\n")
        self._files[0].flush()

    def _join(self, out) -> None:
        out.write('{"annolist": [')
        for i, line in enumerate(self._lines(0)):
            out.write((",\n" if i else "\n") + line)
        out.write("\n]}\n")
