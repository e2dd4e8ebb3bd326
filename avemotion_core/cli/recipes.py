"""``avemotion train --recipe paper``: the paper's / OpenDR's training set-up in one flag.

Why a recipe and not just defaults: the defaults already match OpenDR's hyper-parameters, but a
``--config`` file or a habit flag (``--image-size 64``) silently turns a "paper" run into something
else, and the paper's actor split is applied only when all 24 actors happen to be present. The
recipe states every value, pins the split (a dataset without those actors is refused by the dataset
loader instead of being split at random), reports each value the user replaced, and says up front
what an epoch costs (figures from BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

# arXiv 2201.11095 / OpenDR audiovisual_emotion_learner (../shared/ANCHOR_NOTES.md "Training"): SGD lr
# 0.04, momentum 0.9, dampening 0.9, weight decay 1e-3, x0.1 at the listed epochs, 100 epochs, batch 8,
# zerodrop, 224 px crops; the released models' actor split; intermediate attention (the paper's best).
RECIPE_NAMES = ("paper",)


def recipe_values(name: str) -> dict[str, Any]:
    """The option values (argparse dests) a recipe sets; imported late: the split lives with the dataset."""
    if name not in RECIPE_NAMES:
        raise ValueError(f"unknown recipe {name!r}; known: {', '.join(RECIPE_NAMES)}")
    from avemotion_core.data.dataset import PAPER_TEST_ACTORS, PAPER_VAL_ACTORS

    return {
        "fusion": "ia",
        "mod_drop": "zerodrop",
        "lr": 0.04,
        "lr_steps": [40, 55, 65, 70, 200, 250],
        "momentum": 0.9,
        "dampening": 0.9,
        "weight_decay": 1e-3,
        "epochs": 100,
        "batch_size": 8,
        "image_size": 224,
        "split": "actor",
        "val_actors": list(PAPER_VAL_ACTORS),
        "test_actors": list(PAPER_TEST_ACTORS),
        "eval_mode": "audiovisual",
    }


# Training clips of the paper's split of RAVDESS: 16 training actors x 60 audio-video speech clips.
PAPER_TRAIN_CLIPS = 960
# BENCHMARKS.md "Training throughput on CPU" (EPYC, 2 cores, 224 px, batch 8, zerodrop, samples/s) and
# "Training memory" (step time with backbone checkpointing / without, 224 px). No GPU training
# throughput has been measured (BENCHMARKS.md "Not measured"), so none is printed.
CPU_SAMPLES_PER_S = {"ia": 0.39, "it": 0.41, "lt": 0.43}
CPU_BENCH_NOTE = "BENCHMARKS.md 'Training throughput on CPU': EPYC, 2 cores, 224 px, batch 8"
CHECKPOINT_SLOWDOWN = 1.4


def apply_recipe(parser: argparse.ArgumentParser, args: argparse.Namespace,
                 argv: Sequence[str]) -> argparse.Namespace:
    """Re-parse ``argv`` with the recipe's values as defaults: flags (and ``--config``) still win."""
    parser.set_defaults(**recipe_values(args.recipe))
    return parser.parse_args(argv)


def recipe_lines(args: argparse.Namespace, checkpoint_frames: bool) -> list[str]:
    """What ``--recipe`` set, what the user replaced, and the expected time per epoch."""
    recipe = recipe_values(args.recipe)
    kept = [f"{key.replace('_', '-')} {_show(value)}" for key, value in recipe.items()
            if getattr(args, key) == value]
    replaced = [f"--{key.replace('_', '-')} {_show(getattr(args, key))} (recipe: {_show(value)})"
                for key, value in recipe.items() if getattr(args, key) != value]
    lines = [f"recipe {args.recipe}: " + ", ".join(kept)]
    if replaced:
        lines.append(f"recipe {args.recipe}: replaced by your options: " + ", ".join(replaced))
    rate = CPU_SAMPLES_PER_S[args.fusion]
    slowdown = CHECKPOINT_SLOWDOWN if checkpoint_frames else 1.0
    minutes = PAPER_TRAIN_CLIPS / rate * slowdown / 60
    scale = "" if args.image_size == 224 and args.batch_size == 8 else (
        f" (measured at 224 px, batch 8; you train at {args.image_size} px, batch {args.batch_size})")
    lines.append(
        f"expected time per epoch of the paper's {PAPER_TRAIN_CLIPS} training clips: CPU about "
        f"{minutes:.0f} min ({rate} samples/s, {CPU_BENCH_NOTE}"
        + (f", x{CHECKPOINT_SLOWDOWN} for backbone checkpointing" if checkpoint_frames else "")
        + f"){scale}; GPU: no training throughput measured yet (BENCHMARKS.md 'Not measured')")
    return lines


def _show(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)
