"""``avemotion export``: TorchScript and ONNX copies of a model, checked against PyTorch.

Why: deployments without the Python model code (C++, onnxruntime, TensorRT) need a frozen graph.
Each export is run on fresh random inputs and compared with the eager model; an export whose
outputs differ by more than ``--tolerance`` (relative to the largest logit, at least 1) is deleted
and the command fails. Next to the graphs,
``export.json`` records labels, input shapes, the source model's metadata and the measured
differences.

The output folder is also a model directory (``metadata.json`` with ``"format": "torchscript"``
and the graph's SHA-256): the node's ``model_path``, ``avemotion infer --model`` and
``AudiovisualEmotionLearner.from_model_dir`` run the frozen graph directly.

Using the exports elsewhere: ``torch.jit.load("model.torchscript.pt")(audio, video)`` or an onnxruntime
session with inputs ``audio`` (B, 10, 156) and ``video`` (B, 3, 15, S, S) float32 in [0, 1] returns
logits (B, num_class); softmax gives the probabilities of ``export.json["labels"]``. The graphs are
traced at one crop size ``S`` (``--image-size``): export at the size the deployment feeds.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from avemotion_core.cli.common import (
    DEFAULT_MODEL,
    CliError,
    UsageError,
    add_device,
    image_size,
    load_learner,
    write_json,
)

ONNX = "model.onnx"
# Training facts that travel from the source model's metadata to the exported graph's.
SOURCE_KEYS = ("mod_drop", "sample_rate", "n_mfcc", "mfcc_frames", "window_seconds", "face_detector")


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "export",
        help="export a model to TorchScript and/or ONNX (with a parity check)",
        description="Trace the model to TorchScript and export it to ONNX, then check that "
        "each export reproduces the PyTorch logits.",
    )
    p.add_argument("out_dir", help="output folder (model.torchscript.pt + metadata.json, model.onnx, "
                   "export.json), usable as a model directory by the node and `avemotion infer`")
    p.add_argument("--model", default=None, help="model directory (default: the embedded model)")
    p.add_argument("--format", choices=("torchscript", "onnx", "both"), default="both")
    p.add_argument(
        "--image-size",
        type=image_size,
        default=None,
        help="face crop size the export is traced at (default: the model's)",
    )
    p.add_argument(
        "--tolerance", type=float, default=1e-4,
        help="max |logit difference| allowed, times max(1, largest |logit|) (default 1e-4): float32 "
        "rounding after conv-BN folding grows with the logits' scale"
    )
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    add_device(p)
    return p


def export_onnx(learner, path: Path, size: int, opset: int) -> float:
    """Export with a dynamic batch axis, then run it in onnxruntime and return max |Δ|."""
    import torch

    from avemotion_core.fileio import atomic_path
    from avemotion_core.model.export import example_inputs, write_onnx

    try:
        import onnxruntime
    except ImportError as exc:
        raise CliError(
            "ONNX export needs the onnx and onnxruntime packages (pip install -r "
            "requirements.txt), or use --format torchscript"
        ) from exc
    model = learner.model.eval().cpu()
    example = tuple(x.cpu() for x in example_inputs(learner, 1, size, 0))
    try:
        with atomic_path(path) as tmp:
            write_onnx(model, example, tmp, opset)
    finally:
        model.to(learner.device)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    a, v = (x.cpu() for x in example_inputs(learner, 2, size, 1))
    (out,) = session.run(["logits"], {"audio": a.numpy(), "video": v.numpy()})
    with torch.no_grad():
        ref = model.cpu()(a, v).numpy()
    model.to(learner.device)
    return float(abs(out - ref).max())


def run(args: argparse.Namespace) -> int:
    if args.tolerance <= 0:
        raise UsageError(f"--tolerance must be > 0, got {args.tolerance}")
    from avemotion_core.model.files import METADATA, TORCHSCRIPT, is_torchscript_dir, read_metadata

    out = Path(args.out_dir)
    if (out / METADATA).is_file() and not is_torchscript_dir(read_metadata(out)):
        raise UsageError(f"{out} holds a trained model; export into another folder")
    learner = load_learner(args.model, args.device)
    if learner.exported:
        raise UsageError(f"{args.model} is already an export; export from the model it was made from")
    args.image_size = args.image_size or learner.image_size
    out.mkdir(parents=True, exist_ok=True)
    report: dict = {
        "labels": list(learner.labels),
        "fusion": learner.fusion,
        "inputs": {
            "audio": ["batch", 10, 156],
            "video": ["batch", 3, learner.seq_length, args.image_size, args.image_size],
        },
        "output": "logits (batch, num_class); softmax gives the class probabilities",
        "video_range": "float32 in [0, 1], RGB",
        "max_abs_diff": {},
        "tolerance": args.tolerance,
        # the source model's metadata (labels, geometry, weights hash) travels with the graphs
        "model_metadata": read_metadata(args.model or DEFAULT_MODEL),
    }
    source = report["model_metadata"]
    graph_meta = {k: source[k] for k in SOURCE_KEYS if k in source}
    graph_meta.update(fusion=learner.fusion, num_class=learner.num_class, seq_length=learner.seq_length,
                      labels=list(learner.labels), image_size=args.image_size,
                      exported_from_sha256=source.get("sha256", {}))
    import torch

    from avemotion_core.model.export import allowed_difference, example_inputs, export_torchscript

    # the inputs every export is compared on, at another batch size than the trace's: the graph must
    # not bake it in
    check = example_inputs(learner, 2, args.image_size, 1)
    with torch.no_grad():
        reference = learner.model.eval()(*check)
    scale = float(reference.abs().max())
    jobs = []  # (name, files it writes, job)
    if args.format in ("torchscript", "both"):
        jobs.append(("torchscript", [out / TORCHSCRIPT, out / METADATA],
                     lambda: export_torchscript(learner, out, args.image_size, graph_meta, check, reference)))
    if args.format in ("onnx", "both"):
        jobs.append(("onnx", [out / ONNX],
                     lambda: export_onnx(learner, out / ONNX, args.image_size, args.opset)))
    allowed = allowed_difference(args.tolerance, scale)
    report["max_abs_logit"] = scale
    failures = []
    for name, paths, job in jobs:
        diff = job()
        report["max_abs_diff"][name] = diff
        ok = diff <= allowed
        print(f"{name}: {paths[0]}  max |delta| vs PyTorch = {diff:.3g} ({'ok' if ok else 'FAIL'})")
        if not ok:
            for path in paths:  # never leave an export that gives different answers
                path.unlink(missing_ok=True)
            failures.append(f"{name} max |delta| {diff:.3g} > {allowed:.3g}")
    write_json(out / "export.json", report)
    if failures:
        raise CliError("; ".join(failures))
    print(json.dumps(report["max_abs_diff"]))
    return 0
