"""The inference thread: the streaming engine's jobs in arrival order, with a bounded backlog.

Subscription callbacks must return quickly (a blocked executor drops camera/audio messages, which
is exactly OpenDR's failure mode), so the engine's jobs are handed over here. Frame jobs must all
run, in order (each lattice frame is encoded once and reused by later windows); if the thread falls
behind by more than ``max_frames`` of them, the oldest are dropped (those lattice instants count
as missing). Window jobs are latest-wins: a newer window replaces one still waiting, so the output
stays current instead of lagging further behind with every window; each replaced one is counted.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from avemotion_core.stream import FrameJob, WindowJob
from avemotion_core.stream.config import MAX_FRAME_BACKLOG


class StreamWorker:
    """Runs ``run_frames(batch)`` and ``run_window(job, submitted_at)`` on one worker thread."""

    def __init__(self, run_frames: Callable[[list[FrameJob]], None],
                 run_window: Callable[[WindowJob, float], None], max_frames: int = MAX_FRAME_BACKLOG,
                 name: str = "inference"):
        self._run_frames = run_frames
        self._run_window = run_window
        self.max_frames = max_frames
        self._cond = threading.Condition()
        self._queue: deque[tuple[FrameJob | WindowJob, float]] = deque()
        self._stopping = False
        self.windows_replaced = 0
        self.frames_dropped = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, jobs: list[FrameJob | WindowJob]) -> None:
        if not jobs:
            return
        now = time.monotonic()
        with self._cond:
            for job in jobs:
                if isinstance(job, WindowJob):
                    waiting = [item for item in self._queue if isinstance(item[0], WindowJob)]
                    for item in waiting:
                        self._queue.remove(item)
                    self.windows_replaced += len(waiting)
                self._queue.append((job, now))
            frames = [item for item in self._queue if isinstance(item[0], FrameJob)]
            for item in frames[: max(0, len(frames) - self.max_frames)]:
                self._queue.remove(item)
                self.frames_dropped += 1
            self._cond.notify()

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join(timeout)

    def _run(self) -> None:
        _name_os_thread(self._thread.name)
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                batch: list[FrameJob] = []
                while self._queue and isinstance(self._queue[0][0], FrameJob):
                    batch.append(self._queue.popleft()[0])  # type: ignore[arg-type]
                window = None if batch else self._queue.popleft()
            if batch:
                self._run_frames(batch)
            elif window is not None:
                self._run_window(window[0], window[1])  # type: ignore[arg-type]


def _name_os_thread(name: str) -> None:
    """Give the calling thread ``name`` in the OS too (``top -H``, ``/proc/<pid>/task/*/comm``,
    ``bench/node_cpu.py``'s per-thread split), where Python's own thread names do not show: the
    node's CPU then reads as inference apart from the executor's callbacks. Linux only."""
    try:
        Path(f"/proc/self/task/{threading.get_native_id()}/comm").write_text(name[:15])
    except OSError:
        pass
