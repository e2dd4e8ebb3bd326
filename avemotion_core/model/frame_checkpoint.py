"""Activation checkpointing of the per-frame EfficientFace backbone, for training in bounded memory.

Why: a training step pushes every frame of every (modality-dropout-expanded) clip through the 2-D
backbone, 480 frames of 224 px at batch 8 with ``zerodrop``, and autograd keeps every intermediate
map of all of them until the backward pass: more than 11 GB on CPU. Here the backbone runs as a chain
of segments (stem, each inverted-residual unit, the local extractor, the modulator, the head conv);
only the segments' inputs are kept, and each segment's inside is recomputed during the backward pass.
Stages are nested: a stage keeps only its own input in the forward pass and its units' inputs only
while its backward runs, so at most one stage's unit boundaries are alive at a time.

Why segments of layers and not chunks of frames: the backbone's BatchNorm layers normalise a training
batch with the statistics of all its frames; running chunks of frames on their own would change
those statistics, hence the outputs and gradients. Layer segments see every frame, so outputs and
gradients equal the plain forward's (``test/test_train_memory.py``), and BatchNorm's running
statistics are updated once per step: the recomputation normalises with the same batch statistics
but leaves the running ones alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from avemotion_core.model.efficientface import EfficientFaceTemporal


@contextmanager
def _frozen_running_stats(module: nn.Module) -> Iterator[None]:
    """BatchNorm layers of ``module`` normalise with batch statistics but leave their buffers as they are.

    Momentum 0 keeps the running statistics (new = 1 x old + 0 x batch) while running the same
    kernels, so the recomputation saves the same tensors as the first pass (checkpoint checks that);
    the step counter is put back.
    """
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [(m.momentum, None if m.num_batches_tracked is None else m.num_batches_tracked.clone())
             for m in norms]
    for m in norms:
        m.momentum = 0.0
    try:
        yield
    finally:
        for m, (momentum, count) in zip(norms, saved, strict=True):
            m.momentum = momentum
            if count is not None:
                m.num_batches_tracked.copy_(count)


def _segment(module: nn.Module, fn: Callable[..., torch.Tensor], *inputs: torch.Tensor) -> torch.Tensor:
    """``fn(*inputs)`` whose inner activations are recomputed in backward instead of being kept."""
    return checkpoint(fn, *inputs, use_reentrant=False,
                      context_fn=lambda: (nullcontext(), _frozen_running_stats(module)))


def _stage(units: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """A stage as one segment whose units are segments of their own (nested checkpoints)."""
    def run(y: torch.Tensor) -> torch.Tensor:
        for unit in units:
            y = _segment(unit, unit, y)
        return y

    return _segment(units, run, x)


def checkpointed_features(visual: EfficientFaceTemporal, frames: torch.Tensor) -> torch.Tensor:
    """``visual.forward_features(frames)`` with activation checkpointing: same values and gradients."""
    stem = nn.ModuleList([visual.conv1, visual.maxpool])
    x = _segment(stem, lambda f: visual.maxpool(visual.conv1(f)), frames)
    x = _segment(visual.modulator, visual.modulator, _stage(visual.stage2, x)) + _segment(
        visual.local, visual.local, x)
    x = _stage(visual.stage4, _stage(visual.stage3, x))
    return _segment(visual.conv5, lambda y: visual.conv5(y).mean((2, 3)), x)
