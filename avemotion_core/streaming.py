"""Time-aligned windowing of live camera frames and audio chunks (no ROS here).

Messages arrive with their own timestamps, at any camera rate and audio sample rate, with drops,
gaps, duplicates and reordering. :class:`StreamWindower` keeps just enough of each stream to cut
the model's window (the last ``window_seconds`` of audio and the frames of the same interval)
every ``hop_seconds`` of *stream* time (message stamps, not wall clock), so a live node and an
offline rosbag replay produce identical windows from identical messages.

Each window says which modalities are *fresh*, so the caller can run the matching eval mode
(``audiovisual`` / ``onlyaudio`` / ``onlyvideo``) instead of feeding stale or empty data as if it
were real. Features are then built by :func:`avemotion_core.window.build_window`, the one data path
shared with dataset preprocessing and offline inference.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from dataclasses import dataclass, field

import numpy as np

from avemotion_core.faces import FaceCropper
from avemotion_core.labels import IMAGE_SIZE, SAMPLE_RATE, SEQ_LENGTH, WINDOW_SAMPLES, WINDOW_SECONDS
from avemotion_core.window import Window, build_window


@dataclass(frozen=True)
class StreamConfig:
    """Windowing parameters (seconds of stream time).

    ``max_delay``: how long a due window waits for a lagging live modality before it is cut anyway
    (the late part is then zero audio / nearest frames). ``stale_after``: a modality whose newest
    data is older than this at the window end is not fresh. ``min_audio_coverage`` /
    ``min_frame_coverage``: the fraction of real (not zero-filled) audio and of frame slots with a
    nearby frame needed for that modality to be fresh. ``max_frame_gap``: a slot takes the nearest
    frame only if it is at most this far from the slot's time. ``audio_jitter``: a chunk stamped
    within this of where the previous one ended is appended seamlessly (driver and arrival-time
    stamps jitter by tens of ms); further off it leaves a counted gap or is dropped as overlapping.
    """

    window_seconds: float = WINDOW_SECONDS
    hop_seconds: float = 0.5
    seq_length: int = SEQ_LENGTH
    max_delay: float = 0.3
    stale_after: float = 1.0
    min_audio_coverage: float = 0.5
    min_frame_coverage: float = 0.5
    max_frame_gap: float = 0.25
    max_fps: float = 240.0
    audio_jitter: float = 0.05

    def __post_init__(self) -> None:
        positive = ("window_seconds", "hop_seconds", "stale_after", "max_frame_gap", "max_fps")
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"StreamConfig.{name} must be > 0, got {getattr(self, name)}")
        if self.seq_length < 1:
            raise ValueError(f"StreamConfig.seq_length must be >= 1, got {self.seq_length}")
        if self.max_delay < 0 or self.audio_jitter < 0:
            raise ValueError("StreamConfig.max_delay and audio_jitter must be >= 0")
        for name in ("min_audio_coverage", "min_frame_coverage"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"StreamConfig.{name} must be in [0, 1], got {getattr(self, name)}")

    @property
    def keep_seconds(self) -> float:
        """History each buffer must hold: one window plus what may still arrive late."""
        return self.window_seconds + self.max_delay + self.hop_seconds + self.max_frame_gap


@dataclass
class StreamWindow:
    """One cut window: raw selected frames and audio at the stream's own rate, plus freshness."""

    start: float
    end: float
    frames: list[np.ndarray]
    frame_stamps: list[float | None]
    audio: np.ndarray
    audio_rate: int
    has_video: bool
    has_audio: bool
    audio_coverage: float
    frame_coverage: float
    stats: dict[str, float] = field(default_factory=dict)

    @property
    def mode(self) -> str:
        """The learner eval mode that matches the fresh modalities."""
        if self.has_video and self.has_audio:
            return "audiovisual"
        return "onlyaudio" if self.has_audio else "onlyvideo"

    def build(self, cropper: FaceCropper | None = None, image_size: int = IMAGE_SIZE) -> Window:
        """Model features via the project's one window path (face crops + MFCC).

        A stale modality is passed as *absent* (no frames: zero video without running the face
        detector; no audio: silence), which is also what the matching eval mode feeds the model.
        """
        frames = self.frames if self.has_video else []
        if self.has_audio:
            audio, rate = self.audio, self.audio_rate
        else:
            audio, rate = np.zeros(WINDOW_SAMPLES, np.float32), SAMPLE_RATE
        return build_window(frames, audio, rate, cropper=cropper, seq_length=len(self.frames),
                            image_size=image_size)


