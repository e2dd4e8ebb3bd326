"""The single frames+audio -> model-input path, shared by dataset preprocessing, file inference,
the ROS node and the rosbag replay, so that training and deployment see identical features.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from avemotion_core.faces import Box, FaceCropper
from avemotion_core.labels import IMAGE_SIZE, MFCC_FRAMES, N_MFCC, SAMPLE_RATE, SEQ_LENGTH, WINDOW_SAMPLES
from avemotion_core.media.audio import check_signal, fit_length, mfcc, resample
from avemotion_core.media.image import as_rgb_uint8


@dataclass
class Window:
    """One model input: MFCC (n_mfcc, 156) float32 and face crops (seq_length, S, S, 3) uint8.

    ``faces_missing`` counts real frames with no detected face; ``n_frames`` is how many of the
    ``seq_length`` crops came from real frames (the rest are zero padding, whose box is None).
    """

    mfcc: np.ndarray
    frames: np.ndarray
    faces_missing: int
    boxes: list[Box | None]
    n_frames: int

    def to_tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(audio (n_mfcc, 156) float32, video (3, seq_length, S, S) float32 in [0, 1])."""
        audio = torch.from_numpy(np.ascontiguousarray(self.mfcc, dtype=np.float32))
        frames = torch.from_numpy(np.ascontiguousarray(self.frames))
        video = frames.permute(3, 0, 1, 2).contiguous().float().div_(255.0)  # contiguous: callers .view()
        return audio, video


@lru_cache(maxsize=4)
def default_cropper(image_size: int) -> FaceCropper:
    """Shared Haar cropper per crop size (loading the cascade per call would cost ~10 ms)."""
    return FaceCropper(size=image_size)


def audio_features(audio: np.ndarray, audio_sr: int, n_mfcc: int = N_MFCC) -> np.ndarray:
    """Resample to 22050 Hz, zero-pad / centre-crop to 3.6 s, MFCC -> (n_mfcc, 156) float32."""
    x = check_signal(np.asarray(audio), "window audio")
    if not isinstance(audio_sr, int | np.integer) or audio_sr <= 0:
        raise ValueError(f"audio_sr must be a positive integer, got {audio_sr!r}")
    x = fit_length(resample(x, int(audio_sr), SAMPLE_RATE), WINDOW_SAMPLES)
    feats = mfcc(x, SAMPLE_RATE, n_mfcc)
    if feats.shape != (n_mfcc, MFCC_FRAMES):  # guards the window geometry constants against drift
        raise AssertionError(f"MFCC shape {feats.shape} != {(n_mfcc, MFCC_FRAMES)}")
    return feats


def build_window(
    frames: Sequence[np.ndarray] | np.ndarray,
    audio: np.ndarray,
    audio_sr: int,
    cropper: FaceCropper | None = None,
    seq_length: int = SEQ_LENGTH,
    image_size: int = IMAGE_SIZE,
    n_mfcc: int = N_MFCC,
) -> Window:
    """Build one window from up to ``seq_length`` already-selected RGB uint8 frames (grayscale is
    expanded) and the float audio of the same 3.6 s interval at ``audio_sr`` Hz.

    Fewer frames than ``seq_length`` are zero-padded at the end (a clip that stops early, as OpenDR
    does); no frames at all gives an all-zero video (audio-only input). More frames is an error:
    choosing which frames to keep is the caller's job (``video.select_frame_indices``).
    """
    if seq_length < 1 or image_size < 8:
        raise ValueError(f"invalid seq_length {seq_length} or image_size {image_size}")
    if cropper is None:
        cropper = default_cropper(image_size)
    elif cropper.size != image_size:
        raise ValueError(f"cropper.size {cropper.size} != image_size {image_size}")
    single_rgb = isinstance(frames, np.ndarray) and frames.ndim == 3 and frames.shape[2] == 3
    if isinstance(frames, np.ndarray) and frames.ndim not in (3, 4) or single_rgb:
        raise ValueError(f"frames must be a sequence of images (N,H,W[,3]), got shape {frames.shape}"
                         " (a single frame must be passed as [frame])")
    images = [as_rgb_uint8(f, f"frame {i}") for i, f in enumerate(frames)]
    if len(images) > seq_length:
        raise ValueError(f"got {len(images)} frames, at most seq_length={seq_length} allowed")
    feats = audio_features(audio, audio_sr, n_mfcc)
    result = cropper.crop(images)
    video = np.zeros((seq_length, image_size, image_size, 3), np.uint8)
    video[: len(images)] = result.crops
    boxes: list[Box | None] = list(result.boxes) + [None] * (seq_length - len(images))
    return Window(mfcc=feats, frames=video, faces_missing=result.missing, boxes=boxes, n_frames=len(images))
