"""Face crop policy measured against independent references on real faces (scikit-image astronaut):
the margin against the detector's own box, the continuity rule with two people in view, the
``face_detector: none`` cropper and ``make_cropper``'s settings."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from media_helpers import astronaut, face_centre, paste

from avemotion_core.faces import Box, FaceCropper, HaarFaceDetector, NoFaceDetector, make_cropper
from avemotion_core.faces.cropper import _pick


@pytest.fixture(scope="module")
def detector() -> HaarFaceDetector:
    return HaarFaceDetector()


def place(canvas_hw: tuple[int, int], size: int, x: int, y: int) -> np.ndarray:
    """The astronaut resized to ``size`` with its top-left at (x, y), which may lie outside the canvas."""
    img = astronaut(size)
    h, w = canvas_hw
    canvas = np.full((h, w, 3), 30, np.uint8)
    xs, ys = max(0, -x), max(0, -y)
    xe, ye = min(size, w - x), min(size, h - y)
    canvas[max(0, y) : max(0, y) + ye - ys, max(0, x) : max(0, x) + xe - xs] = img[ys:ye, xs:xe]
    return canvas


@pytest.mark.parametrize(
    ("canvas", "size", "x", "y", "margin"),
    [
        ((480, 640), 300, 170, 90, 0.2),  # free-standing face, default margin
        ((480, 640), 300, 170, 90, 0.5),
        ((480, 640), 300, 170, 90, 0.0),  # no margin: the detector's box, squared
        ((240, 320), 200, -50, -10, 1.0),  # face in the top-left corner: the box is pushed inside
        ((240, 320), 200, 200, 100, 1.0),  # bottom-right corner
        ((200, 200), 260, -60, -30, 2.0),  # the margin would exceed the frame: clamped to its side
    ],
)
def test_crop_box_is_the_detector_box_plus_margin(detector, canvas, size, x, y, margin):
    """The square crop box, measured against the detector's own box on the same frame:
    side = max(w, h) * (1 + 2 * margin), at most the frame's shorter side, centred on the face and
    shifted (not shrunk) to stay inside the frame."""
    frame = place(canvas, size, x, y)
    (face,) = detector.detect(frame)  # these placements give exactly one (true) detection
    assert face.contains(*face_centre(size, x, y))
    h, w = canvas
    side = min(max(face.x1 - face.x0, face.y1 - face.y0) * (1 + 2 * margin), w, h)
    cx, cy = (face.x0 + face.x1) / 2, (face.y0 + face.y1) / 2
    x0 = min(max(cx - side / 2, 0.0), w - side)
    y0 = min(max(cy - side / 2, 0.0), h - side)
    result = FaceCropper(size=32, margin=margin).crop([frame])
    (box,) = result.boxes
    assert result.missing == 0
    assert (box.x0, box.y0, box.x1, box.y1) == pytest.approx((x0, y0, x0 + side, y0 + side), abs=1e-6)
    # the crop is that box's pixels, resized
    patch = frame[round(y0) : round(y0) + round(side), round(x0) : round(x0) + round(side)]
    expected = cv2.resize(patch, (32, 32), interpolation=cv2.INTER_AREA)
    assert np.abs(result.crops[0].astype(int) - expected.astype(int)).max() <= 1


def test_square_alone_matches_the_formula():
    """``FaceCropper._square`` on hand-made boxes: margin, squaring of a tall box, clamping."""
    cropper = FaceCropper(size=32, margin=0.25)
    b = cropper._square(Box(100, 100, 140, 160), 640, 480)  # 40x60: side 60 * 1.5 = 90
    assert (b.x0, b.y0, b.x1, b.y1) == pytest.approx((75, 85, 165, 175))
    b = cropper._square(Box(0, 0, 40, 40), 640, 480)  # side 60, centre (20, 20): shifted to (0, 0)
    assert (b.x0, b.y0, b.x1, b.y1) == pytest.approx((0, 0, 60, 60))
    b = cropper._square(Box(600, 440, 640, 480), 640, 480)
    assert (b.x0, b.y0, b.x1, b.y1) == pytest.approx((580, 420, 640, 480))
    b = cropper._square(Box(0, 0, 400, 400), 640, 480)  # 600 > 480: the frame's shorter side
    assert (b.x0, b.y0, b.x1, b.y1) == pytest.approx((0, 0, 480, 480))


def two_people() -> tuple[np.ndarray, np.ndarray, Box, Box]:
    """Frame 0: one small face on the left (person A). Frame 1: the same, plus a larger face in
    the centre (person B), which is the one a fresh detection prefers."""
    first = paste((480, 640), astronaut(200), 0, 140)
    both = first.copy()
    both[90:390, 250:550] = astronaut(300)
    a = Box(0, 140, 200, 340)  # person A's pasted image
    b = Box(250, 90, 550, 390)
    return first, both, a, b


def test_pick_prefers_the_face_that_continues_the_previous_one(detector):
    first, both, person_a, person_b = two_people()
    (prev,) = detector.detect(first)
    faces = detector.detect(both)
    assert len(faces) == 2
    h, w = both.shape[:2]
    fresh = _pick(faces, None, w, h)
    assert person_b.contains(*fresh.center)  # without history: the larger, central face
    assert person_a.contains(*_pick(faces, prev, w, h).center)  # with history: the same person
    assert person_a.contains(*_pick(list(reversed(faces)), prev, w, h).center)
    far = Box(prev.x0, prev.y0 + 200, prev.x1, prev.y1 + 200)  # no overlap with either face
    assert _pick(faces, far, w, h) == fresh


@pytest.mark.parametrize("track", [True, False])
def test_cropper_keeps_following_the_first_person(track):
    """A larger, more central face entering after the first frame must not steal the crop."""
    first, both, person_a, person_b = two_people()
    assert person_b.contains(*FaceCropper(size=32, track=track).crop([both]).boxes[0].center)
    result = FaceCropper(size=32, track=track).crop([first, both, both, both])
    assert result.missing == 0
    for box in result.boxes:
        assert person_a.contains(*box.center) and not person_b.contains(*box.center)


def test_make_cropper_settings_and_errors():
    assert isinstance(make_cropper("haar", 48).detector, HaarFaceDetector)
    assert make_cropper("haar", 48).size == 48
    none = make_cropper("none", 40)
    assert isinstance(none.detector, NoFaceDetector) and none.size == 40
    from avemotion_core.faces.mtcnn import MTCNNFaceDetector

    assert isinstance(make_cropper("mtcnn", 64).detector, MTCNNFaceDetector)
    for bad in ("retinaface", "Haar", ""):
        with pytest.raises(ValueError, match="face_detector"):
            make_cropper(bad, 48)
    with pytest.raises(ValueError, match="crop size"):
        make_cropper("none", 4)
    assert not make_cropper("none", 48).track  # the frame is the face: no region around it to rescan
    assert make_cropper("haar", 48).track


def test_cropper_bounds_and_an_empty_clip():
    default = FaceCropper()
    assert (default.size, default.margin, default.smoothing, default.track, default.redetect_every) == (
        224, 0.2, 0.5, True, 15)
    assert FaceCropper(size=8, margin=2.0, smoothing=0.0, redetect_every=1).margin == 2.0
    bad_settings = (dict(margin=2.01), dict(margin=-0.01), dict(size=7), dict(smoothing=1.0),
                    dict(redetect_every=0))
    for bad in bad_settings:
        with pytest.raises(ValueError):
            FaceCropper(**bad)
    empty = FaceCropper(size=16).crop([])
    assert empty.crops.shape == (0, 16, 16, 3) and empty.boxes == [] and empty.missing == 0


def test_no_face_detector_centre_crops_a_frame_that_has_a_face():
    """``face_detector: none`` is for topics that already show a cropped face: the frame is the face
    (found, not missing), centre-cropped and never searched, even with a face off centre."""
    frame = paste((240, 320), astronaut(200), 0, 20)  # face left of centre
    assert NoFaceDetector().detect(frame) == [Box(0.0, 0.0, 320.0, 240.0)]
    result = make_cropper("none", 32).crop([frame, frame])
    assert result.missing == 0
    assert result.boxes == [Box(40.0, 0.0, 280.0, 240.0)] * 2
    expected = cv2.resize(frame[:, 40:280], (32, 32), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(result.crops[0], expected)


def square_by_formula(b: Box, margin: float, w: int, h: int) -> tuple[float, float, float, float]:
    """The crop box of the class docstring, written out: a square of max(width, height) * (1 + 2 margin),
    at most the frame's shorter side, centred on the face, shifted inside the frame."""
    side = min(max(b.x1 - b.x0, b.y1 - b.y0) * (1 + 2 * margin), w, h)
    cx, cy = (b.x0 + b.x1) / 2, (b.y0 + b.y1) / 2
    x0, y0 = min(max(cx - side / 2, 0.0), w - side), min(max(cy - side / 2, 0.0), h - side)
    return x0, y0, x0 + side, y0 + side


