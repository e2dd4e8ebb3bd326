"""From a frame to the face crop the model sees.

Imports point one way: ``tracks`` (several people) uses ``cropper`` (one person's causal tracker
and the crop), which uses the detectors ``haar`` and ``mtcnn``, which share only ``box``. MTCNN
(torch) is imported when it is chosen.
"""

from avemotion_core.faces.box import Box, FaceDetector
from avemotion_core.faces.cropper import CropResult, FaceCropper, FaceTracker, TrackStep, make_cropper
from avemotion_core.faces.haar import HaarFaceDetector, NoFaceDetector
from avemotion_core.faces.tracks import GivenFaces, MultiFaceTracker

__all__ = ["Box", "CropResult", "FaceCropper", "FaceDetector", "FaceTracker", "GivenFaces",
           "HaarFaceDetector", "MultiFaceTracker", "NoFaceDetector", "TrackStep", "make_cropper"]
