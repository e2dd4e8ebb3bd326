"""The causal face tracker and the square crop the model sees.

The model sees 224x224 face crops. OpenDR took the first RetinaFace box with no margin, stretched it
to a square and crashed when no face was found. Here one :class:`FaceTracker` follows the face over
a stream (or a dataset clip) frame by frame, deciding each crop from the past only: the live node,
the replay tool and dataset preprocessing therefore crop identically, and a frame shared by
overlapping windows is cropped once. Frames without a face are counted so callers can judge how
much to trust the video branch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from avemotion_core.faces.box import Box, FaceDetector
from avemotion_core.faces.haar import HaarFaceDetector, NoFaceDetector
from avemotion_core.labels import IMAGE_SIZE
from avemotion_core.media.image import as_rgb_uint8
from avemotion_core.modes import FACE_DETECTORS


def make_cropper(face_detector: str, size: int) -> FaceCropper:
    """The cropper for a ``face_detector`` setting, as the node and the replay tool configure it."""
    if face_detector not in FACE_DETECTORS:
        raise ValueError(f"face_detector={face_detector!r} is not one of {FACE_DETECTORS}")
    if face_detector == "mtcnn":
        from avemotion_core.faces.mtcnn import MTCNNFaceDetector  # torch: only when chosen

        return FaceCropper(detector=MTCNNFaceDetector(), size=size)
    if face_detector == "none":  # the frame is the face: nothing to track
        return FaceCropper(detector=NoFaceDetector(), size=size, track=False)
    return FaceCropper(size=size)


@dataclass
class CropResult:
    """Face crops of a frame sequence: ``crops`` (N, size, size, 3) uint8, the square box used per
    frame, and how many frames had no detected face (their box was carried over)."""

    crops: np.ndarray
    boxes: list[Box]
    missing: int


@dataclass
class TrackStep:
    """What a tracker decided for one face in one frame: the square ``box`` cropped, the ``crop``
    itself, whether a face was detected in this frame (else the box was carried over or is a centre
    crop), and which track (person) it belongs to."""

    box: Box
    crop: np.ndarray
    face_found: bool
    track_id: str = "face1"  # the single-face tracker follows one person


class FaceCropper:
    """Settings of the face crop (detector, size, margin, smoothing, tracking) and the crop of a
    frame sequence (a dataset clip's frames, one at a time through a fresh :class:`FaceTracker`).

    ``margin`` is added on each side as a fraction of the face size (Haar boxes are tight; the
    model was trained on crops that include the chin and forehead). ``smoothing`` in [0, 1) is the
    weight of the previous box in an exponential moving average, removing detector jitter that the
    temporal convolutions would otherwise read as motion.

    With ``track=True`` (default), once a face is found the next frame is first searched only in a
    region twice the face's size around it, rescaled so the face is ~``TRACK_FACE_PX`` pixels: that
    costs a few milliseconds instead of a full-frame scan, and keeps following the same person.
    The full frame is scanned again whenever the region yields nothing, and every
    ``redetect_every`` frames.
    """

    TRACK_FACE_PX = 40
    TRACK_REGION = 2.5  # at 2.0 a face moving between lattice frames left the region ~1 time in 5

    def __init__(self, detector: FaceDetector | None = None, size: int = IMAGE_SIZE, margin: float = 0.2,
                 smoothing: float = 0.5, track: bool = True, redetect_every: int = 15):
        if size < 8:
            raise ValueError(f"crop size must be >= 8, got {size}")
        if not 0.0 <= margin <= 2.0:
            raise ValueError(f"margin must be in [0, 2], got {margin}")
        if not 0.0 <= smoothing < 1.0:
            raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
        if redetect_every < 1:
            raise ValueError(f"redetect_every must be >= 1, got {redetect_every}")
        self.detector = detector if detector is not None else HaarFaceDetector()
        self.size = size
        self.margin = margin
        self.smoothing = smoothing
        self.track = track
        self.redetect_every = redetect_every

    def tracker(self) -> FaceTracker:
        """A new causal tracker with these settings (one per stream, or per dataset clip)."""
        return FaceTracker(self)

    def crop(self, frames: Sequence[np.ndarray] | np.ndarray) -> CropResult:
        """Crops of consecutive frames of one clip, tracked causally exactly as a live stream is."""
        images = [as_rgb_uint8(f, f"frame {i}") for i, f in enumerate(frames)]
        if not images:
            return CropResult(np.zeros((0, self.size, self.size, 3), np.uint8), [], 0)
        shape = images[0].shape
        for i, im in enumerate(images):
            if im.shape != shape:
                raise ValueError(f"frame {i} has shape {im.shape}, expected {shape} like frame 0")
        tracker = self.tracker()
        steps = [tracker.step(im) for im in images]
        return CropResult(np.stack([s.crop for s in steps]), [s.box for s in steps],
                          sum(not s.face_found for s in steps))

    def _search_region(self, near: Box, w: int, h: int, toward: Box | None = None,
                       region: float | None = None) -> tuple[int, int, int, int]:
        """``region`` (default ``TRACK_REGION``) face sides around ``near``'s centre, stretched to the
        same around ``toward``'s (where a moving face is predicted), clipped to a w x h image: where
        a tracked face is looked for in the next frame (x0, y0, x1, y1)."""
        side = max(near.width, near.height)
        (ax, ay), (bx, by) = near.center, (toward or near).center
        half = side * (region or self.TRACK_REGION) / 2
        return (max(0, int(min(ax, bx) - half)), max(0, int(min(ay, by) - half)),
                min(w, int(np.ceil(max(ax, bx) + half))), min(h, int(np.ceil(max(ay, by) + half))))

    def _detect_near(self, image: np.ndarray, prev: Box, toward: Box | None = None,
                     region: float | None = None) -> list[Box]:
        """Faces of about ``prev``'s size in a rescaled region around ``prev`` (and ``toward``), in
        full-frame coordinates (``region``: as in :meth:`_search_region`)."""
        h, w = image.shape[:2]
        side = max(prev.width, prev.height)
        x0, y0, x1, y1 = self._search_region(prev, w, h, toward, region)
        if x1 - x0 < 8 or y1 - y0 < 8:
            return []
        scale = min(1.0, self.TRACK_FACE_PX / side)
        region = image[y0:y1, x0:x1]
        if scale < 1.0:
            size = (max(8, round((x1 - x0) * scale)), max(8, round((y1 - y0) * scale)))
            region = cv2.resize(region, size, interpolation=cv2.INTER_AREA)
        sx, sy = (x1 - x0) / region.shape[1], (y1 - y0) / region.shape[0]
        if isinstance(self.detector, HaarFaceDetector):  # the face is about side * scale px here
            found = self.detector.detect(region, sizes=(0.6 * side * scale, 1.6 * side * scale))
        else:
            found = self.detector.detect(region)
        return [Box(x0 + b.x0 * sx, y0 + b.y0 * sy, x0 + b.x1 * sx, y0 + b.y1 * sy, b.score) for b in found]

    def _smooth(self, prev: Box | None, face: Box) -> Box:
        """The exponential moving average of the box a track follows (none across a jump)."""
        if prev is None or face.iou(prev) <= 0.0:
            return face
        a = self.smoothing
        return Box(a * prev.x0 + (1 - a) * face.x0, a * prev.y0 + (1 - a) * face.y0,
                   a * prev.x1 + (1 - a) * face.x1, a * prev.y1 + (1 - a) * face.y1, face.score)

    def _square(self, b: Box, w: int, h: int) -> Box:
        side = max(b.width, b.height) * (1 + 2 * self.margin)
        side = min(side, w, h)
        cx, cy = b.center
        x0 = float(np.clip(cx - side / 2, 0, w - side))
        y0 = float(np.clip(cy - side / 2, 0, h - side))
        return Box(x0, y0, x0 + float(side), y0 + float(side), b.score)

    def _resize(self, image: np.ndarray, b: Box) -> np.ndarray:
        h, w = image.shape[:2]
        side = max(1, min(int(round(b.width)), w, h))
        x0 = min(int(round(b.x0)), w - side)
        y0 = min(int(round(b.y0)), h - side)
        patch = image[y0 : y0 + side, x0 : x0 + side]
        interp = cv2.INTER_AREA if side > self.size else cv2.INTER_LINEAR
        return cv2.resize(patch, (self.size, self.size), interpolation=interp)


class FaceTracker:
    """Causal face tracking over a stream: each frame's crop is decided once, when it arrives, from
    the past only, so a frame shared by several windows has one crop (and one feature vector).

    Per frame: search near the last detection (full frame on loss and every ``redetect_every``
    frames), keep the face that continues the previous one (else the largest, most central),
    smooth the box with an exponential moving average over past frames, square it with the margin
    and clamp it inside the image. A frame without a face reuses the last box (a centre crop before
    any face was seen) and is reported as such, so callers can judge the video branch. A change of
    frame size starts over.
    """

    def __init__(self, cropper: FaceCropper):
        self.cropper = cropper
        self.reset()

    def reset(self) -> None:
        self._prev: Box | None = None  # smoothed: what the crops follow
        self._seen: Box | None = None  # raw: where to search next (the smoothed box lags a moving face)
        self._since_full = 0
        self._shape: tuple[int, ...] | None = None

    def step(self, image: np.ndarray) -> TrackStep:
        c = self.cropper
        image = as_rgb_uint8(image)
        if image.shape != self._shape:
            self.reset()
            self._shape = image.shape
        h, w = image.shape[:2]
        faces: list[Box] = []
        if c.track and self._seen is not None and self._since_full < c.redetect_every:
            faces = c._detect_near(image, self._seen)
            self._since_full += 1
        if not faces:
            faces = c.detector.detect(image)
            self._since_full = 1
        if faces:
            face = self._seen = _pick(faces, self._prev, w, h)
            self._prev = c._smooth(self._prev, face)
        box = c._square(self._prev, w, h) if self._prev is not None else _centre_square(w, h)
        return TrackStep(box=box, crop=c._resize(image, box), face_found=bool(faces))


def _pick(faces: list[Box], prev: Box | None, w: int, h: int) -> Box:
    """The face overlapping the previous one most; otherwise the best by confidence x area, penalised
    by distance from the image centre (a robot usually turns to the person it talks to). Weighting by
    confidence matters: Haar false positives (clothing, patches) are often large but weakly supported."""
    if prev is not None:
        best = max(faces, key=prev.iou)
        if best.iou(prev) > 0.3:
            return best
    diag = float(np.hypot(w, h))

    def score(b: Box) -> float:
        cx, cy = b.center
        return b.score * b.area * (1.0 - np.hypot(cx - w / 2, cy - h / 2) / diag)

    return max(faces, key=score)


def _centre_square(w: int, h: int) -> Box:
    side = min(w, h)
    x0, y0 = (w - side) / 2, (h - side) / 2
    return Box(x0, y0, x0 + side, y0 + side)
