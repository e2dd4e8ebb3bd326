"""``avemotion generate``: a synthetic RAVDESS-format dataset (wraps ``avemotion_core.data.synth``)."""

from __future__ import annotations

import argparse

from avemotion_core.cli.common import UsageError, positive_int


def _frame_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"frame size must look like 320x240, got {text!r}") from exc
    if w < 64 or h < 64:
        raise argparse.ArgumentTypeError("frame size must be at least 64x64")
    return w, h


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "generate",
        help="write a synthetic RAVDESS-format dataset",
        description="Write a synthetic dataset in the RAVDESS layout (espeak-ng speech, "
        "animated real faces; needs espeak-ng and sox).",
    )
    p.add_argument("out_dir", help="dataset root; Actor_XX folders are created inside")
    p.add_argument("--actors", type=positive_int, default=4, help="actors 1..N, N <= 24 (default 4)")
    p.add_argument("--emotions", default="all", help="'all' or a comma list of codes 1-8 or names")
    p.add_argument("--statements", type=int, default=2, choices=(1, 2))
    p.add_argument("--repetitions", type=int, default=1, choices=(1, 2))
    p.add_argument(
        "--intensities",
        type=int,
        default=1,
        choices=(1, 2),
        help="2 also writes the strong intensity (not for neutral)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=positive_int, default=1, help="parallel processes")
    p.add_argument("--frame-size", type=_frame_size, default=(320, 240), help="WxH (default 320x240)")
    p.add_argument("--av", action="store_true", help="also write modality-01 audio+video mp4 files")
    p.add_argument("--no-progress", action="store_true")
    return p


def run(args: argparse.Namespace) -> int:
    from avemotion_core.data.synth import SynthError, generate_dataset, parse_emotions

    if args.actors > 24:
        raise UsageError(f"--actors must be <= 24 (RAVDESS has 24 actors), got {args.actors}")
    try:
        parse_emotions(args.emotions)
    except SynthError as exc:
        raise UsageError(f"--emotions: {exc}") from exc
    files = generate_dataset(
        args.out_dir,
        args.actors,
        args.emotions,
        args.statements,
        args.repetitions,
        args.intensities,
        args.seed,
        args.workers,
        frame_size=args.frame_size,
        write_av=args.av,
        progress=not args.no_progress,
    )
    print(f"wrote {len(files)} files under {args.out_dir}")
    return 0
