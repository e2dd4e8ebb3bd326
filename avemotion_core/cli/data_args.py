"""Dataset options shared by ``preprocess``, ``train`` and ``eval`` (one definition, same flags)."""

from __future__ import annotations

import argparse

from avemotion_core.cli.common import existing_path, image_size
from avemotion_core.modes import FACE_DETECTORS


def actor_list(text: str) -> list[int]:
    try:
        actors = [int(a) for a in text.split(",") if a.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"actor list must look like 5,10,16, got {text!r}") from exc
    if not actors or not all(1 <= a <= 24 for a in actors):
        raise argparse.ArgumentTypeError(f"actors must be 1..24, got {text!r}")
    return actors


def add_dataset_args(p: argparse.ArgumentParser, model_sized: bool = False) -> None:
    """The dataset flags; ``model_sized`` for commands that run an existing model, whose crops must
    have the model's size: there ``--image-size`` defaults to the model's (set by the command)."""
    p.add_argument("data", help="RAVDESS-layout dataset folder (Actor_XX/...)")
    p.add_argument("--image-size", type=image_size, default=None if model_sized else 224,
                   help="face crop size (default: the model's)" if model_sized else
                   "face crop size (default 224)")
    p.add_argument("--face-detector", choices=FACE_DETECTORS, default=None if model_sized else "haar",
                   help="face detector for the crops (default: the one the model records, else haar)"
                   if model_sized else "face detector for the crops (default haar; recorded in the "
                   "trained model, so the node runs the same one)")
    p.add_argument("--cache-dir", default=None, help="feature cache (default DATA/.avemotion_cache)")
    p.add_argument("--split", choices=("actor", "random"), default="actor", help="split kind")
    p.add_argument("--val-actors", type=actor_list, default=None, help="e.g. 11,13,18,22")
    p.add_argument("--test-actors", type=actor_list, default=None, help="e.g. 5,10,16,19")
    p.add_argument("--split-seed", type=int, default=0, help="seed of the actor/random split")
    p.add_argument(
        "--preprocess-workers",
        type=int,
        default=None,
        help="processes computing missing features (default: one per core)",
    )
    p.add_argument("--strict", action="store_true",
                   help="fail on a clip that cannot be read (default: skip it with a warning and list it "
                   "in the cache's skipped.json)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def load_datasets(args: argparse.Namespace, preprocess: bool = True):
    """(train, val, test) via ``get_audiovisual_emotion_dataset`` with the parsed options."""
    from avemotion_core.data.dataset import get_audiovisual_emotion_dataset

    data = existing_path(args.data, "dataset", "dir")
    return get_audiovisual_emotion_dataset(
        str(data),
        preprocess=preprocess,
        target_im_size=args.image_size,
        split=args.split,
        seed=args.split_seed,
        val_actors=args.val_actors,
        test_actors=args.test_actors,
        workers=args.preprocess_workers,
        cache_dir=args.cache_dir,
        progress=not args.no_progress,
        face_detector=args.face_detector,
        strict=args.strict,
    )
