"""``avemotion preprocess``: compute (or resume computing) the cached features of a dataset."""

from __future__ import annotations

import argparse

from avemotion_core.cli.data_args import add_dataset_args, load_datasets


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "preprocess",
        help="cache face crops + MFCC features of a RAVDESS-layout dataset",
        description="Compute the feature cache used by train/eval. Interrupted runs "
        "resume: finished clips are skipped.",
    )
    add_dataset_args(p)
    return p


def run(args: argparse.Namespace) -> int:
    train, val, test = load_datasets(args, preprocess=True)
    print(
        f"features cached: {len(train)} train / {len(val)} val / {len(test)} test clips "
        f"(actors train {train.actors}, val {val.actors}, test {test.actors})"
    )
    return 0
