"""The training state on disk: written atomically, read back with ``weights_only=True``.

A checkpoint is one dict (nanoGPT's shape): model, optimizer, scheduler, history, best accuracy,
the epoch it ends, and the fusion/class count it was trained with.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import torch

from avemotion_core.fileio import ModelFileError, atomic_path


def write_checkpoint(state: dict[str, Any], path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def read_checkpoint(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ModelFileError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt/truncated/pickled-code files all end here
        raise ModelFileError(f"cannot read checkpoint {path}: {type(exc).__name__}: {exc}") from exc


def scheduler_state(scheduler: torch.optim.lr_scheduler.MultiStepLR) -> dict[str, Any]:
    """The scheduler's state with its ``Counter`` of milestones as a plain dict, which
    ``weights_only`` loading accepts (a Counter is refused as arbitrary code)."""
    return {**scheduler.state_dict(), "milestones": dict(scheduler.milestones)}


def restore(state: dict[str, Any], model: torch.nn.Module, optimizer: torch.optim.Optimizer,
            scheduler: torch.optim.lr_scheduler.MultiStepLR) -> None:
    """Load a checkpoint's model, optimizer and scheduler state in place."""
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    sched = dict(state["scheduler"])
    sched["milestones"] = Counter(sched["milestones"])
    scheduler.load_state_dict(sched)
