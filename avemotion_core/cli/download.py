"""``avemotion download``: install a pretrained model directory (default: OpenDR's RAVDESS ``ia`` model).

The Python API (``learner.download``) had no command; this one also prints what the node will run
the model with (crop size, face detector, fusion, labels: all recorded in ``metadata.json``), so
launching it needs no further parameters.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from avemotion_core.cli.common import UsageError

_HEX = frozenset("0123456789abcdef")


def _sha256_pin(text: str) -> tuple[str, str]:
    name, sep, digest = text.partition("=")
    digest = digest.strip().lower()
    if not sep or not name or len(digest) != 64 or not set(digest) <= _HEX:
        raise argparse.ArgumentTypeError(f"expected FILE=<64 hex digits>, e.g. model_weights.pt=ab12..., "
                                         f"got {text!r}")
    return name, digest


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from avemotion_core.model.download import OPENDR_MODEL, URL_ENV

    p = sub.add_parser(
        "download",
        help="install a pretrained model (default: OpenDR's RAVDESS ia model)",
        description="Fetch a pretrained model into a model directory, verify it, and record in its "
        "metadata.json how it must be fed (224 px crops, MTCNN faces, fusion, labels for OpenDR's "
        "models), so the node, infer, eval and replay use it right with their defaults. Resumes an "
        f"interrupted transfer. The server is OpenDR's unless --url or ${URL_ENV} names another.",
    )
    p.add_argument("name", nargs="?", default=OPENDR_MODEL,
                   help=f"OpenDR model name: <url>/NAME.json + NAME.pt (default {OPENDR_MODEL})")
    p.add_argument("out", help="model directory to create (e.g. models/opendr_ia)")
    p.add_argument("--url", default=None,
                   help=f"base URL of the model files (default: ${URL_ENV} or OpenDR's server)")
    p.add_argument("--layout", choices=("opendr", "avemotion"), default="opendr",
                   help="opendr: NAME.json + NAME.pt; avemotion: URL is a model directory of ours "
                   "(metadata.json + the weights it lists, checked against its recorded SHA-256)")
    p.add_argument("--fusion", choices=("ia", "it", "lt"), default=None,
                   help="the model's fusion when NAME does not state it (av_emotion_<fusion>_...)")
    p.add_argument("--sha256", type=_sha256_pin, action="append", default=[], metavar="FILE=HEX",
                   help="expected SHA-256 of a local file (metadata.json, model_weights.pt, ...); repeatable")
    p.add_argument("--force", action="store_true", help="replace an existing model directory OUT")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def run(args: argparse.Namespace) -> int:
    from avemotion_core.model.download import download_model, fusion_of
    from avemotion_core.model.files import METADATA, read_metadata
    from avemotion_core.stream.node_config import resolve_face_detector

    out = Path(args.out).expanduser()
    if out.exists() and not args.force and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(f"{out} already exists and is not empty; pass --force to replace its model files")
    if args.layout == "avemotion" and not args.url:
        raise UsageError("--layout avemotion needs --url (the model directory to fetch)")
    if args.layout == "opendr" and not args.fusion and fusion_of(args.name) is None:
        raise UsageError(f"model name {args.name!r} does not state the fusion (av_emotion_<ia|it|lt>_...); "
                         "pass --fusion")
    with warnings.catch_warnings(record=True) as notes:
        warnings.simplefilter("always")
        try:
            name = args.name if args.layout == "opendr" else None
            root, digests = download_model(out, args.url, name, dict(args.sha256),
                                           progress=not args.no_progress, fusion=args.fusion)
        finally:  # "not verified": worth seeing, not worth a Python warning's file:line prefix
            for note in notes:
                print(f"avemotion download: note: {note.message}", file=sys.stderr)
    meta = read_metadata(root)
    detector = resolve_face_detector(None, meta.get("face_detector"))
    for name, digest in sorted(digests.items()):
        print(f"fetched {name}: sha256 {digest}")
    print(f"model installed in {root}: fusion {meta.get('fusion')}, {meta.get('num_class')} classes "
          f"({', '.join(meta.get('labels') or [])}), {meta.get('image_size')} px crops, face detector "
          f"{detector} (recorded in {root / METADATA}; the node uses them when image_size is 0 and "
          "face_detector is '')")
    return 0
