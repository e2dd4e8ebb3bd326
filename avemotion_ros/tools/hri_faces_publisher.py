"""Publish faces the way ROS4HRI's ``hri_face_detect`` does, from a fixed schedule of face images.

A stand-in face detector for tests and demos of ROS4HRI input: for each frame instant it publishes

- ``/humans/faces/tracked`` (``hri_msgs/IdsList``): the ids visible at that instant, also when none;
- per visible id, ``/humans/faces/<id>/roi`` (``hri_msgs/NormalizedRegionOfInterest2D``) and
  ``/humans/faces/<id>/cropped`` and ``/aligned`` (``sensor_msgs/Image``, bgr8, 128x128 by default;
  the given image is already upright, so aligned equals cropped),

all with the same header stamp, per-face topics before the tracked list. Like ``hri_face_detect``,
a face's publishers exist only while the face is tracked: they are created when it appears and
destroyed when it leaves, so a consumer sees topics come and go as on a robot.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from hri_msgs.msg import IdsList, NormalizedRegionOfInterest2D
from rclpy.exceptions import InvalidTopicNameException
from rclpy.time import Time
from rclpy.validate_topic_name import validate_topic_name
from sensor_msgs.msg import Image

from avemotion_ros.hri import FACES_NS

CROP_SIDE = 128  # hri_face_detect's default cropped/aligned size


@dataclass(frozen=True)
class FaceTrack:
    """One face: its id, what it looks like (RGB uint8), and when it is visible.

    ``start``/``end`` are seconds after the stream's start; the face is tracked for
    ``start <= t < end`` (``end`` may be ``math.inf``). ``roi`` is (xmin, ymin, xmax, ymax) in
    normalised image coordinates and ``confidence`` the detector's confidence in it. From
    ``crops_until`` on the face stays listed but its ``cropped``/``aligned`` images stop, as when an
    upstream face stream breaks.
    """

    face_id: str
    image: np.ndarray
    start: float
    end: float
    roi: tuple[float, float, float, float] = (0.25, 0.25, 0.75, 0.75)
    confidence: float = 1.0
    crops_until: float = math.inf

    def visible(self, t: float) -> bool:
        return self.start <= t < self.end


def _check_track(track: FaceTrack) -> None:
    """A bad schedule is a caller's bug: say which face and what, in one line."""
    name = f"face {track.face_id!r}"
    if "/" in track.face_id:
        raise ValueError(f"{name}: not usable in a topic name (an id is one name token, without '/')")
    try:
        validate_topic_name(f"{FACES_NS}/{track.face_id}/roi")
    except InvalidTopicNameException as exc:
        raise ValueError(f"{name}: not usable in a topic name ({str(exc).splitlines()[0]})") from None
    img = track.image
    if not (isinstance(img, np.ndarray) and img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
            and img.shape[0] > 0 and img.shape[1] > 0):
        raise ValueError(f"{name}: image must be RGB uint8 HxWx3, got {getattr(img, 'dtype', type(img))} "
                         f"{getattr(img, 'shape', '')}")
    if not (math.isfinite(track.start) and track.start < track.end):
        raise ValueError(f"{name}: needs a finite start before its end, got [{track.start}, {track.end})")
    if math.isnan(track.crops_until):
        raise ValueError(f"{name}: crops_until must be a time (or math.inf), got nan")
    xmin, ymin, xmax, ymax = track.roi
    if not (0.0 <= xmin < xmax <= 1.0 and 0.0 <= ymin < ymax <= 1.0):
        raise ValueError(f"{name}: roi {track.roi} is not a normalised (xmin, ymin, xmax, ymax) box")
    if not 0.0 <= track.confidence <= 1.0:
        raise ValueError(f"{name}: confidence {track.confidence} is not in [0, 1]")


class _FacePublishers:
    """The per-face topics of one tracked id (alive only while the face is tracked)."""

    def __init__(self, node: Any, face_id: str):
        base = f"{FACES_NS}/{face_id}"
        self.node = node
        self.roi = node.create_publisher(NormalizedRegionOfInterest2D, f"{base}/roi", 10)
        self.cropped = node.create_publisher(Image, f"{base}/cropped", 10)
        self.aligned = node.create_publisher(Image, f"{base}/aligned", 10)

    def destroy(self) -> None:
        for pub in (self.roi, self.cropped, self.aligned):
            self.node.destroy_publisher(pub)


