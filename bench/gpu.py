"""GPU figures: inference latency, training throughput, and a real DDP (NCCL) + bf16 ``fit``.

    python bench/gpu.py [--out results.json]

Needs a CUDA device. Prints one JSON document; everything runs through the public learner so the
numbers are what ``avemotion train --device cuda`` and the node with ``device: cuda`` get.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
from torch.utils.data import TensorDataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from avemotion_core.learner import AudiovisualEmotionLearner  # noqa: E402
from avemotion_core.model import FUSIONS  # noqa: E402


def _timed(fn, repeats: int = 20) -> float:
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def inference_ms(fusion: str, batch: int, amp: bool) -> float:
    learner = AudiovisualEmotionLearner(fusion=fusion, device="cuda", amp=amp)
    model = learner.model.eval().to(memory_format=torch.channels_last)
    audio = torch.randn(batch, 10, 156, device="cuda")
    video = torch.rand(batch, 3, 15, 224, 224, device="cuda")

    def run() -> None:
        with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
            model(audio, video)

    return _timed(run)


def train_samples_per_s(fusion: str, amp: bool, n: int = 256, batch: int = 32) -> float:
    data = TensorDataset(
        torch.randn(n, 10, 156),
        torch.randint(0, 256, (n, 3, 15, 224, 224), dtype=torch.uint8),
        torch.arange(n) % 8,
    )
    learner = AudiovisualEmotionLearner(
        fusion=fusion, device="cuda", amp=amp, iters=2, batch_size=batch, n_workers=2, mod_drop="nodrop"
    )
    learner.fit(data, logging_path=f"/tmp/gpu_bench_{fusion}", silent=True)  # warm-up epoch included
    learner.iters = 1
    t = time.perf_counter()
    learner.fit(data, logging_path=f"/tmp/gpu_bench_{fusion}_2", silent=True)
    torch.cuda.synchronize()
    return n / (time.perf_counter() - t)


def ddp_fit() -> dict[str, float]:
    """One-process NCCL group: exercises DDP wrapping, DistributedSampler and all_reduce for real."""
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", "29533")
    dist.init_process_group("nccl", rank=0, world_size=1)
    try:
        g = torch.Generator().manual_seed(0)
        n = 64
        labels = torch.arange(n) % 4
        audio = torch.randn(n, 10, 156, generator=g)
        audio[torch.arange(n), labels * 2] += 3.0  # audio carries the label
        data = TensorDataset(audio, torch.rand(n, 3, 15, 112, 112, generator=g), labels)
        learner = AudiovisualEmotionLearner(
            num_class=4, device="cuda:0", iters=8, batch_size=16, n_workers=0, lr=0.02, image_size=112
        )
        hist = learner.fit(data, data, logging_path="/tmp/gpu_ddp", silent=True)
        return {"ddp_final_train_acc": hist["train_acc"][-1], "ddp_final_val_acc": hist["val_acc"][-1]}
    finally:
        dist.destroy_process_group()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("bench/gpu.py needs a CUDA device")
    torch.backends.cudnn.benchmark = True
    result: dict[str, object] = {
        "device": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "inference_ms": {},
        "train_samples_per_s": {},
    }
    for fusion in FUSIONS:
        for amp in (False, True):
            key = f"{fusion} {'bf16' if amp else 'fp32'}"
            result["inference_ms"][f"{key} b1"] = round(inference_ms(fusion, 1, amp), 2)
            result["inference_ms"][f"{key} b8"] = round(inference_ms(fusion, 8, amp), 2)
            result["train_samples_per_s"][key] = round(train_samples_per_s(fusion, amp), 1)
    result.update(ddp_fit())
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
