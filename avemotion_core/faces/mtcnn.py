"""MTCNN face detector (Zhang et al., 2016) in plain torch: the stronger alternative to Haar.

Three cascaded networks: P-Net scans an image pyramid for 12x12 face candidates, R-Net re-scores
24x24 crops of them, O-Net re-scores 48x48 crops and refines the boxes. It finds faces down to
``min_face`` pixels and turned heads that the frontal Haar cascade misses, at a higher CPU cost
(BENCHMARKS.md). Weights: ``assets/mtcnn/mtcnn.safetensors``, converted from facenet-pytorch's
published ``{p,r,o}net.pt`` (MIT, see ``SOURCE.json``), checked against their SHA-256 on load.
No torchvision: box suppression is done here.
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import torch
from safetensors.torch import load_file
from torch import nn

from avemotion_core.faces.box import Box
from avemotion_core.fileio import ModelFileError
from avemotion_core.media.image import as_rgb_uint8
from avemotion_core.model.files import check_digest

WEIGHTS = Path(__file__).parents[1] / "assets" / "mtcnn" / "mtcnn.safetensors"


def _conv_block(spec: list[tuple[int, int, int, int | None]]) -> list[tuple[str, nn.Module]]:
    """(in, out, kernel, pool kernel or None) per stage -> conv, PReLU and an optional max-pool."""
    layers: list[tuple[str, nn.Module]] = []
    for i, (cin, cout, k, pool) in enumerate(spec, start=1):
        layers += [(f"conv{i}", nn.Conv2d(cin, cout, k)), (f"prelu{i}", nn.PReLU(cout))]
        if pool:
            layers.append((f"pool{i}", nn.MaxPool2d(pool, 2, ceil_mode=True)))
    return layers


class PNet(nn.Module):
    """Fully convolutional: a face probability and box offsets per 12x12 cell, stride 2."""

    def __init__(self) -> None:
        super().__init__()
        for name, layer in _conv_block([(3, 10, 3, 2), (10, 16, 3, None), (16, 32, 3, None)]):
            self.add_module(name, layer)
        self.conv4_1 = nn.Conv2d(32, 2, 1)
        self.conv4_2 = nn.Conv2d(32, 4, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        for name in ("conv1", "prelu1", "pool1", "conv2", "prelu2", "conv3", "prelu3"):
            x = getattr(self, name)(x)
        return torch.softmax(self.conv4_1(x), dim=1)[:, 1], self.conv4_2(x)


class _Refiner(nn.Module):
    """R-Net / O-Net: convolutions, then dense layers on a (width, height, channel) flattening.

    The weights come from Caffe models trained on transposed images; flattening in that order is
    what makes the dense layers see the features they were trained on.
    """

    def __init__(self, convs: list[tuple[int, int, int, int | None]], flat: int, hidden: int, outputs: int):
        super().__init__()
        self.n_convs = len(convs)
        for name, layer in _conv_block(convs):
            self.add_module(name, layer)
        d = self.n_convs + 1
        self.add_module(f"dense{d}", nn.Linear(flat, hidden))
        self.add_module(f"prelu{d}", nn.PReLU(hidden))
        self.heads = [f"dense{d + 1}_{j}" for j in range(1, outputs + 1)]
        for j, size in zip(range(1, outputs + 1), (2, 4, 10), strict=False):
            self.add_module(f"dense{d + 1}_{j}", nn.Linear(hidden, size))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        for name, module in self.named_children():
            if name.startswith("dense"):
                break
            x = module(x)
        d = self.n_convs + 1
        x = x.permute(0, 3, 2, 1).flatten(1)
        x = getattr(self, f"prelu{d}")(getattr(self, f"dense{d}")(x))
        prob = torch.softmax(getattr(self, self.heads[0])(x), dim=1)[:, 1]
        return prob, getattr(self, self.heads[1])(x)


def _rnet() -> _Refiner:
    return _Refiner([(3, 28, 3, 3), (28, 48, 3, 3), (48, 64, 2, None)], 576, 128, 2)


def _onet() -> _Refiner:
    return _Refiner([(3, 32, 3, 3), (32, 64, 3, 3), (64, 64, 3, 2), (64, 128, 2, None)], 1152, 256, 3)


@lru_cache(maxsize=2)
def _networks(path: str) -> tuple[PNet, _Refiner, _Refiner]:
    weights = Path(path)
    if not weights.is_file():
        raise ModelFileError(f"MTCNN weights not found: {weights}")
    source = weights.parent / "SOURCE.json"  # records the SHA-256 as metadata.json does
    if source.is_file():
        check_digest(weights, json.loads(source.read_text()))
    try:
        state = load_file(str(weights))
    except Exception as exc:  # safetensors raises its own error types
        raise ModelFileError(f"cannot read MTCNN weights {weights}: {exc}") from exc
    nets = (PNet(), _rnet(), _onet())
    for prefix, net in zip(("pnet.", "rnet.", "onet."), nets, strict=True):
        own = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        try:
            net.load_state_dict(own, strict=True)
        except RuntimeError as exc:
            raise ModelFileError(f"{weights} does not hold MTCNN weights ({prefix[:-1]}): {exc}") from exc
        net.eval()
    return nets


def _nms(boxes: torch.Tensor, scores: torch.Tensor, threshold: float, use_min: bool = False) -> torch.Tensor:
    """Indices kept by greedy non-maximum suppression (overlap over union, or over the smaller box)."""
    order = scores.argsort(descending=True)
    x0, y0, x1, y1 = boxes.unbind(1)
    area = (x1 - x0).clamp(min=0) * (y1 - y0).clamp(min=0)
    keep = []
    while order.numel():
        i = order[0]
        keep.append(int(i))
        rest = order[1:]
        w = (torch.minimum(x1[i], x1[rest]) - torch.maximum(x0[i], x0[rest])).clamp(min=0)
        h = (torch.minimum(y1[i], y1[rest]) - torch.maximum(y0[i], y0[rest])).clamp(min=0)
        inter = w * h
        denom = torch.minimum(area[i], area[rest]) if use_min else area[i] + area[rest] - inter
        order = rest[inter / denom.clamp(min=1e-9) <= threshold]
    return torch.tensor(keep, dtype=torch.long)


def _regress(boxes: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """Apply the networks' box offsets, which are fractions of the box's width and height."""
    size = torch.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]] * 2, dim=1)
    return boxes + offsets * size


def _square(boxes: torch.Tensor) -> torch.Tensor:
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    half = torch.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) / 2
    return torch.stack([cx - half, cy - half, cx + half, cy + half], dim=1)


def _crops(image: np.ndarray, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """``size`` x ``size`` patches of the (normalised float) image under each box, zero outside it."""
    h, w = image.shape[:2]
    out = np.zeros((len(boxes), size, size, 3), np.float32)
    for n, (x0, y0, x1, y1) in enumerate(boxes.round().int().tolist()):
        if x1 <= x0 or y1 <= y0:
            continue
        patch = np.zeros((y1 - y0, x1 - x0, 3), np.float32)
        sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        if sx1 > sx0 and sy1 > sy0:
            patch[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = image[sy0:sy1, sx0:sx1]
        out[n] = cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA)
    return torch.from_numpy(out).permute(0, 3, 1, 2)


class MTCNNFaceDetector:
    """Same interface as ``HaarFaceDetector``: ``detect(rgb) -> [Box]`` with the O-Net probability as score.

    ``max_side`` bounds the image the pyramid is built from (as for Haar, cost grows with pixels);
    ``thresholds`` are the per-stage face probabilities a candidate must reach.
    """

    def __init__(self, min_face: int = 24, max_side: int = 640, factor: float = 0.709,
                 thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7), weights: str | Path = WEIGHTS):
        if min_face < 12 or max_side < 48 or not 0.1 < factor < 1.0 or len(thresholds) != 3:
            raise ValueError("invalid MTCNN parameters")
        self.min_face = min_face
        self.max_side = max_side
        self.factor = factor
        self.thresholds = thresholds
        self.pnet, self.rnet, self.onet = _networks(str(weights))

    def detect(self, image: np.ndarray) -> list[Box]:
        image = as_rgb_uint8(image, "image")
        h, w = image.shape[:2]
        shrink = min(1.0, self.max_side / max(h, w))
        if shrink < 1.0:
            image = cv2.resize(image, (max(1, round(w * shrink)), max(1, round(h * shrink))),
                               interpolation=cv2.INTER_AREA)
        norm = (image.astype(np.float32) - 127.5) / 128.0
        with torch.inference_mode():
            boxes, scores = self._propose(norm)
            stages = ((self.rnet, 24, self.thresholds[1]), (self.onet, 48, self.thresholds[2]))
            for net, size, threshold in stages:
                if not len(boxes):
                    return []
                boxes = _square(boxes)
                prob, offsets = net(_crops(norm, boxes, size))
                keep = prob > threshold
                boxes, scores = _regress(boxes[keep], offsets[keep]), prob[keep]
                keep = _nms(boxes, scores, 0.7, use_min=net is self.onet)
                boxes, scores = boxes[keep], scores[keep]
        boxes = boxes / shrink
        return [Box(max(0.0, x0), max(0.0, y0), min(float(w), x1), min(float(h), y1), float(s))
                for (x0, y0, x1, y1), s in zip(boxes.tolist(), scores.tolist(), strict=True)
                if x1 > x0 and y1 > y0]

    def _propose(self, norm: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """P-Net over the image pyramid: candidate boxes (in image pixels) and their probabilities."""
        h, w = norm.shape[:2]
        scale = 12.0 / self.min_face
        found_boxes, found_scores = [], []
        while min(h, w) * scale >= 12:
            sh, sw = math.ceil(h * scale), math.ceil(w * scale)
            level = cv2.resize(norm, (sw, sh), interpolation=cv2.INTER_AREA)
            prob, offsets = self.pnet(torch.from_numpy(level).permute(2, 0, 1)[None])
            ys, xs = torch.nonzero(prob[0] > self.thresholds[0], as_tuple=True)
            if len(ys):
                # each output cell looks at a 12x12 patch, the cells 2 pixels apart (P-Net's pooling)
                corner = torch.stack([xs, ys, xs, ys], dim=1).float() * 2
                cells = corner + torch.tensor([0.0, 0.0, 12.0, 12.0])
                boxes = _regress(cells / scale, offsets[0, :, ys, xs].T)
                scores = prob[0, ys, xs]
                keep = _nms(cells, scores, 0.5)
                found_boxes.append(boxes[keep])
                found_scores.append(scores[keep])
            scale *= self.factor
        if not found_boxes:
            return torch.zeros(0, 4), torch.zeros(0)
        boxes, scores = torch.cat(found_boxes), torch.cat(found_scores)
        keep = _nms(boxes, scores, 0.7)
        return boxes[keep], scores[keep]