class AudioRing:
    """Mono float32 samples on a continuous timeline, bounded to ``capacity`` samples.

    Sample ``i`` (counted from the first accepted chunk) was recorded at ``t0 + i / rate``; chunk
    stamps within ``jitter`` of the expected time are appended contiguously so clock jitter does not
    tear the signal, later ones leave a zero-filled (and counted) gap.
    """

    def __init__(self, rate: int, t0: float, capacity: int, jitter: float):
        self.rate = rate
        self.t0 = t0
        self.capacity = capacity
        self.jitter = jitter
        self.buf = np.zeros(capacity, np.float32)
        self.real = np.zeros(capacity, bool)  # False where samples are gap fill
        self.written = 0
        self.last_chunk_stamp: float | None = None

    @property
    def end_time(self) -> float:
        return self.t0 + self.written / self.rate

    def _write(self, x: np.ndarray, real: bool) -> None:
        """Store ``x`` at the next sample positions (only the newest ``capacity`` survive)."""
        n = len(x)
        keep = min(n, self.capacity)
        idx = np.arange(self.written + n - keep, self.written + n) % self.capacity
        self.buf[idx] = x[n - keep :]
        self.real[idx] = real
        self.written += n

    def append(self, stamp: float, x: np.ndarray) -> tuple[str, int]:
        """Add a chunk; returns (``ok`` | ``duplicate`` | ``out_of_order``, zero-filled samples)."""
        if self.last_chunk_stamp is not None and stamp == self.last_chunk_stamp:
            return "duplicate", 0
        expected = self.end_time
        if stamp < expected - self.jitter:
            return "out_of_order", 0
        gap = 0
        if stamp > expected + self.jitter:
            gap = int(round((stamp - expected) * self.rate))
            self._write(np.zeros(gap, np.float32), real=False)
        self._write(x, real=True)
        self.last_chunk_stamp = stamp
        return "ok", gap

    def segment(self, start: float, n: int) -> tuple[np.ndarray, int]:
        """``n`` samples from time ``start`` and how many of them are real (the rest are zeros)."""
        i0 = int(round((start - self.t0) * self.rate))
        idx = np.arange(i0, i0 + n)
        valid = (idx >= 0) & (idx < self.written) & (idx >= self.written - self.capacity)
        out = np.zeros(n, np.float32)
        ring = idx[valid] % self.capacity
        out[valid] = self.buf[ring]
        real = int(np.count_nonzero(self.real[ring]))
        return out, real


