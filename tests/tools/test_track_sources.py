"""Sources beyond files: a video served over HTTP is tracked like the file itself, JSON lines
come one per frame as tracked, and a URL or camera that is not there is a one-line error."""

from __future__ import annotations

import http.server
import json
import re
import socket
import threading
from pathlib import Path

import pytest

from tests.conftest import load_tool, shared_file
from tests.tools.test_track_video import FAST

DEMO = "videos/mmpose_demo.mp4"  # 960x540, 5 frames
BOXES = [[100.0, 100.0, 150.0, 300.0], [500.0, 120.0, 160.0, 320.0]]


class RangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves the files of one folder with byte ranges, as web servers do (the demo's index
    is at the end of the file, so the decoder seeks)."""

    root = Path(".")

    def do_GET(self) -> None:
        path = self.root / self.path.lstrip("/")
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        start, end = 0, len(data) - 1
        match = re.match(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        if match:
            start, end = int(match[1]), int(match[2] or end)
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        try:
            self.wfile.write(data[start : end + 1])
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client had read enough

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server():
    """An HTTP server on 127.0.0.1 serving the shared demo video's folder."""
    video = shared_file(DEMO)
    handler = type("Handler", (RangeHandler,), {"root": video.parent})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}/{video.name}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def tool():
    return load_tool("track_video")


@pytest.fixture
def detections(tmp_path):
    entries = [
        {"image_id": t, "category_id": 1, "bbox": [x + 6 * t, y, w, h], "score": 0.9}
        for t in range(5)
        for x, y, w, h in BOXES
    ]
    path = tmp_path / "detections.json"
    path.write_text(json.dumps(entries))
    return path


def test_url_is_tracked_like_the_file(tool, server, detections, tiny_pose_weights, tmp_path):
    common = ["--detections", str(detections), "--no-render", *FAST]
    common += ["--pose-weights", str(tiny_pose_weights)]
    assert tool.main([str(shared_file(DEMO)), "--out", str(tmp_path / "file"), *common]) == 0
    assert tool.main([server, "--out", str(tmp_path / "url"), *common]) == 0
    from_file = (tmp_path / "file" / "mmpose_demo.json").read_text()
    from_url = (tmp_path / "url" / "mmpose_demo.json").read_text()
    assert from_url == from_file
    assert len(json.loads(from_url)["images"]) == 5
    summary = json.loads((tmp_path / "url" / "summary.json").read_text())
    assert summary["source"] == server and summary["complete"] is True


def test_jsonl_has_one_line_per_frame_in_order(tool, detections, tmp_path):
    out = tmp_path / "lines"
    args = [str(shared_file(DEMO)), "--out", str(out), "--format", "jsonl", "--no-render"]
    # A random pose net gives no confident joints to compare: link people by box IoU.
    args += ["--config", "configs/tracking/iou.yaml", "--detections", str(detections)]
    assert tool.main([*args, *FAST]) == 0
    lines = (out / "mmpose_demo.jsonl").read_text().splitlines()
    frames = [json.loads(line) for line in lines]
    assert [f["frame"] for f in frames] == [0, 1, 2, 3, 4]
    assert [f["time"] for f in frames] == [0.0, 0.2, 0.4, 0.6, 0.8]  # 5 fps
    for frame in frames:
        assert len(frame["people"]) == 2
        for person in frame["people"]:
            assert set(person) == {"track_id", "box", "score", "keypoints"}
            assert len(person["keypoints"]) == 17 and len(person["box"]) == 4
    assert {p["track_id"] for f in frames for p in f["people"]} == {0, 1}
    assert not (out / "mmpose_demo.json").exists()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens there once the socket is closed


@pytest.mark.parametrize("source", ["url", "/dev/video99", "7"])
def test_missing_url_or_camera_is_one_line_error(tool, source, tmp_path, capsys):
    if source == "url":
        source = f"http://127.0.0.1:{closed_port()}/x.mp4"
    code = tool.run_cli(tool.main, [source, "--out", str(tmp_path / "o"), "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert source in err
    assert not (tmp_path / "o").exists()
