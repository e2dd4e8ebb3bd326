"""The node's inference thread: frames in order with a bounded backlog, windows latest-wins (real threads)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np

from avemotion_core.stream import FrameJob, WindowJob
from avemotion_ros.worker import StreamWorker


def window(i: int) -> WindowJob:
    return WindowJob(epoch=1, index=i, start=0.0, end=3.6, first_k=2 * i, frame_stamps=(None,) * 15,
                     audio=np.zeros(0, np.float32), audio_rate=0, audio_coverage=0.0, has_audio=False,
                     frame_coverage=0.0, has_video=False)


def test_busy_worker_runs_frames_in_order_keeps_the_newest_window_and_counts_what_it_drops():
    handled: list = []
    started, release = threading.Event(), threading.Event()

    def run_frames(batch: list[FrameJob]) -> None:
        started.set()
        release.wait(5)
        handled.append([job.k for job in batch])

    def run_window(job: WindowJob, submitted: float) -> None:
        assert submitted <= time.monotonic()
        handled.append(("window", job.index))

    worker = StreamWorker(run_frames, run_window, max_frames=4)
    worker.submit([FrameJob(1, 0, 0.0, None)])
    assert started.wait(5)
    # while frame 0 is being encoded: 8 more frames and 3 windows arrive
    for k in range(1, 9):
        worker.submit([FrameJob(1, k, 0.0, None)] + ([window(k)] if k in (2, 5, 8) else []))
    release.set()
    deadline = time.monotonic() + 5
    while len(handled) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    worker.stop()
    assert handled == [[0], [5, 6, 7, 8], ("window", 8)]
    assert worker.frames_dropped == 4 and worker.windows_replaced == 2


def test_stop_ends_an_idle_worker():
    worker = StreamWorker(lambda batch: None, lambda job, t: None)
    worker.stop(timeout=2)
    assert not worker.is_alive()


def test_the_inference_thread_has_its_name_in_the_os():
    """``top -H`` and bench/node_cpu.py's per-thread CPU tell inference from the executor by it."""
    names: list[str] = []
    worker = StreamWorker(lambda batch: names.append(
        Path(f"/proc/self/task/{threading.get_native_id()}/comm").read_text().strip()), lambda job, t: None)
    worker.submit([FrameJob(k=0, stamp=0.0, payload=None, kind="image", epoch=0)])
    deadline = time.monotonic() + 5
    while not names and time.monotonic() < deadline:
        time.sleep(0.01)
    worker.stop()
    assert names == ["inference"]
