"""Model directories on disk: ``metadata.json`` + weights, in our format and in OpenDR's.

Our format: ``model.safetensors`` (no pickle, so loading an untrusted file cannot run code) and a
``metadata.json`` that, unlike OpenDR's, records what the weights need to be used correctly:
fusion, classes and their labels, input geometry and the SHA-256 of the weights (so a truncated
or corrupted copy is detected before it is loaded). OpenDR's ``model_weights.pt`` (a plain
``torch.save`` state_dict) is accepted too, read with ``torch.load(weights_only=True)``.

``avemotion export`` writes a third kind: a directory whose ``metadata.json`` says
``"format": "torchscript"`` and names a frozen TorchScript graph, so that deployments (the node's
``model_path``) can run the faster exported model with the same labels and checks.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from avemotion_core.fileio import ModelFileError, atomic_path, atomic_write_bytes, sha256_file
from avemotion_core.model.fusion import FUSIONS
from avemotion_core.modes import FACE_DETECTORS

METADATA = "metadata.json"
WEIGHTS = "model.safetensors"
OPENDR_WEIGHTS = "model_weights.pt"
TORCHSCRIPT = "model.torchscript.pt"
FORMAT_VERSION = 1


def save_model_dir(
    path: str | os.PathLike[str], state_dict: dict[str, torch.Tensor], meta: dict[str, Any]
) -> Path:
    """Write weights then metadata, each atomically; metadata last so a dir is never half-valid."""
    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in state_dict.items()}
    with atomic_path(root / WEIGHTS) as tmp:
        save_file(tensors, str(tmp), metadata={"format": "pt"})
        digest = sha256_file(tmp)
    _write_metadata(root, WEIGHTS, "safetensors", digest, meta)
    return root


def save_torchscript_dir(path: str | os.PathLike[str], module: torch.jit.ScriptModule,
                         meta: dict[str, Any]) -> Path:
    """Write a TorchScript graph and its metadata (graph first, metadata last, each atomically)."""
    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    with atomic_path(root / TORCHSCRIPT) as tmp:
        torch.jit.save(module, str(tmp))
        digest = sha256_file(tmp)
    _write_metadata(root, TORCHSCRIPT, "torchscript", digest, meta)
    return root


def _write_metadata(root: Path, weights: str, fmt: str, digest: str, meta: dict[str, Any]) -> None:
    full = {
        # OpenDR's keys (spelling included), so OpenDR tooling can read our metadata.
        "framework": "pytorch",
        "model_paths": [weights],
        "format": fmt,
        "has_data": False,
        "inference_params": {},
        "optimized": fmt == "torchscript",
        "optimimizer_info": {},
        "avemotion_format": FORMAT_VERSION,
        "sha256": {weights: digest},
        **meta,
    }
    atomic_write_bytes(root / METADATA, json.dumps(full, indent=2).encode())


MAX_METADATA_BYTES = 1 << 20  # ours are ~1 KB; refuse before parsing so a huge file costs nothing
_HEX = frozenset("0123456789abcdef")


def _positive_int(value: Any, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= high


# key -> (what it must be, check); a key that is absent is fine (OpenDR writes only a few)
_FIELDS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "model_paths": ("a non-empty list of file names",
                    lambda v: isinstance(v, list) and bool(v) and all(isinstance(p, str) and p for p in v)),
    "format": ("a string", lambda v: isinstance(v, str)),
    "fusion": (f"one of {FUSIONS}", lambda v: v in FUSIONS),
    "num_class": ("an integer from 2 to 1000", lambda v: _positive_int(v, 1000) and v >= 2),
    "seq_length": ("an integer from 1 to 1000", lambda v: _positive_int(v, 1000)),
    "image_size": ("an integer from 32 to 1024", lambda v: _positive_int(v, 1024) and v >= 32),
    "face_detector": (f"one of {FACE_DETECTORS}", lambda v: v in FACE_DETECTORS),
    "labels": ("a list of distinct non-empty strings",
               lambda v: isinstance(v, list) and all(isinstance(x, str) and x for x in v)
               and len(set(v)) == len(v)),
    "sha256": ("an object mapping file names to 64 hex digits",
               lambda v: isinstance(v, dict) and all(isinstance(h, str) and len(h) == 64 and set(h) <= _HEX
                                                     for h in v.values())),
    "avemotion_format": ("an integer", lambda v: _positive_int(v, 1000)),
}


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse and check ``metadata.json``; every problem is a ModelFileError naming the file and field.

    The size is checked before anything is read (and the read is bounded), so a huge or sparse
    file is refused at no memory cost; each known field is checked for its type and range, so a
    hand-edited ``"num_class": null`` is reported here rather than as a TypeError deep in a loader.
    """
    meta_path = Path(path) / METADATA
    if not Path(path).is_dir():
        raise ModelFileError(f"model directory not found: {path}")
    if not meta_path.is_file():
        raise ModelFileError(f"{meta_path} is missing (a model directory needs metadata.json + weights)")
    size = meta_path.stat().st_size
    if size > MAX_METADATA_BYTES:
        raise ModelFileError(f"{meta_path} is {size} bytes, over the {MAX_METADATA_BYTES}-byte limit")
    with open(meta_path, "rb") as f:
        raw = f.read(MAX_METADATA_BYTES + 1)
    if len(raw) > MAX_METADATA_BYTES:  # grew after the stat
        raise ModelFileError(f"{meta_path} is over the {MAX_METADATA_BYTES}-byte limit")
    try:
        meta = json.loads(raw.decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{meta_path} is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise ModelFileError(f"{meta_path} is not valid JSON: nested too deeply") from exc
    if not isinstance(meta, dict):
        raise ModelFileError(f"{meta_path} must hold a JSON object, got {type(meta).__name__}")
    for key, (what, ok) in _FIELDS.items():
        if key in meta and not ok(meta[key]):
            raise ModelFileError(f"{meta_path}: {key!r} must be {what}, got {meta[key]!r:.80}")
    labels, num_class = meta.get("labels"), meta.get("num_class")
    if labels is not None and num_class is not None and len(labels) != num_class:
        raise ModelFileError(f"{meta_path}: {len(labels)} labels for num_class {num_class}")
    return meta


def _weights_path(root: Path, meta: dict[str, Any]) -> Path:
    names = meta.get("model_paths") or [WEIGHTS, OPENDR_WEIGHTS]
    for name in names:
        candidate = root / Path(name).name  # never follow paths outside the model dir
        if candidate.is_file():
            return candidate
    raise ModelFileError(f"no weights file in {root} (looked for {', '.join(names)})")


def check_digest(weights: Path, meta: dict[str, Any], required: bool = False) -> None:
    """Raise ModelFileError unless ``weights`` hashes to ``meta["sha256"][weights.name]`` (when recorded)."""
    expected = (meta.get("sha256") or {}).get(weights.name)
    if expected is None:
        if required:
            raise ModelFileError(f"{weights.parent / METADATA} records no SHA-256 for {weights.name}")
        return
    actual = sha256_file(weights)
    if actual != expected:
        raise ModelFileError(
            f"{weights} is corrupt or truncated: SHA-256 {actual} does not match metadata {expected}"
        )


def is_torchscript_dir(meta: dict[str, Any]) -> bool:
    return meta.get("format") == "torchscript"


def load_torchscript_dir(path: str | os.PathLike[str], device: str | torch.device = "cpu"
                         ) -> tuple[torch.jit.ScriptModule, dict[str, Any]]:
    """Return ``(graph, metadata)`` of an exported model directory.

    The SHA-256 is required here: a TorchScript archive is a program, so only the exact file
    that ``avemotion export`` wrote and hashed is run.
    """
    root = Path(path)
    meta = read_metadata(root)
    if not is_torchscript_dir(meta):
        raise ModelFileError(f"{root / METADATA} does not describe a TorchScript export")
    graph = _weights_path(root, meta)
    check_digest(graph, meta, required=True)
    try:
        module = torch.jit.load(str(graph), map_location=device)
    except (RuntimeError, ValueError, OSError) as exc:
        raise ModelFileError(f"cannot read TorchScript graph {graph}: {exc}") from exc
    return module.eval(), meta


def load_model_dir(path: str | os.PathLike[str]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Return ``(state_dict, metadata)``; raise ModelFileError on anything missing or corrupt."""
    root = Path(path)
    meta = read_metadata(root)
    if is_torchscript_dir(meta):
        raise ModelFileError(f"{root} holds a TorchScript export (inference only), not trainable weights; "
                             "use AudiovisualEmotionLearner.from_model_dir, or the source model directory")
    weights = _weights_path(root, meta)
    check_digest(weights, meta)
    try:
        if weights.suffix == ".safetensors":
            state = load_file(str(weights))
        else:
            state = torch.load(weights, map_location="cpu", weights_only=True)
    except (SafetensorError, RuntimeError, EOFError, ValueError, OSError) as exc:
        raise ModelFileError(f"cannot read weights {weights}: {exc}") from exc
    except Exception as exc:  # pickle.UnpicklingError and friends from weights_only loading
        raise ModelFileError(f"cannot read weights {weights}: {type(exc).__name__}: {exc}") from exc
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelFileError(f"{weights} does not hold a state_dict of tensors")
    return state, meta
