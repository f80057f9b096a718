#!/usr/bin/env bash
# Installed-package check: build a wheel of the project, install it (not editable) into a fresh
# folder, and run a tool from another directory against that copy and the configs it ships.
# Reuses the project's .venv for the dependencies (torch etc.): the wheel goes into its own
# folder on PYTHONPATH, which comes before the editable install on sys.path.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
py="${PYTHON:-$repo/.venv/bin/python}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

build=()
if "$py" -c "import setuptools" 2>/dev/null; then
    build=(--no-build-isolation)  # no download of a build backend when the venv has one
fi
# Build from a copy of the source files (tracked and untracked, not ignored), so that no stale
# build/ folder can slip old files into the wheel, and the checkout stays clean.
mkdir "$tmp/src"
(cd "$repo" && git ls-files -z --cached --others --exclude-standard |
    xargs -0 cp --parents -t "$tmp/src")
"$py" -m pip wheel -q --no-deps "${build[@]}" -w "$tmp/wheel" "$tmp/src"
"$py" -m pip install -q --no-deps --no-index --target "$tmp/site" "$tmp"/wheel/*.whl

mkdir "$tmp/run"
cd "$tmp/run"
export PYTHONPATH="$tmp/site"

# The installed copy is the one imported, and it carries its configs.
"$py" - "$repo" "$tmp/site" <<'PY'
import sys
from pathlib import Path

import posenet
import tracker
from posenet.config import resolve_config

repo, site = (Path(p).resolve() for p in sys.argv[1:3])
print("posenet from", posenet.__file__)
for module in (posenet, tracker):
    where = Path(module.__file__).resolve()
    assert site in where.parents, f"{module.__name__} imported from {where}, not {site}"
    assert repo not in where.parents, f"{module.__name__} imported from the repository"
for name in ("configs/tracking/default.yaml", "configs/coco/res50_256x192.yaml"):
    path = resolve_config(name).resolve()
    assert site in path.parents, f"{name} resolved to {path}, not inside {site}"
PY

"$py" "$repo/tools/track_video.py" --help > /dev/null

# Two synthetic frames and the people on them: --poses links given poses into tracks, so no
# detector or pose net is built (the weights named below do not exist).
"$py" - <<'PY'
import json
from pathlib import Path

import cv2
import numpy as np

Path("frames").mkdir()
images, annotations = [], []
for t in range(2):
    cv2.imwrite(f"frames/{t:06d}.png", np.full((120, 160, 3), 40 * t, np.uint8))
    images.append({"id": t + 1, "file_name": f"frames/{t:06d}.png"})
    for x in (40.0, 110.0):
        xy = np.stack([np.linspace(x - 10, x + 10, 17) + 3 * t, np.linspace(20, 100, 17)], 1)
        kp = np.column_stack([xy, np.ones(17)]).ravel().round(2).tolist()
        annotations.append({"image_id": t + 1, "keypoints": kp, "scores": [0.9] * 17})
Path("poses.json").write_text(json.dumps({"images": images, "annotations": annotations}))
PY
"$py" "$repo/tools/track_video.py" frames --poses poses.json --out tracked --device cpu \
    --no-render --pose-weights missing.pth --set tracking.similarity=oks > /dev/null
"$py" - <<'PY'
import json

data = json.load(open("tracked/frames.json"))
frames = data["images"]
ids = sorted({a["track_id"] for a in data["annotations"]})
assert len(frames) == 2 and len(data["annotations"]) == 4 and len(ids) == 2, (frames, ids)
print("installed package: 2 frames, 2 tracks from tools/track_video.py --poses")
PY
