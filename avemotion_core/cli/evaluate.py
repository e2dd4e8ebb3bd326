"""``avemotion eval``: accuracy of a model on a dataset split in all five eval modes.

Writes, for the ``--mode`` of interest, per-class accuracy and the confusion matrix (CSV + a PNG
heat map), and a table of loss/accuracy per eval mode; ``--json`` prints everything for scripts.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from avemotion_core.cli.common import (
    UsageError,
    add_device,
    existing_path,
    load_learner,
    positive_int,
    write_csv,
    write_json,
)
from avemotion_core.cli.confusion_png import confusion_rows, save_confusion_png
from avemotion_core.cli.data_args import add_dataset_args
from avemotion_core.cli.train import EVAL_MODES


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "eval",
        help="accuracy, per-class accuracy and confusion matrix of a model",
        description="Evaluate a model directory on one split of a RAVDESS-layout dataset "
        "in every eval mode (missing features are computed first).",
    )
    add_dataset_args(p, model_sized=True)
    p.add_argument("--model", default=None, help="model directory (default: the embedded model)")
    p.add_argument(
        "--subset",
        choices=("test", "val", "train", "all"),
        default="test",
        help="which split to evaluate (default test)",
    )
    p.add_argument(
        "--mode",
        choices=EVAL_MODES,
        default="audiovisual",
        help="mode whose per-class accuracy and confusion matrix are reported",
    )
    p.add_argument(
        "--out-dir", default=None, help="write metrics.json, confusion_MODE.csv and confusion_MODE.png here"
    )
    p.add_argument("--json", action="store_true", help="print the metrics as JSON instead of a table")
    p.add_argument("--batch-size", type=positive_int, default=8)
    add_device(p)
    return p


def _subset(args: argparse.Namespace):
    from torch.utils.data import ConcatDataset

    from avemotion_core.cli.common import CliError
    from avemotion_core.cli.data_args import load_datasets

    train, val, test = load_datasets(args, preprocess=True)
    if args.subset == "all":
        for part in (train, val, test):
            part.augment = False  # evaluation must see the clips as they are
        data = ConcatDataset([d for d in (train, val, test) if len(d)])
    else:
        data = {"train": train, "val": val, "test": test}[args.subset]
        data.augment = False
    if len(data) == 0:
        raise CliError(f"the {args.subset} split is empty; choose another --subset or more actors")
    return data


class _ModelOrder:
    """A dataset view whose targets are the model's class indices (same names, another order)."""

    def __init__(self, data, order: list[int]):
        self.data = data
        self.order = order

    def __len__(self) -> int:
        return len(self.data)

    def __getattr__(self, name: str):  # crop size and the other facts learner.eval checks
        return getattr(self.data, name)

    def __getitem__(self, i: int):
        audio, video, target = self.data[i]
        return audio, video, self.order[int(target)]


def class_order(labels: list[str]) -> list[int] | None:
    """How dataset emotion codes map to the model's outputs: None when the model's labels are the
    RAVDESS emotions in dataset order, the permutation when only the order differs; any other class
    set cannot be scored on RAVDESS labels (a 6-class model ended in an IndexError, a permuted one
    was scored against the wrong classes without a word)."""
    from avemotion_core.labels import EMOTIONS

    if list(labels) == list(EMOTIONS):
        return None
    if sorted(labels) == sorted(EMOTIONS):
        return [list(labels).index(name) for name in EMOTIONS]
    raise UsageError(f"the model's {len(labels)} classes ({', '.join(labels)}) are not the "
                     f"{len(EMOTIONS)} RAVDESS emotions the dataset is labelled with "
                     f"({', '.join(EMOTIONS)}); evaluate a model trained on these classes")


def run(args: argparse.Namespace) -> int:
    existing_path(args.data, "dataset", "dir")  # cheap argument checks before loading the model
    learner = load_learner(args.model, args.device)
    order = class_order(learner.labels)
    learner.batch_size = args.batch_size
    # The crops must be the model's: at another size the model still runs and scores at chance.
    if args.image_size is not None and args.image_size != learner.image_size:
        raise UsageError(f"--image-size {args.image_size} differs from the model's {learner.image_size} px "
                         "face crops; leave it out to use the model's")
    args.image_size = learner.image_size
    from avemotion_core.stream.node_config import resolve_face_detector

    args.face_detector = resolve_face_detector(args.face_detector, learner.face_detector)
    data = _subset(args)
    if order is not None:  # same emotions, the model's own order: score by name
        data = _ModelOrder(data, order)
    results = {
        mode: learner.eval(data, silent=args.no_progress or args.json, verbose=False, mode=mode)
        for mode in EVAL_MODES
    }
    main = results[args.mode]
    report = {
        "model": str(args.model or "default"),
        "subset": args.subset,
        "n_clips": len(data),
        "mode": args.mode,
        "image_size": learner.image_size,
        "face_detector": args.face_detector,
        "labels": main["labels"],
        "acc": main["acc"],
        "per_class_acc": main["per_class_acc"],
        "confusion_matrix": main["confusion_matrix"],
        "modes": {m: {"acc": r["acc"], "cross_entropy": r["cross_entropy"]} for m, r in results.items()},
    }
    if args.out_dir:
        out = Path(args.out_dir)
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "metrics.json", report)
        header, rows = confusion_rows(main["confusion_matrix"], main["labels"])
        write_csv(out / f"confusion_{args.mode}.csv", header, rows)
        save_confusion_png(
            out / f"confusion_{args.mode}.png",
            main["confusion_matrix"],
            main["labels"],
            f"{args.subset} {args.mode} acc {main['acc']:.3f} (n={len(data)})",
        )
    if args.json:
        write_json("-", report)
        return 0
    print(f"{args.subset}: {len(data)} clips")
    print(f"{'mode':<12} {'acc':>7} {'loss':>8}")
    for mode, r in results.items():
        print(f"{mode:<12} {r['acc']:>7.4f} {r['cross_entropy']:>8.4f}")
    print(f"per-class accuracy ({args.mode}):")
    for label, acc in main["per_class_acc"].items():
        print(f"  {label:<12} {'n/a' if math.isnan(acc) else f'{acc:.4f}':>7}")
    if args.out_dir:
        print(f"wrote metrics.json, confusion_{args.mode}.csv/.png to {args.out_dir}")
    return 0
