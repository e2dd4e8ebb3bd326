"""The model half of the engine: each lattice frame cropped and encoded once, windows from a feature ring."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from avemotion_core.category import Category
from avemotion_core.faces import Box, FaceCropper
from avemotion_core.labels import MFCC_FRAMES, N_MFCC
from avemotion_core.model import EVAL_MODES
from avemotion_core.stream.config import StreamConfig
from avemotion_core.stream.messages import ConversionError
from avemotion_core.stream.scheduler import FrameJob, Job, WindowJob
from avemotion_core.window import audio_features

MIN_FRAME_SIDE = 8  # smaller frames (a 1x1 "camera") carry no face: the instant counts as missing


@dataclass
class _Entry:
    """One encoded lattice frame."""

    stamp: float
    feature: torch.Tensor  # (1024,)
    face_found: bool
    box: Box
    crop: np.ndarray | None  # kept only when asked (debug image, tests)
    frame: np.ndarray | None


@dataclass
class WindowResult:
    """A classified window and how much of it was real.

    ``mode`` is the eval mode run: ``audiovisual``, or ``onlyaudio`` when the camera was stale or the
    frames showed no face for most of the window, ``onlyvideo`` when the microphone was stale.
    ``face_coverage`` is the fraction of the window's lattice instants with a detected face.
    """

    index: int
    start: float
    end: float
    mode: str
    category: Category
    audio_coverage: float
    frame_coverage: float
    face_coverage: float
    frames_present: int
    faces_found: int
    frame_stamps: tuple[float | None, ...]
    boxes: list[Box | None]
    crops: np.ndarray | None  # (seq_length, S, S, 3), zeros where missing; with keep_crops
    frame: np.ndarray | None  # the newest frame of the window; with keep_frames


class FeatureStream:
    """Runs :class:`FrameJob` and :class:`WindowJob` from a :class:`StreamScheduler` against a model.

    A frame job is decoded (``decode(job)``, which may raise ``ConversionError``: counted as
    ``malformed_<kind>_<reason>``), face-tracked by one causal :class:`~avemotion_core.faces.FaceTracker`
    (so its crop never depends on the window asking), cropped and encoded by
    ``learner.encode_frames``; its features wait in a ring of about one window. A window job gathers
    its ``seq_length`` features (a black frame's for missing instants, as OpenDR pads) and runs only
    the window head (``learner.infer_features``) -- the same logits as the full model on the same
    crops, at a fraction of the cost when windows overlap.
    """

    def __init__(self, learner: Any, cropper: FaceCropper, config: StreamConfig,
                 decode: Callable[[FrameJob], np.ndarray] | None = None,
                 keep_crops: bool = False, keep_frames: bool = False):
        if learner.seq_length != config.seq_length:
            raise ValueError(f"model seq_length {learner.seq_length} != stream {config.seq_length}")
        self.learner = learner
        self.cropper = cropper
        self.config = config
        self.decode = decode or (lambda job: job.payload)
        self.keep_crops = keep_crops
        self.keep_frames = keep_frames
        self.tracker = cropper.tracker()
        self.stats: Counter[str] = Counter()
        self.ring: dict[int, _Entry] = {}
        self.epoch: int | None = None
        self._blank: torch.Tensor | None = None

    # ------------------------------------------------------------------ frames
    def run_frames(self, jobs: Iterable[FrameJob]) -> None:
        """Crop and encode lattice frames (as one batch): each exactly once."""
        decoded: list[tuple[FrameJob, np.ndarray]] = []
        for job in jobs:
            self._enter(job.epoch)
            try:
                image = self.decode(job)
            except ConversionError as exc:
                self.stats[f"malformed_{job.kind}_{exc.reason}"] += 1
                continue
            if min(image.shape[:2]) < MIN_FRAME_SIDE:
                self.stats["frames_dropped_degenerate"] += 1
                continue
            decoded.append((job, image))
        if not decoded:
            return
        steps = [self.tracker.step(image) for _, image in decoded]
        features = self.learner.encode_frames(np.stack([s.crop for s in steps]))
        for (job, image), step, feature in zip(decoded, steps, features, strict=True):
            self.ring[job.k] = _Entry(job.stamp, feature, step.face_found, step.box,
                                      step.crop if self.keep_crops else None,
                                      image if self.keep_frames else None)
            self.stats["frames_encoded"] += 1
            self.stats["frames_without_face"] += not step.face_found
        horizon = max(self.ring) - self.config.history_instants
        for k in [k for k in self.ring if k < horizon]:
            del self.ring[k]

    def _enter(self, epoch: int) -> None:
        """A new timeline (clock restart): the old frames and the face track are not its past."""
        if epoch != self.epoch:
            self.epoch = epoch
            self.ring.clear()
            self.tracker.reset()

    def blank_features(self) -> torch.Tensor:
        """Features of an all-black crop: a missing frame, and every frame in ``onlyaudio``."""
        if self._blank is None:
            size = self.cropper.size
            self._blank = self.learner.encode_frames(np.zeros((1, size, size, 3), np.uint8))[0]
        return self._blank

    # ------------------------------------------------------------------ windows
    def run_window(self, job: WindowJob, mode: str | None = None) -> WindowResult | None:
        """Classify a window from the ring (None, counted, when it cannot be classified).

        ``mode`` forces an eval mode (``avemotion infer --mode``); by default it follows freshness:
        ``onlyaudio`` when the camera is stale or most frames show no face, ``onlyvideo`` when the
        microphone is stale.
        """
        cfg = self.config
        if job.epoch != self.epoch and job.has_video:
            self._enter(job.epoch)  # no frame of this timeline was encoded yet
        entries = [self.ring.get(k) if job.frame_stamps[i] is not None else None
                   for i, k in enumerate(range(job.first_k, job.first_k + cfg.seq_length))]
        present = [e for e in entries if e is not None]
        faces = sum(e.face_found for e in present)
        face_ok = bool(present) and faces >= cfg.min_face_coverage * len(present)
        has_video = job.has_video and len(present) >= cfg.min_frame_coverage * cfg.seq_length and face_ok
        if job.has_video and not has_video:
            self.stats["windows_video_without_face" if present else "windows_video_not_encoded"] += 1
        if mode is None:
            if not (has_video or job.has_audio):
                self.stats["windows_dropped_no_face"] += 1
                return None
            mode = ("audiovisual" if has_video and job.has_audio
                    else "onlyaudio" if job.has_audio else "onlyvideo")
        elif mode not in EVAL_MODES:
            raise ValueError(f"unknown mode {mode!r}; valid choices: {', '.join(EVAL_MODES)}")
        category = self.learner.infer_features(self._audio_input(job, mode), self._video_input(entries, mode),
                                               mode)
        self.stats[f"windows_mode_{mode}"] += 1
        crops = None
        if self.keep_crops:
            size = self.cropper.size
            crops = np.zeros((cfg.seq_length, size, size, 3), np.uint8)
            for i, e in enumerate(entries):
                if e is not None and e.crop is not None:
                    crops[i] = e.crop
        return WindowResult(
            index=job.index, start=job.start, end=job.end, mode=mode, category=category,
            audio_coverage=job.audio_coverage, frame_coverage=len(present) / cfg.seq_length,
            face_coverage=faces / cfg.seq_length, frames_present=len(present), faces_found=faces,
            frame_stamps=tuple(e.stamp if e else None for e in entries),
            boxes=[e.box if e else None for e in entries], crops=crops,
            frame=next((e.frame for e in reversed(present) if e.frame is not None), None),
        )

    def _audio_input(self, job: WindowJob, mode: str) -> torch.Tensor:
        if mode == "onlyvideo" or job.audio_rate == 0:
            return torch.zeros(N_MFCC, MFCC_FRAMES)
        if mode == "noisyaudio":
            return torch.randn(N_MFCC, MFCC_FRAMES)
        return torch.from_numpy(audio_features(job.audio, job.audio_rate))

    def _video_input(self, entries: list[_Entry | None], mode: str) -> torch.Tensor:
        blank = self.blank_features()
        if mode == "onlyaudio":
            return blank.expand(len(entries), -1)
        if mode == "noisyvideo":  # N(0, 1) frames, as the offline eval mode feeds the full model
            size = self.cropper.size
            noise = torch.randn(len(entries), 3, size, size, device=self.learner.device)
            with torch.inference_mode():
                return self.learner.model.forward_frames(noise).float()
        return torch.stack([e.feature if e is not None else blank for e in entries])


def freeze_for_streaming(learner: Any, image_size: int) -> str | None:
    """Run the learner's model as a frozen TorchScript graph at the stream's crop size.

    A stream encodes one or two frames at a time, where eager PyTorch spends most of the time in
    Python between the ~100 modules: the frozen graph (``learner.optimize()``, conv-BN folding)
    encodes a frame ~1.5x faster at 64 and 224 px. The node, ``replay`` and ``infer`` all call this,
    so they keep giving identical results. Returns why it was not done (already a graph, or the
    trace failed: the eager model then runs), else None.
    """
    if learner.exported:
        return None if learner.image_size == image_size else "TorchScript export at another crop size"
    trained = learner.image_size
    learner.image_size = image_size  # the size the graph is traced at
    try:
        learner.optimize()
    except (RuntimeError, ValueError) as exc:
        learner.image_size = trained
        return f"running the eager model: freezing it failed ({exc})"
    return None


def run_jobs(features: FeatureStream, jobs: Iterable[Job], mode: str | None = None) -> list[WindowResult]:
    """Run jobs in order on one thread (replay, file inference); the classified windows."""
    results: list[WindowResult] = []
    frames: list[FrameJob] = []
    for job in jobs:
        if isinstance(job, FrameJob):
            frames.append(job)
            continue
        features.run_frames(frames)
        frames = []
        result = features.run_window(job, mode)
        if result is not None:
            results.append(result)
    features.run_frames(frames)
    return results
