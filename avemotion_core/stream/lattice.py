"""Which received frame stands for each instant of the stream's frame lattice."""

from __future__ import annotations

import math
from typing import Any


class FrameLattice:
    """Instants ``t_k = origin + (k + 0.5) * period`` (k >= 0), each taking the nearest frame within
    ``tolerance``, decided as soon as no later frame can be nearer.

    :meth:`offer` needs only a frame's stamp: the payload (an undecoded message, say) is kept only
    while it may still be the nearest frame to the next instant, so a 30 fps camera on a 0.24 s
    lattice costs about 4 decoded frames per second instead of 30.
    """

    def __init__(self, origin: float, period: float, tolerance: float):
        self.origin = origin
        self.period = period
        self.tolerance = tolerance
        self.next_k = 0  # first undecided instant
        self.last_stamp: float | None = None
        self._before: tuple[float, Any] | None = None  # newest frame before instant next_k, in tolerance

    def instant(self, k: int) -> float:
        return self.origin + (k + 0.5) * self.period

    def offer(self, stamp: float, payload: Any) -> tuple[str, list[tuple[int, float, Any]]]:
        """Give the lattice a frame; returns (status, decided instants as (k, stamp, payload)).

        Status: ``kept`` (it decided an instant or may still), ``skipped`` (no instant needs it:
        never decode it), ``duplicate`` / ``out_of_order`` (not newer than the previous frame).
        """
        if self.last_stamp is not None and stamp <= self.last_stamp:
            return ("duplicate" if stamp == self.last_stamp else "out_of_order"), []
        self.last_stamp = stamp
        decided: list[tuple[int, float, Any]] = []
        kept = False
        if stamp >= self.instant(self.next_k):
            # Instants up to the last one at or before this frame are decidable now: the first by
            # the frame just before it vs this one, the last by this frame; any in between had none.
            last = max(self.next_k, math.floor((stamp - self.origin) / self.period - 0.5))
            while self.instant(last + 1) <= stamp:  # floor() and instant() may round differently
                last += 1
            while last > self.next_k and self.instant(last) > stamp:
                last -= 1
            t = self.instant(self.next_k)
            options = [c for c in (self._before, (stamp, payload) if last == self.next_k else None) if c]
            best = min(options, key=lambda c: abs(c[0] - t), default=None)
            if best is not None and abs(best[0] - t) <= self.tolerance:
                decided.append((self.next_k, *best))
                kept = best[1] is payload
            if last > self.next_k and stamp - self.instant(last) <= self.tolerance:
                decided.append((last, stamp, payload))
                kept = True
            self._before = None
            self.next_k = last + 1
        if self.instant(self.next_k) - stamp <= self.tolerance:
            self._before = (stamp, payload)
            kept = True
        return ("kept" if kept else "skipped"), decided

    def flush(self, k_end: int) -> list[tuple[int, float, Any]]:
        """Decide every instant before ``k_end`` now (a due window cannot wait for later frames)."""
        decided: list[tuple[int, float, Any]] = []
        if self.next_k >= k_end:
            return decided
        if self._before is not None and abs(self._before[0] - self.instant(self.next_k)) <= self.tolerance:
            decided.append((self.next_k, *self._before))
        self._before = None
        self.next_k = k_end
        return decided
