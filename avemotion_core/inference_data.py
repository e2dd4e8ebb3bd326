"""Model inputs from files: one 3.6 s window (or consecutive windows) of a video and its audio.

Video frames and audio are always cut from the *same* time interval. (OpenDR took the frames from
the start of the clip but centre-cropped the audio, so on any clip longer than 3.6 s the two
modalities described different moments.) Audio time 0 is the video's time 0; a separate audio file
is assumed to start together with the video.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from avemotion_core.audio import AudioError, load_audio
from avemotion_core.faces import FaceCropper
from avemotion_core.labels import IMAGE_SIZE, N_MFCC, SAMPLE_RATE, SEQ_LENGTH, WINDOW_SAMPLES, WINDOW_SECONDS
from avemotion_core.video import VideoError, VideoInfo, probe_video, read_frames, select_frame_indices
from avemotion_core.window import Window, build_window


def _load_track(
    video_path: str | os.PathLike, audio_path: str | os.PathLike | None, info: VideoInfo
) -> np.ndarray:
    if audio_path is not None:
        return load_audio(audio_path, SAMPLE_RATE)
    if not info.has_audio:
        raise AudioError(f"{os.fspath(video_path)} has no audio stream; pass audio_path")
    return load_audio(video_path, SAMPLE_RATE)


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
    """Windows starting at the given frames. Each window seeks and decodes only its own frames, so
    memory stays bounded for long videos (crops are kept, full frames are not)."""
    windows = []
    for start in start_frames:
        plan = select_frame_indices(info.n_frames, info.fps, seq_length, WINDOW_SECONDS, start)
        # Indices past the end of the stream are omitted: build_window zero-pads them.
        frames = read_frames(video_path, [i for i in plan if i < info.n_frames])
        a0 = int(round(start / info.fps * SAMPLE_RATE))
        segment = track[a0 : a0 + WINDOW_SAMPLES]
        if segment.size == 0:
            raise AudioError(f"audio ({len(track) / SAMPLE_RATE:.2f} s) ends before the window at "
                             f"{start / info.fps:.2f} s")
        windows.append(build_window(frames, segment, SAMPLE_RATE, cropper, seq_length, image_size, n_mfcc))
    return windows


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
    info = probe_video(video_path)
    if start is None:
        start = max(0.0, (info.duration - WINDOW_SECONDS) / 2)
    if not np.isfinite(start) or start < 0 or start >= info.duration:
        raise VideoError(f"start {start} s is outside the clip (0 .. {info.duration:.2f} s)")
    track = _load_track(video_path, audio_path, info)
    start_frame = int(round(start * info.fps))
    return _build(info, video_path, track, [start_frame], cropper, image_size, seq_length, n_mfcc)[0]


def load_inference_data(
    audio_path: str | os.PathLike | None,
    video_path: str | os.PathLike | None,
    split: bool = False,
    cropper: FaceCropper | None = None,
    image_size: int = IMAGE_SIZE,
    seq_length: int = SEQ_LENGTH,
    n_mfcc: int = N_MFCC,
    min_last_seconds: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Model-ready tensors for a clip: ``(audio (10, 156), video (3, 15, S, S))`` from the centre
    window, or with ``split=True`` the consecutive non-overlapping windows covering the clip stacked
    as ``(N, 10, 156), (N, 3, 15, S, S)``. A trailing window shorter than ``min_last_seconds`` is
    dropped unless it is the only one. ``audio_path=None`` uses the video's own audio track;
    ``video_path=None`` gives audio-only input (all-zero video, for the ``onlyaudio`` eval mode)."""
    if video_path is None:
        if audio_path is None:
            raise ValueError("give audio_path, video_path or both")
        windows = _audio_only_windows(audio_path, split, image_size, seq_length, n_mfcc, min_last_seconds)
    elif not split:
        windows = [load_clip_window(video_path, audio_path, None, cropper, image_size, seq_length, n_mfcc)]
    else:
        info = probe_video(video_path)
        track = _load_track(video_path, audio_path, info)
        starts = _window_starts(info.n_frames, WINDOW_SECONDS * info.fps, min_last_seconds * info.fps)
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
