"""Frozen graphs of a model: the TorchScript file (whole window + the streaming split) and ONNX.

Shared by ``avemotion export`` and ``AudiovisualEmotionLearner.optimize`` so that both make the
graph the same way; the command adds the parity report and the ONNX runtime check.
"""

from __future__ import annotations

from pathlib import Path

import torch

from avemotion_core.model.files import load_torchscript_dir, save_torchscript_dir


def example_inputs(learner, batch: int, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded random (audio MFCC, video) inputs of the model's shapes on the learner's device."""
    g = torch.Generator().manual_seed(seed)
    audio = torch.randn(batch, 10, 156, generator=g)
    video = torch.rand(batch, 3, learner.seq_length, size, size, generator=g)
    return audio.to(learner.device), video.to(learner.device)


def allowed_difference(tolerance: float, scale: float) -> float:
    """How far a frozen graph's outputs may be from the Python model's, whose largest |value| is
    ``scale``: ``tolerance`` x max(1, scale), as float32 rounding after conv-BN folding grows with
    the outputs' scale. ``avemotion export`` and ``learner.optimize`` (its graph and its onnxruntime
    frame encoder) all refuse by this rule."""
    return tolerance * max(1.0, scale)


def export_torchscript(learner, out: Path, size: int, meta: dict, check: tuple, reference) -> float:
    """Trace + freeze, save as a model directory, reload from disk, return max |Δ| from ``reference``
    over both the whole-window graph and the frame encoder + window head the streaming engine runs.

    ``reference`` is the eager model's output on the ``check`` inputs, computed once by the caller.
    """
    model = learner.model.eval()
    audio, video = example_inputs(learner, 1, size, 0)
    frames = video[:, :, 0]
    with torch.no_grad():
        features = model.forward_frames(frames).expand(1, learner.seq_length, -1)
    methods = {"forward": (audio, video), "forward_frames": (frames,), "forward_head": (audio, features)}
    with torch.no_grad():
        # Three graphs in one file: the whole window (forward) and the split the streaming engine
        # runs, frame encoder + window head. freeze folds batch norms into convolutions and inlines
        # the weights (bench: "ts+cl").
        traced = torch.jit.trace_module(model, methods, check_trace=False)
        frozen = torch.jit.freeze(traced, preserved_attrs=["forward_frames", "forward_head"])
        save_torchscript_dir(out, frozen, meta)
        loaded, _ = load_torchscript_dir(out, learner.device)
        a, v = check
        batch, _, n, h, w = v.shape
        feats = loaded.forward_frames(v.transpose(1, 2).reshape(batch * n, 3, h, w)).reshape(batch, n, -1)
        split = loaded.forward_head(a, feats)
        return float(max((loaded(*check) - reference).abs().max(), (split - reference).abs().max()))


def write_onnx(model, example: tuple, path: str | Path, opset: int = 17) -> None:
    """The ONNX graph ``avemotion export`` ships: inputs ``audio``/``video``, output ``logits``, any batch.

    ``bench/model_forward.py`` times the same call, so its onnxruntime column is this export.
    """
    with torch.no_grad():
        torch.onnx.export(
            model,
            example,
            str(path),
            input_names=["audio", "video"],
            output_names=["logits"],
            dynamic_axes={"audio": {0: "batch"}, "video": {0: "batch"}, "logits": {0: "batch"}},
            opset_version=opset,
            dynamo=False,
        )
