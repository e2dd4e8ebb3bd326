"""The training loop: SGD with step decay and modality dropout, as OpenDR and the paper train.

``fit`` reads top to bottom: wrap for DDP, build the loader and optimizer, resume, then per epoch
train, validate on rank 0, log and checkpoint. Under ``torchrun`` only rank 0 logs, validates and
writes files; the sampler shards the data and the epoch totals are summed over ranks.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset
from torch.utils.data.distributed import DistributedSampler
from tqdm import tqdm

from avemotion_core.model import modality_dropout
from avemotion_core.train.batches import check_batch_crop, to_device
from avemotion_core.train.checkpoint import read_checkpoint, restore, scheduler_state, write_checkpoint
from avemotion_core.train.distributed import all_reduce_sum, barrier, is_distributed, is_main, wrap_ddp


class Trainable(Protocol):
    """What the loop reads from ``AudiovisualEmotionLearner`` (OpenDR's hyper-parameter names)."""

    model: torch.nn.Module
    device: torch.device
    fusion: str
    num_class: int
    image_size: int
    mod_drop: str
    lr: float
    lr_steps: Sequence[int]
    momentum: float
    dampening: float
    weight_decay: float
    iters: int
    batch_size: int
    n_workers: int
    seed: int
    checkpoint_after_iter: int
    checkpoint_load_iter: int

    def autocast(self) -> AbstractContextManager[Any]: ...

    def eval(self, dataset: Dataset, silent: bool = ..., verbose: bool = ..., mode: str = ...
             ) -> dict[str, Any]: ...


def train_epoch(net: torch.nn.Module, loader: DataLoader, optimizer: torch.optim.Optimizer, *,
                learner: Trainable, desc: str, quiet: bool) -> tuple[float, float]:
    """One pass over ``loader``; returns (mean loss, accuracy) over every rank's samples."""
    net.train()
    totals = torch.zeros(3, dtype=torch.float64, device=learner.device)  # loss sum, correct, count
    for audio, video, target in tqdm(loader, desc=desc, disable=quiet, leave=False):
        check_batch_crop(video, learner.image_size, "training")
        audio, video, target = to_device(audio, video, target, learner.device)
        audio, video, target = modality_dropout(audio, video, target, learner.mod_drop)
        with learner.autocast():
            logits = net(audio, video)
        loss = F.cross_entropy(logits.float(), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        n = target.numel()
        totals += torch.stack([loss.detach().double() * n, (logits.argmax(1) == target).sum().double(),
                               totals.new_tensor(n)])
    if is_distributed():
        all_reduce_sum(totals)
    loss_sum, correct, count = totals.tolist()
    return loss_sum / max(count, 1), correct / max(count, 1)


def fit(learner: Trainable, dataset: Dataset, val_dataset: Dataset | None, log_dir: Path, *,
        eval_mode: str, quiet: bool, report: Callable[[str], None] | None,
        restore_best: bool) -> dict[str, list[float]]:
    """Train ``learner.model`` for ``learner.iters`` epochs; return the per-epoch curves.

    Checkpoints under ``log_dir/checkpoints``: ``last.pt`` every epoch, ``best.pt`` on validation
    accuracy in ``eval_mode``, ``epoch_NNNN.pt`` every ``checkpoint_after_iter`` epochs; with
    ``checkpoint_load_iter=N`` training resumes from ``epoch_NNNN.pt``.
    """
    main = is_main()
    model = learner.model
    net = wrap_ddp(model, learner.device) if is_distributed() else model
    sampler = DistributedSampler(dataset, shuffle=True, seed=learner.seed) if is_distributed() else None
    loader = DataLoader(dataset, batch_size=learner.batch_size, shuffle=sampler is None, sampler=sampler,
                        num_workers=learner.n_workers, pin_memory=learner.device.type == "cuda",
                        persistent_workers=learner.n_workers > 0,
                        generator=torch.Generator().manual_seed(learner.seed))
    optimizer = torch.optim.SGD(model.parameters(), lr=learner.lr, momentum=learner.momentum,
                                dampening=learner.dampening, weight_decay=learner.weight_decay)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(learner.lr_steps), gamma=0.1)
    ckpt_dir = log_dir / "checkpoints"
    history: dict[str, list[float]] = {"train_loss": [], "train_acc": [], "val_loss": [], "val_acc": []}
    best_acc, start = -math.inf, 0
    if learner.checkpoint_load_iter > 0:
        state = read_checkpoint(ckpt_dir / f"epoch_{learner.checkpoint_load_iter:04d}.pt")
        restore(state, model, optimizer, scheduler)
        history = {k: list(v) for k, v in state["history"].items()}
        best_acc, start = float(state["best_acc"]), int(state["epoch"])

    writer = None
    if main:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(log_dir))
    try:
        for epoch in range(start, learner.iters):
            if sampler is not None:
                sampler.set_epoch(epoch)
            t0 = time.perf_counter()
            loss, acc = train_epoch(net, loader, optimizer, learner=learner, desc=f"epoch {epoch + 1}",
                                    quiet=quiet or not main)
            scheduler.step()
            history["train_loss"].append(loss)
            history["train_acc"].append(acc)
            if not main:
                continue
            line = f"epoch {epoch + 1}/{learner.iters} train loss {loss:.4f} acc {acc:.4f}"
            improved = False
            if val_dataset is not None:
                val = learner.eval(val_dataset, silent=True, verbose=False, mode=eval_mode)
                history["val_loss"].append(val["cross_entropy"])
                history["val_acc"].append(val["acc"])
                improved = val["acc"] > best_acc
                best_acc = max(best_acc, val["acc"])
                line += f" | val ({eval_mode}) loss {val['cross_entropy']:.4f} acc {val['acc']:.4f}"
            assert writer is not None
            writer.add_scalar("train/loss", loss, epoch)
            writer.add_scalar("train/acc", acc, epoch)
            writer.add_scalar("train/lr", optimizer.param_groups[0]["lr"], epoch)
            if history["val_acc"]:
                writer.add_scalar("val/loss", history["val_loss"][-1], epoch)
                writer.add_scalar("val/acc", history["val_acc"][-1], epoch)
            state = {"epoch": epoch + 1, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                     "scheduler": scheduler_state(scheduler), "history": history, "best_acc": best_acc,
                     "fusion": learner.fusion, "num_class": learner.num_class}
            write_checkpoint(state, ckpt_dir / "last.pt")
            if improved:
                write_checkpoint(state, ckpt_dir / "best.pt")
            if learner.checkpoint_after_iter > 0 and (epoch + 1) % learner.checkpoint_after_iter == 0:
                write_checkpoint(state, ckpt_dir / f"epoch_{epoch + 1:04d}.pt")
            if report is not None:
                report(f"{line} ({time.perf_counter() - t0:.1f}s)")
    finally:
        if writer is not None:
            writer.close()
    if restore_best and val_dataset is not None:
        barrier()
        best = ckpt_dir / "best.pt"
        if best.is_file():
            model.load_state_dict(read_checkpoint(best)["model"])
    return history
