"""mtcnn.py on real faces: what it must find (incl. what Haar misses), what it must reject, bad weights."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest
import torch
from media_helpers import astronaut, face_centre, paste
from safetensors.torch import save_file
from skimage import data

from avemotion_core.faces import HaarFaceDetector, make_cropper
from avemotion_core.faces.mtcnn import WEIGHTS, MTCNNFaceDetector
from avemotion_core.fileio import ModelFileError


@pytest.fixture(scope="module")
def mtcnn() -> MTCNNFaceDetector:
    return MTCNNFaceDetector()


def test_finds_the_astronaut_with_a_confident_tight_box(mtcnn):
    boxes = mtcnn.detect(astronaut())
    assert len(boxes) == 1, boxes
    (box,) = boxes
    assert box.contains(*face_centre(512, 0, 0)) and box.score > 0.95
    assert 70 < box.width < 130 and 80 < box.height < 150  # the face is ~95 px wide in the 512 px image


@pytest.mark.parametrize(("size", "x", "y"), [(110, 20, 300), (160, 400, 40), (300, 200, 100)])
def test_finds_small_faces_the_haar_cascade_misses_or_not(mtcnn, size, x, y):
    """At 110 px the face is ~20 px wide: below the Haar cascade's reach, not below MTCNN's."""
    frame = paste((480, 640), astronaut(size), x, y)
    assert any(b.contains(*face_centre(size, x, y)) for b in mtcnn.detect(frame))
    if size == 110:
        assert not any(b.contains(*face_centre(size, x, y)) for b in HaarFaceDetector().detect(frame))


def test_finds_a_tilted_head(mtcnn):
    rotation = cv2.getRotationMatrix2D((256, 256), 35, 1.0)
    tilted = cv2.warpAffine(astronaut(), rotation, (512, 512))
    centre = rotation @ np.array([*face_centre(512, 0, 0), 1.0])
    assert any(b.contains(*centre) for b in mtcnn.detect(tilted))


def test_lfw_faces_found_and_non_faces_rejected(mtcnn):
    lfw = data.lfw_subset()  # 100 faces then 100 non-faces, 25x25 grey in [0, 1]

    def found(img: np.ndarray) -> bool:
        face = cv2.resize((img * 255).astype(np.uint8), (100, 100), interpolation=cv2.INTER_CUBIC)
        canvas = np.full((240, 320), 128, np.uint8)
        canvas[70:170, 110:210] = face
        return bool(mtcnn.detect(canvas))

    assert sum(found(f) for f in lfw[:100]) >= 90
    assert sum(found(f) for f in lfw[100:]) <= 5


def test_empty_scene_and_tiny_images(mtcnn):
    assert mtcnn.detect(np.full((240, 320, 3), 90, np.uint8)) == []
    assert mtcnn.detect(np.zeros((8, 8, 3), np.uint8)) == []  # smaller than one 12 px cell
    with pytest.raises(ValueError):
        mtcnn.detect(np.zeros((10, 10, 3), np.float32))


def test_cropper_with_mtcnn_crops_the_face():
    cropper = make_cropper("mtcnn", 64)
    result = cropper.crop([paste((480, 640), astronaut(200), 300, 150)] * 3)
    assert result.crops.shape == (3, 64, 64, 3) and result.missing == 0
    assert all(b.contains(*face_centre(200, 300, 150)) for b in result.boxes)


def test_corrupt_or_foreign_weights_are_refused(tmp_path):
    bad = tmp_path / "mtcnn.safetensors"
    bad.write_bytes(WEIGHTS.read_bytes()[:-64])
    shutil.copy(WEIGHTS.parent / "SOURCE.json", tmp_path / "SOURCE.json")
    with pytest.raises(ModelFileError, match="corrupt or truncated"):
        MTCNNFaceDetector(weights=bad)
    with pytest.raises(ModelFileError, match="not found"):
        MTCNNFaceDetector(weights=tmp_path / "missing.safetensors")
    other = tmp_path / "other" / "mtcnn.safetensors"
    other.parent.mkdir()
    save_file({"pnet.conv1.weight": torch.zeros(1)}, str(other))
    with pytest.raises(ModelFileError, match="does not hold MTCNN weights"):
        MTCNNFaceDetector(weights=other)
