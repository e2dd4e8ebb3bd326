"""Video probing, frame selection, seeking frame reader and an atomic H.264/AAC mp4 writer (PyAV).

Only 15 of ~108 frames of a window are used, so ``read_frames`` seeks to the keyframe before the
first wanted frame and stops after the last one instead of decoding the whole clip.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np

from avemotion_core.labels import SEQ_LENGTH, WINDOW_SECONDS
from avemotion_core.media.audio import check_signal


class VideoError(ValueError):
    """A file cannot be used as video: unreadable, no video stream, or no frames."""


@dataclass(frozen=True)
class VideoInfo:
    """What a caller needs to plan a window: frame rate, length, size, and whether audio is inside."""

    fps: float
    n_frames: int
    width: int
    height: int
    duration: float
    has_audio: bool


def _open(path: str | os.PathLike) -> av.container.InputContainer:
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise VideoError(f"video file not found: {path}")
    try:
        container = av.open(path)
    except (av.error.FFmpegError, UnicodeDecodeError) as e:
        raise VideoError(f"cannot open {path} as video: {e}") from e
    if not container.streams.video:
        container.close()
        raise VideoError(f"{path} has no video stream")
    return container


def _stream_fps(stream: av.video.stream.VideoStream) -> float:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    if not rate or rate <= 0:
        raise VideoError("video stream has no usable frame rate")
    return float(rate)


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Read stream metadata; the frame count comes from demuxing packets (no decoding), because the
    container's ``frames`` field is 0 for mkv/webm and sometimes wrong after editing."""
    with _open(path) as container:
        stream = container.streams.video[0]
        fps = _stream_fps(stream)
        n_frames = sum(1 for p in container.demux(stream) if p.size > 0)
        width, height = stream.codec_context.width, stream.codec_context.height
        has_audio = bool(container.streams.audio)
    if n_frames == 0:
        raise VideoError(f"{os.fspath(path)} has zero video frames")
    return VideoInfo(fps=fps, n_frames=n_frames, width=width, height=height, duration=n_frames / fps,
                     has_audio=has_audio)


def select_frame_indices(
    n_frames: int,
    fps: float,
    seq_length: int = SEQ_LENGTH,
    target_time: float = WINDOW_SECONDS,
    start_frame: int = 0,
) -> list[int]:
    """``seq_length`` frame indices evenly spread over ``target_time`` seconds from ``start_frame``.

    The span (``target_time * fps`` frames) is cut into ``seq_length`` equal slots and each index is
    ``floor(i * span / seq_length) + floor(span / (2 * seq_length))`` -- OpenDR's rule, giving
    3, 10, 17, 24, 31, 39, ..., 103 at 30 fps, and the same instants in time at any other rate. Indices
    ``>= n_frames`` are kept: they stand for frames past the clip's end, which the window builder
    zero-pads (as OpenDR does), so a short clip still yields frames at the right times.
    """
    if seq_length < 1:
        raise ValueError(f"seq_length must be >= 1, got {seq_length}")
    if fps <= 0 or target_time <= 0:
        raise ValueError(f"fps and target_time must be positive, got {fps}, {target_time}")
    if n_frames < 0 or start_frame < 0:
        raise ValueError(f"n_frames and start_frame must be >= 0, got {n_frames}, {start_frame}")
    span = target_time * fps
    half = int(np.floor(span / (2 * seq_length)))
    return [start_frame + int(np.floor(i * span / seq_length)) + half for i in range(seq_length)]


def read_frames(path: str | os.PathLike, indices: Sequence[int]) -> list[np.ndarray]:
    """Decode the frames at the given (sorted, non-negative) indices as RGB uint8 HxWx3.

    Indices past the end of the stream are dropped, so the result is a prefix of the request
    (the caller zero-pads). A frame index is derived from its timestamp; if the source dropped a
    frame, the next available frame stands in for it.
    """
    wanted = [int(i) for i in indices]
    if any(i < 0 for i in wanted):
        raise ValueError(f"frame indices must be >= 0, got {wanted}")
    if wanted != sorted(wanted):
        raise ValueError(f"frame indices must be sorted, got {wanted}")
    if not wanted:
        return []
    frames = None
    if wanted[0] > 0:
        with _open(path) as container:
            frames = _decode_from(container, wanted, seek=True)
    if frames is None:  # no seek needed, the file cannot seek, or the seek landed too late
        with _open(path) as container:
            frames = _decode_from(container, wanted, seek=False) or []  # never None without seek
    if not frames and wanted[0] == 0:
        raise VideoError(f"{os.fspath(path)} has zero decodable video frames")
    return frames


