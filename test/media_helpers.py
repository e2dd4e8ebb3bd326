"""Real test media for the media tests: scikit-image faces, espeak-ng speech, mp4s from write_video."""

from __future__ import annotations

import subprocess
from pathlib import Path

import cv2
import numpy as np
import soundfile as sf
from skimage import data

# Where the astronaut's face is in skimage.data.astronaut() (512x512): centre and approximate size.
ASTRONAUT_FACE_CENTRE = (223.0, 115.0)
ASTRONAUT_FACE_SIZE = 95.0


def astronaut(size: int | None = None) -> np.ndarray:
    img = data.astronaut()
    return img if size is None else cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)


def paste(canvas_hw: tuple[int, int], image: np.ndarray, x: int, y: int) -> np.ndarray:
    """A dark canvas with ``image`` pasted at (x, y) (top-left)."""
    canvas = np.full((*canvas_hw, 3), 30, np.uint8)
    h, w = image.shape[:2]
    canvas[y : y + h, x : x + w] = image
    return canvas


def face_centre(size: int, x: int, y: int) -> tuple[float, float]:
    """The astronaut's face centre after resizing to ``size`` and pasting at (x, y)."""
    s = size / 512
    return x + ASTRONAUT_FACE_CENTRE[0] * s, y + ASTRONAUT_FACE_CENTRE[1] * s


def moving_astronaut(
    n: int, hw: tuple[int, int] = (240, 320), size: int = 200, step: int = 1
) -> list[np.ndarray]:
    """``n`` frames of the astronaut (``size`` px) sliding right by ``step`` px per frame, wrapping."""
    img = astronaut(size)
    y = (hw[0] - size) // 2
    return [paste(hw, img, (i * step) % (hw[1] - size + 1), y) for i in range(n)]


def speech_wav(path: Path, text: str = "Hello there. I am so happy to see you again today.") -> Path:
    """Synthesise real speech with espeak-ng (22050 Hz mono int16 wav)."""
    subprocess.run(["espeak-ng", "-w", str(path), text], check=True, capture_output=True)
    return path


def speech(
    tmp: Path, text: str = "Hello there. I am so happy to see you again today."
) -> tuple[np.ndarray, int]:
    x, sr = sf.read(speech_wav(tmp / "speech.wav", text), dtype="float32")
    return x, sr
