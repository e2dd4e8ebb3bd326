"""The cheap half of the engine, run where messages arrive: stamps in, frame and window jobs out."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from avemotion_core.stream.audio_ring import AudioRing
from avemotion_core.stream.clock import ClockGuard
from avemotion_core.stream.config import StreamConfig
from avemotion_core.stream.lattice import FrameLattice


@dataclass(frozen=True)
class FrameJob:
    """Lattice instant ``k`` of timeline ``epoch`` is the frame stamped ``stamp``; ``payload`` is
    whatever the caller offered (an undecoded message, an array), decoded only now that it is needed."""

    epoch: int
    k: int
    stamp: float
    payload: Any
    kind: str = "image"  # names the malformed_<kind>_* counter if decoding fails


@dataclass(frozen=True)
class WindowJob:
    """One window: lattice instants ``first_k .. first_k + seq_length - 1`` of timeline ``epoch`` and
    the audio of ``[start, end)`` at the stream's own rate, with what the scheduler knows of freshness.

    ``has_video`` says enough lattice instants had a frame and the camera is not stale; whether those
    frames show a face is known only after detection (:class:`~avemotion_core.stream.FeatureStream`).
    """

    epoch: int
    index: int
    start: float
    end: float
    first_k: int
    frame_stamps: tuple[float | None, ...]
    audio: np.ndarray
    audio_rate: int
    audio_coverage: float
    has_audio: bool
    frame_coverage: float
    has_video: bool


Job = FrameJob | WindowJob


class _Timeline:
    """Everything that is reset when the stream's clock restarts."""

    def __init__(self, origin: float, cfg: StreamConfig, epoch: int):
        self.origin = origin
        self.epoch = epoch
        self.lattice = FrameLattice(origin, cfg.period, cfg.frame_tolerance)
        self.audio: AudioRing | None = None
        self.video_reached: float | None = None
        self.frame_stamps: dict[int, float] = {}  # decided instants (bounded to about one window)
        self.next_window = 0
        self.windows_cut = 0

    def window_end(self, n: int, cfg: StreamConfig) -> float:
        return self.origin + cfg.window_seconds + n * cfg.hop

    def reached(self) -> list[float]:
        audio = self.audio.end_time if self.audio is not None else None
        return [t for t in (self.video_reached, audio) if t is not None]


