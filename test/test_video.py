"""video.py: real H.264/AAC mp4 files written by write_video and read back with PyAV."""

from __future__ import annotations

import os

import av
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from media_helpers import moving_astronaut

from avemotion_core.media import video
from avemotion_core.media.video import VideoError


def _closest(decoded: np.ndarray, originals: list[np.ndarray]) -> int:
    errs = [np.abs(decoded.astype(np.int16) - o).mean() for o in originals]
    return int(np.argmin(errs))


@pytest.mark.parametrize(("fps", "hw"), [(15, (48, 64)), (25, (120, 160)), (30, (72, 96)), (60, (64, 64))])
def test_round_trip_any_fps_and_resolution(tmp_path, fps, hw):
    n = int(fps * 1.6)
    frames = moving_astronaut(n, hw, size=min(hw) - 8, step=3)
    sr = 16000
    audio = (0.2 * np.sin(2 * np.pi * 330 * np.arange(int(1.6 * sr)) / sr)).astype(np.float32)
    path = tmp_path / "clip.mp4"
    video.write_video(path, frames, fps, audio, sr)
    info = video.probe_video(path)
    assert info == video.VideoInfo(fps=float(fps), n_frames=n, width=hw[1], height=hw[0],
                                   duration=pytest.approx(1.6), has_audio=True)
    wanted = [0, 5, n // 2, n - 1]
    got = video.read_frames(path, wanted)
    assert [f.shape for f in got] == [(*hw, 3)] * 4 and all(f.dtype == np.uint8 for f in got)
    for idx, frame in zip(wanted, got, strict=True):
        assert np.abs(frame.astype(np.int16) - frames[idx]).mean() < 8  # lossy but close
        # ... and it is *that* frame, not a neighbour (the motion wraps, so compare content).
        np.testing.assert_array_equal(frames[_closest(frame, frames)], frames[idx])


def test_seeking_reader_equals_full_decode(tmp_path):
    frames = moving_astronaut(150, (64, 96), size=56, step=2)
    path = tmp_path / "long.mp4"
    video.write_video(path, frames, 30)
    every = video.read_frames(path, range(150))
    assert len(every) == 150
    picks = video.select_frame_indices(150, 30, start_frame=40)
    sought = video.read_frames(path, picks)
    for i, f in zip(picks, sought, strict=True):
        np.testing.assert_array_equal(f, every[i])
    # Indices past the end are dropped, giving a prefix the window builder zero-pads.
    assert len(video.read_frames(path, [140, 149, 150, 200])) == 2
    assert video.read_frames(path, []) == []


def test_select_frame_indices_matches_opendr_and_time():
    assert video.select_frame_indices(108, 30) == [3, 10, 17, 24, 31, 39, 46, 53, 60, 67, 75, 82, 89, 96, 103]
    opendr_times = np.array(video.select_frame_indices(108, 30)) / 30
    for fps in (15, 25, 60, 29.97):  # the same instants at any rate, up to one frame of either rate
        times = np.array(video.select_frame_indices(200, fps)) / fps
        np.testing.assert_allclose(times, opendr_times, atol=1 / 30 + 1 / fps)
    assert video.select_frame_indices(10, 30, start_frame=100)[0] == 103  # past the end is allowed
    with pytest.raises(ValueError):
        video.select_frame_indices(108, 0)
    with pytest.raises(ValueError):
        video.select_frame_indices(108, 30, seq_length=0)


@given(fps=st.floats(5, 120), seq=st.integers(1, 40), seconds=st.floats(0.5, 10), start=st.integers(0, 500))
def test_frame_indices_are_spread_over_the_window(fps, seq, seconds, start):
    idx = video.select_frame_indices(1000, fps, seq, seconds, start)
    span = seconds * fps
    assert len(idx) == seq and idx == sorted(idx)
    assert start <= idx[0] and idx[-1] < start + span + 1
    if span >= seq:  # enough frames: no frame is used twice
        assert len(set(idx)) == seq


def test_write_is_atomic_and_validates(tmp_path):
    path = tmp_path / "out.mp4"
    good = moving_astronaut(10, (32, 32), size=24)
    video.write_video(path, good, 25)
    before = path.read_bytes()
    bad = [*good[:5], np.zeros((32, 32, 3), np.float32)]
    with pytest.raises(ValueError, match="uint8"):
        video.write_video(path, bad, 25)
    with pytest.raises(ValueError, match="even"):
        video.write_video(path, [np.zeros((31, 32, 3), np.uint8)], 25)
    with pytest.raises(ValueError, match="shape"):
        video.write_video(path, [good[0], np.zeros((32, 34, 3), np.uint8)], 25)
    with pytest.raises(ValueError, match="no frames"):
        video.write_video(path, [], 25)
    with pytest.raises(ValueError, match="fps"):
        video.write_video(path, good, 0)
    with pytest.raises(ValueError, match="NaN"):
        video.write_video(path, good, 25, np.full(100, np.nan, np.float32), 16000)
    with pytest.raises(ValueError, match="sr"):
        video.write_video(path, good, 25, np.zeros(100, np.float32))
    assert path.read_bytes() == before  # never clobbered by a failed write
    assert sorted(os.listdir(tmp_path)) == ["out.mp4"]  # and no temp files left behind


def test_bad_files_raise_clear_errors(tmp_path):
    with pytest.raises(VideoError, match="not found"):
        video.probe_video(tmp_path / "missing.mp4")
    (tmp_path / "junk.mp4").write_bytes(b"\x00junk" * 100)
    with pytest.raises(VideoError, match="cannot open"):
        video.read_frames(tmp_path / "junk.mp4", [0])
    import soundfile as sf

    sf.write(tmp_path / "speech.wav", np.zeros(1600, np.float32), 16000)
    with pytest.raises(VideoError, match="no video stream"):
        video.probe_video(tmp_path / "speech.wav")
    # A matroska file holding only its header (stream declared, zero frames).
    with av.open(str(tmp_path / "full.mkv"), "w", format="matroska") as out:
        s = out.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 32, 32, "yuv420p"
        for i in range(5):
            frame = av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")
            frame.pts = i
            out.mux(s.encode(frame))
        out.mux(s.encode(None))
    data = (tmp_path / "full.mkv").read_bytes()
    (tmp_path / "empty.mkv").write_bytes(data[: data.find(bytes.fromhex("1F43B675"))])  # cut at 1st cluster
    with pytest.raises(VideoError):
        video.probe_video(tmp_path / "empty.mkv")
    with pytest.raises(ValueError, match="sorted"):
        video.read_frames(tmp_path / "full.mkv", [3, 1])
    with pytest.raises(ValueError, match=">= 0"):
        video.read_frames(tmp_path / "full.mkv", [-1])


@pytest.mark.parametrize(("fmt", "codec"), [("matroska", "libx264"), ("avi", "mjpeg"), ("mpegts", "libx264"),
                                            ("h264", "libx264")])
def test_other_containers_seek_or_fall_back(tmp_path, fmt, codec):
    """mkv/avi/ts seek by timestamp; a raw H.264 stream has no timestamps and is decoded from the start."""
    frames = moving_astronaut(60, (64, 96), size=56, step=2)
    path = tmp_path / f"clip.{fmt}"
    with av.open(str(path), "w", format=fmt) as out:
        s = out.add_stream(codec, rate=30)
        s.width, s.height = 96, 64
        s.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        for i, f in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(f, format="rgb24")
            vf.pts = i
            out.mux(s.encode(vf))
        out.mux(s.encode(None))
    info = video.probe_video(path)
    assert info.n_frames == 60 and (info.width, info.height) == (96, 64)
    every = video.read_frames(path, range(60))
    picks = [20, 33, 59]
    for i, f in zip(picks, video.read_frames(path, picks), strict=True):
        np.testing.assert_array_equal(f, every[i])
        np.testing.assert_array_equal(frames[_closest(f, frames)], frames[i])
