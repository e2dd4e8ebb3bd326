"""Media path timings: seeking reader vs full decode, Haar vs MTCNN face detection, torch vs librosa MFCC.

Run: ``.venv/bin/python bench/media.py [--seconds 20]``. Prints one line per measurement (median of
repeats, milliseconds) plus the load average, because shared machines make absolute numbers noisy.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import soundfile as sf
import torch
from skimage import data

from avemotion_core.data.inference_data import load_clip_window
from avemotion_core.faces import FaceCropper, HaarFaceDetector
from avemotion_core.faces.mtcnn import MTCNNFaceDetector
from avemotion_core.media import audio, video


def median_ms(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median wall and CPU (all threads of this process) milliseconds after one warm-up call.

    CPU time is reported too because on a shared 2-core machine wall time mostly measures the
    other processes; CPU time is what the operation itself costs.
    """
    fn()  # warm-up (caches, lazy imports, first-call compilation)
    wall, cpu = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    return 1000 * float(np.median(wall)), 1000 * float(np.median(cpu))


def make_clip(path: Path, seconds: float, fps: int = 30) -> None:
    """640x480 astronaut moving across the frame with espeak-ng speech, H.264 + AAC."""
    face = cv2.resize(data.astronaut(), (300, 300), interpolation=cv2.INTER_AREA)
    frames = []
    for i in range(int(seconds * fps)):
        frame = np.full((480, 640, 3), 40, np.uint8)
        x = (i * 2) % 340
        frame[90:390, x : x + 300] = face
        frames.append(frame)
    wav = path.with_suffix(".wav")
    subprocess.run(["espeak-ng", "-w", str(wav), "Hello, this is a benchmark of the media path. " * 6],
                   check=True, capture_output=True)
    speech, sr = sf.read(wav, dtype="float32")
    track = np.resize(speech, int(seconds * sr))
    video.write_video(path, frames, fps, track, sr)


def report(name: str, ms: tuple[float, float]) -> None:
    print(f"{name:<48}{ms[0]:9.2f} ms wall {ms[1]:9.2f} ms cpu")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the test clip")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0,
                        help="OpenCV and torch threads (0: library default); 1 gives steadier CPU times")
    args = parser.parse_args()
    if args.threads:
        cv2.setNumThreads(args.threads)
        torch.set_num_threads(args.threads)
    r = args.repeats
    print(f"load average before: {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "clip.mp4"
        make_clip(clip, args.seconds)
        info = video.probe_video(clip)
        print(f"clip: {info}")
        window_idx = video.select_frame_indices(info.n_frames, info.fps, start_frame=info.n_frames // 2 - 54)
        report("probe_video", median_ms(lambda: video.probe_video(clip), r))
        report("read_frames 15 frames of the centre window",
               median_ms(lambda: video.read_frames(clip, window_idx), r))
        report(f"read_frames all {info.n_frames} frames",
               median_ms(lambda: video.read_frames(clip, range(info.n_frames)), max(1, r // 2)))
        report("load_audio whole mp4 track", median_ms(lambda: audio.load_audio(clip), r))
        cropper = FaceCropper(size=224)
        report("load_clip_window (probe+decode+faces+MFCC)",
               median_ms(lambda: load_clip_window(clip, cropper=cropper), max(1, r // 2)))

    face = data.astronaut()
    for name, detector in (("Haar", HaarFaceDetector()), ("MTCNN", MTCNNFaceDetector())):
        for h, w in [(224, 224), (480, 640), (720, 1280)]:
            img = np.full((h, w, 3), 40, np.uint8)
            side = min(h, w)
            img[:side, :side] = cv2.resize(face, (side, side), interpolation=cv2.INTER_AREA)
            found = len(detector.detect(img))
            report(f"{name} detect {w}x{h} ({found} face(s))",
                   median_ms(lambda img=img, d=detector: d.detect(img), 3 * r))

    import librosa

    x = (0.1 * np.random.default_rng(0).standard_normal(79380)).astype(np.float32)  # cost is content-free
    report("mfcc torch (10x156)", median_ms(lambda: audio.mfcc(x), 10 * r))
    w0, c0 = time.perf_counter(), time.process_time()
    librosa.feature.mfcc(y=x, sr=22050, n_mfcc=10)
    report("mfcc librosa, first call (numba compile)",
           (1000 * (time.perf_counter() - w0), 1000 * (time.process_time() - c0)))
    report("mfcc librosa, warm", median_ms(lambda: librosa.feature.mfcc(y=x, sr=22050, n_mfcc=10), 10 * r))
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
