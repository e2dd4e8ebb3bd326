"""Dataset preprocessing throughput: our window path vs the OpenDR-style full pass, in clips/second.

Ours (``load_clip_window``): decode only the 15 selected frames (seeking), detect faces on those 15.
Naive (what OpenDR's preprocessing does): decode all first 108 frames, detect a face on every one,
crop each, then keep 15. Both use the same Haar detector, crop size and MFCC, on the same
synthetic RAVDESS-format clips, on the same machine; each is run with 1 worker and with N worker
processes (one thread each).

Run: ``.venv/bin/python bench/preprocess.py [--clips 8] [--workers 2] [--frame-size 640x360]``.
The load average is printed because on a shared machine wall times include other processes.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import av
import cv2
import torch

from avemotion_core.data.dataset import scan_ravdess
from avemotion_core.data.inference_data import load_clip_window
from avemotion_core.data.synth import generate_dataset
from avemotion_core.data.workers import worker_pool
from avemotion_core.faces import HaarFaceDetector
from avemotion_core.labels import IMAGE_SIZE, SAMPLE_RATE, SEQ_LENGTH, WINDOW_SECONDS
from avemotion_core.media.audio import load_audio
from avemotion_core.media.video import select_frame_indices
from avemotion_core.window import audio_features

OPENDR_FRAMES = 108  # 3.6 s at 30 fps


def ours(job: tuple[Path, Path]) -> int:
    window = load_clip_window(job[0], job[1], image_size=IMAGE_SIZE)
    return int(window.frames.shape[0])


def naive(job: tuple[Path, Path]) -> int:
    """OpenDR-style: every frame of the first 3.6 s decoded and searched for a face."""
    detector = HaarFaceDetector()
    crops = []
    with av.open(str(job[0])) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i >= OPENDR_FRAMES:
                break
            rgb = frame.to_ndarray(format="rgb24")
            faces = detector.detect(rgb)
            if faces:  # first box, no margin, resized to a square (OpenDR)
                b = faces[0]
                rgb = rgb[int(b.y0) : int(b.y1), int(b.x0) : int(b.x1)]
            crops.append(cv2.resize(rgb, (IMAGE_SIZE, IMAGE_SIZE)))
    keep = [i for i in select_frame_indices(len(crops), 30.0, SEQ_LENGTH, WINDOW_SECONDS) if i < len(crops)]
    audio_features(load_audio(job[1], SAMPLE_RATE), SAMPLE_RATE)
    return len(keep)


def _init_worker() -> None:
    torch.set_num_threads(1)
    cv2.setNumThreads(1)


def clips_per_second(fn: Callable[[tuple[Path, Path]], int], jobs: list[tuple[Path, Path]],
                     workers: int) -> tuple[float, float]:
    """(clips/s by wall time, CPU seconds per clip of this process; 0 with workers)."""
    if workers == 1:
        _init_worker()
        fn(jobs[0])  # warm-up: cascade loading, lazy imports
        w0, c0 = time.perf_counter(), time.process_time()
        for job in jobs:
            fn(job)
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        return len(jobs) / wall, cpu / len(jobs)
    with worker_pool(workers, _init_worker) as pool:
        list(pool.map(fn, jobs[:workers]))  # warm-up of every worker
        w0 = time.perf_counter()
        list(pool.map(fn, jobs))
        return len(jobs) / (time.perf_counter() - w0), 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--frame-size", default="320x240", help="WxH of the generated clips")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.frame_size.split("x"))
    with tempfile.TemporaryDirectory(prefix="bench_preprocess_") as tmp:
        actors = max(1, -(-args.clips // 8))
        generate_dataset(tmp, actors=actors, statements=1, workers=args.workers, frame_size=size,
                         progress=False)
        jobs = [(s.video, s.audio) for s in scan_ravdess(tmp).samples][: args.clips]
        print(f"{len(jobs)} synthetic clips {args.frame_size}, 30 fps, ~3.5-4 s; load average "
              f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
        print(f"{'workers':>7} {'ours clips/s':>13} {'naive clips/s':>14} {'ratio':>6} "
              f"{'ours CPU s/clip':>16} {'naive CPU s/clip':>17}")
        for workers in sorted({1, args.workers}):
            ours_rate, ours_cpu = clips_per_second(ours, jobs, workers)
            naive_rate, naive_cpu = clips_per_second(naive, jobs, workers)
            cpu = f"{ours_cpu:16.3f} {naive_cpu:17.3f}" if workers == 1 else f"{'-':>16} {'-':>17}"
            print(f"{workers:>7} {ours_rate:13.2f} {naive_rate:14.2f} {ours_rate / naive_rate:5.1f}x {cpu}")
        print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
