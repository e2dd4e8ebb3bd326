"""Model inputs from files: one 3.6 s window (or consecutive windows) of a video and its audio.

Video frames and audio are always cut from the *same* time interval. (OpenDR took the frames from
the start of the clip but centre-cropped the audio, so on any clip longer than 3.6 s the two
modalities described different moments.) Audio time 0 is the video's time 0; a separate audio file
is assumed to start together with the video. Only the span of audio the windows cover is decoded,
so a short video with an hour-long recording costs what a short clip costs.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import torch

from avemotion_core.faces import FaceCropper
from avemotion_core.labels import IMAGE_SIZE, N_MFCC, SAMPLE_RATE, SEQ_LENGTH, WINDOW_SAMPLES, WINDOW_SECONDS
from avemotion_core.media.audio import AudioError, load_audio
from avemotion_core.media.video import VideoError, VideoInfo, probe_video, read_frames, select_frame_indices
from avemotion_core.window import Window, build_window


def _load_track(
    video_path: str | os.PathLike,
    audio_path: str | os.PathLike | None,
    info: VideoInfo,
    start_frames: list[int],
    read_audio: bool = True,
) -> np.ndarray:
    """The audio under the windows starting at ``start_frames``, from their first start to the end
    of the last window; sample 0 is the first window's start. ``read_audio=False`` (a mode that
    ignores audio) gives silence instead, so a video without sound can still be classified."""
    first = start_frames[0] / info.fps
    duration = start_frames[-1] / info.fps - first + WINDOW_SECONDS
    if not read_audio:
        return np.zeros(int(round(duration * SAMPLE_RATE)), np.float32)
    source = audio_path if audio_path is not None else video_path
    if audio_path is None and not info.has_audio:
        raise AudioError(f"{os.fspath(video_path)} has no audio stream: give its audio file separately, "
                         "or classify it in the onlyvideo mode")
    try:
        return load_audio(source, SAMPLE_RATE, start=first, duration=duration)
    except AudioError as exc:
        if "zero samples at" not in str(exc):
            raise
        raise AudioError(f"audio of {os.fspath(source)} ends before the window at {first:.2f} s") from exc


def _build(
    info: VideoInfo,
    video_path: str | os.PathLike,
    track: np.ndarray,
    start_frames: list[int],
    cropper: FaceCropper | None,
    image_size: int,
    seq_length: int,
    n_mfcc: int,
) -> list[Window]:
    """Windows starting at the given frames; ``track`` starts at the first of them. Each window
    seeks and decodes only its own frames, so memory stays bounded for long videos (crops are
    kept, full frames are not)."""
    windows = []
    origin = int(round(start_frames[0] / info.fps * SAMPLE_RATE))
    for start in start_frames:
        plan = select_frame_indices(info.n_frames, info.fps, seq_length, WINDOW_SECONDS, start)
        # Indices past the end of the stream are omitted: build_window zero-pads them.
        frames = read_frames(video_path, [i for i in plan if i < info.n_frames])
        a0 = int(round(start / info.fps * SAMPLE_RATE)) - origin
        segment = track[a0 : a0 + WINDOW_SAMPLES]
        if segment.size == 0:
            raise AudioError(f"audio ends before the window at {start / info.fps:.2f} s")
        windows.append(build_window(frames, segment, SAMPLE_RATE, cropper, seq_length, image_size, n_mfcc))
    return windows


def _warn_fps(info: VideoInfo, video_path: str | os.PathLike, input_fps: float | None) -> None:
    if input_fps and abs(info.fps - input_fps) > 0.5:
        warnings.warn(f"{os.fspath(video_path)} is {info.fps:.2f} fps, not {input_fps}; frames were picked "
                      "by its own frame rate", stacklevel=3)


def load_clip_window(
    video_path: str | os.PathLike,
    audio_path: str | os.PathLike | None = None,
    start: float | None = None,
    cropper: FaceCropper | None = None,
    image_size: int = IMAGE_SIZE,
    seq_length: int = SEQ_LENGTH,
    n_mfcc: int = N_MFCC,
) -> Window:
    """One 3.6 s window starting at ``start`` seconds (default: centred in the clip; a clip shorter
    than 3.6 s starts at 0 and is zero-padded). Audio comes from the video's own track unless
    ``audio_path`` is given. Raises VideoError/AudioError (ValueError) for unusable files."""
    return _clip_window(probe_video(video_path), video_path, audio_path, start, cropper, image_size,
                        seq_length, n_mfcc)


def _clip_window(
    info: VideoInfo,
    video_path: str | os.PathLike,
    audio_path: str | os.PathLike | None,
    start: float | None,
    cropper: FaceCropper | None,
    image_size: int,
    seq_length: int,
    n_mfcc: int,
    read_audio: bool = True,
) -> Window:
    if start is None:
        start = max(0.0, (info.duration - WINDOW_SECONDS) / 2)
    if not np.isfinite(start) or start < 0 or start >= info.duration:
        raise VideoError(f"start {start} s is outside the clip (0 .. {info.duration:.2f} s)")
    starts = [int(round(start * info.fps))]
    track = _load_track(video_path, audio_path, info, starts, read_audio)
    return _build(info, video_path, track, starts, cropper, image_size, seq_length, n_mfcc)[0]


def load_inference_data(
    audio_path: str | os.PathLike | None,
    video_path: str | os.PathLike | None,
    split: bool = False,
    cropper: FaceCropper | None = None,
    image_size: int = IMAGE_SIZE,
    seq_length: int = SEQ_LENGTH,
    n_mfcc: int = N_MFCC,
    min_last_seconds: float = 1.0,
    input_fps: float | None = None,
    read_audio: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Model-ready tensors for a clip: ``(audio (10, 156), video (3, 15, S, S))`` from the centre
    window, or with ``split=True`` the consecutive non-overlapping windows covering the clip stacked
    as ``(N, 10, 156), (N, 3, 15, S, S)``. A trailing window shorter than ``min_last_seconds`` is
    dropped unless it is the only one. ``audio_path=None`` uses the video's own audio track;
    ``video_path=None`` gives audio-only input (all-zero video, for the ``onlyaudio`` eval mode).
    ``read_audio=False`` gives silent audio without reading any (for the ``onlyvideo`` mode, which
    ignores it). A video whose rate is not ``input_fps`` (when given) is warned about.

    ``image_size`` must be the crop size of the model that will see the tensors:
    ``AudiovisualEmotionLearner.load_inference_data`` passes its own."""
    if video_path is None:
        if audio_path is None:
            raise ValueError("give audio_path, video_path or both")
        windows = _audio_only_windows(audio_path, split, image_size, seq_length, n_mfcc, min_last_seconds)
    else:
        info = probe_video(video_path)
        _warn_fps(info, video_path, input_fps)
        if not split:
            windows = [_clip_window(info, video_path, audio_path, None, cropper, image_size, seq_length,
                                    n_mfcc, read_audio)]
        else:
            starts = _window_starts(info.n_frames, WINDOW_SECONDS * info.fps, min_last_seconds * info.fps)
            track = _load_track(video_path, audio_path, info, starts, read_audio)
            windows = _build(info, video_path, track, starts, cropper, image_size, seq_length, n_mfcc)
    audio, video = zip(*(w.to_tensors() for w in windows), strict=True)
    if not split:
        return audio[0], video[0]
    return torch.stack(audio), torch.stack(video)


def _window_starts(length: int, step: float, min_last: float) -> list[int]:
    """Starts of consecutive windows of ``step`` units covering ``length``; a short tail is dropped."""
    starts = [int(round(k * step)) for k in range(int(np.ceil(length / step)))]
    if len(starts) > 1 and length - starts[-1] < min_last:
        starts.pop()
    return starts


def _audio_only_windows(
    audio_path: str | os.PathLike, split: bool, image_size: int, seq_length: int, n_mfcc: int,
    min_last_seconds: float,
) -> list[Window]:
    track = load_audio(audio_path, SAMPLE_RATE)
    if split:
        starts = _window_starts(len(track), WINDOW_SAMPLES, min_last_seconds * SAMPLE_RATE)
    else:
        starts = [max(0, (len(track) - WINDOW_SAMPLES) // 2)]
    segments = [track[a0 : a0 + WINDOW_SAMPLES] for a0 in starts]
    return [build_window([], x, SAMPLE_RATE, None, seq_length, image_size, n_mfcc) for x in segments]
