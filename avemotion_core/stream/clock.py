"""One timeline per stream: outlier stamps are dropped, real clock jumps restart it once confirmed."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class _Candidate:
    """A timeline some message claimed that the current one cannot explain."""

    first: float
    newest: float
    messages: int = 0
    modalities: set[str] = field(default_factory=set)


class ClockGuard:
    """Decides, for every message stamp, whether it belongs to the current timeline.

    A stamp within ``jump`` seconds of the newest accepted one is ``"ok"`` (small reordering is the
    buffers' business). A stamp further away, forwards or backwards, is held: one camera frame
    stamped in 2038 or ten minutes ago must not throw away the stream's history. If the following
    messages agree with it (``confirm`` of them, from every modality that was live), the clock really
    jumped (a bag restarted or looped, sim time was reset) and the answer is ``"restart"``; if instead
    the old timeline carries on, the held messages were outliers and are counted in
    :attr:`outliers`. While held, messages answer ``"hold"`` and are dropped by the caller.
    """

    def __init__(self, jump: float, confirm: int, live_after: float):
        self.jump = jump
        self.confirm = confirm
        self.live_after = live_after
        self.newest: float | None = None
        self.last_seen: dict[str, float] = {}
        self.outliers = 0
        self._candidate: _Candidate | None = None

    def check(self, stamp: float, modality: str) -> str:
        """``"ok"``, ``"hold"`` or ``"restart"`` for a message of ``modality`` stamped ``stamp``."""
        if self.newest is None or abs(stamp - self.newest) <= self.jump:
            self._drop_candidate()
            self._accept(stamp, modality)
            return "ok"
        cand = self._candidate
        if cand is None or abs(stamp - cand.newest) > self.jump:
            self._drop_candidate()
            cand = self._candidate = _Candidate(first=stamp, newest=stamp)
        cand.newest = max(cand.newest, stamp)
        cand.messages += 1
        cand.modalities.add(modality)
        # Every modality that was live must agree -- unless the new timeline has run on for as long
        # as it takes to call a modality stale without it (a camera that died with the jump).
        agreed = self._live() <= cand.modalities or cand.newest - cand.first >= self.live_after
        if cand.messages >= self.confirm and agreed:
            self._candidate = None
            self.newest = None
            self.last_seen.clear()
            self._accept(stamp, modality)
            return "restart"
        return "hold"

    def _live(self) -> set[str]:
        """Modalities that delivered on the current timeline within ``live_after`` of its newest stamp."""
        assert self.newest is not None
        return {m for m, t in self.last_seen.items() if t >= self.newest - self.live_after}

    def _accept(self, stamp: float, modality: str) -> None:
        self.newest = stamp if self.newest is None else max(self.newest, stamp)
        self.last_seen[modality] = max(stamp, self.last_seen.get(modality, stamp))

    def _drop_candidate(self) -> None:
        if self._candidate is not None:
            self.outliers += self._candidate.messages
            self._candidate = None
