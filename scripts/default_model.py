"""Build the embedded default model (``avemotion_core/assets/default_model``) from generated data.

Two steps, so the expensive one can run on a GPU machine that has neither espeak-ng nor PyAV:

1. ``pack RAVDESS_DIR PACK.npz``: preprocess a RAVDESS-format folder (``python -m
   avemotion_core.data.synth``) through the normal dataset path and pack the cached windows into one
   small file (face crops as JPEG, MFCCs as float32, labels and actors).
2. ``train PACK.npz OUT_DIR``: split by actor, train ``AudiovisualEmotionLearner`` on the packed
   windows (CUDA + bf16 when available), report held-out accuracy in every eval mode and save.

The default model is a demonstration model: it recognises the synthetic actors' emotions, not
real people's. For real robots download or train a RAVDESS model (see README).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

JPEG_QUALITY = 92


def pack(root: str, out: str, image_size: int, workers: int | None) -> None:
    from avemotion_core.data.dataset import get_audiovisual_emotion_dataset

    # strict: the released model must be built from every clip, not from those that happened to read
    parts = get_audiovisual_emotion_dataset(root, preprocess=True, target_im_size=image_size, workers=workers,
                                            strict=True)
    mfcc, labels, actors, blobs, offsets = [], [], [], [], [0]
    for part in parts:
        for sample, file in zip(part.samples, part.files, strict=True):
            with np.load(file) as data:
                mfcc.append(data["mfcc"])
                for frame in data["frames"]:
                    ok, buf = cv2.imencode(
                        ".jpg", frame[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
                    )
                    assert ok
                    blobs.append(buf.ravel())
                    offsets.append(offsets[-1] + buf.size)
            labels.append(sample.label)
            actors.append(sample.actor)
    np.savez(
        out,
        mfcc=np.stack(mfcc).astype(np.float32),
        labels=np.array(labels, np.int64),
        actors=np.array(actors, np.int64),
        jpeg=np.concatenate(blobs),
        offsets=np.array(offsets, np.int64),
        image_size=np.int64(image_size),
    )
    print(f"packed {len(labels)} clips into {out} ({Path(out).stat().st_size / 1e6:.1f} MB)")


class PackedWindows(Dataset):
    """Decoded windows held in memory as uint8; flips each training clip with p=0.5."""

    def __init__(self, mfcc: torch.Tensor, video: torch.Tensor, labels: torch.Tensor, augment: bool):
        self.mfcc, self.video, self.labels, self.augment = mfcc, video, labels, augment

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        video = self.video[i]
        if self.augment and torch.rand(()) < 0.5:
            video = video.flip(-1)
        return self.mfcc[i], video, self.labels[i]


def train(pack_file: str, out: str, epochs: int, device: str, fusion: str, seed: int, logs: str) -> None:
    from avemotion_core.data.dataset import split_actors
    from avemotion_core.learner import AudiovisualEmotionLearner

    data = np.load(pack_file)
    jpeg, offsets = data["jpeg"], data["offsets"]
    frames = [
        cv2.imdecode(jpeg[offsets[k] : offsets[k + 1]], cv2.IMREAD_COLOR)[:, :, ::-1]
        for k in range(len(offsets) - 1)
    ]
    n = len(data["labels"])
    video = (
        torch.from_numpy(np.stack(frames).reshape(n, -1, *frames[0].shape))
        .permute(0, 4, 1, 2, 3)
        .contiguous()
    )
    mfcc = torch.from_numpy(data["mfcc"])
    labels = torch.from_numpy(data["labels"])
    actors = data["actors"].tolist()
    train_a, val_a, test_a = split_actors(actors, seed=seed)
    dev = torch.device(device)

    def subset(group: list[int], augment: bool) -> PackedWindows:
        idx = torch.tensor([i for i, a in enumerate(actors) if a in group])
        # Kept on the CPU: the learner's DataLoader pins each batch and copies it asynchronously.
        return PackedWindows(mfcc[idx], video[idx], labels[idx], augment)

    train_set, val_set, test_set = subset(train_a, True), subset(val_a, False), subset(test_a, False)
    print(
        f"actors train {train_a} val {val_a} test {test_a}: "
        f"{len(train_set)}/{len(val_set)}/{len(test_set)} clips"
    )
    learner = AudiovisualEmotionLearner(
        fusion=fusion,
        mod_drop="zerodrop",
        iters=epochs,
        lr=0.02,
        lr_steps=[int(epochs * 0.6), int(epochs * 0.85)],
        batch_size=8,
        n_workers=0,
        device=device,
        seed=seed,
        image_size=int(data["image_size"]),
    )
    t0 = time.perf_counter()
    learner.fit(train_set, val_set, logging_path=logs, restore_best=True)
    took = time.perf_counter() - t0
    modes = ("audiovisual", "onlyaudio", "onlyvideo", "noisyaudio", "noisyvideo")
    report = {m: learner.eval(test_set, silent=True, mode=m)["acc"] for m in modes}
    print(json.dumps({"train_seconds": round(took, 1), "test_acc": report}, indent=2))
    learner.model.to("cpu")
    learner.device = torch.device("cpu")
    learner.save(out)
    card = {
        "trained_on": "synthetic RAVDESS-format clips (python -m avemotion_core.data.synth)",
        "actors": {"train": train_a, "val": val_a, "test": test_a},
        "epochs": epochs,
        "device": str(dev) + (f" ({torch.cuda.get_device_name(dev)})" if dev.type == "cuda" else ""),
        "train_seconds": round(took, 1),
        "test_acc": report,
    }
    (Path(out) / "TRAINING.json").write_text(json.dumps(card, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pack")
    p.add_argument("root")
    p.add_argument("out")
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--workers", type=int, default=None)
    t = sub.add_parser("train")
    t.add_argument("pack")
    t.add_argument("out")
    t.add_argument("--epochs", type=int, default=30)
    t.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    t.add_argument("--fusion", default="ia")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--logs", default="logs/default_model", help="TensorBoard logs and checkpoints")
    args = parser.parse_args()
    if args.cmd == "pack":
        pack(args.root, args.out, args.image_size, args.workers)
    else:
        train(args.pack, args.out, args.epochs, args.device, args.fusion, args.seed, args.logs)


if __name__ == "__main__":
    main()
