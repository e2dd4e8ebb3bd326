"""Peak memory (RSS) of one training step, per crop size, batch size and backbone checkpointing.

Each configuration runs in a fresh child process, so one peak cannot hide another's. The child builds
the learner and runs its ``fit`` for one epoch of exactly one batch of generated uint8 clips
(zerodrop, forward, backward, SGD step, the checkpoint and TensorBoard writes), and reports its
high-water RSS (``VmHWM``), its RSS before the step, and the step's wall and CPU time (CPU time is
the better speed figure on a shared machine: other processes stretch wall time, not CPU time).
Before a child starts, its peak is predicted with ``avemotion_core.train.memory``; a configuration
predicted above ``--cap-gb`` is not run (a shared machine must not be pushed into the OOM killer),
and each child caps its own address space at what it had before the step plus ``--cap-gb``, so a
wrong prediction ends in a MemoryError, not in a swapped-out machine.

Usage: python bench/train_memory.py [--sizes 64 224] [--batches 2 4 8] [--cap-gb 8] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # runnable from a checkout without install

GIB = 1024**3


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def child(size: int, batch: int, checkpoint: bool, cap_gb: float, threads: int, mod_drop: str) -> dict:
    """One training step in this process; returns what the parent prints (all sizes in bytes)."""
    import resource
    import tempfile

    import torch
    from torch.utils.data import TensorDataset

    from avemotion_core.labels import MFCC_FRAMES, N_MFCC, SEQ_LENGTH
    from avemotion_core.learner import AudiovisualEmotionLearner

    torch.set_num_threads(threads)
    gen = torch.Generator().manual_seed(size)
    data = TensorDataset(
        torch.randn(batch, N_MFCC, MFCC_FRAMES, generator=gen),
        torch.randint(0, 256, (batch, 3, SEQ_LENGTH, size, size), dtype=torch.uint8, generator=gen),
        torch.arange(batch) % 8,
    )
    learner = AudiovisualEmotionLearner(image_size=size, batch_size=batch, n_workers=0, mod_drop=mod_drop,
                                        iters=1, checkpoint_frames=checkpoint)
    before = _status_kib("VmRSS") * 1024
    limit = _status_kib("VmSize") * 1024 + int(cap_gb * GIB)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    t, cpu = time.perf_counter(), time.process_time()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            learner.fit(data, logging_path=tmp, silent=True)
    except (MemoryError, RuntimeError) as exc:
        if "alloc" not in str(exc).lower() and not isinstance(exc, MemoryError):
            raise
        return {"error": f"over the {cap_gb:g} GiB cap: {str(exc).splitlines()[0][:120]}"}
    return {"before": before, "peak": _status_kib("VmHWM") * 1024, "seconds": time.perf_counter() - t,
            "cpu_seconds": time.process_time() - cpu}


def run_child(size: int, batch: int, checkpoint: bool, cap_gb: float, threads: int, mod_drop: str) -> dict:
    cmd = [sys.executable, __file__, "--child", str(size), str(batch), str(int(checkpoint)),
           "--cap-gb", str(cap_gb), "--threads", str(threads), "--mod-drop", mod_drop]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        return {"error": f"child exited {proc.returncode}: {proc.stderr.strip().splitlines()[-1:]}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 224])
    ap.add_argument("--batches", type=int, nargs="+", default=[2, 4, 8])
    ap.add_argument("--cap-gb", type=float, default=8.0, help="largest step a child may take (GiB)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--mod-drop", choices=("zerodrop", "noisedrop", "nodrop"), default="zerodrop")
    ap.add_argument("--child", type=int, nargs=3, metavar=("SIZE", "BATCH", "CHECKPOINT"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        size, batch, checkpoint = args.child
        print(json.dumps(child(size, batch, bool(checkpoint), args.cap_gb, args.threads, args.mod_drop)))
        return 0

    from avemotion_core.train.memory import estimate_train_bytes
    from bench.model_forward import machine_line

    print(machine_line(args.threads))
    print(f"one training step ({args.mod_drop}), fresh process each; GiB = 2^30 bytes")
    print(f"{'size':>5} {'batch':>5} {'checkpoint':>10} {'estimate GiB':>12} {'before GiB':>10} "
          f"{'peak GiB':>9} {'step s':>7} {'CPU s':>7}")
    for size in args.sizes:
        for batch in args.batches:
            for checkpoint in (True, False):
                estimate = estimate_train_bytes(size, batch, args.mod_drop, checkpoint)
                row = f"{size:>5} {batch:>5} {'on' if checkpoint else 'off':>10} {estimate / GIB:>12.2f} "
                if estimate > args.cap_gb * GIB:
                    print(row + f"not run: estimate above --cap-gb {args.cap_gb:g}", flush=True)
                    continue
                result = run_child(size, batch, checkpoint, args.cap_gb, args.threads, args.mod_drop)
                if "error" in result:
                    print(row + result["error"], flush=True)
                    continue
                print(row + f"{result['before'] / GIB:>10.2f} {result['peak'] / GIB:>9.2f} "
                      f"{result['seconds']:>7.1f} {result['cpu_seconds']:>7.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
