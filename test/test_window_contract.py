"""build_window's input contract at its edges (the survivors of the first mutation run of window.py):
array-shaped frame input, the smallest valid seq_length / image_size, and the shared default cropper."""

from __future__ import annotations

import numpy as np
import pytest
from media_helpers import moving_astronaut

from avemotion_core.faces import FaceCropper
from avemotion_core.window import build_window, default_cropper

RATE = 16000


@pytest.fixture(scope="module")
def tone() -> np.ndarray:
    return (0.3 * np.sin(2 * np.pi * 220 * np.arange(RATE) / RATE)).astype(np.float32)


def test_an_array_of_rgb_frames_is_a_sequence_of_frames(tone):
    frames = moving_astronaut(3, (120, 160), size=100, step=5)
    cropper = FaceCropper(size=32)
    as_list = build_window(frames, tone, RATE, cropper, image_size=32)
    as_array = build_window(np.stack(frames), tone, RATE, cropper, image_size=32)  # (N, H, W, 3)
    assert as_array.n_frames == 3
    np.testing.assert_array_equal(as_array.frames, as_list.frames)
    with pytest.raises(ValueError, match="frames must be a sequence of images"):
        build_window(np.stack(frames)[None], tone, RATE, cropper, image_size=32)  # 5-D


def test_smallest_valid_sizes_and_the_first_invalid_ones(tone):
    frame = moving_astronaut(1, (60, 80), size=50)
    w = build_window(frame, tone, RATE, FaceCropper(size=8), seq_length=1, image_size=8)
    assert w.frames.shape == (1, 8, 8, 3) and w.n_frames == 1
    for seq_length, size in ((0, 48), (1, 7), (0, 7)):
        with pytest.raises(ValueError, match="invalid seq_length"):
            build_window(frame, tone, RATE, seq_length=seq_length, image_size=size)


def test_default_cropper_is_shared_per_size():
    assert default_cropper(40) is default_cropper(40)  # the Haar cascade is loaded once per size
    assert default_cropper(40).size == 40 and default_cropper(48) is not default_cropper(40)
