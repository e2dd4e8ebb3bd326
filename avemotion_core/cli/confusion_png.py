"""A labelled confusion-matrix heat map written with OpenCV (matplotlib is not a dependency)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import cv2
import numpy as np

from avemotion_core.fileio import atomic_path

CELL = 64
FONT = cv2.FONT_HERSHEY_SIMPLEX


def render_confusion(matrix: Sequence[Sequence[int]], labels: Sequence[str], title: str = "") -> np.ndarray:
    """BGR image: rows = true class, columns = predicted; colour = row-normalised share, text = count."""
    m = np.asarray(matrix, dtype=np.int64)
    n = len(labels)
    if m.shape != (n, n):
        raise ValueError(f"confusion matrix shape {m.shape} does not match {n} labels")
    rows = m.sum(axis=1, keepdims=True)
    share = np.divide(m, rows, out=np.zeros(m.shape, float), where=rows > 0)
    margin_left, margin_top = 120, 130
    h, w = margin_top + n * CELL + 40, margin_left + n * CELL + 20
    img = np.full((h, w, 3), 255, np.uint8)
    colours = cv2.applyColorMap(np.round(share * 255).astype(np.uint8), cv2.COLORMAP_VIRIDIS)
    for i in range(n):
        for j in range(n):
            y0, x0 = margin_top + i * CELL, margin_left + j * CELL
            img[y0 : y0 + CELL, x0 : x0 + CELL] = colours[i, j]
            text = str(int(m[i, j]))
            ink = (0, 0, 0) if share[i, j] > 0.6 else (255, 255, 255)
            (tw, th), _ = cv2.getTextSize(text, FONT, 0.5, 1)
            cv2.putText(
                img, text, (x0 + (CELL - tw) // 2, y0 + (CELL + th) // 2), FONT, 0.5, ink, 1, cv2.LINE_AA
            )
        cv2.rectangle(
            img, (margin_left, margin_top), (margin_left + n * CELL, margin_top + n * CELL), (0, 0, 0), 1
        )
    for k, label in enumerate(labels):
        name = str(label)[:12]
        y = margin_top + k * CELL + CELL // 2 + 5
        cv2.putText(img, name, (4, y), FONT, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        # column labels written vertically: render horizontally, then rotate the patch
        (tw, th), _ = cv2.getTextSize(name, FONT, 0.45, 1)
        patch = np.full((th + 8, tw + 4, 3), 255, np.uint8)
        cv2.putText(patch, name, (2, th + 2), FONT, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        patch = cv2.rotate(patch, cv2.ROTATE_90_COUNTERCLOCKWISE)
        ph, pw = patch.shape[:2]
        x = margin_left + k * CELL + (CELL - pw) // 2
        y = margin_top - 4 - ph
        img[y : y + ph, x : x + pw] = np.minimum(img[y : y + ph, x : x + pw], patch)
    cv2.putText(img, "true \\ predicted", (4, margin_top - 8), FONT, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    if title:
        cv2.putText(img, title[:60], (4, h - 14), FONT, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return img


def save_confusion_png(
    path: str | os.PathLike[str], matrix: Sequence[Sequence[int]], labels: Sequence[str], title: str = ""
) -> None:
    img = render_confusion(matrix, labels, title)
    ok, data = cv2.imencode(".png", img)
    if not ok:
        raise OSError(f"OpenCV could not encode {path} as PNG")
    with atomic_path(path) as tmp:
        tmp.write_bytes(data.tobytes())


def confusion_rows(matrix: Sequence[Sequence[int]], labels: Sequence[str]) -> tuple[list[str], list[list]]:
    """CSV header + rows: first column the true label, then one count per predicted label."""
    return ["true\\predicted", *labels], [[labels[i], *map(int, row)] for i, row in enumerate(matrix)]
