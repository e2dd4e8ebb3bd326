"""Initialise the visual 2-D backbone from an EfficientFace checkpoint (e.g. the AffectNet-7 release).

Those checkpoints are ``torch.save({'state_dict': ..., ...})`` of a DataParallel model, so keys carry a
``module.`` prefix and include the AffectNet classifier ``fc.*``. OpenDR loads them with
``strict=False`` and so silently keeps random weights when a file does not match; here every 2-D
backbone tensor must be present with the right shape, or loading fails and says what is wrong.
"""

import pickle
import zipfile
from pathlib import Path

import torch
from torch import nn

from avemotion_core.model.efficientface import FRAME_MODULES

_PREFIX = "module."
_HEAD = "fc."
_SHOWN = 8  # key names listed per problem in an error message


def _describe(keys: list[str]) -> str:
    more = f" ... (+{len(keys) - _SHOWN} more)" if len(keys) > _SHOWN else ""
    return ", ".join(keys[:_SHOWN]) + more


def read_efficientface_state(path: str | Path) -> dict[str, torch.Tensor]:
    """The backbone tensors of an EfficientFace checkpoint, prefix and classifier removed."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"EfficientFace checkpoint not found: {path}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        # Also raised for checkpoints that pickle training objects (e.g. a metrics recorder class).
        raise ValueError(
            f"{path} is not a readable PyTorch checkpoint (loaded with weights_only=True; if it stores "
            f"Python objects besides tensors, re-save only checkpoint['state_dict']): {err}"
        ) from err
    except (zipfile.BadZipFile, RuntimeError, EOFError, ValueError) as err:
        raise ValueError(f"{path} is not a readable PyTorch checkpoint: {err}") from err
    state = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, dict) else None
    if (
        not isinstance(state, dict)
        or not state
        or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items())
    ):
        raise ValueError(
            f"{path} holds no EfficientFace state_dict (expected a dict with a 'state_dict' mapping of "
            f"parameter names to tensors)"
        )
    stripped = {k.removeprefix(_PREFIX): v for k, v in state.items()}
    return {k: v for k, v in stripped.items() if not k.startswith(_HEAD)}


def load_efficientface(backbone: nn.Module, path: str | Path) -> None:
    """Copy an EfficientFace checkpoint into ``backbone``'s per-frame 2-D layers (an EfficientFaceTemporal).

    The temporal convolutions and classifiers are left untouched. Raises ValueError naming the
    missing, unexpected or wrongly shaped tensors; the backbone is unchanged when loading fails.
    """
    state = read_efficientface_state(path)
    target = {k: v for k, v in backbone.state_dict().items() if k.split(".", 1)[0] in FRAME_MODULES}
    missing = sorted(set(target) - set(state))
    unexpected = sorted(set(state) - set(target))
    mismatched = sorted(
        f"{k} {tuple(state[k].shape)} vs {tuple(target[k].shape)}"
        for k in set(target) & set(state)
        if state[k].shape != target[k].shape
    )
    problems = [
        f"{label}: {_describe(keys)}"
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", mismatched))
        if keys
    ]
    if problems:
        raise ValueError(f"{path} does not fit the EfficientFace backbone; " + "; ".join(problems))
    backbone.load_state_dict(state, strict=False)  # the temporal layers are legitimately absent
