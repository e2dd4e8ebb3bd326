"""Mono audio on the stream clock, bounded to the last few seconds."""

from __future__ import annotations

import numpy as np


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

    def _slices(self, lo: int, hi: int) -> list[tuple[int, int, int]]:
        """Sample positions ``lo``..``hi`` (hi - lo <= capacity) as (ring start, ring end, offset) runs:
        at most two contiguous slices, so a chunk costs two copies rather than an index array."""
        start = lo % self.capacity
        first = min(hi - lo, self.capacity - start)
        runs = [(start, start + first, 0)]
        if hi - lo > first:
            runs.append((0, hi - lo - first, first))
        return runs

    def _write(self, x: np.ndarray, real: bool) -> None:
        """Store ``x`` at the next sample positions (only the newest ``capacity`` survive)."""
        n = len(x)
        keep = min(n, self.capacity)
        src = x[n - keep :]
        for a, b, off in self._slices(self.written + n - keep, self.written + n):
            self.buf[a:b] = src[off : off + b - a]
            self.real[a:b] = real
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
            self._write(np.zeros(min(gap, self.capacity), np.float32), real=False)
            self.written += gap - min(gap, self.capacity)
        self._write(x, real=True)
        self.last_chunk_stamp = stamp
        return "ok", gap

    def grow(self, capacity: int) -> None:
        """Re-lay the ring into a larger buffer (only when a chunk is longer than planned for)."""
        keep = min(self.written, self.capacity)
        idx = np.arange(self.written - keep, self.written)
        old, real = self.buf[idx % self.capacity], self.real[idx % self.capacity]
        self.capacity = capacity
        self.buf = np.zeros(capacity, np.float32)
        self.real = np.zeros(capacity, bool)
        self.buf[idx % capacity] = old
        self.real[idx % capacity] = real

    def segment(self, start: float, n: int) -> tuple[np.ndarray, int]:
        """``n`` samples from time ``start`` and how many of them are real (the rest are zeros)."""
        i0 = int(round((start - self.t0) * self.rate))
        out = np.zeros(n, np.float32)
        # the stored positions form one range: written and not yet overwritten
        lo, hi = max(i0, 0, self.written - self.capacity), min(i0 + n, self.written)
        real = 0
        if hi > lo:
            for a, b, off in self._slices(lo, hi):
                out[lo - i0 + off : lo - i0 + off + b - a] = self.buf[a:b]
                real += int(np.count_nonzero(self.real[a:b]))
        return out, real
