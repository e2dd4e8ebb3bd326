"""From a frame to the face crop the model sees.

Imports point one way: ``cropper`` (the causal tracker and the crop) uses the detectors ``haar``
and ``mtcnn``, which share only ``box``. MTCNN (torch) is imported when it is chosen.
"""

from avemotion_core.faces.box import Box, FaceDetector
from avemotion_core.faces.cropper import CropResult, FaceCropper, FaceTracker, TrackStep, make_cropper
from avemotion_core.faces.haar import HaarFaceDetector, NoFaceDetector

__all__ = ["Box", "CropResult", "FaceCropper", "FaceDetector", "FaceTracker", "HaarFaceDetector",
           "NoFaceDetector", "TrackStep", "make_cropper"]
