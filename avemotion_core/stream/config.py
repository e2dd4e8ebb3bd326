"""Window geometry of a stream: a fixed lattice of frame instants, windows a whole number of steps apart."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

from avemotion_core.labels import SEQ_LENGTH, WINDOW_SECONDS

# Lattice frames that may wait for the inference thread; older ones are dropped (and counted) when
# it falls further behind, so decoded frames never pile up.
MAX_FRAME_BACKLOG = 8


@dataclass(frozen=True)
class StreamConfig:
    """Windowing parameters, in seconds of stream time (message stamps, not wall clock).

    A window's ``seq_length`` frame instants sit on a global lattice of period
    ``window_seconds / seq_length`` (0.24 s) anchored at the stream's first stamp, and windows start
    a whole number of lattice steps apart, so consecutive windows share their frames and each frame
    is cropped and encoded once. ``hop_seconds`` is rounded to the nearest whole number of steps
    (:meth:`hop_note` says so; the default 0.48 s is 2 steps).

    ``frame_tolerance``: a lattice instant takes the nearest frame within this distance, else it is
    missing (a black frame, as OpenDR pads). ``max_delay``: how long a due window waits for a lagging
    live modality before it is cut anyway. ``stale_after``: a modality whose newest data is older
    than this at the window end is not fresh. ``min_audio_coverage`` / ``min_frame_coverage``: the
    fraction of real audio and of lattice instants with a frame needed for that modality to be
    fresh; ``min_face_coverage``: the fraction of those frames that must show a detected face, else
    the window runs ``onlyaudio`` (no confident label on a face that is not there).
    ``audio_jitter``: a chunk stamped within this of where the previous one ended is appended
    seamlessly. ``jump_seconds``: a stamp this far from the stream clock is not trusted alone: it
    restarts the timeline only once ``confirm_messages`` following messages of every live modality
    agree with it; otherwise it was an outlier and is dropped.
    """

    window_seconds: float = WINDOW_SECONDS
    hop_seconds: float = 0.48
    seq_length: int = SEQ_LENGTH
    max_delay: float = 0.3
    stale_after: float = 1.0
    min_audio_coverage: float = 0.5
    min_frame_coverage: float = 0.5
    min_face_coverage: float = 0.5
    frame_tolerance: float = 0.12
    audio_jitter: float = 0.05
    jump_seconds: float = 2.0
    confirm_messages: int = 3

    def __post_init__(self) -> None:
        for name in ("window_seconds", "hop_seconds", "stale_after", "frame_tolerance", "jump_seconds"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"StreamConfig.{name} must be a finite number > 0, got {value}")
        if self.seq_length < 1:
            raise ValueError(f"StreamConfig.seq_length must be >= 1, got {self.seq_length}")
        if not (math.isfinite(self.max_delay) and self.max_delay >= 0 and self.audio_jitter >= 0):
            raise ValueError("StreamConfig.max_delay and audio_jitter must be finite and >= 0")
        for name in ("min_audio_coverage", "min_frame_coverage", "min_face_coverage"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"StreamConfig.{name} must be in [0, 1], got {getattr(self, name)}")
        if self.hop_seconds < self.period / 2:
            raise ValueError(f"hop_seconds {self.hop_seconds} is less than half a lattice step "
                             f"({self.period:.3f} s = window_seconds / seq_length)")
        if self.frame_tolerance > self.period / 2:
            raise ValueError(f"frame_tolerance {self.frame_tolerance} exceeds half a lattice step "
                             f"({self.period / 2:.3f} s): one frame would stand for two instants")
        if self.confirm_messages < 1:
            raise ValueError(f"confirm_messages must be >= 1, got {self.confirm_messages}")

    @cached_property  # read for every message by the scheduler; the config is frozen
    def period(self) -> float:
        """Seconds between lattice instants (0.24 s for 15 frames in 3.6 s)."""
        return self.window_seconds / self.seq_length

    @cached_property  # read for every message by the scheduler; the config is frozen
    def hop_steps(self) -> int:
        """Lattice steps between consecutive windows."""
        return max(1, round(self.hop_seconds / self.period))

    @cached_property  # read for every message by the scheduler; the config is frozen
    def hop(self) -> float:
        """The hop actually used, in seconds: a whole number of lattice steps."""
        return self.hop_steps * self.period

    def hop_note(self) -> str | None:
        """A sentence for the log when ``hop_seconds`` was rounded to the lattice, else None."""
        if abs(self.hop - self.hop_seconds) <= 1e-9:
            return None
        return (f"hop_seconds {self.hop_seconds:g} is not a whole number of lattice steps of "
                f"{self.period:.3f} s: windows are {self.hop_steps} steps = {self.hop:.3f} s apart")

    @property
    def clock_jump(self) -> float:
        """Distance from the stream clock beyond which a stamp is a jump to confirm, not data: at
        least ``jump_seconds``, and more than a modality may legitimately lag (``max_delay``)."""
        return max(self.jump_seconds, self.max_delay + self.hop)

    @property
    def history_instants(self) -> int:
        """Lattice instants whose frames (features) must be kept: a window's ``seq_length``, plus those
        decided while the window waited up to ``max_delay`` for a lagging modality."""
        return self.seq_length + math.ceil((self.max_delay + self.frame_tolerance) / self.period) + 2

    @property
    def keep_seconds(self) -> float:
        """Audio history the ring must hold: one window plus what may still arrive late."""
        return self.window_seconds + self.max_delay + self.hop + self.frame_tolerance