class StreamScheduler:
    """Aligns frames and audio chunks by stamp and says what to compute, without touching pixels.

    :meth:`add_frame` needs only the frame's stamp and an opaque payload; the payload comes back in a
    :class:`FrameJob` only if the frame stands for a lattice instant (about 4 frames a second). A
    :class:`WindowJob` follows once every live modality has reached the window's end, or
    ``max_delay`` later. Rejected input is counted in :attr:`stats`, never raised, except for arrays
    that are not mono float signals at all (``ValueError``: a caller bug).
    """

    def __init__(self, config: StreamConfig | None = None):
        self.config = cfg = config or StreamConfig()
        self.stats: Counter[str] = Counter()
        self.clock = ClockGuard(cfg.clock_jump, cfg.confirm_messages, cfg.stale_after)
        self.timeline: _Timeline | None = None
        self.epoch = 0
        self.events: list[str] = []  # clock jumps, for the caller's log (it clears the list)

    # ------------------------------------------------------------------ input
    def add_frame(self, stamp: float, payload: Any, kind: str = "image") -> list[Job]:
        """A camera frame stamped ``stamp`` (seconds); jobs that became due, oldest first."""
        if not math.isfinite(stamp):
            self.stats["frames_dropped_bad_stamp"] += 1
            return []
        tl = self._timeline_for(stamp, "video")
        if tl is None:
            self.stats["frames_dropped_clock_jump"] += 1
            return []
        status, decided = tl.lattice.offer(stamp, (kind, payload))
        if status in ("duplicate", "out_of_order"):
            self.stats[f"frames_dropped_{status}"] += 1
            return []
        self.stats["frames"] += 1
        if status == "skipped":
            self.stats["frames_skipped_lattice"] += 1
        tl.video_reached = stamp
        return self._frame_jobs(tl, decided) + self._advance(tl)

    def add_audio(self, stamp: float, samples: np.ndarray, rate: int) -> list[Job]:
        """A mono float chunk whose first sample was recorded at ``stamp``; jobs that became due."""
        samples = np.asarray(samples)
        if samples.ndim != 1 or samples.dtype.kind != "f":
            raise ValueError(f"audio chunk must be 1-D float, got {samples.dtype} {samples.shape}")
        if rate <= 0:
            raise ValueError(f"audio rate must be positive, got {rate}")
        if not math.isfinite(stamp):
            self.stats["audio_dropped_bad_stamp"] += 1
            return []
        if samples.size == 0:
            self.stats["audio_dropped_empty"] += 1
            return []
        if not np.isfinite(samples).all():
            self.stats["audio_dropped_non_finite"] += 1
            return []
        tl = self._timeline_for(stamp, "audio")
        if tl is None:
            self.stats["audio_dropped_clock_jump"] += 1
            return []
        cfg = self.config
        ring = tl.audio
        planned = int(math.ceil(cfg.keep_seconds * rate))
        if ring is None or ring.rate != rate:
            if ring is not None:
                self.stats["audio_restarts"] += 1
            tl.audio = ring = AudioRing(rate, stamp, planned + len(samples), cfg.audio_jitter)
        elif len(samples) > ring.capacity - planned:
            ring.grow(planned + len(samples))
        status, gap = ring.append(stamp, samples.astype(np.float32, copy=False))
        if status != "ok":
            self.stats[f"audio_dropped_{status}"] += 1
            return []
        if gap:
            self.stats["audio_gaps"] += 1
            self.stats["audio_gap_samples"] += gap
        self.stats["audio_chunks"] += 1
        return self._advance(tl)

    def finish(self) -> list[Job]:
        """End of a recording: the jobs still due, and the first window of a stream shorter than one
        window (its coverage says how much of it is real). Windows past the end are not cut."""
        tl = self.timeline
        if tl is None:
            return []
        reached = tl.reached()
        jobs = self._advance(tl, clock=max(reached) + self.config.max_delay) if reached else []
        if tl.windows_cut == 0 and tl.next_window == 0 and reached:
            jobs += self._cut_due(tl, recording_end=max(reached))
        return jobs

    # ------------------------------------------------------------------ clock
    def _timeline_for(self, stamp: float, modality: str) -> _Timeline | None:
        """The timeline a message stamped ``stamp`` belongs to (None: held while a jump is checked)."""
        verdict = self.clock.check(stamp, modality)
        if verdict == "hold":
            return None
        if verdict == "restart" or self.timeline is None:
            if self.timeline is not None:
                old = max(self.timeline.reached(), default=stamp)
                self.stats["stream_restarts_time_jump"] += 1
                self.events.append(f"stream clock jumped by {stamp - old:+.3f} s (confirmed by the "
                                   "following messages): timeline restarted")
            self.epoch += 1
            self.timeline = _Timeline(stamp, self.config, self.epoch)
        self.stats["stamps_dropped_outlier"] = self.clock.outliers
        return self.timeline

    # ------------------------------------------------------------------ output
    def _frame_jobs(self, tl: _Timeline, decided: list[tuple[int, float, Any]]) -> list[Job]:
        jobs: list[Job] = []
        for k, stamp, (kind, payload) in decided:
            tl.frame_stamps[k] = stamp
            jobs.append(FrameJob(tl.epoch, k, stamp, payload, kind))
        horizon = tl.lattice.next_k - self.config.history_instants
        for k in [k for k in tl.frame_stamps if k < horizon]:
            del tl.frame_stamps[k]
        return jobs

    def _advance(self, tl: _Timeline, clock: float | None = None) -> list[Job]:
        """Cut every window that is due: all live modalities reached its end, or ``max_delay`` passed."""
        cfg = self.config
        reached = tl.reached()
        if not reached:
            return []
        clock = max(reached) if clock is None else clock
        jobs: list[Job] = []
        while self._due(tl, tl.window_end(tl.next_window, cfg), clock):
            jobs += self._cut_due(tl)
        return jobs

    def _due(self, tl: _Timeline, end: float, clock: float) -> bool:
        if clock >= end + self.config.max_delay:
            return True
        live = [t for t in tl.reached() if t >= end - self.config.stale_after]
        return bool(live) and min(live) >= end

    def _cut_due(self, tl: _Timeline, recording_end: float | None = None) -> list[Job]:
        """Decide the window's last lattice instants if still open, then cut it (freshness is judged
        at ``recording_end`` for a window that reaches past the end of a recording)."""
        cfg = self.config
        n = tl.next_window
        tl.next_window += 1
        first_k = n * cfg.hop_steps
        jobs = self._frame_jobs(tl, tl.lattice.flush(first_k + cfg.seq_length))
        window = self._cut(tl, n, first_k, recording_end)
        if window is None:
            self.stats["windows_dropped_no_data"] += 1
        else:
            tl.windows_cut += 1
            self.stats["windows"] += 1
            jobs.append(window)
        return jobs

    def _cut(self, tl: _Timeline, n: int, first_k: int, recording_end: float | None) -> WindowJob | None:
        cfg = self.config
        end = tl.window_end(n, cfg)
        start = end - cfg.window_seconds
        fresh_at = end if recording_end is None else min(end, recording_end)
        stamps = tuple(tl.frame_stamps.get(k) for k in range(first_k, first_k + cfg.seq_length))
        frame_cov = sum(s is not None for s in stamps) / cfg.seq_length
        has_video = (frame_cov > 0 and frame_cov >= cfg.min_frame_coverage and tl.video_reached is not None
                     and tl.video_reached >= fresh_at - cfg.stale_after)
        if tl.audio is not None:
            n_samples = int(round(cfg.window_seconds * tl.audio.rate))
            audio, real = tl.audio.segment(start, n_samples)
            audio_cov, rate = real / n_samples, tl.audio.rate
            has_audio = (real > 0 and audio_cov >= cfg.min_audio_coverage
                         and tl.audio.end_time >= fresh_at - cfg.stale_after)
        else:
            audio, rate, audio_cov, has_audio = np.zeros(0, np.float32), 0, 0.0, False
        if not (has_video or has_audio):
            return None
        return WindowJob(epoch=tl.epoch, index=n, start=start, end=end, first_k=first_k,
                         frame_stamps=stamps, audio=audio, audio_rate=rate, audio_coverage=audio_cov,
                         has_audio=has_audio, frame_coverage=frame_cov, has_video=has_video)
