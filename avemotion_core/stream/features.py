"""The model half of the engine: each lattice frame cropped and encoded once, windows from a feature ring.

With ``max_faces`` > 1 every person in view has a track (``faces.MultiFaceTracker``) and its own
features: each window is classified per track from that track's crops only, with the shared
microphone audio, and the primary face (``primary_face``) is the window's main result.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from avemotion_core.category import Category
from avemotion_core.faces import Box, FaceCropper, FaceTracker, GivenFaces, MultiFaceTracker
from avemotion_core.labels import MFCC_FRAMES, N_MFCC
from avemotion_core.modes import EVAL_MODES, PRIMARY_FACES
from avemotion_core.stream.config import StreamConfig
from avemotion_core.stream.messages import ConversionError
from avemotion_core.stream.scheduler import FrameJob, Job, WindowJob
from avemotion_core.window import audio_features

MIN_FRAME_SIDE = 8  # smaller frames (a 1x1 "camera") carry no face: the instant counts as missing


@dataclass
class _Entry:
    """One face of one encoded lattice frame."""

    stamp: float
    feature: torch.Tensor  # (1024,)
    face_found: bool
    box: Box
    crop: np.ndarray | None  # kept only when asked (debug image, tests)


@dataclass
class _Frame:
    """One encoded lattice frame: its faces by track id (the single-face tracker has one)."""

    stamp: float
    size: tuple[int, int]  # (height, width)
    faces: dict[str, _Entry]
    image: np.ndarray | None  # kept only with keep_frames (debug image)


@dataclass
class FaceResult:
    """One tracked person's window: classified from that track's crops only."""

    track_id: str
    mode: str
    category: Category
    box: Box  # the crop box at the track's newest frame in the window (full-frame pixels)
    face_coverage: float
    frames_present: int
    crops: np.ndarray | None  # (seq_length, S, S, 3), zeros where the track had no crop; keep_crops


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
    track_id: str | None = None  # the primary face's track (None: no face qualified)
    faces: list[FaceResult] = field(default_factory=list)  # every track that qualified


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
                 keep_crops: bool = False, keep_frames: bool = False, max_faces: int = 1,
                 track_timeout: float = 1.0, primary_face: str = "largest", given_faces: bool = False):
        if learner.seq_length != config.seq_length:
            raise ValueError(f"model seq_length {learner.seq_length} != stream {config.seq_length}")
        if primary_face not in PRIMARY_FACES:
            raise ValueError(f"primary_face={primary_face!r} is not one of {PRIMARY_FACES}")
        self.learner = learner
        self.cropper = cropper
        self.config = config
        self.decode = decode or (lambda job: job.payload)
        self.keep_crops = keep_crops
        self.keep_frames = keep_frames
        self.primary_face = primary_face
        # upstream faces (ROS4HRI): ids and crops as given; one person: the dataset's own tracker
        # (crops exactly as training saw them); several: face tracks
        self.tracker: Any = (GivenFaces(cropper) if given_faces else cropper.tracker() if max_faces == 1 else
                             MultiFaceTracker(cropper, max_faces=max_faces, track_timeout=track_timeout))
        self.stats: Counter[str] = Counter()
        self.ring: dict[int, _Frame] = {}
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
            if isinstance(image, dict):  # upstream face crops by id: too small ones are left out
                image = {i: im for i, im in image.items() if min(im.shape[:2]) >= MIN_FRAME_SIDE}
            elif min(image.shape[:2]) < MIN_FRAME_SIDE:
                self.stats["frames_dropped_degenerate"] += 1
                continue
            decoded.append((job, image))
        if not decoded:
            return
        single = isinstance(self.tracker, FaceTracker)
        steps = [[self.tracker.step(image)] if single else self.tracker.step(image, job.stamp)
                 for job, image in decoded]
        crops = [s.crop for frame_steps in steps for s in frame_steps]
        features = iter(self.learner.encode_frames(np.stack(crops)) if crops else [])
        for (job, image), frame_steps in zip(decoded, steps, strict=True):
            faces = {s.track_id: _Entry(job.stamp, next(features), s.face_found, s.box,
                                        s.crop if self.keep_crops else None) for s in frame_steps}
            size = (self.cropper.size,) * 2 if isinstance(image, dict) else image.shape[:2]
            self.ring[job.k] = _Frame(job.stamp, size, faces,
                                      image if self.keep_frames and not isinstance(image, dict) else None)
            self.stats["frames_encoded"] += 1
            self.stats["frames_without_face"] += not any(s.face_found for s in frame_steps)
        horizon = max(self.ring) - self.config.history_instants
        for k in [k for k in self.ring if k < horizon]:
            del self.ring[k]

    def _enter(self, epoch: int) -> None:
        """A new timeline (clock restart): the old frames and the face track are not its past."""
        if epoch != self.epoch:
            self.epoch = epoch
            self.ring.clear()
            self.tracker.reset()

    def live_tracks(self) -> set[str]:
        """Ids of the face tracks that have not ended (a ROS4HRI publisher lives as long as its id)."""
        if isinstance(self.tracker, MultiFaceTracker):
            return self.tracker.live_ids()
        if isinstance(self.tracker, GivenFaces):
            return set(self.tracker.ids)
        newest = self.ring[max(self.ring)] if self.ring else None
        return set(newest.faces) if newest is not None else set()

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
        ``onlyaudio`` when the camera is stale or no face shows in most frames, ``onlyvideo`` when
        the microphone is stale. Each track whose face shows in most of the window is classified
        from its own crops (``faces``); the primary one is the main result.
        """
        cfg = self.config
        if job.epoch != self.epoch and job.has_video:
            self._enter(job.epoch)  # no frame of this timeline was encoded yet
        if mode is not None and mode not in EVAL_MODES:
            raise ValueError(f"unknown mode {mode!r}; valid choices: {', '.join(EVAL_MODES)}")
        frames = [self.ring.get(k) if job.frame_stamps[i] is not None else None
                  for i, k in enumerate(range(job.first_k, job.first_k + cfg.seq_length))]
        present = [f for f in frames if f is not None]
        tracks = {tid: [f.faces.get(tid) if f is not None else None for f in frames]
                  for tid in dict.fromkeys(tid for f in present for tid in f.faces)}
        visible = {tid: entries for tid, entries in tracks.items()
                   if job.has_video and self._shows(entries, len(present))}
        if job.has_video and not visible:
            self.stats["windows_video_without_face" if present else "windows_video_not_encoded"] += 1
        if mode is None and not (visible or job.has_audio):
            self.stats["windows_dropped_no_face"] += 1
            return None
        faces = self._face_results(job, visible, mode or ("audiovisual" if job.has_audio else "onlyvideo"))
        primary = self._primary(faces, frames)
        if primary is not None:
            main_mode, category, entries = primary.mode, primary.category, tracks[primary.track_id]
        else:  # no face to show: the microphone alone (or the forced mode on the best track's frames)
            entries = max(tracks.values(), key=lambda e: sum(x is not None and x.face_found for x in e),
                          default=[None] * cfg.seq_length)
            main_mode = mode or "onlyaudio"
            [category] = self.learner.infer_features(self._audio_input(job, main_mode),
                                                     self._video_input(entries, main_mode)[None], main_mode)
        self.stats[f"windows_mode_{main_mode}"] += 1
        found = sum(e is not None and e.face_found for e in entries)
        return WindowResult(
            index=job.index, start=job.start, end=job.end, mode=main_mode, category=category,
            audio_coverage=job.audio_coverage, frame_coverage=len(present) / cfg.seq_length,
            face_coverage=found / cfg.seq_length, frames_present=len(present), faces_found=found,
            frame_stamps=tuple(f.stamp if f else None for f in frames),
            boxes=[e.box if e else None for e in entries], crops=self._crops(entries),
            frame=next((f.image for f in reversed(present) if f.image is not None), None),
            track_id=primary.track_id if primary else None, faces=faces,
        )

    def _shows(self, entries: list[_Entry | None], frames_present: int) -> bool:
        """Whether a track's face shows in enough of the window for its video branch to be trusted:
        the camera delivered ``min_frame_coverage`` of the instants, and the face was detected in
        ``min_face_coverage`` of those (a person who arrived or left mid-window counts as absent
        where the track did not exist, so a face is reported while it was in view half the window)."""
        cfg = self.config
        found = sum(e is not None and e.face_found for e in entries)
        return (frames_present > 0 and frames_present >= cfg.min_frame_coverage * cfg.seq_length
                and found >= cfg.min_face_coverage * frames_present)

    def _face_results(self, job: WindowJob, visible: dict[str, list[_Entry | None]],
                      mode: str) -> list[FaceResult]:
        """Every visible track's window, in one batch of the head: the MFCC is computed once, as
        everyone in view shares the microphone."""
        if not visible:
            return []
        video = torch.stack([self._video_input(entries, mode) for entries in visible.values()])
        categories = self.learner.infer_features(self._audio_input(job, mode), video, mode)
        results = []
        for (track_id, entries), category in zip(visible.items(), categories, strict=True):
            newest = next(e for e in reversed(entries) if e is not None)
            found = sum(e is not None and e.face_found for e in entries)
            results.append(FaceResult(track_id=track_id, mode=mode, category=category, box=newest.box,
                                      face_coverage=found / self.config.seq_length,
                                      frames_present=sum(e is not None for e in entries),
                                      crops=self._crops(entries)))
        return results

    def _primary(self, faces: list[FaceResult], frames: list[_Frame | None]) -> FaceResult | None:
        """The face ``/emotion`` reports: the largest, the most centred, or the longest tracked."""
        if not faces:
            return None
        if self.primary_face == "largest":
            return max(faces, key=lambda f: f.box.area)
        if self.primary_face == "most_centred":
            h, w = next(f.size for f in reversed(frames) if f is not None)
            return min(faces, key=lambda f: np.hypot(f.box.center[0] - w / 2, f.box.center[1] - h / 2))
        first_seen = {f.track_id: min(k for k, fr in self.ring.items() if f.track_id in fr.faces)
                      for f in faces}
        return min(faces, key=lambda f: (first_seen[f.track_id], -f.frames_present))

    def _crops(self, entries: list[_Entry | None]) -> np.ndarray | None:
        if not self.keep_crops:
            return None
        size = self.cropper.size
        crops = np.zeros((len(entries), size, size, 3), np.uint8)
        for i, e in enumerate(entries):
            if e is not None and e.crop is not None:
                crops[i] = e.crop
        return crops

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
    """Run the learner's model as a frozen graph at the stream's crop size, its frames on CPU in
    onnxruntime.

    A stream encodes one to a few frames at a time, where eager PyTorch spends most of the time in
    Python between the ~100 modules: the frozen graph (``learner.optimize()``, conv-BN folding)
    encodes a frame ~1.5x faster at 64 and 224 px, and onnxruntime's copy of the frame encoder
    (``model/onnx_frames.py``) takes 0.45-0.9x of that CPU time again. The node, ``replay`` and
    ``infer`` all call this, so they keep giving identical results. Returns what was not done (an
    export or a missing onnxruntime keeps the frames in TorchScript; a failed trace keeps the eager
    model), else None.
    """
    if learner.exported:
        return None if learner.image_size == image_size else "TorchScript export at another crop size"
    trained = learner.image_size
    learner.image_size = image_size  # the size the graphs are traced at
    runtimes = ("onnxruntime", "torchscript") if learner.device.type == "cpu" else ("torchscript",)
    failed: list[str] = []
    for runtime in runtimes:
        try:
            learner.optimize(frame_runtime=runtime)
        except (ImportError, RuntimeError, ValueError) as exc:
            failed.append(f"{runtime}: {exc}")
            continue
        return f"frames encoded by TorchScript ({failed[0]})" if failed else None
    learner.image_size = trained
    return f"running the eager model: freezing it failed ({'; '.join(failed)})"


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