def _decode_from(
    container: av.container.InputContainer, wanted: list[int], seek: bool
) -> list[np.ndarray] | None:
    """Decode forward collecting ``wanted``; None when seeking failed or landed after the first
    wanted frame (the caller then decodes from the start)."""
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    fps = _stream_fps(stream)
    tb = stream.time_base
    origin = stream.start_time or 0
    if seek:
        target = origin + int(Fraction(wanted[0]) / Fraction(fps).limit_denominator(100000) / tb)
        try:
            container.seek(target, backward=True, any_frame=False, stream=stream)
        except av.error.FFmpegError:
            return None
    out: list[np.ndarray] = []
    k = 0
    first = True
    try:
        for n, frame in enumerate(container.decode(stream)):
            if frame.pts is not None:
                idx = int(round(float((frame.pts - origin) * tb) * fps))
            elif seek:  # no timestamps (raw elementary stream): position unknown after a seek
                return None
            else:
                idx = n
            if first:
                first = False
                if seek and idx > wanted[0]:
                    return None
            if idx < wanted[k]:
                continue
            rgb = frame.to_ndarray(format="rgb24")
            while k < len(wanted) and wanted[k] <= idx:
                out.append(rgb)
                k += 1
            if k == len(wanted):
                break
    except av.error.FFmpegError as e:
        raise VideoError(f"cannot decode video: {e}") from e
    return out


def write_video(
    path: str | os.PathLike,
    frames: Sequence[np.ndarray] | np.ndarray,
    fps: float,
    audio: np.ndarray | None = None,
    sr: int | None = None,
) -> None:
    """Write RGB uint8 frames (and optional float mono audio in [-1, 1]) as an H.264 + AAC mp4.

    Width and height must be even (yuv420p). The file is written beside ``path`` and renamed into
    place, so a reader never sees a half-written mp4 and a failure leaves nothing behind.
    """
    frames = _check_frames(frames)
    if not fps or fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if audio is not None:
        audio = check_signal(audio, "audio to write")
        if not sr or sr <= 0:
            raise ValueError("sr must be given (positive) together with audio")
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp_", suffix=".mp4")
    os.close(fd)
    try:
        _encode(tmp, frames, fps, audio, sr)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _check_frames(frames: Sequence[np.ndarray] | np.ndarray) -> list[np.ndarray]:
    if len(frames) == 0:
        raise ValueError("no frames to write")
    shape = np.asarray(frames[0]).shape
    out = []
    for i, f in enumerate(frames):
        f = np.asarray(f)
        if f.dtype != np.uint8 or f.ndim != 3 or f.shape[2] != 3:
            raise ValueError(f"frame {i} must be RGB uint8 HxWx3, got {f.dtype} {f.shape}")
        if f.shape != shape:
            raise ValueError(f"frame {i} has shape {f.shape}, expected {shape} like frame 0")
        out.append(np.ascontiguousarray(f))
    h, w = shape[:2]
    if h % 2 or w % 2:
        raise ValueError(f"H.264 yuv420p needs even width and height, got {w}x{h}")
    return out


def _encode(tmp: str, frames: list[np.ndarray], fps: float, audio: np.ndarray | None, sr: int | None) -> None:
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(tmp, mode="w", format="mp4") as out:
        vs = out.add_stream("libx264", rate=rate)
        vs.height, vs.width = frames[0].shape[:2]
        vs.pix_fmt = "yuv420p"
        # A keyframe every 2 s bounds what read_frames must decode after a seek (x264's default is 250).
        vs.options = {"crf": "18", "preset": "veryfast", "g": str(max(1, round(2 * float(rate))))}
        a_s = None
        if audio is not None:
            a_s = out.add_stream("aac", rate=int(sr))
            a_s.layout = "mono"
        for i, f in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(f, format="rgb24")
            vf.pts = i
            vf.time_base = 1 / rate
            out.mux(vs.encode(vf))
        out.mux(vs.encode(None))
        if a_s is not None:
            af = av.AudioFrame.from_ndarray(audio[None, :], format="flt", layout="mono")
            af.sample_rate = int(sr)
            af.pts = 0
            af.time_base = Fraction(1, int(sr))
            out.mux(a_s.encode(af))
            out.mux(a_s.encode(None))
