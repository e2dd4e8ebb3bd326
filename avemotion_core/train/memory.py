"""How much RAM a CPU training run needs, checked before any work is done.

Why: at the paper's 224 px a training step holds the activations of every frame of every clip
(zerodrop makes 4 variants of each), so memory grows with batch x crop area, and an oversized run
used to die in the OOM killer after the whole dataset had been preprocessed. ``estimate_train_bytes``
predicts a step's peak resident memory from a fit to measured peaks (``bench/train_memory.py``,
BENCHMARKS.md "Training memory"); ``avemotion train`` refuses a run whose estimate exceeds the
memory available now, naming what to change.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from pathlib import Path

from avemotion_core.labels import SEQ_LENGTH

GIB = 1024**3
# Items per training clip after modality dropout (model/modality.py).
EXPANSION = {"nodrop": 1, "noisedrop": 3, "zerodrop": 4}
# Fitted to bench/train_memory.py peaks (VmHWM, one step, torch 2.13 CPU; BENCHMARKS.md "Training
# memory"): the peak grows by 177 (checkpointing) or 491 (none) bytes per frame pixel, over ~0.36 GiB
# (the process before the step, ~0.24, plus the optimizer and logging), and the heap's 256 MiB
# reserve (``limit_heap_growth``) adds up to 0.15 GiB. Rounded up, with room for the CLI's own
# imports, so every measured configuration is at or below its estimate.
BASE_BYTES = int(0.65 * GIB)
BYTES_PER_FRAME_PIXEL = {True: 190, False: 520}
# glibc's mallopt option numbers (malloc.h).
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3


def estimate_train_bytes(image_size: int, batch_size: int, mod_drop: str = "zerodrop",
                         checkpoint_frames: bool = True, seq_length: int = SEQ_LENGTH) -> int:
    """Predicted peak resident bytes of one CPU training process at these settings."""
    frame_pixels = EXPANSION[mod_drop] * batch_size * seq_length * image_size * image_size
    return BASE_BYTES + BYTES_PER_FRAME_PIXEL[bool(checkpoint_frames)] * frame_pixels


def available_bytes(meminfo: str | Path = "/proc/meminfo") -> int | None:
    """The kernel's estimate of memory available to a new workload (``MemAvailable``); None if unknown."""
    try:
        for line in Path(meminfo).read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def memory_problem(image_size: int, batch_size: int, mod_drop: str, checkpoint_frames: bool,
                   processes: int = 1, available: int | None = None) -> str | None:
    """A one-line reason why this CPU training run will not fit in memory, or None when it fits."""
    available = available_bytes() if available is None else available
    if available is None:
        return None
    need = processes * estimate_train_bytes(image_size, batch_size, mod_drop, checkpoint_frames)
    if need <= available:
        return None
    hints = []
    if batch_size > 1:
        half = estimate_train_bytes(image_size, batch_size // 2, mod_drop, checkpoint_frames)
        hints.append(f"a smaller --batch-size ({batch_size // 2}: {half / GIB:.1f} GiB per process)")
    if not checkpoint_frames:
        hints.append("--checkpoint-frames")
    if image_size > 64:
        hints.append("a smaller --image-size")
    who = f"{processes} processes" if processes > 1 else "this training run"
    return (f"{who} needs about {need / GIB:.1f} GiB of RAM ({image_size} px, batch {batch_size}, "
            f"{mod_drop}, backbone checkpointing {'on' if checkpoint_frames else 'off'}) but "
            f"{available / GIB:.1f} GiB is available; use {' or '.join(hints) or 'more memory'}, "
            "or --ignore-memory-estimate to try anyway")


def limit_heap_growth() -> None:
    """Bound the heap of a CPU training run, with a reserve it reuses (glibc ``mallopt``).

    - ``M_MMAP_THRESHOLD`` 128 KiB: glibc raises its mmap threshold up to 32 MiB after the first
      large frees, after which the buffers that checkpointing frees and re-allocates stay in a
      fragmented heap: at 224 px, batch 2 that held ~0.8 GiB more at the peak (BENCHMARKS.md).
    - ``M_TOP_PAD`` 256 MiB: with the threshold alone, the heap was trimmed after every free and
      each activation buffer became a fresh mapping whose pages the kernel zeroes on first touch,
      so a third or more of a training run's time was system time. The heap now keeps this much free
      memory at its top and serves large buffers from it: 64 px, 60 clips, one epoch 43.7 -> 25.3 s
      (system time 15.7 -> 0.7 s) for 0.09-0.16 GiB more at the peak (BENCHMARKS.md). A 224 px
      step's buffers outgrow the reserve: 1.2x the samples/s there.

    Does nothing on other C libraries.
    """
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return
    mallopt(_M_MMAP_THRESHOLD, 128 * 1024)
    mallopt(_M_TOP_PAD, 256 * 1024 * 1024)
