"""Person boxes replayed from a detection JSON file instead of a network (`detector.replay`,
`--detections`): COCO results or a PoseTrack-like file, matched to frames by file name, by
PoseTrack's image-id rule, or by image-id order."""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from posenet.boxes import xywh_to_xyxy
from posenet.errors import DataError
from posenet.posetrack.formats import base_name
from tracker.inputs import InputMatch
from tracker.types import COCO_PERSON, Detections, Frame, empty_detections
from tracker.video import frame_number

# PoseTrack image ids: 10000000000 + video number * 10000 + frame number.
POSETRACK_ID_BASE = 10_000_000_000
POSETRACK_VIDEO_STEP = 10_000


def posetrack_id_parts(image_id: object) -> tuple[int, int] | None:
    """(video number, frame number) of an image id that follows PoseTrack's rule, else None."""
    if isinstance(image_id, bool) or not isinstance(image_id, int):
        return None
    if not POSETRACK_ID_BASE <= image_id < 2 * POSETRACK_ID_BASE:
        return None
    return divmod(image_id - POSETRACK_ID_BASE, POSETRACK_VIDEO_STEP)


def video_number(name: str) -> int | None:
    """The video number a PoseTrack name starts with ('012834_mpii_test' -> 12834), else None."""
    digits = re.match(r"\d+", name)
    return int(digits[0]) if digits else None


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
    with "/<frame name>"; if several do, prefix the frame name with its folder. Else, when
    every id follows PoseTrack's rule (1VVVVVVFFFF: video V, frame F), a frame is matched by
    it: V from the video's name (`start_video`; a file of one video needs none), F the number
    in the frame's name (else its index); a video the file does not hold is a DataError.
    Otherwise frame index k gets the k-th smallest image id (so every frame must have an
    entry; numeric strings count as numbers, and other string ids need names). Only category
    1 (person, or entries without a category) with score >= score_thr are kept; boxes of zero
    or negative size are dropped.
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
        # PoseTrack's rule: video number -> {frame number: image id}; None when it does not hold.
        self.videos: dict[int, dict[int, int]] | None = None
        parts = {i: posetrack_id_parts(i) for i in ids}
        if ids and not names and None not in parts.values():
            self.videos = {}
            for image_id, (video, frame) in parts.items():
                self.videos.setdefault(video, {})[frame] = image_id
        self.video: int | None = None  # the video being tracked, when the rule holds
        self._by_image: dict = {}
        for e in entries:
            person = e.get("category_id", COCO_PERSON) == COCO_PERSON
            if not person or e.get("score", 1.0) < self.score_thr:
                continue
            self._by_image.setdefault(e["image_id"], []).append(e)

    def start_video(self, name: str) -> None:
        """Pick the entries of the video named `name` when the ids follow PoseTrack's rule
        (its number leads the name, as in 012834_mpii_test); a file of other videos only, or
        of several when the name has no number, is a DataError naming the file."""
        if self.videos is None:
            return
        number, held = video_number(name), sorted(self.videos)
        if number not in self.videos and not (number is None and len(held) == 1):
            listed = ", ".join(map(str, held[:5])) + (", ..." if len(held) > 5 else "")
            which = f"video {number}" if number is not None else "named without a video number"
            raise DataError(
                f"{self.path}: its image ids follow PoseTrack's rule (1VVVVVVFFFF) for videos "
                f"{listed}, but the input {name!r} is {which}: no detection can be tied to its "
                "frames; give the detection file made for this video"
            )
        self.video = number if number is not None else held[0]
        # Counted afresh per video: the file's other videos are no frames of this one.
        self.match = InputMatch(
            "detections", f"detection file {self.path}", self.videos[self.video].values()
        )

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
        if self.videos is not None:
            return self._posetrack_id(frame_index, name)
        if 0 <= frame_index < len(self.image_ids):
            return self.image_ids[frame_index]
        return None

    def _posetrack_id(self, frame_index: int, name: str | None):
        """The image id of a frame by PoseTrack's rule, None when the file has no entry."""
        if self.video is None:
            if len(self.videos) > 1:
                held = sorted(self.videos)
                listed = ", ".join(map(str, held[:5])) + (", ..." if len(held) > 5 else "")
                raise DataError(
                    f"{self.path}: holds the detections of {len(held)} PoseTrack videos "
                    f"({listed}) and the video tracked was not named, so its frames "
                    "cannot be tied to them"
                )
            self.video = next(iter(self.videos))
        number = frame_number(name) if name else None
        return self.videos[self.video].get(frame_index if number is None else number)

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
