"""Training throughput on CPU (samples/s) through the public ``fit``, per fusion and frame size.

What ``avemotion train`` gets per epoch: modality dropout, forward, backward, SGD step, checkpoint
and TensorBoard writes, DataLoader from uint8 frames as the preprocessing cache stores them.
224 px is the paper's set-up (batch 8, as OpenDR); 64 px is the embedded demo model's.
The first epoch (allocator, thread pools) is run and not timed.

Usage: python bench/train_throughput.py [--threads 2] [--sizes 224 64] [--fusions ia it lt] [--samples 32]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import TensorDataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable from a checkout without install

from avemotion_core.labels import MFCC_FRAMES, N_MFCC, SEQ_LENGTH  # noqa: E402
from avemotion_core.learner import AudiovisualEmotionLearner  # noqa: E402
from avemotion_core.model import FUSIONS  # noqa: E402
from bench.model_forward import machine_line  # noqa: E402


def dataset(n: int, size: int) -> TensorDataset:
    gen = torch.Generator().manual_seed(size)
    return TensorDataset(
        torch.randn(n, N_MFCC, MFCC_FRAMES, generator=gen),
        torch.randint(0, 256, (n, 3, SEQ_LENGTH, size, size), dtype=torch.uint8, generator=gen),
        torch.arange(n) % 8,
    )


def samples_per_s(fusion: str, size: int, n: int, batch: int, workers: int) -> float:
    data = dataset(n, size)
    learner = AudiovisualEmotionLearner(fusion=fusion, image_size=size, iters=1, batch_size=batch,
                                        n_workers=workers, mod_drop="zerodrop")
    with tempfile.TemporaryDirectory() as tmp:
        learner.fit(data, logging_path=f"{tmp}/warm", silent=True)
        t = time.perf_counter()
        learner.fit(data, logging_path=f"{tmp}/timed", silent=True)
        return n / (time.perf_counter() - t)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sizes", type=int, nargs="+", default=[224, 64])
    ap.add_argument("--fusions", nargs="+", default=list(FUSIONS), choices=FUSIONS)
    ap.add_argument("--samples", type=int, default=32, help="samples per timed epoch")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--workers", type=int, default=0, help="DataLoader workers (0: the trainer's own thread)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(machine_line(args.threads))
    print(f"batch {args.batch}, {args.samples} samples per timed epoch, DataLoader workers {args.workers}")
    print(f"{'fusion':<7}" + "".join(f"{f'{s} px samples/s':>20}" for s in args.sizes)
          + (f"{'ratio':>10}" if len(args.sizes) == 2 else ""))
    for fusion in args.fusions:
        rates = [samples_per_s(fusion, s, args.samples, args.batch, args.workers) for s in args.sizes]
        ratio = f"{rates[1] / rates[0]:>9.1f}x" if len(rates) == 2 else ""
        print(f"{fusion:<7}" + "".join(f"{r:>20.2f}" for r in rates) + ratio, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
