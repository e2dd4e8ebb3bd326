"""torchrun entry point for the DDP test: the real ``avemotion train``, instrumented to record what each
rank trained on and the weights it started and ended with (``rank<N>.pt`` in the given folder).

Usage: torchrun --nproc_per_node 2 test/ddp_train_worker.py RECORD_DIR train DATA [train options]
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.distributed as dist
from torch.utils.data import Dataset

from avemotion_core.cli import main
from avemotion_core.cli import train as train_cli
from avemotion_core.learner import AudiovisualEmotionLearner

record = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(".")
seen: list[int] = []  # training-set indices this rank's DataLoader fetched (workers 0: in this process)


class Recording(Dataset):
    """The real training set, noting each index fetched."""

    def __init__(self, inner):
        self.inner = inner

    def __len__(self) -> int:
        return len(self.inner)

    def __getitem__(self, index):
        seen.append(int(index))
        return self.inner[index]

    def __getattr__(self, name):  # image_size, labels, ... of the real dataset
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)


_load = train_cli.load_datasets


def _recording_load(args, preprocess=True):
    train, val, test = _load(args, preprocess)
    return Recording(train), val, test


_fit = AudiovisualEmotionLearner.fit


def _recording_fit(self, *args, **kwargs):
    start = {k: v.detach().clone() for k, v in self.model.named_parameters()}
    history = _fit(self, *args, **kwargs)
    final = {k: v.detach().clone() for k, v in self.model.named_parameters()}
    torch.save({"start": start, "final": final, "seen": seen, "n_train": len(args[0])},
               record / f"rank{dist.get_rank()}.pt")
    return history


if __name__ == "__main__":  # preprocessing workers are spawned: they import this file as a module
    train_cli.load_datasets = _recording_load
    AudiovisualEmotionLearner.fit = _recording_fit
    sys.exit(main(sys.argv[2:]))
