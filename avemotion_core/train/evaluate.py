"""Loss, accuracy, per-class accuracy and the confusion matrix of a model in one eval mode."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from tqdm import tqdm

from avemotion_core.model import apply_eval_mode
from avemotion_core.train.batches import check_batch_crop, to_device


def evaluate(model: torch.nn.Module, loader: DataLoader, labels: Sequence[str], mode: str, *,
             image_size: int, device: torch.device, seed: int,
             autocast: Callable[[], AbstractContextManager[Any]], silent: bool) -> dict[str, Any]:
    """``confusion_matrix[i][j]`` counts samples of true class ``i`` predicted as ``j``."""
    num_class = len(labels)
    model.eval()
    confusion = torch.zeros(num_class, num_class, dtype=torch.long)
    loss_sum = 0.0
    # A fixed generator keeps the noisy* modes reproducible between runs.
    noise = torch.Generator(device=device).manual_seed(seed)
    with torch.inference_mode():
        for audio, video, target in tqdm(loader, desc=f"eval {mode}", disable=silent, leave=False):
            check_batch_crop(video, image_size, "evaluation")
            if int(target.max()) >= num_class or int(target.min()) < 0:
                raise ValueError(f"evaluation targets reach class {int(target.max())} but this model has "
                                 f"{num_class} classes ({', '.join(labels)})")
            audio, video, target = to_device(audio, video, target, device)
            audio, video = apply_eval_mode(audio, video, mode, generator=noise)
            with autocast():
                logits = model(audio, video).float()
            loss_sum += F.cross_entropy(logits, target, reduction="sum").item()
            idx = (target * num_class + logits.argmax(1)).cpu()
            confusion += torch.bincount(idx, minlength=num_class**2).view(num_class, -1)
    total = int(confusion.sum())
    support = confusion.sum(1)
    per_class = {
        labels[i]: (float(confusion[i, i] / support[i]) if support[i] > 0 else float("nan"))
        for i in range(num_class)
    }
    return {
        "cross_entropy": loss_sum / total,
        "acc": float(confusion.diagonal().sum()) / total,
        "per_class_acc": per_class,
        "confusion_matrix": confusion.tolist(),
        "labels": list(labels),
        "mode": mode,
    }
