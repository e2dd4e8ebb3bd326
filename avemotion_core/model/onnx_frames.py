"""The per-frame encoder run by onnxruntime: what a stream on CPU spends most of its time in.

A stream encodes one to a few face crops at a time. There the frozen TorchScript graph spends a
third of EfficientFace's time in PyTorch's single-thread GEMM path for the 1x1 convolutions and much
of the rest in copies for the channel split and shuffle. onnxruntime runs the same graph in about
half the CPU time per crop at 64 px and for one 224 px crop, 0.9x for three 224 px crops at once
(``bench/encoder_runtime.py``; the node over DDS: 1.09-1.16x less CPU in all, BENCHMARKS.md).
Only the frame encoder goes there: the window head runs once per window and stays in TorchScript.
"""

from __future__ import annotations

import io

import numpy as np
import torch
from torch import nn


class _CropsToFeatures(nn.Module):
    """uint8 RGB crops ``(N, S, S, 3)`` -> ``(N, 1024)``: ``encode_frames``' scaling inside the graph."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        return self.model.forward_frames(crops.permute(0, 3, 1, 2).float() / 255.0)


class OnnxFrameEncoder:
    """``model.forward_frames`` on uint8 crops of one size, exported to ONNX in memory and run by an
    onnxruntime session on the calling thread (plus ``threads - 1`` pool threads).

    The pool never spins while idle (``allow_spinning`` 0): onnxruntime's default keeps its threads
    busy-waiting after each run, CPU time a robot pays for nothing between frames.
    """

    def __init__(self, model: nn.Module, size: int, threads: int = 1, opset: int = 17):
        import onnxruntime  # the caller decides what a missing runtime means

        example = torch.zeros(1, size, size, 3, dtype=torch.uint8)
        graph = io.BytesIO()
        with torch.no_grad():
            torch.onnx.export(_CropsToFeatures(model).eval(), (example,), graph, opset_version=opset,
                              input_names=["crops"], output_names=["features"],
                              dynamic_axes={"crops": {0: "n"}, "features": {0: "n"}}, dynamo=False)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        self.session = onnxruntime.InferenceSession(graph.getvalue(), options,
                                                    providers=["CPUExecutionProvider"])
        self.size = size

    def __call__(self, crops: np.ndarray) -> torch.Tensor:
        """Features ``(N, 1024)`` float32 of uint8 crops ``(N, size, size, 3)``."""
        if crops.shape[1:] != (self.size, self.size, 3):
            raise ValueError(f"this encoder takes {self.size} px crops, got {crops.shape[1:]}")
        (features,) = self.session.run(None, {"crops": np.ascontiguousarray(crops)})
        return torch.from_numpy(features)