class StreamWindower:
    """Buffers frames and audio by timestamp and cuts a window every hop of stream time.

    Feed it with :meth:`add_frame` / :meth:`add_audio` (stamps in seconds) and call :meth:`poll`
    for the windows that became due. Windows are cut as soon as they are due, inside ``add_*``,
    so the buffers never need more history than one window however rarely the caller polls;
    at most ``max_pending`` cut windows wait for :meth:`poll` (older ones are dropped, counted).
    Rejected input is counted in :attr:`stats`, never raised, except for arrays that are not
    images/mono signals at all (``ValueError``: a caller bug).
    """

    def __init__(self, config: StreamConfig | None = None, max_pending: int = 64):
        self.config = config or StreamConfig()
        self.stats: Counter[str] = Counter()
        self.pending: deque[StreamWindow] = deque()
        self.max_pending = max_pending
        self.frames: deque[tuple[float, np.ndarray]] = deque()
        self.audio: AudioRing | None = None
        self.next_end: float | None = None
        self._frame_shape: tuple[int, ...] | None = None

    # ------------------------------------------------------------------ input
    def add_frame(self, stamp: float, image: np.ndarray) -> bool:
        """Buffer one RGB frame; returns False (and counts why) when it is dropped."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"frame must be an RGB uint8 HxWx3 array, got {image.dtype} {image.shape}")
        if not math.isfinite(stamp):
            self.stats["frames_dropped_bad_stamp"] += 1
            return False
        self._restart_if_clock_jumped_back(stamp)
        if self.frames and stamp <= self.frames[-1][0]:
            reason = "duplicate" if stamp == self.frames[-1][0] else "out_of_order"
            self.stats[f"frames_dropped_{reason}"] += 1
            return False
        if self._frame_shape is not None and image.shape != self._frame_shape:
            self.frames.clear()  # a window's crops must share one geometry; restart the video history
            self.stats["frames_resolution_changes"] += 1
        self.frames.append((stamp, image))
        self._frame_shape = image.shape
        self.stats["frames"] += 1
        self._start_clock(stamp)
        self._advance(stamp)
        self._trim_frames()
        return True

    def add_audio(self, stamp: float, samples: np.ndarray, rate: int) -> bool:
        """Buffer one mono chunk whose first sample was recorded at ``stamp``."""
        samples = np.asarray(samples)
        if samples.ndim != 1 or not np.issubdtype(samples.dtype, np.floating):
            raise ValueError(f"audio chunk must be 1-D float, got {samples.dtype} {samples.shape}")
        if rate <= 0:
            raise ValueError(f"audio rate must be positive, got {rate}")
        if not math.isfinite(stamp):
            self.stats["audio_dropped_bad_stamp"] += 1
            return False
        if samples.size == 0:
            self.stats["audio_dropped_empty"] += 1
            return False
        if not np.all(np.isfinite(samples)):
            self.stats["audio_dropped_non_finite"] += 1
            return False
        self._restart_if_clock_jumped_back(stamp)
        cfg = self.config
        ring = self.audio
        restart = ring is None or ring.rate != rate or stamp - ring.end_time > cfg.keep_seconds
        if restart:
            if ring is not None:
                self.stats["audio_restarts"] += 1
            capacity = int(math.ceil(cfg.keep_seconds * rate)) + len(samples)
            self.audio = ring = AudioRing(rate, stamp, capacity, cfg.audio_jitter)
        elif len(samples) > ring.capacity - int(math.ceil(cfg.keep_seconds * rate)):
            self._grow(ring, int(math.ceil(cfg.keep_seconds * rate)) + len(samples))
        status, gap = ring.append(stamp, samples.astype(np.float32, copy=False))
        if status != "ok":
            self.stats[f"audio_dropped_{status}"] += 1
            return False
        if gap:
            self.stats["audio_gaps"] += 1
            self.stats["audio_gap_samples"] += gap
        self.stats["audio_chunks"] += 1
        self._start_clock(stamp)
        self._advance(stamp)
        return True

    @staticmethod
    def _grow(ring: AudioRing, capacity: int) -> None:
        """Re-lay the ring into a larger buffer (only when a chunk is longer than planned for)."""
        keep = min(ring.written, ring.capacity)
        start = ring.t0 + (ring.written - keep) / ring.rate
        old, _ = ring.segment(start, keep)
        idx = np.arange(ring.written - keep, ring.written)
        real = ring.real[idx % ring.capacity]
        ring.capacity = capacity
        ring.buf = np.zeros(capacity, np.float32)
        ring.real = np.zeros(capacity, bool)
        ring.buf[idx % capacity] = old
        ring.real[idx % capacity] = real

    # ------------------------------------------------------------------ clock
    def _restart_if_clock_jumped_back(self, stamp: float) -> None:
        """Start a new timeline when a stamp lies further back than any buffer reaches.

        That is a clock reset (sim time restarting, a looping bag), not a late message: without a
        restart every later message would be rejected as out of order until the stamps caught up.
        Windows already cut stay pending.
        """
        reached = [t for t in (self._video_reached(), self._audio_reached()) if t is not None]
        if reached and stamp < max(reached) - self.config.keep_seconds:
            self.frames.clear()
            self._frame_shape = None
            self.audio = None
            self.next_end = None
            self.stats["stream_restarts_time_jump"] += 1

    def _start_clock(self, stamp: float) -> None:
        if self.next_end is None:
            self.next_end = stamp + self.config.window_seconds

    def _video_reached(self) -> float | None:
        return self.frames[-1][0] if self.frames else None

    def _audio_reached(self) -> float | None:
        return self.audio.end_time if self.audio is not None else None

    def _trim_frames(self) -> None:
        cfg = self.config
        newest = self.frames[-1][0]
        horizon = newest - cfg.keep_seconds
        if self.next_end is not None:
            horizon = min(horizon, self.next_end - cfg.window_seconds - cfg.max_frame_gap)
        max_frames = int(math.ceil(cfg.keep_seconds * cfg.max_fps))
        while self.frames and (self.frames[0][0] < horizon or len(self.frames) > max_frames):
            self.frames.popleft()

    # ------------------------------------------------------------------ output
    def poll(self) -> list[StreamWindow]:
        """The windows cut since the last call, oldest first."""
        out = list(self.pending)
        self.pending.clear()
        return out

    def _advance(self, stamp: float) -> None:
        """Cut every window that became due after data stamped ``stamp`` arrived.

        After a stall longer than a window (paused bag, camera and mic both lost) the clock
        restarts one window after ``stamp`` and the windows in between are counted as skipped,
        not backfilled with zeros.
        """
        cfg = self.config
        reached = [t for t in (self._video_reached(), self._audio_reached()) if t is not None]
        if self.next_end is None or not reached:
            return
        clock = max(reached)
        behind = clock - cfg.max_delay - self.next_end
        if behind > cfg.window_seconds:
            self.stats["windows_skipped_stall"] += int(behind // cfg.hop_seconds)
            self.next_end = stamp + cfg.window_seconds
        while self._due(self.next_end, clock):
            window = self._cut(self.next_end)
            if window is None:
                self.stats["windows_dropped_no_data"] += 1
            else:
                if len(self.pending) >= self.max_pending:
                    self.pending.popleft()
                    self.stats["windows_dropped_unpolled"] += 1
                self.pending.append(window)
                self.stats["windows"] += 1
            self.next_end += cfg.hop_seconds

    def _due(self, end: float, clock: float) -> bool:
        """A window is due once every live modality has reached its end, or the wait ran out."""
        if clock >= end + self.config.max_delay:
            return True
        live = [t for t in (self._video_reached(), self._audio_reached())
                if t is not None and t >= end - self.config.stale_after]
        return bool(live) and min(live) >= end

    def _cut(self, end: float) -> StreamWindow | None:
        cfg = self.config
        start = end - cfg.window_seconds
        frames, stamps = self._select_frames(start, end)
        n_real = sum(s is not None for s in stamps)
        frame_cov = n_real / cfg.seq_length
        newest = self._video_reached()
        has_video = (n_real > 0 and frame_cov >= cfg.min_frame_coverage and newest is not None
                     and newest >= end - cfg.stale_after)
        if self.audio is not None:
            n = int(round(cfg.window_seconds * self.audio.rate))
            audio, real = self.audio.segment(start, n)
            audio_cov = real / n
            rate = self.audio.rate
            has_audio = (real > 0 and audio_cov >= cfg.min_audio_coverage
                         and self.audio.end_time >= end - cfg.stale_after)
        else:
            rate, audio_cov, has_audio = 0, 0.0, False
            audio = np.zeros(0, np.float32)
        if not (has_video or has_audio):
            return None
        if not has_video:
            self.stats["windows_onlyaudio"] += 1
        elif not has_audio:
            self.stats["windows_onlyvideo"] += 1
        return StreamWindow(
            start=start, end=end, frames=frames, frame_stamps=stamps, audio=audio, audio_rate=rate,
            has_video=has_video, has_audio=has_audio, audio_coverage=audio_cov, frame_coverage=frame_cov,
            stats=dict(self.stats),
        )

    def _select_frames(self, start: float, end: float) -> tuple[list[np.ndarray], list[float | None]]:
        """The frame nearest each of ``seq_length`` evenly spaced slot centres (OpenDR spacing).

        Slots without a frame within ``max_frame_gap`` get a black frame (what OpenDR pads with);
        their stamp is ``None`` so coverage can be judged.
        """
        cfg = self.config
        step = (end - start) / cfg.seq_length
        targets = start + (np.arange(cfg.seq_length) + 0.5) * step
        shape = self._frame_shape or (64, 64, 3)
        black = np.zeros(shape, np.uint8)
        if not self.frames:
            return [black] * cfg.seq_length, [None] * cfg.seq_length
        stamps = np.fromiter((s for s, _ in self.frames), float, len(self.frames))
        pos = np.clip(np.searchsorted(stamps, targets), 1, len(stamps) - 1) if len(stamps) > 1 else None
        frames: list[np.ndarray] = []
        chosen: list[float | None] = []
        for k, t in enumerate(targets):
            if pos is None:
                j = 0
            else:
                j = pos[k] if abs(stamps[pos[k]] - t) < abs(stamps[pos[k] - 1] - t) else pos[k] - 1
            if abs(stamps[j] - t) <= cfg.max_frame_gap:
                frames.append(self.frames[j][1])
                chosen.append(float(stamps[j]))
            else:
                frames.append(black)
                chosen.append(None)
        return frames, chosen
