"""Person boxes replayed from a detection JSON file instead of a network (`detector.replay`,
`--detections`): COCO results or a PoseTrack-like file, matched to frames by file name or by
image-id order."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from posenet.boxes import xywh_to_xyxy
from posenet.errors import DataError
from posenet.posetrack.formats import base_name
from tracker.inputs import InputMatch
from tracker.types import COCO_PERSON, Detections, Frame, empty_detections


def _read_detection_json(path: Path) -> tuple[list[dict], dict[int, str]]:
    """Detection entries and any image-id -> file-name table found in a detection JSON.

    Accepts a COCO-results list ([{image_id, category_id, bbox, score}, ...]) or a COCO-like
    dict with "annotations" (and optionally "images" with id/file_name), as PoseTrack uses.
    Image ids written as numeric strings ("10") become numbers, so they sort as numbers.
    Boxes with zero or negative width or height are dropped: they hold no person.
    """
    if not path.is_file():
        raise DataError(f"{path}: detection file not found")
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(f"{path}: not a readable JSON file ({err})") from None
    names: dict[int, str] = {}
    if isinstance(data, dict):
        for image in data.get("images", []):
            if isinstance(image, dict) and "id" in image and "file_name" in image:
                names[_image_id(image["id"], path, "images[].id")] = image["file_name"]
        data = data.get("annotations")
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a list of detections or a dict with 'annotations'")
    kept = []
    for i, entry in enumerate(data):
        if not isinstance(entry, dict):
            raise DataError(f"{path}: detection [{i}] is not an object")
        for key in ("image_id", "bbox"):
            if key not in entry:
                raise DataError(f"{path}: detection [{i}] has no '{key}'")
        bbox = entry["bbox"]
        if not (isinstance(bbox, list) and len(bbox) == 4 and all(map(_is_finite_number, bbox))):
            raise DataError(
                f"{path}: detection [{i}].bbox must be 4 numbers [x, y, w, h], got {bbox!r}"[:300]
            )
        score = entry.get("score", 1.0)
        if not _is_finite_number(score):
            raise DataError(f"{path}: detection [{i}].score must be a number, got {score!r}"[:300])
        entry = {
            **entry,
            "image_id": _image_id(entry["image_id"], path, f"detection [{i}].image_id"),
        }
        name = entry.get("file_name", entry.get("image_name"))
        if isinstance(name, str):
            names.setdefault(entry["image_id"], name)
        if bbox[2] > 0 and bbox[3] > 0:
            kept.append(entry)
    return kept, names


def _is_finite_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _image_id(value, path: Path, where: str):
    """An image id as what it is: a number (also when written as a numeric string) or a string."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise DataError(f"{path}: {where} must be a number or a string, got {value!r}"[:300])
    return value


def _name_matches(image_name: str, frame_name: str) -> bool:
    """True when the image name is the frame name or ends with it as whole path components."""
    image_name, frame_name = image_name.replace("\\", "/"), frame_name.replace("\\", "/")
    return image_name == frame_name or image_name.endswith("/" + frame_name.lstrip("/"))


class ReplayDetector:
    """Person boxes read from a detection JSON instead of a network.

    Matching rule: when image names are known (entries with "file_name"/"image_name", an
    "images" table in the file, or `image_names` {image_id: file name} from an annotation
    file), a frame is matched by name: an image whose name equals the frame's name or ends
    with "/<frame name>"; if several do, prefix the frame name with its folder. Otherwise
    frame index k gets the k-th smallest image id (so every frame must have an entry; ids
    are the frame order, as in PoseTrack where id = 1VVVVVVFFFF; numeric strings count as
    numbers, and other string ids need names). Only category 1 (person, or entries without a
    category) with score >= score_thr are kept; boxes of zero or negative size are dropped.
    `match` (an InputMatch) says how the file's images lined up with the frames asked for.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        score_thr: float = 0.5,
        image_names: Mapping[int, str] | None = None,
    ) -> None:
        self.path = Path(path)
        self.score_thr = float(score_thr)
        entries, names = _read_detection_json(self.path)
        if image_names:
            names = {
                **names,
                **{_image_id(k, self.path, "image id"): v for k, v in image_names.items()},
            }
        ids = {e["image_id"] for e in entries}
        text_ids = sorted(str(i) for i in ids if isinstance(i, str))
        if text_ids and not names:
            raise DataError(
                f"{self.path}: image ids such as {text_ids[0]!r} are not numbers, so their frame "
                "order is unknown; give each entry a file_name or the file an 'images' table"
            )
        self.image_ids = sorted(ids, key=_sort_key)
        self.image_names = names
        self._by_basename: dict[str, list] = {}
        for image_id, image_name in names.items():
            self._by_basename.setdefault(base_name(image_name), []).append(image_id)
        # The file's frames: every image id it names, with or without boxes.
        self.match = InputMatch("detections", f"detection file {self.path}", {*ids, *names})
        self._by_image: dict = {}
        for e in entries:
            person = e.get("category_id", COCO_PERSON) == COCO_PERSON
            if not person or e.get("score", 1.0) < self.score_thr:
                continue
            self._by_image.setdefault(e["image_id"], []).append(e)

    @property
    def matches_by_name(self) -> bool:
        """Whether frames are matched to image ids by name rather than by order."""
        return bool(self.image_names)

    def image_id(self, frame_index: int, name: str | None = None):
        """The image id that frame `frame_index` (named `name`) is matched to, or None."""
        if self.matches_by_name and name is not None:
            candidates = self._by_basename.get(base_name(name), [])
            hits = [i for i in candidates if _name_matches(self.image_names[i], name)]
            if len(hits) > 1:
                raise DataError(
                    f"{self.path}: frame name {name!r} matches {len(hits)} images "
                    f"({', '.join(sorted(self.image_names[h] for h in hits)[:3])}, ...); "
                    "give the frame name with its folder"
                )
            return hits[0] if hits else None
        if 0 <= frame_index < len(self.image_ids):
            return self.image_ids[frame_index]
        return None

    def detect_frame(
        self, frame_index: int, name: str | None = None, size: tuple[int, int] | None = None
    ) -> Detections:
        """Person boxes (xyxy) and scores of one frame; empty when the file has none for it.
        `size` (width, height) of the frame lets `match` count boxes outside the image."""
        image_id = self.image_id(frame_index, name)
        entries = self._by_image.get(image_id, [])
        if not entries:
            detections = empty_detections()
        else:
            xywh = np.array([e["bbox"] for e in entries], dtype=np.float32)
            # x + w of two float32 done in float64 and rounded back: the float32 sum exactly.
            boxes = xywh_to_xyxy(xywh).astype(np.float32)
            scores = np.array([e.get("score", 1.0) for e in entries], dtype=np.float32)
            order = np.argsort(-scores, kind="stable")
            detections = boxes[order], scores[order]
        self.match.add(image_id, detections[0], size)
        return detections

    def detect(self, frames: Sequence[Frame]) -> list[Detections]:
        """Detections of each frame, matched by its name or index."""
        return [self.detect_frame(f.index, f.name, _size(f.image)) for f in frames]


def _size(image: np.ndarray | None) -> tuple[int, int] | None:
    """(width, height) of an image, None without one."""
    return None if image is None else (image.shape[1], image.shape[0])


def _sort_key(image_id):
    """Order numeric ids numerically and anything else as text."""
    return (0, image_id, "") if isinstance(image_id, (int, float)) else (1, 0, str(image_id))
