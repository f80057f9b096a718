"""Sources beyond files: a video served over HTTP is tracked like the file itself, JSON lines
come one per frame as tracked, and a URL or camera that is not there is a one-line error."""

from __future__ import annotations

import functools
import http.server
import json
import re
import socket
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import load_tool, shared_file
from tests.tools.test_track_video import CLIP, FAST
from tracker import video as video_module
from tracker.video import FrameReader

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


def test_variable_frame_rate_times_and_stream_in_the_summary(tool, tmp_path):
    from tests.tracker.test_video import write_two_stream_video, write_vfr_video

    video = tmp_path / "phone.mp4"
    write_vfr_video(video, [0.0, 0.04, 0.08, 0.40], width=160, height=120)
    out = tmp_path / "vfr"
    dets = tmp_path / "dets.json"
    dets.write_text(json.dumps([{"image_id": t, "bbox": [2, 2, 20, 20]} for t in range(4)]))
    args = ["--format", "jsonl", "--no-render", "--config", "configs/tracking/iou.yaml", *FAST]
    args += ["--detections", str(dets)]
    assert tool.main([str(video), "--out", str(out), *args]) == 0
    lines = (out / "phone.jsonl").read_text().splitlines()
    assert [json.loads(line)["time"] for line in lines] == [0.0, 0.04, 0.08, 0.4]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["stream"]["index"] == 0 and summary["stream"]["of"] == 1
    assert any("variable frame rate" in note for note in summary["notes"])
    write_two_stream_video(tmp_path / "two.mp4")
    for stream, size in ((None, (64, 48)), (0, (32, 24))):
        out = tmp_path / f"two{stream}"
        more = [] if stream is None else ["--stream", str(stream)]
        assert tool.main([str(tmp_path / "two.mp4"), "--out", str(out), *args, *more]) == 0
        summary = json.loads((out / "summary.json").read_text())
        index = 1 if stream is None else 0
        assert summary["stream"] == {
            "index": index,
            "of": 2,
            "width": size[0],
            "height": size[1],
            "fps": 25.0,
        }
        assert any(f"2 video streams: tracked stream {index}" in n for n in summary["notes"])


class PlainHandler(http.server.SimpleHTTPRequestHandler):
    """Python's own file server: no byte ranges."""

    def log_message(self, *args) -> None:
        pass


def test_mp4_with_index_at_end_from_a_server_without_ranges(tool, tmp_path):
    video = shared_file(DEMO)  # its index (moov) lies after the frames
    handler = functools.partial(PlainHandler, directory=str(video.parent))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_port}/{video.name}"
    try:
        with FrameReader(url) as reader:
            copy = reader._download
            assert copy is not None and copy.is_file()
            assert len(list(reader)) == 5
        assert not copy.exists()  # the temporary copy is gone with the reader
        assert any("downloaded whole" in note for note in reader.notes)
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_server_that_never_answers_is_one_line_error(tool, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(video_module, "NETWORK_TIMEOUT_S", (1.0, 1.0))
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # accepts connections, never says a word
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/x.mp4"
        start = time.monotonic()
        code = tool.run_cli(tool.main, [url, "--out", str(tmp_path / "o"), "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert f"no answer from 127.0.0.1:{url.split(':')[2].split('/')[0]} within 1 s" in err
    assert time.monotonic() - start < 20


def test_detections_of_other_sequences_are_refused(tool, tmp_path, capsys):
    clip = shared_file(CLIP)  # video 1; the file holds videos 3418, 9473 and 12834
    dets = shared_file("mmpose/posetrack18/annotations/test_posetrack18_human_detections.json")
    args = [str(clip), "--out", str(tmp_path / "o"), "--detections", str(dets), *FAST]
    code = tool.run_cli(tool.main, args)
    errors = [line for line in capsys.readouterr().err.splitlines() if "note:" not in line]
    assert code == 2 and len(errors) == 1, errors
    err = errors[0]
    assert f"{dets}: its image ids follow PoseTrack's rule" in err and "video 1:" in err
