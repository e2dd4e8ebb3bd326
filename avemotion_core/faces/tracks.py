"""Every person in view: several faces tracked at once, each with a stable id and its own crops.

The single-face :class:`~avemotion_core.faces.cropper.FaceTracker` follows one person (a dataset
clip shows one actor). A robot often faces several people; mixing their crops in one window gives a
label that belongs to nobody. Here each lattice frame's detections are associated with tracks:

- Each track follows its face by appearance between detections: the face's last detected patch is
  matched (normalised cross-correlation on a small grey copy) in a region around where it was last
  seen, stretched to where its velocity puts it now (around the prediction alone, a head swaying
  faster than the 0.24 s lattice samples it was missed, with a full scan each time). A match of at
  least ``MATCH_NCC`` is the face found again; the detector's region search (the single tracker's)
  runs instead when the match is weak, and renews the patch. Every ``verify_every`` frames the
  detector checks a good match, searching only ``VERIFY_REGION`` face sides around it (the
  region search's 2.5 if that finds nothing). A Haar region search costs ~6 ms per face on a
  2-core Xeon, the check ~3, a match ~0.3.
- The full frame is scanned when there is no track and when a track's face was not where it
  looked (its region search found nothing, or only another track's face; a tentative track's too,
  or a person walking past moves too far between the first two frames ever to be confirmed); every
  ``scan_every`` frames, when every track found its face, a coarser scan (Haar scale step
  ``NEWCOMER_SCALE``, half the cost) with the tracked faces flattened out (the cascade is slowest on
  faces) looks out for newcomers, found within about two seconds. A full scan costs over ten region
  searches: scanning every frame doubled the node's CPU with one person in view.
- Association is greedy on overlap with each track's *predicted* box (last box moved by the track's
  velocity) or its last box, falling back to centre distance within one face size: two people who
  pass each other keep their ids, and a swaying head keeps its one. A detection nobody claims
  (and that is not inside a tracked face) starts a track, largest first, up to ``max_faces``.
- A new track is tentative until the detector finds its face again the next frame: a Haar false
  face (a patterned shirt, a poster) is dropped after one more scan, instead of living
  ``track_timeout`` with a full scan for each of its misses and its crops encoded. Tentative tracks
  are not reported.
- A track that misses its face keeps its box (reported as no face, so its window can go
  ``onlyaudio``) and ends ``track_timeout`` seconds after it was last seen.
- Per track, the box is smoothed, squared with the margin and cropped exactly as the single
  tracker does (the same :class:`FaceCropper` methods), so one person's crops look like training's.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import cv2
import numpy as np

from avemotion_core.faces.box import Box
from avemotion_core.faces.cropper import FaceCropper, TrackStep
from avemotion_core.faces.haar import HaarFaceDetector
from avemotion_core.media.image import as_rgb_uint8

MATCH_IOU = 0.2  # overlap with the predicted box that continues a track
MATCH_DISTANCE = 1.0  # else: centre within this many face sides of the prediction or last box
MATCH_NCC = 0.85  # appearance match that counts as the face found again
PATCH_PX = 24  # side of the grey face patch matched between detections
CONFIRM_HITS = 2  # detections (the first one included) that make a track a person
NEWCOMER_SCALE = 1.2  # Haar scale step of the periodic scans for newcomers (1.1 when searching)
VERIFY_REGION = 1.4  # face sides the detector's check of an appearance match searches around it


@dataclass
class _Track:
    id: str
    smoothed: Box  # what the crops follow
    seen: Box  # the last raw detection (the smoothed box lags a moving face)
    seen_at: float
    started: float
    velocity: tuple[float, float] = (0.0, 0.0)  # px / s of the box centre
    patch: np.ndarray | None = None  # grey PATCH_PX square of the face at its last detection
    followed: int = 0  # frames followed by appearance since that detection
    hits: int = 1  # detector detections so far; below CONFIRM_HITS the track is tentative

    @property
    def confirmed(self) -> bool:
        return self.hits >= CONFIRM_HITS

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
                 scan_every: int = 8, verify_every: int = 4):
        if max_faces < 1 or track_timeout <= 0 or scan_every < 1 or verify_every < 1:
            raise ValueError(f"invalid multi-face tracker settings: max_faces={max_faces}, "
                             f"track_timeout={track_timeout}, scan_every={scan_every}, "
                             f"verify_every={verify_every}")
        self.cropper = cropper
        self.max_faces = max_faces
        self.track_timeout = track_timeout
        self.scan_every = scan_every
        self.verify_every = verify_every
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
        followed, due = self._follow(image, stamp) if c.track else ({}, {})
        found: list[Box] = []
        if c.track:
            for track in self.tracks:
                if track.id in followed:
                    continue
                # a match due its check is looked for close around it (under half the cost), else
                # the face is searched for from where it was seen to where it is predicted
                match = due.get(track.id)
                checked = c._detect_near(image, match, region=VERIFY_REGION) if match else []
                found += checked or c._detect_near(image, track.seen, track.predicted(stamp))
        scanned = not self.tracks or not c.track
        if scanned:
            found += c.detector.detect(image)
        detected, unused = self._match(_dedupe(found), stamp, followed)
        if not scanned and any(t.id not in detected and t.id not in followed
                               for t in self.tracks):
            # a face was not where its track looked (another face may have been found there; a new
            # track's too: a face walking past moves most of its width between the first two frames);
            # the faces just detected are not candidates again (two tracks on one face: one misses and ends)
            claimed = [t.seen for t in self.tracks if t.id in detected]
            scan = [d for d in c.detector.detect(image) if not any(b.contains(*d.center) for b in claimed)]
            more, unused = self._match(_dedupe(unused + scan), stamp, followed, detected)
            detected |= more
            scanned = True
        elif not scanned and self._since_scan >= self.scan_every:
            unused += self._newcomer_scan(image, followed)
            self._since_scan = 0
        self._since_scan = 0 if scanned else self._since_scan + 1
        detected |= self._start(unused, stamp, followed)
        for track in self.tracks:
            if track.id in detected:
                track.patch, track.followed = _patch(image, track.seen), 0
            elif track.id in followed:
                self._update(track, followed[track.id], stamp)
                track.followed += 1
        self.tracks = [t for t in self.tracks if stamp - t.seen_at <= self.track_timeout
                       and (t.confirmed or t.seen_at == stamp)]
        return [TrackStep(box=(box := c._square(t.smoothed, w, h)), crop=c._resize(image, box),
                          face_found=t.seen_at == stamp, track_id=t.id) for t in self.tracks if t.confirmed]

    def _newcomer_scan(self, image: np.ndarray, followed: dict[str, Box]) -> list[Box]:
        """Faces of people not tracked yet, once every track has found its own this frame: a coarser
        Haar scan (half the cost) with the tracked faces flattened out (less than half again with
        three people in view), as only a newcomer can start a track here."""
        detector = self.cropper.detector
        if not isinstance(detector, HaarFaceDetector):
            return detector.detect(image)
        return detector.detect(image, scale_factor=NEWCOMER_SCALE, exclude=self._faces_now(followed))

    def _faces_now(self, followed: dict[str, Box]) -> list[Box]:
        """Where each track's face is this frame: its appearance match, else its last detection
        (this frame's, once matched)."""
        return [followed.get(t.id, t.seen) for t in self.tracks]

    def live_ids(self) -> set[str]:
        """Ids of the people being tracked (confirmed tracks that have not ended)."""
        return {t.id for t in self.tracks if t.confirmed}

    def _follow(self, image: np.ndarray, stamp: float) -> tuple[dict[str, Box], dict[str, Box]]:
        """Each track's face found again by appearance (no detector), where the match is strong and
        no other track's match claims the same place: the tracks followed on it alone, and those
        whose patch is old enough (``verify_every``) that the detector checks the match first."""
        found: dict[str, Box] = {}
        for track in self.tracks:
            if track.confirmed and track.patch is not None:
                match = _find_patch(image, track.patch, track.seen, track.predicted(stamp), self.cropper)
                if match is not None and match.score >= MATCH_NCC:
                    found[track.id] = match
        # two tracks matching one place (a face passing in front of another): neither is trusted
        clash = {a for a in found for b in found if a != b and found[a].iou(found[b]) > MATCH_IOU}
        trusted = {tid: box for tid, box in found.items() if tid not in clash}
        due = {t.id for t in self.tracks if t.followed >= self.verify_every - 1}
        return ({tid: box for tid, box in trusted.items() if tid not in due},
                {tid: box for tid, box in trusted.items() if tid in due})

    def _match(self, detections: list[Box], stamp: float, followed: dict[str, Box],
               done: Collection[str] = ()) -> tuple[set[str], list[Box]]:
        """Greedy best-first matching of detections to the tracks not ``done`` this frame: the ids
        of the tracks a detection continued, and the detections left over.

        A track ``followed`` by appearance this frame competes with its matched box (where its face
        is now), so a face found by another track's region search goes to its own track."""
        def similarity(t: _Track, d: Box) -> float:
            if t.id in followed:
                return _similarity(followed[t.id], d)
            # the last box as well as the predicted one: a head that sways back and forth between
            # lattice frames is where it was more often than where its velocity points
            return max(_similarity(t.predicted(stamp), d), _similarity(t.seen, d))

        pairs = sorted(((similarity(t, d), ti, di) for ti, t in enumerate(self.tracks) if t.id not in done
                        for di, d in enumerate(detections)), reverse=True)
        used_t: set[int] = set()
        used_d: set[int] = set()
        for score, ti, di in pairs:
            if score <= 0.0 or ti in used_t or di in used_d:
                continue
            used_t.add(ti)
            used_d.add(di)
            self._update(self.tracks[ti], detections[di], stamp)
            self.tracks[ti].hits += 1
        unused = [d for di, d in enumerate(detections) if di not in used_d]
        return {self.tracks[ti].id for ti in used_t}, unused

    def _start(self, detections: list[Box], stamp: float, followed: dict[str, Box]) -> set[str]:
        """New tracks for unclaimed detections, largest first, up to ``max_faces``; their ids."""
        # a detection inside a tracked face (the full scan and the region search box one face
        # differently) is that face again, not a newcomer
        taken = self._faces_now(followed)
        fresh = sorted((d for d in detections if not any(b.contains(*d.center) for b in taken)),
                       key=lambda b: b.area, reverse=True)
        started = set()
        for det in fresh[: max(0, self.max_faces - len(self.tracks))]:
            # without tracking (``face_detector: none``) the whole frame is the face: nothing to confirm
            self.tracks.append(_Track(id=f"face{self._next_id}", smoothed=det, seen=det, seen_at=stamp,
                                      started=stamp, hits=1 if self.cropper.track else CONFIRM_HITS))
            started.add(self.tracks[-1].id)
            self._next_id += 1
        return started

    def _update(self, track: _Track, det: Box, stamp: float) -> None:
        dt = stamp - track.seen_at
        if dt > 0:
            (x0, y0), (x1, y1) = track.seen.center, det.center
            vx, vy = (x1 - x0) / dt, (y1 - y0) / dt
            track.velocity = (0.5 * track.velocity[0] + 0.5 * vx, 0.5 * track.velocity[1] + 0.5 * vy)
        track.smoothed = self.cropper._smooth(track.smoothed, det)
        track.seen, track.seen_at = det, stamp


def _patch(image: np.ndarray, box: Box) -> np.ndarray | None:
    """The grey ``PATCH_PX`` square of a face (what it looks like, for matching the next frames)."""
    h, w = image.shape[:2]
    x0, y0 = max(0, int(box.x0)), max(0, int(box.y0))
    x1, y1 = min(w, int(np.ceil(box.x1))), min(h, int(np.ceil(box.y1)))
    if x1 - x0 < 8 or y1 - y0 < 8:
        return None
    face = cv2.resize(image[y0:y1, x0:x1], (PATCH_PX, PATCH_PX), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(face, cv2.COLOR_RGB2GRAY)


def _find_patch(image: np.ndarray, patch: np.ndarray, near: Box, toward: Box,
                cropper: FaceCropper) -> Box | None:
    """Where ``patch`` best matches in the cropper's search region around ``near`` and ``toward`` (at
    the patch's scale: the face is assumed to keep its size between detections); its score is how
    well (NCC in [-1, 1])."""
    h, w = image.shape[:2]
    side = max(near.width, near.height)
    x0, y0, x1, y1 = cropper._search_region(near, w, h, toward)
    scale = PATCH_PX / side  # face pixels -> patch pixels
    size = (round((x1 - x0) * scale), round((y1 - y0) * scale))
    if min(size) <= PATCH_PX:
        return None  # the face is at the image border: leave it to the detector
    area = cv2.resize(image[y0:y1, x0:x1], size, interpolation=cv2.INTER_AREA)
    scores = cv2.matchTemplate(cv2.cvtColor(area, cv2.COLOR_RGB2GRAY), patch, cv2.TM_CCOEFF_NORMED)
    _, best, _, (px, py) = cv2.minMaxLoc(scores)
    bx, by = x0 + px / scale, y0 + py / scale
    return Box(bx, by, bx + side, by + side, float(best))


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
