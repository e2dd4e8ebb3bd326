"""Per-window cost of the node's streaming engine: the new lattice frames of a hop + the window head.

    python bench/window_latency.py [--model DIR] [--threads 1 2] [--windows 20] [--hop 0.48]

Feeds a real generated clip (face video + espeak-ng speech, ``avemotion_core.data.synth``), looped, through
the exact calls the node makes (``StreamScheduler`` jobs -> ``FeatureStream.run_frames`` for each
lattice frame, once -> ``FeatureStream.run_window``) and prints per thread count the p50/p95 of one
hop's work (its new frames' crop + encoding, then MFCC + window head), the split between the two,
and the real-time factor (p95 / hop): below 1 the node keeps up.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from avemotion_core.data.synth import ClipSpec, generate_clip  # noqa: E402
from avemotion_core.faces import make_cropper
from avemotion_core.learner import AudiovisualEmotionLearner  # noqa: E402
from avemotion_core.media.audio import load_audio  # noqa: E402
from avemotion_core.media.video import probe_video, read_frames  # noqa: E402
from avemotion_core.modes import FACE_DETECTORS  # noqa: E402
from avemotion_core.stream import (  # noqa: E402
    FeatureStream,
    FrameJob,
    StreamConfig,
    StreamScheduler,
    freeze_for_streaming,
)
from bench.model_forward import machine_line  # noqa: E402

DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "avemotion_core" / "assets" / "default_model"


def stream_jobs(workdir: Path, hop: float) -> list[list]:
    """The engine's jobs for a ~4 s clip looped 3x (30 fps frames, 0.1 s audio chunks), grouped per
    window: the lattice frames that became due since the previous window, then the window."""
    paths = generate_clip(ClipSpec(emotion=3, intensity=1, statement=1, repetition=1, actor=1), workdir)
    video = next(p for p in paths if p.suffix == ".mp4")
    wav = next(p for p in paths if p.suffix == ".wav")
    info = probe_video(video)
    frames = read_frames(video, list(range(info.n_frames))) * 3
    audio = np.tile(load_audio(wav, sr=48000), 3)
    scheduler = StreamScheduler(StreamConfig(hop_seconds=hop))
    chunk = 4800  # 0.1 s
    groups, current, next_frame = [], [], 0
    for start in range(0, len(audio) - chunk + 1, chunk):  # interleaved as they would arrive live
        t = (start + chunk) / 48000
        jobs = []
        while next_frame < len(frames) and next_frame / info.fps <= t:
            jobs += scheduler.add_frame(next_frame / info.fps, frames[next_frame])
            next_frame += 1
        jobs += scheduler.add_audio(start / 48000, audio[start : start + chunk], 48000)
        for job in jobs:
            current.append(job)
            if not isinstance(job, FrameJob):
                groups.append(current)
                current = []
    if not groups:
        raise SystemExit("the clip produced no window")
    return groups


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default=str(DEFAULT_MODEL))
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--windows", type=int, default=20, help="timed windows per thread count")
    parser.add_argument("--hop", type=float, default=0.48)
    parser.add_argument("--image-size", type=int, default=0, help="0 = the model's")
    parser.add_argument("--face-detector", choices=FACE_DETECTORS, default="haar")
    args = parser.parse_args()

    learner = AudiovisualEmotionLearner.from_model_dir(args.model)
    size = args.image_size or learner.image_size
    frozen = freeze_for_streaming(learner, size)  # as the node does
    if frozen:
        print(frozen)
    with tempfile.TemporaryDirectory() as tmp:
        groups = stream_jobs(Path(tmp), args.hop)
    config = StreamConfig(hop_seconds=args.hop)
    print(f"model {args.model} (fusion {learner.fusion}, crop {size} px, {args.face_detector} faces); "
          f"{len(groups)} windows in the clip, hop {config.hop:.2f} s")
    for threads in args.threads:
        torch.set_num_threads(threads)
        features = FeatureStream(learner, make_cropper(args.face_detector, size), config)
        frame_ms, total = [], []
        for k, group in enumerate(groups[: args.windows + 2]):
            *frames, window = group
            t0 = time.perf_counter()
            features.run_frames(frames)
            t1 = time.perf_counter()
            features.run_window(window)
            t2 = time.perf_counter()
            if k >= 2:  # the first windows carry the first window's 15 frames and warm the caches
                frame_ms.append((t1 - t0) * 1e3)
                total.append((t2 - t0) * 1e3)
        p50, p95, f50 = statistics.median(total), percentile(total, 95), statistics.median(frame_ms)
        print(
            f"threads {threads}: per window p50 {p50:.1f} ms, p95 {p95:.1f} ms "
            f"(new lattice frames p50 {f50:.1f} ms, MFCC + head p50 {p50 - f50:.1f} ms); "
            f"real-time factor p95/hop = {p95 / (config.hop * 1e3):.2f}"
        )
    print(machine_line(torch.get_num_threads()))


if __name__ == "__main__":
    main()
