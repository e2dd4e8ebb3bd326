"""Plumbing shared by the ``avemotion`` subcommands: errors, model loading, atomic outputs.

Why one place: every subcommand must turn the library's expected failures into one-line messages
with the same exit codes (2 = the command line is wrong, 1 = the run failed), and must never
leave a half-written output file behind.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from avemotion_core.fileio import atomic_write_bytes
from avemotion_core.labels import DEFAULT_MODEL


class CliError(Exception):
    """An expected failure: printed as ``avemotion <cmd>: error: <message>`` without a traceback."""

    exit_code = 1


class UsageError(CliError):
    """The arguments are wrong (missing input path, conflicting options): exit code 2."""

    exit_code = 2


def existing_path(path: str | os.PathLike[str], what: str, kind: str = "any") -> Path:
    """``path`` as a Path, or a UsageError naming ``what`` when it does not exist as ``kind``."""
    p = Path(path).expanduser()
    ok = {"any": p.exists(), "file": p.is_file(), "dir": p.is_dir()}[kind]
    if not ok:
        noun = {"any": "", "file": " file", "dir": " directory"}[kind]
        raise UsageError(f"{what}{noun} not found: {path}")
    return p


def load_learner(model: str | os.PathLike[str] | None, device: str = "cpu"):
    """An ``AudiovisualEmotionLearner`` configured from a model directory's metadata and loaded.

    The learner's own ``load`` refuses a fusion/class mismatch, so the constructor arguments are
    read from ``metadata.json`` first (as the ROS node does). ``None`` = the embedded default model.
    """
    from avemotion_core.fileio import ModelFileError
    from avemotion_core.learner import AudiovisualEmotionLearner

    check_device(device)
    path = Path(model).expanduser() if model else DEFAULT_MODEL
    if not path.is_dir():
        hint = "" if model else " (the embedded default model is not installed; pass --model DIR)"
        raise UsageError(f"model directory not found: {path}{hint}")
    try:
        return AudiovisualEmotionLearner.from_model_dir(path, device=device, n_workers=0)
    except ModelFileError as exc:  # the model named on the command line is unusable: as the node, exit 2
        raise UsageError(str(exc)) from exc
    except RuntimeError as exc:  # a device that exists but fails to initialise
        raise CliError(str(exc)) from exc


def add_device(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="cpu", help="torch device: cpu, cuda or cuda:N (default: cpu)")


def check_device(device: str) -> None:
    """UsageError unless ``--device`` names a device this machine has.

    Called before any work: a CUDA request on a machine without CUDA used to preprocess a whole
    dataset first and then die in the model constructor.
    """
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError) as exc:
        raise UsageError(f"--device {device!r} is not a torch device (cpu, cuda or cuda:N)") from exc
    if parsed.type not in ("cpu", "cuda"):
        raise UsageError(f"--device {device!r}: only cpu and cuda are supported")
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(f"--device {device} was requested but CUDA is not available on this machine")
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            count = torch.cuda.device_count()
            raise UsageError(f"--device {device}: this machine has {count} CUDA device(s)")


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def image_size(text: str) -> int:
    value = int(text)
    if value < 32:
        raise argparse.ArgumentTypeError(
            f"image size must be >= 32 (the backbone downsamples 32x), got {value}"
        )
    return value


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` atomically, or to stdout when ``path`` is ``-``."""
    if str(path) == "-":
        print(text, end="" if text.endswith("\n") else "\n", flush=True)
        return
    atomic_write_bytes(Path(path), text.encode())


def _json_safe(value: Any) -> Any:
    """NaN/inf (e.g. accuracy of a class with no samples) -> null, so the output is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def write_json(path: str | os.PathLike[str], data: Any) -> None:
    write_text(path, json.dumps(_json_safe(data), indent=2, allow_nan=False) + "\n")


def write_csv(path: str | os.PathLike[str], header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    write_text(path, buf.getvalue())


def apply_config(
    parser: argparse.ArgumentParser, args: argparse.Namespace, argv: Sequence[str]
) -> argparse.Namespace:
    """Re-parse ``argv`` with a YAML ``--config`` as defaults, so explicit flags still win.

    Keys are the long option names with ``-`` or ``_`` (``batch-size`` or ``batch_size``); unknown
    keys are a UsageError rather than silently ignored settings.
    """
    if not getattr(args, "config", None):
        return args
    path = existing_path(args.config, "config", "file")
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise UsageError(f"config {path} is not valid YAML: {exc}") from exc
    if not isinstance(values, dict):
        raise UsageError(f"config {path} must be a mapping of option names to values")
    actions = {a.dest: a for a in parser._actions if a.dest not in ("help", "config")}
    defaults = {}
    for key, value in values.items():
        dest = str(key).replace("-", "_")
        if dest not in actions:
            raise UsageError(f"config {path}: unknown option {key!r} (known: {', '.join(sorted(actions))})")
        action = actions[dest]
        try:
            if action.type is not None and action.nargs in ("+", "*"):
                items = value if isinstance(value, list) else [value]
                value = [action.type(str(v)) for v in items]
            elif action.type is not None and value is not None:
                value = action.type(str(value))
        except (ValueError, argparse.ArgumentTypeError) as exc:
            raise UsageError(f"config {path}: bad value for {key!r}: {exc}") from exc
        if action.choices is not None and value not in action.choices:
            raise UsageError(f"config {path}: {key}={value!r} is not one of {list(action.choices)}")
        defaults[dest] = value
    parser.set_defaults(**defaults)
    return parser.parse_args(argv)
