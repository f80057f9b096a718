"""FrameReader / VideoWriter on synthetic videos and folders written here, plus the real
PoseTrack 5-frame sequence (folder of JPEGs and its mp4)."""

from __future__ import annotations

import os
import threading

import av
import cv2
import numpy as np
import pytest

from posenet.errors import DataError
from tests.conftest import shared_file
from tracker.video import FrameReader, display_rotation
from tracker.video_writer import VideoWriter


def write_test_video(path, num_frames, width=64, height=48, faststart=False, seed=0):
    """Encode `num_frames` frames whose mean grey level encodes the frame index (mod 25)."""
    options = {"movflags": "faststart"} if faststart else {}
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 20, (height, width, 3), dtype=np.uint8)
    with av.open(str(path), "w", options=options) as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast"}
        for i in range(num_frames):
            image = noise + np.uint8(10 * (i % 25))
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def write_folder(folder, sizes):
    """JPEG frames 000000.jpg... with the given (w, h) sizes; returns their paths."""
    folder.mkdir()
    paths = []
    for i, (w, h) in enumerate(sizes):
        path = folder / f"{i:06d}.jpg"
        cv2.imwrite(str(path), np.full((h, w, 3), 40 * i, np.uint8))
        paths.append(path)
    return paths


def rss_bytes() -> int:
    """Resident set size of this process (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def reader_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("FrameReader(") and t.is_alive()]


def test_video_frames_and_metadata(tmp_path):
    path = tmp_path / "v.mp4"
    write_test_video(path, 12)
    with FrameReader(path) as reader:
        assert (reader.width, reader.height, reader.fps, reader.num_frames) == (64, 48, 25.0, 12)
        frames = list(reader)
    assert [f.index for f in frames] == list(range(12))
    assert frames[3].name == "000003.jpg"
    assert frames[0].image.shape == (48, 64, 3) and frames[0].image.dtype == np.uint8
    # Frame i has mean grey ~ 10 * i + 9.5 (noise mean); lossy coding keeps it within a few.
    assert abs(frames[5].image.mean() - 59.5) < 4


def test_video_start_end(tmp_path):
    path = tmp_path / "v.mp4"
    write_test_video(path, 12)
    reader = FrameReader(path, start=4, end=7)
    assert reader.num_frames == 3
    frames = list(reader)
    assert [f.index for f in frames] == [4, 5, 6]
    assert abs(frames[0].image.mean() - 49.5) < 4


@pytest.mark.parametrize(
    "start, end, message",
    [
        (0, 0, "bad frame range start=0 end=0"),
        (5, 5, "bad frame range start=5 end=5"),
        (6, 3, "bad frame range start=6 end=3"),
        (12, None, "no frame in the range start=12 end=None: it has 12 frames"),
        (20, 30, "no frame in the range start=20 end=30: it has 12 frames"),
    ],
)
def test_empty_ranges_fail_when_opened(tmp_path, start, end, message):
    """An empty range is an error before any frame is read (the length is known here)."""
    video = tmp_path / "v.mp4"
    write_test_video(video, 12)
    folder = tmp_path / "seq"
    folder.mkdir()
    for i in range(12):
        cv2.imwrite(str(folder / f"{i:06d}.png"), np.full((6, 8, 3), 10 * i, np.uint8))
    for source in (video, folder):
        with pytest.raises(DataError, match=f"{source.name}: {message}"):
            FrameReader(source, start=start, end=end)
    assert not reader_threads()


def test_memory_flat_over_10000_frames(tmp_path):
    path = tmp_path / "long.mkv"
    write_test_video(path, 10_000)
    samples = {}
    count = 0
    with FrameReader(path, queue_size=8) as reader:
        for frame in reader:
            count += 1
            if frame.index in (999, 9_999):
                samples[frame.index] = rss_bytes()
    assert count == 10_000
    # Holding every frame would add 10,000 * 64*48*3 = 92 MB; a bounded queue adds nothing.
    assert samples[9_999] - samples[999] < 8 * 2**20


def test_early_stop_ends_thread(tmp_path):
    path = tmp_path / "v.mp4"
    write_test_video(path, 200)
    reader = FrameReader(path, queue_size=2)
    for frame in reader:
        if frame.index == 3:
            break
    # Leaving the loop finalises the iterator, which stops the decoder (no close() needed).
    assert reader_threads() == []
    with FrameReader(path, queue_size=2) as reader:
        next(iter(reader))
    assert reader_threads() == []


def test_truncated_video_yields_good_frames_then_error(tmp_path):
    full = tmp_path / "full.mp4"
    write_test_video(full, 40, faststart=True)
    data = full.read_bytes()
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(data[: len(data) // 2])
    got = []
    with pytest.raises(DataError, match=r"broken\.mp4.*frame (\d+)") as info:
        for frame in FrameReader(broken):
            got.append(frame.index)
    assert 0 < len(got) < 40
    assert got == list(range(len(got)))
    assert f"frame {len(got)}" in str(info.value)
    assert reader_threads() == []


def test_folder_frames(tmp_path):
    write_folder(tmp_path / "seq", [(40, 30)] * 4)
    (tmp_path / "seq" / "notes.txt").write_text("not a frame")
    reader = FrameReader(tmp_path / "seq", start=1)
    assert (reader.width, reader.height, reader.num_frames) == (40, 30, 3)
    frames = list(reader)
    assert [(f.index, f.name) for f in frames] == [(i, f"00000{i}.jpg") for i in (1, 2, 3)]
    assert abs(frames[1].image.mean() - 80) < 3


def test_folder_without_zero_padding_reads_in_frame_order(tmp_path):
    folder = tmp_path / "seq"
    folder.mkdir()
    for i in (1, 2, 10, 11, 3):
        cv2.imwrite(str(folder / f"frame{i}.png"), np.full((8, 8, 3), 20 * i, np.uint8))
    reader = FrameReader(folder)
    assert reader.unpadded_names is True
    frames = list(reader)
    assert [f.name for f in frames] == [f"frame{i}.png" for i in (1, 2, 3, 10, 11)]
    assert [int(f.image[0, 0, 0]) for f in frames] == [20, 40, 60, 200, 220]
    write_folder(tmp_path / "padded", [(8, 8)] * 3)
    assert FrameReader(tmp_path / "padded").unpadded_names is False


def test_display_rotation_turns_like_a_player():
    image = np.zeros((2, 3), np.uint8)
    image[0, 0] = 1  # top-left pixel of a 3-wide, 2-high frame
    assert display_rotation(image, 0) is image
    clockwise = display_rotation(image, -90)  # PyAV's -90: the player turns it clockwise
    assert clockwise.shape == (3, 2) and clockwise[0, 1] == 1
    assert display_rotation(image, 90)[2, 0] == 1 and display_rotation(image, 180)[1, 2] == 1
    assert display_rotation(image, 270)[0, 1] == 1


def test_video_with_rotation_metadata_is_read_upright(tmp_path):
    path = tmp_path / "phone.mp4"
    image = np.zeros((16, 32, 3), np.uint8)
    image[:, :8] = 255  # white left stripe; shown turned clockwise it is the top
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=5)
        stream.width, stream.height, stream.pix_fmt = 32, 16, "yuv420p"
        stream.set_display_rotation(-90)  # a phone's "rotate=90" tag: shown turned clockwise
        for i in range(2):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    reader = FrameReader(path)
    assert (reader.width, reader.height, reader.rotation) == (16, 32, 270)
    frames = list(reader)
    assert len(frames) == 2 and frames[0].image.shape == (32, 16, 3)
    assert frames[0].image[:6].mean() > 200 and frames[0].image[10:].mean() < 40


def test_folder_changing_size_names_file_and_sizes(tmp_path):
    write_folder(tmp_path / "seq", [(40, 30), (40, 30), (42, 30)])
    got = []
    with pytest.raises(DataError, match=r"000002\.jpg.*42x30.*40x30"):
        for frame in FrameReader(tmp_path / "seq"):
            got.append(frame.index)
    assert got == [0, 1]


@pytest.mark.parametrize("kind", ["missing", "empty_folder", "not_video"])
def test_bad_sources(tmp_path, kind):
    if kind == "missing":
        source = tmp_path / "nope.mp4"
    elif kind == "empty_folder":
        source = tmp_path / "empty"
        source.mkdir()
    else:
        source = tmp_path / "junk.mp4"
        source.write_bytes(b"this is not a video" * 20)
    with pytest.raises(DataError, match=source.name):
        FrameReader(source)


def test_writer_odd_size_round_trip(tmp_path):
    path = tmp_path / "out.mp4"
    h, w = 37, 51
    rng = np.random.default_rng(1)
    with VideoWriter(path, fps=10, width=w, height=h) as writer:
        for i in range(7):
            noise = rng.integers(0, 5, (h, w, 3), dtype=np.uint8)
            writer.write(np.full((h, w, 3), 30 * i, np.uint8) + noise)
    assert path.exists() and [p.name for p in tmp_path.iterdir()] == ["out.mp4"]
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    assert len(frames) == 7
    assert frames[0].shape == (h + 1, w + 1, 3)  # padded to even for yuv420p
    assert abs(frames[4][:h, :w].mean() - 122) < 4
    # FrameReader reads our own output back too.
    assert [f.index for f in FrameReader(path)] == list(range(7))


def test_writer_is_atomic(tmp_path):
    path = tmp_path / "out.mp4"
    writer = VideoWriter(path, fps=25, width=16, height=16)
    writer.write(np.zeros((16, 16, 3), np.uint8))
    assert not path.exists()
    writer.abort()
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(DataError, match="16x16x3"):
        VideoWriter(path, fps=25, width=16, height=16).write(np.zeros((8, 8, 3), np.uint8))


def test_posetrack_sequence_folder_and_video_agree():
    folder = shared_file("mmpose/posetrack18/videos/000001_mpiinew_test")
    video = folder / "000001_mpiinew_test.mp4"
    from_folder = list(FrameReader(folder))
    from_video = list(FrameReader(video))
    assert [f.name for f in from_folder] == [f"{i:06d}.jpg" for i in range(5)]
    assert len(from_video) == 5
    assert from_folder[0].image.shape == from_video[0].image.shape == (720, 1280, 3)
    # Same content, two lossy codings: mean absolute difference stays small.
    diff = np.abs(from_folder[2].image.astype(int) - from_video[2].image.astype(int)).mean()
    assert diff < 12


def write_vfr_video(path, times, width=64, height=48):
    """Frames shown at `times` (seconds), each with its pts set explicitly, as phones write."""
    from fractions import Fraction

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = stream.codec_context.time_base = Fraction(1, 1000)
        stream.options = {"preset": "ultrafast"}
        for i, t in enumerate(times):
            frame = av.VideoFrame.from_ndarray(np.full((height, width, 3), 40 * i, np.uint8))
            frame.pts, frame.time_base = round(t * 1000), Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def test_variable_frame_rate_gives_presentation_times(tmp_path):
    path = tmp_path / "phone.mp4"
    write_vfr_video(path, [0.0, 0.04, 0.08, 0.40, 0.44])
    with FrameReader(path) as reader:
        times = [f.time for f in reader]
    assert times == pytest.approx([0.0, 0.04, 0.08, 0.40, 0.44])
    assert any("variable frame rate" in n for n in reader.notes), reader.notes
    # A constant rate says nothing.
    write_test_video(tmp_path / "cfr.mp4", 5)
    with FrameReader(tmp_path / "cfr.mp4", start=2) as reader:
        assert [f.time for f in reader] == pytest.approx([0.08, 0.12, 0.16])
    assert reader.notes == []


def test_folder_numbering_jump_sets_times_and_a_note(tmp_path):
    folder = tmp_path / "seq"
    folder.mkdir()
    for number in (1, 2, 9):
        cv2.imwrite(str(folder / f"{number:06d}.jpg"), np.full((6, 8, 3), 50, np.uint8))
    with FrameReader(folder) as reader:
        frames = list(reader)
    assert [f.time for f in frames] == pytest.approx([0.0, 0.04, 0.32])
    assert [f.index for f in frames] == [0, 1, 2]
    assert any("000002.jpg -> 000009.jpg" in n and "6 numbers missing" in n for n in reader.notes)


def write_two_stream_video(path):
    """A small 32x24 stream first, then the 64x48 one a player would show."""
    with av.open(str(path), "w") as container:
        small = container.add_stream("libx264", rate=25)
        small.width, small.height, small.pix_fmt = 32, 24, "yuv420p"
        big = container.add_stream("libx264", rate=25)
        big.width, big.height, big.pix_fmt = 64, 48, "yuv420p"
        for i in range(3):
            for stream in (small, big):
                image = np.full((stream.height, stream.width, 3), 40 * i, np.uint8)
                container.mux(stream.encode(av.VideoFrame.from_ndarray(image)))
        container.mux(small.encode(None))
        container.mux(big.encode(None))


def test_several_streams_pick_the_largest_or_the_one_asked(tmp_path):
    path = tmp_path / "two.mp4"
    write_two_stream_video(path)
    with FrameReader(path) as reader:
        shapes = {f.image.shape for f in reader}
    assert shapes == {(48, 64, 3)}
    assert reader.stream_info == {"index": 1, "of": 2, "width": 64, "height": 48, "fps": 25.0}
    assert any("2 video streams: tracked stream 1 (64x48" in n for n in reader.notes)
    with FrameReader(path, stream=0) as reader:
        assert {f.image.shape for f in reader} == {(24, 32, 3)}
    assert reader.stream_info["index"] == 0
    with pytest.raises(DataError, match=r"two\.mp4: no video stream 2: it has 2 \(--stream 0 to 1"):
        FrameReader(path, stream=2)


def test_truncated_jpeg_is_named_and_hidden_files_skipped(tmp_path):
    paths = write_folder(tmp_path / "seq", [(64, 48)] * 3)
    noise = np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    data = cv2.imencode(".jpg", noise)[1].tobytes()
    paths[1].write_bytes(data[: len(data) - 200])  # cut short: no end marker, still decodes
    (tmp_path / "seq" / "._000000.jpg").write_bytes(b"\x00\x05\x16\x07 macOS resource fork")
    (tmp_path / "seq" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    with FrameReader(tmp_path / "seq") as reader:
        names = [f.name for f in reader]
    assert names == ["000000.jpg", "000001.jpg", "000002.jpg"]
    assert any("cut short" in n and "000001.jpg" in n for n in reader.notes), reader.notes
    assert any("skipped 2 hidden files (.DS_Store, ._000000.jpg)" in n for n in reader.notes)


def test_network_errors_say_what_happened():
    from tracker.video import AVERROR_EXIT, network_error

    url = "http://user:pw@example.org:8080/v.mp4"
    silent = av.error.ExitError(AVERROR_EXIT, "Immediate exit requested")
    assert network_error(url, silent) == f"{url}: no answer from example.org:8080 within 10 s"
    offline = network_error(url, OSError(5, "Input/output error"))
    assert "example.org:8080 cannot be reached" in offline and "give the file instead" in offline
