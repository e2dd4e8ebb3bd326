"""window.build_window: the one frames+audio -> model-input path, on real faces and real speech."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from media_helpers import astronaut, face_centre, moving_astronaut, paste, speech

from avemotion_core.faces import FaceCropper
from avemotion_core.labels import WINDOW_SAMPLES
from avemotion_core.media import audio
from avemotion_core.window import build_window


@pytest.fixture(scope="module")
def voice(tmp_path_factory) -> tuple[np.ndarray, int]:
    return speech(tmp_path_factory.mktemp("speech"))


@pytest.fixture(scope="module")
def cropper() -> FaceCropper:
    return FaceCropper(size=48)


def test_full_window_shapes_values_and_features(voice, cropper):
    x, sr = voice
    frames = moving_astronaut(15, (240, 320), size=220, step=4)
    w = build_window(frames, x, sr, cropper, image_size=48)
    assert w.mfcc.dtype == np.float32 and w.mfcc.shape == (10, 156)
    np.testing.assert_allclose(w.mfcc, audio.mfcc(audio.fit_length(x, WINDOW_SAMPLES)), atol=1e-5)
    assert w.frames.dtype == np.uint8 and w.frames.shape == (15, 48, 48, 3)
    assert w.faces_missing <= 1 and w.n_frames == 15 and len(w.boxes) == 15  # Haar may miss one
    for i, b in enumerate(w.boxes):
        assert b.contains(*face_centre(220, i * 4, 10))
    a, v = w.to_tensors()
    assert a.dtype == torch.float32 and a.shape == (10, 156)
    assert v.dtype == torch.float32 and v.shape == (3, 15, 48, 48) and v.is_contiguous()
    assert 0.0 <= float(v.min()) and float(v.max()) <= 1.0
    np.testing.assert_allclose(v[:, 3].permute(1, 2, 0).numpy() * 255, w.frames[3], atol=1e-3)


def test_short_clip_is_zero_padded_and_audio_resampled(voice, cropper):
    x, sr = voice
    x16 = audio.resample(x, sr, 16000)
    frames = moving_astronaut(6, (240, 320), size=200)
    w = build_window(frames, x16, 16000, cropper, image_size=48)
    assert w.n_frames == 6 and w.boxes[6:] == [None] * 9
    assert not w.frames[6:].any() and w.frames[:6].any()
    # 16 kHz speech lacks the 8-11 kHz band, but its loudness contour (c0) is the same in time.
    ref = audio.mfcc(audio.fit_length(x, WINDOW_SAMPLES))
    assert np.corrcoef(w.mfcc[0], ref[0])[0, 1] > 0.98


def test_audio_only_and_grayscale_frames(voice, cropper):
    x, sr = voice
    w = build_window([], x, sr, cropper, image_size=48)
    assert w.n_frames == 0 and not w.frames.any() and w.faces_missing == 0
    gray = cv2.cvtColor(paste((240, 320), astronaut(200), 30, 10), cv2.COLOR_RGB2GRAY)
    w = build_window(np.stack([gray] * 3), x, sr, cropper, image_size=48)
    assert w.n_frames == 3 and w.faces_missing == 0
    assert np.array_equal(w.frames[0, ..., 0], w.frames[0, ..., 1])


def test_default_cropper_and_sizes(voice):
    x, sr = voice
    w = build_window(moving_astronaut(2, (240, 320), size=200), x, sr, image_size=32, seq_length=4)
    assert w.frames.shape == (4, 32, 32, 3) and w.faces_missing == 0


def test_bad_inputs_raise(voice, cropper):
    x, sr = voice
    frames = moving_astronaut(3, (60, 80), size=50)
    with pytest.raises(ValueError, match="at most seq_length"):
        build_window(moving_astronaut(16, (60, 80), size=50), x, sr, cropper, image_size=48)
    # frame dtype/shape/size errors: test_faces (FaceCropper.crop); empty/NaN audio: test_audio (check_signal)
    with pytest.raises(ValueError, match="cropper.size"):
        build_window(frames, x, sr, cropper, image_size=64)
    with pytest.raises(ValueError, match="window audio must be floating"):  # the window's own check runs
        build_window(frames, (x * 32767).astype(np.int16), sr, cropper, image_size=48)
    with pytest.raises(ValueError, match="audio_sr"):
        build_window(frames, x, 0, cropper, image_size=48)
    with pytest.raises(ValueError, match="shape"):
        build_window(np.zeros((2, 3, 60, 80, 3), np.uint8), x, sr, cropper, image_size=48)
    with pytest.raises(ValueError, match="single frame"):
        build_window(frames[0], x, sr, cropper, image_size=48)
