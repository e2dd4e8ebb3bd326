"""The streaming engine: camera frames and audio chunks in, one classified window per hop out.

Data path (each stage one module):

- ``config``: :class:`StreamConfig`, the window geometry on a fixed frame lattice.
- ``clock``: :class:`ClockGuard`, one timeline per stream; outlier stamps dropped, real jumps
  (a restarted bag, sim time) confirmed by the following messages before the timeline restarts.
- ``lattice``: :class:`FrameLattice`, which received frame stands for each lattice instant
  (nearest within a tolerance); all other frames are skipped before they are decoded.
- ``audio_ring``: :class:`AudioRing`, the last few seconds of mono audio on the stream clock.
- ``scheduler``: :class:`StreamScheduler`, the cheap half that runs where messages arrive: it
  turns messages into :class:`FrameJob` (one per lattice frame) and :class:`WindowJob` (one per
  hop) without touching pixels.
- ``features``: :class:`FeatureStream`, the model half: decodes, face-tracks, crops and encodes
  each lattice frame exactly once, keeps a ring of per-frame features and classifies each window by
  running only the window head over them.
- ``messages``: ROS-free decoding of image and audio messages (also read from bags by replay).
- ``node_config``: the node's parameters as one validated dataclass.

The ROS node runs the scheduler in its subscription callbacks and the feature stream on its
inference thread; ``avemotion replay`` (:func:`run_jobs`) and ``avemotion infer``
(``media.classify_media``) run both in one loop, so all three give identical results for identical
input.

Names are imported lazily, as in the top-level package: a bag tool that only decodes messages
does not import torch.
"""

from importlib import import_module
from typing import Any

_LAZY = {
    "AudioRing": "audio_ring",
    "ClockGuard": "clock",
    "StreamConfig": "config",
    "FeatureStream": "features",
    "WindowResult": "features",
    "FaceResult": "features",
    "freeze_for_streaming": "features",
    "run_jobs": "features",
    "FrameLattice": "lattice",
    "FrameJob": "scheduler",
    "StreamScheduler": "scheduler",
    "WindowJob": "scheduler",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f"avemotion_core.stream.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'avemotion_core.stream' has no attribute {name!r}")