def test_smoothing_is_an_exponential_moving_average_of_the_detector_boxes(detector):
    """Each corner is ``a * previous + (1 - a) * detected`` (``a`` = smoothing), checked against the
    Haar detector's own boxes on each frame (track=False: every frame is a full scan)."""
    a = 0.25
    frames = [paste((240, 320), astronaut(200), x, y) for x, y in ((40, 20), (60, 30), (50, 25))]
    raw = [detector.detect(f) for f in frames]
    assert all(len(r) == 1 for r in raw)
    result = FaceCropper(size=32, margin=0.0, smoothing=a, track=False).crop(frames)
    corners = np.array([(f.x0, f.y0, f.x1, f.y1) for (f,) in raw])
    smoothed = [corners[0]]
    for detected in corners[1:]:
        smoothed.append(a * smoothed[-1] + (1 - a) * detected)
    for box, s in zip(result.boxes, smoothed, strict=True):
        assert (box.x0, box.y0, box.x1, box.y1) == pytest.approx(square_by_formula(Box(*s), 0.0, 320, 240))


def test_pick_weighs_area_by_closeness_to_the_centre():
    """Without history the score is confidence x area x (1 - distance from the centre / diagonal):
    on a 640x480 frame (diagonal 800) a 100 px face at the centre beats a 120 px one 300 px away
    (10000 vs 14400 x 0.625 = 9000), and loses to a 140 px one there (19600 x 0.625 = 12250); the
    same across a portrait frame, and a 140 px face of half the confidence loses (6125)."""
    for w, h in ((640, 480), (480, 640)):
        cx, cy = w / 2, h / 2
        centre = Box(cx - 50, cy - 50, cx + 50, cy + 50)
        fx, fy = (cx - 300, cy) if w > h else (cx, cy - 300)  # 300 px from the centre, along the long side
        for side, winner in ((120, "centre"), (140, "far")):
            far = Box(fx - side / 2, fy - side / 2, fx + side / 2, fy + side / 2)
            expected = centre if winner == "centre" else far
            assert _pick([centre, far], None, w, h) == expected, (w, side)
            assert _pick([far, centre], None, w, h) == expected, (w, side)
        weak = Box(fx - 70, fy - 70, fx + 70, fy + 70, score=0.5)
        assert _pick([weak, centre], None, w, h) == centre


def test_a_face_that_jumps_is_not_smoothed_towards_the_old_place(detector):
    """No overlap with the previous box: a new place (or person), taken as detected, not dragged."""
    frames = [paste((240, 480), astronaut(200), x, 20) for x in (0, 280)]
    (left,), (right,) = (detector.detect(f) for f in frames)
    assert left.iou(right) == 0.0
    box = FaceCropper(size=32, margin=0.0, smoothing=0.5, track=False).crop(frames).boxes[1]
    assert (box.x0, box.y0, box.x1, box.y1) == pytest.approx(square_by_formula(right, 0.0, 480, 240))
