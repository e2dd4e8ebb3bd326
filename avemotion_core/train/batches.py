"""A batch onto the device, and the crop-size checks that stop a silently wrong number.

The backbone pools globally, so face crops of another size than the model's run without an error
and give answers at chance; both the dataset's declared size and each batch's real size are checked.
"""

from __future__ import annotations

import torch
from torch.utils.data import ConcatDataset, Dataset, Subset


def declared_crop_sizes(dataset: Dataset) -> set[int]:
    """Face-crop sizes a dataset says it holds (the feature cache records its own; ConcatDataset
    and Subset are looked through). Datasets that declare nothing give an empty set."""
    if isinstance(dataset, ConcatDataset):
        return set().union(*(declared_crop_sizes(d) for d in dataset.datasets))
    if isinstance(dataset, Subset):
        return declared_crop_sizes(dataset.dataset)
    size = getattr(dataset, "image_size", None)
    return {size} if isinstance(size, int) else set()


def check_crop_size(dataset: Dataset, image_size: int, what: str) -> None:
    """Refuse a dataset whose feature cache was built at another crop size than the model's."""
    wrong = declared_crop_sizes(dataset) - {image_size}
    if wrong:
        sizes = "/".join(str(s) for s in sorted(wrong))
        raise ValueError(
            f"{what} holds {sizes} px face crops but this model takes {image_size} px crops "
            f"(learner.image_size): build the dataset with target_im_size={image_size}"
        )


def check_batch_crop(video: torch.Tensor, image_size: int, what: str) -> None:
    """The same check on the tensors, for datasets that do not declare their crop size."""
    if video.dim() == 5 and tuple(video.shape[-2:]) != (image_size, image_size):
        raise ValueError(
            f"{what} batch has {video.shape[-2]}x{video.shape[-1]} px frames but this model takes "
            f"{image_size} px face crops (learner.image_size)"
        )


def to_device(audio: torch.Tensor, video: torch.Tensor, target: torch.Tensor, device: torch.device
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Float audio, video in [0, 1] (uint8 caches are scaled on the device) and long targets."""
    video = video.to(device, non_blocking=True)
    if video.dtype == torch.uint8:
        video = video.float().div_(255)
    return (
        audio.to(device, dtype=torch.float32, non_blocking=True),
        video,
        torch.as_tensor(target).to(device, dtype=torch.long, non_blocking=True),
    )
