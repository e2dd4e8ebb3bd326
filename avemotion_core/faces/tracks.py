"""Every person in view: several faces tracked at once, each with a stable id and its own crops.

The single-face :class:`~avemotion_core.faces.cropper.FaceTracker` follows one person (a dataset
clip shows one actor). A robot often faces several people; mixing their crops in one window gives a
label that belongs to nobody. Here each lattice frame's detections are associated with tracks:

- Each track searches near its own last face first (the same rescaled region search as the single
  tracker); the full frame is scanned when there is no track, when a track lost its face there, and
  every ``scan_every`` frames, so a newcomer is found within about two seconds (a full scan costs
  several region searches: scanning every frame doubled the node's CPU with one person in view).
- Association is greedy on overlap with each track's *predicted* box (last box moved by the track's
  velocity) or its last box, falling back to centre distance within one face size: two people who
  pass each other keep their ids, and a swaying head keeps its one. A detection nobody claims
  (and that is not inside a tracked face) starts a track, largest first, up to ``max_faces``.
- A track that misses its face keeps its box (reported as no face, so its window can go
  ``onlyaudio``) and ends ``track_timeout`` seconds after it was last seen.
- Per track, the box is smoothed, squared with the margin and cropped exactly as the single
  tracker does (the same :class:`FaceCropper` methods), so one person's crops look like training's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avemotion_core.faces.box import Box
from avemotion_core.faces.cropper import FaceCropper, TrackStep
from avemotion_core.media.image import as_rgb_uint8

MATCH_IOU = 0.2  # overlap with the predicted box that continues a track
MATCH_DISTANCE = 1.0  # else: centre within this many face sides of the prediction or last box


@dataclass
class _Track:
    id: str
    smoothed: Box  # what the crops follow
    seen: Box  # the last raw detection (the smoothed box lags a moving face)
    seen_at: float
    started: float
    velocity: tuple[float, float] = (0.0, 0.0)  # px / s of the box centre

    def predicted(self, stamp: float) -> Box:
        dt = max(0.0, stamp - self.seen_at)
        dx, dy = self.velocity[0] * dt, self.velocity[1] * dt
        b = self.seen
        return Box(b.x0 + dx, b.y0 + dy, b.x1 + dx, b.y1 + dy, b.score)


def _similarity(pred: Box, det: Box) -> float:
    """> 0 when ``det`` may continue a track predicted at ``pred``: IoU, else a small distance score."""
    iou = pred.iou(det)
    if iou >= MATCH_IOU:
        return 1.0 + iou
    side = max(pred.width, pred.height, 1.0)
    (px, py), (dx, dy) = pred.center, det.center
    dist = float(np.hypot(px - dx, py - dy)) / side
    size_ratio = max(det.width, 1.0) / max(pred.width, 1.0)
    if dist < MATCH_DISTANCE and 0.5 < size_ratio < 2.0:
        return 1.0 - dist / MATCH_DISTANCE
    return 0.0


class MultiFaceTracker:
    """Causal multi-face tracking over one stream; ``step`` gives one :class:`TrackStep` per track."""

    def __init__(self, cropper: FaceCropper, max_faces: int = 4, track_timeout: float = 1.0,
                 scan_every: int = 8):
        if max_faces < 1 or track_timeout <= 0 or scan_every < 1:
            raise ValueError(f"invalid multi-face tracker settings: max_faces={max_faces}, "
                             f"track_timeout={track_timeout}, scan_every={scan_every}")
        self.cropper = cropper
        self.max_faces = max_faces
        self.track_timeout = track_timeout
        self.scan_every = scan_every
        self._next_id = 1
        self.reset()

    def reset(self) -> None:
        """A new timeline: no track continues (ids keep counting up, so none is ever reused)."""
        self.tracks: list[_Track] = []
        self._since_scan = 0
        self._shape: tuple[int, ...] | None = None

    def step(self, image: np.ndarray, stamp: float) -> list[TrackStep]:
        c = self.cropper
        image = as_rgb_uint8(image)
        if image.shape != self._shape:
            self.reset()
            self._shape = image.shape
        h, w = image.shape[:2]
        candidates: list[Box] = []
        lost = not self.tracks
        if c.track and self._since_scan < self.scan_every:
            for track in self.tracks:
                near = c._detect_near(image, track.predicted(stamp))
                candidates += near
                lost = lost or not near
        if lost or not c.track or self._since_scan >= self.scan_every:
            candidates += c.detector.detect(image)
            self._since_scan = 0
        self._since_scan += 1
        found = self._associate(_dedupe(candidates), stamp)
        self.tracks = [t for t in self.tracks if stamp - t.seen_at <= self.track_timeout]
        return [TrackStep(box=(box := c._square(t.smoothed, w, h)), crop=c._resize(image, box),
                          face_found=t.id in found, track_id=t.id) for t in self.tracks]

    def _associate(self, detections: list[Box], stamp: float) -> set[str]:
        """Greedy best-first matching of detections to tracks; new tracks for the rest."""
        # the last box as well as the predicted one: a head that sways back and forth between
        # lattice frames is where it was more often than where its velocity points
        pairs = sorted(((max(_similarity(t.predicted(stamp), d), _similarity(t.seen, d)), ti, di)
                        for ti, t in enumerate(self.tracks) for di, d in enumerate(detections)), reverse=True)
        used_t: set[int] = set()
        used_d: set[int] = set()
        for score, ti, di in pairs:
            if score <= 0.0 or ti in used_t or di in used_d:
                continue
            used_t.add(ti)
            used_d.add(di)
            self._update(self.tracks[ti], detections[di], stamp)
        # a detection inside a tracked face (the full scan and the region search box one face
        # differently) is that face again, not a newcomer
        taken = [t.seen for t in self.tracks]
        fresh = sorted((d for di, d in enumerate(detections)
                        if di not in used_d and not any(b.contains(*d.center) for b in taken)),
                       key=lambda b: b.area, reverse=True)
        for det in fresh[: max(0, self.max_faces - len(self.tracks))]:
            self.tracks.append(_Track(id=f"face{self._next_id}", smoothed=det, seen=det, seen_at=stamp,
                                      started=stamp))
            self._next_id += 1
        return {t.id for t in self.tracks if t.seen_at == stamp}

    def _update(self, track: _Track, det: Box, stamp: float) -> None:
        dt = stamp - track.seen_at
        if dt > 0:
            (x0, y0), (x1, y1) = track.seen.center, det.center
            vx, vy = (x1 - x0) / dt, (y1 - y0) / dt
            track.velocity = (0.5 * track.velocity[0] + 0.5 * vx, 0.5 * track.velocity[1] + 0.5 * vy)
        track.smoothed = self.cropper._smooth(track.smoothed, det)
        track.seen, track.seen_at = det, stamp


def _dedupe(boxes: list[Box], iou: float = 0.3) -> list[Box]:
    """One box per face: region searches and the full scan find the same face twice, at scales
    that differ (a box whose centre lies inside a kept one is the same face)."""
    kept: list[Box] = []
    for b in sorted(boxes, key=lambda b: b.score * b.area, reverse=True):
        if all(b.iou(k) < iou and not k.contains(*b.center) for k in kept):
            kept.append(b)
    return kept


class GivenFaces:
    """Faces found and tracked upstream (ROS4HRI's ``hri_face_detect``): one crop per upstream id.

    No detection here: each id's image is already the face, so the whole image is its box (as
    ``face_detector: none`` treats a pre-cropped camera) and the upstream id is the track id.
    """

    def __init__(self, cropper: FaceCropper):
        self.cropper = cropper
        self.ids: set[str] = set()

    def reset(self) -> None:
        self.ids = set()

    def step(self, faces: dict[str, np.ndarray], stamp: float) -> list[TrackStep]:
        c = self.cropper
        steps = []
        for face_id, image in faces.items():
            image = as_rgb_uint8(image, f"face {face_id}")
            h, w = image.shape[:2]
            box = c._square(Box(0.0, 0.0, float(w), float(h)), w, h)
            steps.append(TrackStep(box=box, crop=c._resize(image, box), face_found=True, track_id=face_id))
        self.ids = set(faces)
        return steps
