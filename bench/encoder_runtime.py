"""CPU time of the stream's frame encoder: the frozen TorchScript graph against onnxruntime.

Both come from ``learner.optimize(frame_runtime=...)`` on the embedded model, as the node makes them
(``freeze_for_streaming``), and are timed through ``learner.encode_frames`` on seeded uint8 crops:
CPU time (``time.process_time``) per crop, median of the timed calls. Each runtime is timed in its
own process, and the processes alternate (the first runtime changes every round), so that a warm
cache or a noisy spell of a shared machine does not favour one side; the ratio is of the medians.
A node encodes one lattice frame's faces at a time, so batches 1-4 are what it sees.

Usage: python bench/encoder_runtime.py [--sizes 64 224] [--batches 1 3] [--rounds 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable from a checkout without install

from bench.model_forward import machine_line  # noqa: E402

RUNTIMES = ("torchscript", "onnxruntime")


def child(runtime: str, size: int, batches: list[int], threads: int, calls: int) -> dict[int, float]:
    """Per-crop CPU ms of ``encode_frames`` per batch size, in this process."""
    import numpy as np
    import torch

    from avemotion_core import AudiovisualEmotionLearner
    from avemotion_core.labels import DEFAULT_MODEL

    torch.set_num_threads(threads)
    learner = AudiovisualEmotionLearner.from_model_dir(DEFAULT_MODEL)
    learner.image_size = size
    learner.optimize(frame_runtime=runtime)
    out = {}
    for batch in batches:
        crops = np.random.default_rng(batch).integers(0, 256, (batch, size, size, 3), dtype=np.uint8)
        for _ in range(3):  # warm-up: oneDNN primitives, TorchScript profiling runs, onnxruntime arenas
            learner.encode_frames(crops)
        times = []
        for _ in range(calls):
            start = time.process_time()
            learner.encode_frames(crops)
            times.append(time.process_time() - start)
        out[batch] = 1000 * statistics.median(times) / batch
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 224])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--rounds", type=int, default=3, help="processes per runtime (alternating)")
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads (the node's default: 1)")
    parser.add_argument("--calls", type=int, default=30, help="timed calls per batch size and process")
    parser.add_argument("--child", nargs=2, metavar=("RUNTIME", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        runtime, size = args.child
        print(json.dumps(child(runtime, int(size), args.batches, args.threads, args.calls)))
        return
    print(machine_line(args.threads))
    print(f"CPU ms per crop, median of {args.calls} calls per process; {args.rounds} alternating processes "
          "per runtime; ratio = torchscript median / onnxruntime median")
    rows: dict[tuple[int, int], dict[str, list[float]]] = {}
    for size in args.sizes:
        for r in range(args.rounds):
            for runtime in RUNTIMES if r % 2 == 0 else RUNTIMES[::-1]:
                cmd = [sys.executable, __file__, "--child", runtime, str(size), "--threads",
                       str(args.threads), "--calls", str(args.calls), "--batches", *map(str, args.batches)]
                result = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
                for batch, ms in result.items():
                    rows.setdefault((size, int(batch)), {}).setdefault(runtime, []).append(ms)
    print("\n| size | batch | torchscript runs | onnxruntime runs | medians | ratio |")
    print("|---|---|---|---|---|---|")
    for (size, batch), runs in rows.items():
        ts, ort = (statistics.median(runs[k]) for k in RUNTIMES)
        cells = [", ".join(f"{v:.2f}" for v in runs[k]) for k in RUNTIMES]
        print(f"| {size} | {batch} | {cells[0]} | {cells[1]} | {ts:.2f} → {ort:.2f} | {ts / ort:.2f}× |")
    print(machine_line(args.threads))


if __name__ == "__main__":
    main()
