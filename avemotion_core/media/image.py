"""Validation of the frames every consumer takes (detectors, croppers, the window builder)."""

from __future__ import annotations

import numpy as np


def as_rgb_uint8(image: np.ndarray, what: str = "frame") -> np.ndarray:
    """Validate an image as uint8 RGB HxWx3 (grayscale HxW or HxWx1 is expanded), else ValueError."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"{what} must be uint8, got {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"{what} must be RGB HxWx3 or grayscale HxW, got shape {image.shape}")
    if image.shape[0] < 2 or image.shape[1] < 2:
        raise ValueError(f"{what} is too small: {image.shape}")
    return image