class HriFacesPublisher:
    """Plays a schedule of ``FaceTrack``s as ``hri_face_detect`` output on ``node``."""

    def __init__(self, node: Any, tracks: Sequence[FaceTrack], size: int = CROP_SIDE,
                 frame_id: str = "camera"):
        ids = [t.face_id for t in tracks]
        if len(set(ids)) != len(ids):
            raise ValueError(f"face ids must be unique, got {ids}")
        if size < 1:
            raise ValueError(f"crop size must be positive, got {size}")
        for track in tracks:
            _check_track(track)
        self.node = node
        self.tracks = list(tracks)
        self.frame_id = frame_id
        self.size = size
        self.tracked_pub = node.create_publisher(IdsList, f"{FACES_NS}/tracked", 10)
        # Each face's crop is fixed, so it is resized and converted to BGR once.
        self._crops = {t.face_id: self._crop(t.image) for t in tracks}
        self._live: dict[str, _FacePublishers] = {}

    def _crop(self, rgb: np.ndarray) -> Image:
        bgr = cv2.resize(rgb, (self.size, self.size), interpolation=cv2.INTER_AREA)[:, :, ::-1]
        msg = Image()
        msg.height = msg.width = self.size
        msg.encoding = "bgr8"
        msg.is_bigendian = 0
        msg.step = 3 * self.size
        msg.data = np.ascontiguousarray(bgr).tobytes()
        return msg

    def tracked_at(self, t: float) -> list[str]:
        """Ids visible ``t`` seconds after the start, in schedule order."""
        return [track.face_id for track in self.tracks if track.visible(t)]

    def wait_for_subscribers(self, timeout: float) -> bool:
        """Block until ``/humans/faces/tracked`` has a matched subscriber (else early lists are lost)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.tracked_pub.get_subscription_count():
                time.sleep(0.3)  # matching is per endpoint pair; let the reverse direction settle
                return True
            time.sleep(0.05)
        return False

    def publish(self, stamp: float, t: float) -> list[str]:
        """Publish one frame instant (``t`` seconds after the start, header ``stamp``); returns the ids."""
        ids = self.tracked_at(t)
        for gone in [i for i in self._live if i not in ids]:
            self._live.pop(gone).destroy()
        header_stamp = Time(nanoseconds=round(stamp * 1e9)).to_msg()
        for track in self.tracks:
            if track.face_id not in ids:
                continue
            pubs = self._live.get(track.face_id)
            if pubs is None:
                pubs = self._live[track.face_id] = _FacePublishers(self.node, track.face_id)
            roi = NormalizedRegionOfInterest2D()
            roi.xmin, roi.ymin, roi.xmax, roi.ymax = track.roi
            roi.c = track.confidence
            crop = self._crops[track.face_id]
            for msg in (roi, crop):
                msg.header.stamp = header_stamp
                msg.header.frame_id = self.frame_id
            pubs.roi.publish(roi)
            if t < track.crops_until:
                pubs.cropped.publish(crop)
                pubs.aligned.publish(crop)
        tracked = IdsList()
        tracked.header.stamp = header_stamp
        tracked.header.frame_id = self.frame_id
        tracked.ids = ids
        self.tracked_pub.publish(tracked)
        return ids

    def play(self, seconds: float, rate: float = 15.0, t0: float | None = None,
             realtime: bool = True) -> float:
        """Publish ``seconds`` of frame instants at ``rate`` Hz from stamp ``t0``; returns ``t0``."""
        t0 = time.time() if t0 is None else t0
        wall0 = time.monotonic()
        for i in range(int(round(seconds * rate))):
            t = i / rate
            if realtime:
                delay = wall0 + t - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            self.publish(t0 + t, t)
        return t0

    def close(self) -> None:
        """Destroy the per-face publishers still alive (the faces leave with the detector)."""
        for pubs in self._live.values():
            pubs.destroy()
        self._live.clear()
