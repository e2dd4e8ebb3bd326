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

The ROS node runs the scheduler in its subscription callbacks and the feature stream on its
inference thread; ``avemotion replay`` (:func:`run_jobs`) and ``avemotion infer``
(``media.classify_media``) run both in one loop, so all three give identical results for identical
input.
"""

from avemotion_core.stream.audio_ring import AudioRing
from avemotion_core.stream.clock import ClockGuard
from avemotion_core.stream.config import StreamConfig
from avemotion_core.stream.features import FeatureStream, WindowResult, freeze_for_streaming, run_jobs
from avemotion_core.stream.lattice import FrameLattice
from avemotion_core.stream.scheduler import FrameJob, StreamScheduler, WindowJob

__all__ = [
    "AudioRing",
    "ClockGuard",
    "FeatureStream",
    "FrameJob",
    "FrameLattice",
    "freeze_for_streaming",
    "StreamConfig",
    "StreamScheduler",
    "WindowJob",
    "WindowResult",
    "run_jobs",
]
