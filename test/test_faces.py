"""faces.py on real faces (scikit-image astronaut and LFW subset), pasted at various places and scales."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from media_helpers import ASTRONAUT_FACE_SIZE, astronaut, face_centre, paste
from skimage import data

from avemotion_core.faces import Box, FaceCropper, HaarFaceDetector, NoFaceDetector


@pytest.fixture(scope="module")
def detector() -> HaarFaceDetector:
    return HaarFaceDetector()


def test_finds_the_astronaut_face(detector):
    boxes = detector.detect(astronaut())
    assert any(b.contains(*face_centre(512, 0, 0)) for b in boxes)


def test_lfw_faces_found_and_non_faces_rejected(detector):
    lfw = data.lfw_subset()  # 100 faces then 100 non-faces, 25x25 grey in [0, 1]
    def found(img: np.ndarray) -> bool:
        return bool(detector.detect(cv2.resize((img * 255).astype(np.uint8), (100, 100))))
    hits = sum(found(f) for f in lfw[:100])
    false = sum(found(f) for f in lfw[100:])
    assert hits >= 70, hits
    assert false <= 5, false


def test_excluded_faces_are_flattened_out_and_the_others_still_found(detector):
    """A tracker's newcomer scan passes the faces it already follows as ``exclude``: those are not
    found again (the cascade, slowest on faces, rejects a flat patch at once), the fourth face is."""
    frame = np.full((480, 640, 3), 40, np.uint8)
    centres = []
    for k, (x, y) in enumerate([(85, 45), (405, 45), (85, 285), (405, 285)]):
        grey = cv2.resize((data.lfw_subset()[k] * 255).astype(np.uint8), (150, 150))
        frame[y : y + 150, x : x + 150] = grey[:, :, None]
        centres.append((x + 75, y + 75))
    every = detector.detect(frame, scale_factor=1.2)
    known = [next(b for b in every if b.contains(*c)) for c in centres[:3]]  # found with nothing excluded
    assert len(every) == 4, every
    newcomers = detector.detect(frame, scale_factor=1.2, exclude=known)
    assert len(newcomers) == 1 and newcomers[0].contains(*centres[3]), newcomers


@pytest.mark.parametrize(
    ("canvas", "size", "x", "y"),
    [
        ((480, 640), 240, 0, 0),
        ((480, 640), 300, 330, 170),
        ((480, 640), 160, 300, 50),  # face ~30 px: about the smallest found at 640x480
        ((720, 1280), 400, 800, 300),
        ((224, 224), 224, 0, 0),
    ],
)
def test_crop_box_contains_the_face_anywhere(canvas, size, x, y):
    frame = paste(canvas, astronaut(size), x, y)
    result = FaceCropper(size=64).crop([frame] * 3)
    assert result.missing == 0 and result.crops.shape == (3, 64, 64, 3) and result.crops.dtype == np.uint8
    face = ASTRONAUT_FACE_SIZE * size / 512
    for b in result.boxes:
        assert b.contains(*face_centre(size, x, y))
        assert b.width == pytest.approx(b.height)  # square
        assert 0 <= b.x0 and 0 <= b.y0 and b.x1 <= canvas[1] + 1e-6 and b.y1 <= canvas[0] + 1e-6  # clamped
        assert face * 0.8 < b.width < face * 3


def test_crop_is_a_face_filling_the_output():
    frame = paste((480, 640), astronaut(300), 200, 100)
    crop = FaceCropper(size=224).crop([frame]).crops[0]
    inner = HaarFaceDetector().detect(crop)
    assert inner and max(b.width for b in inner) > 0.4 * 224


def test_prefers_the_large_central_face():
    frame = paste((480, 640), astronaut(300), 170, 90)
    frame[10:138, 500:628] = astronaut(128)  # a smaller face in the corner
    box = FaceCropper(size=32).crop([frame]).boxes[0]
    assert box.contains(*face_centre(300, 170, 90))


def test_no_face_gives_centre_crop_and_counts_missing():
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 40, (120, 200, 3), dtype=np.uint8) for _ in range(4)]
    result = FaceCropper(size=32).crop(frames)
    assert result.missing == 4
    assert all(b == Box(40.0, 0.0, 160.0, 120.0) for b in result.boxes)


def test_frames_without_face_keep_the_last_box_causally():
    face = paste((240, 320), astronaut(200), 60, 20)
    blank = paste((240, 320), np.zeros((1, 1, 3), np.uint8), 0, 0)
    result = FaceCropper(size=32).crop([blank, face, blank, face])
    assert result.missing == 2
    assert result.boxes[0] == Box(40.0, 0.0, 280.0, 240.0)  # before any detection: the centre crop
    assert result.boxes[2] == result.boxes[1]  # after a detection: the last box, never a later one
    assert result.boxes[1].contains(*face_centre(200, 60, 20))


def test_smoothing_damps_detector_jitter():
    frames = [paste((240, 320), astronaut(200), 40 + 10 * (i % 2), 20) for i in range(8)]
    def centre_steps(smoothing: float) -> float:
        boxes = FaceCropper(size=32, smoothing=smoothing, margin=0.0).crop(frames).boxes
        return float(np.mean(np.abs(np.diff([b.center[0] for b in boxes]))))
    raw, smooth = centre_steps(0.0), centre_steps(0.6)
    assert raw > 7  # the face really jumps 10 px
    assert smooth < 0.6 * raw


def test_grayscale_accepted_and_bad_input_rejected():
    gray = cv2.cvtColor(paste((240, 320), astronaut(200), 60, 20), cv2.COLOR_RGB2GRAY)
    result = FaceCropper(size=32).crop([gray])
    assert result.missing == 0 and result.crops.shape == (1, 32, 32, 3)
    cropper = FaceCropper(size=32)
    with pytest.raises(ValueError, match="uint8"):
        cropper.crop([gray.astype(np.float32)])
    with pytest.raises(ValueError, match="RGB"):
        cropper.crop([np.zeros((10, 10, 4), np.uint8)])
    with pytest.raises(ValueError, match="like frame 0"):
        cropper.crop([gray, gray[:100]])
    with pytest.raises(ValueError):
        FaceCropper(size=4)
    with pytest.raises(ValueError):
        FaceCropper(smoothing=1.0)
    assert cropper.crop([]).crops.shape == (0, 32, 32, 3)


class RecordingHaar(HaarFaceDetector):
    """The real Haar detector, remembering the size of every image it was asked to scan."""

    def __init__(self) -> None:
        super().__init__()
        self.shapes: list[tuple[int, ...]] = []

    def detect(self, image: np.ndarray, sizes: tuple[float, float] | None = None) -> list[Box]:
        self.shapes.append(image.shape)
        return super().detect(image, sizes)


def test_tracking_scans_small_regions_and_agrees_with_full_scans():
    frames = [paste((480, 640), astronaut(300), 20 + 6 * i, 90) for i in range(8)]
    recorder = RecordingHaar()
    tracked = FaceCropper(detector=recorder, size=32).crop(frames)
    full = FaceCropper(size=32, track=False).crop(frames)
    assert recorder.shapes[0] == (480, 640, 3) and len(recorder.shapes) == len(frames)
    # 2.5 face sides around the face, rescaled so the face is 40 px: 100 px (numbers, not the constants)
    assert all(97 <= max(s[:2]) <= 102 for s in recorder.shapes[1:]), recorder.shapes
    assert tracked.missing == full.missing == 0
    for i, (a, b) in enumerate(zip(tracked.boxes, full.boxes, strict=True)):
        assert a.contains(*face_centre(300, 20 + 6 * i, 90)) and a.iou(b) > 0.6
        # the region's boxes map back to full-frame pixels: the crops are centred where full scans put them
        assert np.hypot(a.center[0] - b.center[0], a.center[1] - b.center[1]) < 3



def test_full_scans_every_redetect_every_frames():
    frames = [paste((480, 640), astronaut(300), 20 + 6 * i, 90) for i in range(6)]
    recorder = RecordingHaar()
    FaceCropper(detector=recorder, size=32, redetect_every=3).crop(frames)
    assert [s == (480, 640, 3) for s in recorder.shapes] == [True, False, False] * 2


def test_a_detector_with_only_the_protocol_can_be_tracked():
    """``FaceDetector`` is ``detect(image)``: the size hint of the region scan is Haar's alone."""
    frame = paste((240, 320), astronaut(200), 60, 20)
    result = FaceCropper(detector=NoFaceDetector(), size=32, track=True).crop([frame, frame])
    assert result.missing == 0 and result.boxes[0] == result.boxes[1] == Box(40.0, 0.0, 280.0, 240.0)


@pytest.mark.parametrize(("hw", "box"), [((120, 201), Box(40.5, 0.0, 160.5, 120.0)),
                                          ((201, 120), Box(0.0, 40.5, 120.0, 160.5))])
def test_centre_crop_of_odd_and_portrait_frames(hw, box):
    assert FaceCropper(size=32).crop([np.full((*hw, 3), 30, np.uint8)]).boxes == [box]


def test_a_change_of_frame_size_starts_over():
    tracker = FaceCropper(size=32).tracker()
    assert tracker.step(paste((240, 320), astronaut(200), 60, 20)).face_found
    step = tracker.step(np.full((200, 300, 3), 30, np.uint8))  # another camera mode, no face yet
    assert not step.face_found and step.box == Box(50.0, 0.0, 250.0, 200.0)  # a centre crop, not the old box
