"""Whole-window latency of the node's pipeline: face crop of 15 frames + MFCC + model.

    python bench/window_latency.py [--model DIR] [--threads 1 2] [--windows 20] [--hop 0.5]

Feeds a real generated clip (face video + espeak-ng speech, ``avemotion_core.synth``) through the
exact calls the node makes per window (``StreamWindower`` -> ``StreamWindow.build`` with the
node's cropper -> ``learner.infer``) and prints p50/p95 per thread count, the split between data
preparation and the model, and the real-time factor (p95 / hop): below 1 the node keeps up.
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

from avemotion_core.audio import load_audio  # noqa: E402
from avemotion_core.faces import FACE_DETECTORS, make_cropper  # noqa: E402
from avemotion_core.learner import AudiovisualEmotionLearner  # noqa: E402
from avemotion_core.streaming import StreamConfig, StreamWindower  # noqa: E402
from avemotion_core.synth import ClipSpec, generate_clip  # noqa: E402
from avemotion_core.video import probe_video, read_frames  # noqa: E402
from bench.model_forward import machine_line  # noqa: E402

DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "avemotion_core" / "assets" / "default_model"


def stream_windows(workdir: Path, hop: float) -> list:
    """Windows cut by the node's windower from a ~4 s clip looped 3x (30 fps frames, 0.1 s audio chunks)."""
    paths = generate_clip(ClipSpec(emotion=3, intensity=1, statement=1, repetition=1, actor=1), workdir)
    video = next(p for p in paths if p.suffix == ".mp4")
    wav = next(p for p in paths if p.suffix == ".wav")
    info = probe_video(video)
    frames = read_frames(video, list(range(info.n_frames)))
    audio = load_audio(wav, sr=48000)
    frames = frames * 3
    audio = np.tile(audio, 3)
    windower = StreamWindower(StreamConfig(hop_seconds=hop))
    chunk = 4800  # 0.1 s
    windows, next_frame = [], 0
    for start in range(0, len(audio) - chunk + 1, chunk):  # interleaved as they would arrive live
        t = (start + chunk) / 48000
        while next_frame < len(frames) and next_frame / info.fps <= t:
            windower.add_frame(next_frame / info.fps, frames[next_frame])
            next_frame += 1
        windower.add_audio(start / 48000, audio[start : start + chunk], 48000)
        windows += windower.poll()
    if not windows:
        raise SystemExit("the clip produced no window")
    return windows


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default=str(DEFAULT_MODEL))
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--windows", type=int, default=20, help="timed windows per thread count")
    parser.add_argument("--hop", type=float, default=0.5)
    parser.add_argument("--image-size", type=int, default=0, help="0 = the model's")
    parser.add_argument("--face-detector", choices=FACE_DETECTORS, default="haar")
    args = parser.parse_args()

    learner = AudiovisualEmotionLearner.from_model_dir(args.model)
    size = args.image_size or learner.image_size
    with tempfile.TemporaryDirectory() as tmp:
        windows = stream_windows(Path(tmp), args.hop)
    print(f"model {args.model} (fusion {learner.fusion}, crop {size} px, {args.face_detector} faces); "
          f"{len(windows)} windows in the clip")
    for threads in args.threads:
        torch.set_num_threads(threads)
        cropper = make_cropper(args.face_detector, size)
        prep, total = [], []
        for k in range(args.windows + 2):
            win = windows[k % len(windows)]
            t0 = time.perf_counter()
            audio, video = win.build(cropper=cropper, image_size=size).to_tensors()
            t1 = time.perf_counter()
            learner.infer(audio, video, mode=win.mode)
            t2 = time.perf_counter()
            if k >= 2:  # first two warm the detector, MFCC tables and allocator
                prep.append((t1 - t0) * 1e3)
                total.append((t2 - t0) * 1e3)
        p50, p95, prep50 = statistics.median(total), percentile(total, 95), statistics.median(prep)
        print(
            f"threads {threads}: window p50 {p50:.1f} ms, p95 {p95:.1f} ms "
            f"(crop+MFCC p50 {prep50:.1f} ms, model p50 {p50 - prep50:.1f} ms); "
            f"real-time factor p95/hop = {p95 / (args.hop * 1e3):.2f} for a {args.hop} s hop"
        )
    print(machine_line(torch.get_num_threads()))


if __name__ == "__main__":
    main()
