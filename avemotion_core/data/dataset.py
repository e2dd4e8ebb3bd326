"""RAVDESS (or the synthetic RAVDESS-format corpus) as train/val/test torch Datasets.

Why this module exists next to OpenDR's loader: OpenDR counted every utterance twice (the 01
audio-video and the 02 video-only mp4), took frames and audio from different moments, appended to
its annotation file on every run and re-ran face detection on all 108 frames of every clip. Here:

* file names are parsed and validated; each utterance (fields 2-7) is one sample whose video is
  the 02 or 01 mp4 and whose audio is the 03 wav (``'03' + name[2:]``) or, failing that, the 01
  mp4's own track;
* features come from :func:`avemotion_core.data.inference_data.load_clip_window`, the same path used
  at inference time (one 3.6 s interval for both modalities, face crops, MFCC);
* they are cached once per clip as ``.npz`` (MFCC float32 + uint8 crops), written atomically by
  parallel workers; a rerun skips finished clips, so an interrupted run simply resumes. The cache
  folder is keyed by the preprocessing parameters and each file by its sources' size and mtime,
  so changing ``target_im_size`` or regenerating a clip never reuses stale features.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from avemotion_core.data.inference_data import load_clip_window
from avemotion_core.data.skip_report import read_skipped, write_skipped
from avemotion_core.data.workers import worker_pool
from avemotion_core.faces import make_cropper
from avemotion_core.fileio import atomic_path, atomic_write_bytes
from avemotion_core.labels import EMOTIONS, SAMPLE_RATE, WINDOW_SECONDS
from avemotion_core.media.video import probe_video
from avemotion_core.modes import FACE_DETECTORS

log = logging.getLogger(__name__)

CACHE_VERSION = 1  # bump when the feature path changes in a way the parameters do not capture
STALE_TEMP_SECONDS = 600  # a cache temp file this old is a leftover, not a write in progress
# The released split of the paper's models (used when all 24 RAVDESS actors are present).
PAPER_TEST_ACTORS = (5, 10, 16, 19)
PAPER_VAL_ACTORS = (11, 13, 18, 22)
_NAME = re.compile(r"^(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})$")
_RANGES = {  # valid codes per field, from the RAVDESS description
    "modality": (1, 3), "vocal_channel": (1, 2), "emotion": (1, 8), "intensity": (1, 2),
    "statement": (1, 2), "repetition": (1, 2), "actor": (1, 24),
}


class DatasetError(ValueError):
    """The dataset folder, its file names, the cache or the requested split is unusable."""


@dataclass(frozen=True)
class RavdessName:
    """The 7 fields of a RAVDESS file name (``MM-VV-EE-II-SS-RR-AA``)."""

    modality: int
    vocal_channel: int
    emotion: int
    intensity: int
    statement: int
    repetition: int
    actor: int

    @classmethod
    def parse(cls, stem: str) -> RavdessName:
        m = _NAME.match(stem)
        if m is None:
            raise DatasetError(f"{stem!r} is not a RAVDESS name (7 two-digit fields joined by '-')")
        name = cls(*(int(g) for g in m.groups()))
        for field, (lo, hi) in _RANGES.items():
            value = getattr(name, field)
            if not lo <= value <= hi:
                raise DatasetError(f"{stem!r}: {field} {value:02d} is outside {lo:02d}..{hi:02d}")
        return name

    @property
    def utterance(self) -> str:
        """Fields 2-7: identical for the audio-video, video-only and audio-only files of a take."""
        fields = (self.vocal_channel, self.emotion, self.intensity, self.statement, self.repetition,
                  self.actor)
        return "-".join(f"{f:02d}" for f in fields)

    @property
    def label(self) -> int:
        return self.emotion - 1


@dataclass(frozen=True)
class Sample:
    """One utterance: its video, its audio (None: the audio track of the 01 mp4) and label."""

    utterance: str
    video: Path
    audio: Path | None
    label: int
    actor: int


@dataclass
class ScanResult:
    samples: list[Sample]
    unpaired: list[Path]  # videos without audio and audio files without video
    duplicates: int  # extra copies of an already counted file (e.g. both 01 and 02 mp4)


def scan_ravdess(path: str | os.PathLike[str]) -> ScanResult:
    """Find RAVDESS mp4/wav files anywhere under ``path`` and pair them per utterance.

    Hidden files (temp files of interrupted writers) are ignored; any other mp4/wav whose name is
    not a valid RAVDESS name is an error, because silently skipping it would train on a subset.
    """
    root = Path(path)
    if not root.exists():
        raise DatasetError(f"dataset path {root} does not exist")
    if not root.is_dir():
        raise DatasetError(f"dataset path {root} is not a directory")
    videos: dict[str, dict[int, Path]] = {}
    audios: dict[str, Path] = {}
    bad: list[str] = []
    duplicates = 0
    files = sorted(p for ext in ("*.mp4", "*.wav") for p in root.rglob(ext) if not p.name.startswith("."))
    for f in files:
        try:
            name = RavdessName.parse(f.stem)
        except DatasetError as exc:
            bad.append(f"{f.relative_to(root)}: {exc}")
            continue
        is_wav = f.suffix == ".wav"
        if is_wav != (name.modality == 3):
            bad.append(f"{f.relative_to(root)}: modality {name.modality:02d} is not a {f.suffix} file")
            continue
        slot = audios if is_wav else videos.setdefault(name.utterance, {})
        key = name.utterance if is_wav else name.modality
        if key in slot:
            duplicates += 1
            continue
        slot[key] = f
    if bad:
        more = f" (and {len(bad) - 5} more)" if len(bad) > 5 else ""
        raise DatasetError(f"malformed RAVDESS file names under {root}:\n  " + "\n  ".join(bad[:5]) + more)
    if not videos and not audios:
        raise DatasetError(f"no RAVDESS files (NN-NN-NN-NN-NN-NN-NN.mp4/.wav) found under {root}")
    samples, unpaired = [], []
    for utt in sorted(set(videos) | set(audios)):
        by_modality = videos.get(utt, {})
        duplicates += len(by_modality) > 1  # both 01 and 02 exist: the same take, counted once
        video = by_modality.get(2, by_modality.get(1))
        audio = audios.get(utt)
        if video is None or (audio is None and 1 not in by_modality):
            unpaired.extend(p for p in (video, audio) if p is not None)
            continue
        name = RavdessName.parse(video.stem)
        if audio is None:  # the 01 mp4 carries the audio itself
            video = by_modality[1]
        samples.append(Sample(utt, video, audio, name.label, name.actor))
    return ScanResult(samples, unpaired, duplicates)


# ----------------------------------------------------------------------------- preprocessing


@dataclass(frozen=True)
class FeatureParams:
    """Everything that changes the cached features; its hash names the cache folder."""

    n_mfcc: int
    seq_length: int
    image_size: int
    face_detector: str = "haar"

    def key(self) -> str:
        blob = json.dumps({"version": CACHE_VERSION, **self.__dict__}, sort_keys=True)
        return f"v{CACHE_VERSION}-" + hashlib.sha1(blob.encode()).hexdigest()[:12]


def cache_file(cache: Path, sample: Sample) -> Path:
    """Per-clip cache path; the suffix changes when a source file is replaced or touched."""
    sig = hashlib.sha1()
    for p in (sample.video, sample.audio):
        if p is not None:
            st = p.stat()
            sig.update(f"{p.name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return cache / f"{sample.utterance}-{sig.hexdigest()[:10]}.npz"


def _init_worker() -> None:
    # One clip per process at a time: intra-op threads would only fight over the same cores.
    torch.set_num_threads(1)
    cv2.setNumThreads(1)


def _preprocess_one(job: tuple[Path, Path | None, Path, FeatureParams]) -> tuple[str | None, float]:
    """Compute and atomically store one clip's features; returns (error or None, video fps)."""
    video, audio, out, params = job
    try:
        fps = probe_video(video).fps
        cropper = make_cropper(params.face_detector, params.image_size)
        window = load_clip_window(video, audio, cropper=cropper, image_size=params.image_size,
                                  seq_length=params.seq_length, n_mfcc=params.n_mfcc)
    except (ValueError, OSError) as exc:  # VideoError/AudioError are ValueErrors
        return str(exc), 0.0
    with atomic_path(out) as tmp, open(tmp, "wb") as f:
        np.savez(f, mfcc=window.mfcc.astype(np.float32), frames=window.frames,
                 faces_missing=np.int64(window.faces_missing))
    return None, fps


@dataclass
class PreprocessReport:
    processed: int
    skipped: int  # already cached
    failed: int = 0  # unreadable, left out and listed in the cache's skipped.json


def preprocess_clips(
    samples: Sequence[Sample],
    cache: Path,
    params: FeatureParams,
    workers: int | None = None,
    input_fps: float | None = 30,
    progress: bool = True,
    strict: bool = False,
) -> PreprocessReport:
    """Cache the features of every sample not cached yet, in parallel worker processes.

    A clip that fails is skipped with a warning naming it and listed (with the reason) in
    ``cache/skipped.json``, so one corrupt file does not stop a large dataset; ``strict`` makes
    failures an error instead, raised after the others were cached (fixing or removing the bad
    files and rerunning only processes what is left).
    """
    cache.mkdir(parents=True, exist_ok=True)
    # Temp files of an interrupted run are never valid cache files. Fresh ones may belong to a
    # concurrent writer (another process filling the same cache), so only old ones are removed.
    for stray in cache.glob(".*.tmp"):
        try:
            if time.time() - stray.stat().st_mtime > STALE_TEMP_SECONDS:
                stray.unlink()
        except FileNotFoundError:  # its writer just finished or cleaned up
            pass
    description = {"version": CACHE_VERSION, **params.__dict__}
    atomic_write_bytes(cache / "params.json", json.dumps(description).encode())
    todo = [(s.video, s.audio, cache_file(cache, s), params) for s in samples]
    todo = [job for job in todo if not job[2].exists()]
    skipped = len(samples) - len(todo)
    workers = max(1, min(workers or os.cpu_count() or 1, len(todo)))
    errors, odd_fps = [], 0
    with tqdm(total=len(todo), desc="preprocess clips", unit="clip", disable=not progress or not todo) as bar:
        if workers == 1:
            results = map(_preprocess_one, todo)
            for job, (error, fps) in zip(todo, results, strict=True):
                errors += [(job, error)] if error else []
                odd_fps += bool(input_fps and not error and abs(fps - input_fps) > 0.5)
                bar.update()
        else:
            with worker_pool(workers, _init_worker) as pool:
                for job, (error, fps) in zip(todo, pool.map(_preprocess_one, todo, chunksize=1), strict=True):
                    errors += [(job, error)] if error else []
                    odd_fps += bool(input_fps and not error and abs(fps - input_fps) > 0.5)
                    bar.update()
    if odd_fps:
        warnings.warn(f"{odd_fps} clips are not {input_fps} fps; frames were picked by their own frame rate",
                      stacklevel=2)
    lines = [f"{job[0]}: {error}" for job, error in errors]
    if errors and strict:
        raise DatasetError(f"{len(errors)} of {len(todo)} clips could not be preprocessed "
                           f"(the others are cached):\n  " + "\n  ".join(lines[:10]))
    report = write_skipped(cache, [
        {"video": str(video), "audio": None if audio is None else str(audio), "cache_file": out.name,
         "reason": error}
        for (video, audio, out, _), error in errors
    ])
    for line in lines:
        warnings.warn(f"skipped unreadable clip (listed in {report}) {line}", stacklevel=2)
    log.info("preprocessed %d clips, %d already cached in %s", len(todo) - len(errors), skipped, cache)
    return PreprocessReport(len(todo) - len(errors), skipped, len(errors))


# ----------------------------------------------------------------------------- dataset and splits


class AudiovisualEmotionDataset(Dataset):
    """Cached clips as ``(audio (n_mfcc, 156) float32, video (3, T, S, S) float32 in [0, 1], label)``.

    With ``augment=True`` each item gets, once per clip (all frames alike), a horizontal flip with
    probability 0.5 and a rotation uniformly in ±10° (OpenDR's training augmentation). Randomness
    comes from torch's generator so DataLoader workers draw different augmentations.

    ``image_size`` is the face-crop side the cache was built at (its ``FeatureParams``): the
    learner compares it with the model's before evaluating or training, because a model fed crops
    of another size still runs (the backbone pools globally) but answers at chance.
    """

    def __init__(self, samples: Sequence[Sample], files: Sequence[Path], augment: bool = False,
                 image_size: int | None = None):
        if len(samples) != len(files):
            raise ValueError("one cache file per sample is required")
        self.samples = list(samples)
        self.files = list(files)
        self.augment = augment
        self.image_size = image_size

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def labels(self) -> list[int]:
        return [s.label for s in self.samples]

    @property
    def actors(self) -> list[int]:
        return sorted({s.actor for s in self.samples})

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        try:
            with np.load(self.files[index]) as data:
                mfcc, frames = data["mfcc"], data["frames"]
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise DatasetError(f"cache file {self.files[index]} is unreadable ({exc}); "
                               "delete it and preprocess again") from exc
        if self.augment:
            frames = augment_frames(frames)
        audio = torch.from_numpy(np.ascontiguousarray(mfcc, dtype=np.float32))
        video = torch.from_numpy(np.ascontiguousarray(frames)).permute(3, 0, 1, 2).float().div_(255.0)
        return audio, video, self.samples[index].label


def augment_frames(frames: np.ndarray, max_angle: float = 10.0) -> np.ndarray:
    """Random flip (p=0.5) and rotation in ±max_angle degrees, the same for all frames of a clip."""
    if torch.rand(()) < 0.5:
        frames = frames[:, :, ::-1]
    angle = float(torch.empty(()).uniform_(-max_angle, max_angle))
    size = frames.shape[1:3]
    m = cv2.getRotationMatrix2D((size[1] / 2, size[0] / 2), angle, 1.0)
    return np.stack([cv2.warpAffine(np.ascontiguousarray(f), m, (size[1], size[0]), flags=cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_CONSTANT, borderValue=0) for f in frames])


def split_actors(
    actors: Sequence[int],
    seed: int = 0,
    val_actors: Sequence[int] | None = None,
    test_actors: Sequence[int] | None = None,
) -> tuple[list[int], list[int], list[int]]:
    """Disjoint (train, val, test) actor lists.

    All 24 actors and no explicit choice: the paper's released split (test 5,10,16,19; val
    11,13,18,22). Otherwise actors not given explicitly are shuffled with ``seed`` and ~1/6 go to
    test, ~1/6 to val (at least one each when there are 3+ actors; with 2 actors val is empty).
    """
    available = sorted(set(actors))
    if val_actors is None and test_actors is None and available == list(range(1, 25)):
        val, test = list(PAPER_VAL_ACTORS), list(PAPER_TEST_ACTORS)
        return [a for a in available if a not in val + test], val, test
    val = sorted(set(val_actors)) if val_actors is not None else None
    test = sorted(set(test_actors)) if test_actors is not None else None
    for label, chosen in (("val_actors", val), ("test_actors", test)):
        if chosen is not None and (missing := set(chosen) - set(available)):
            raise DatasetError(f"{label} {sorted(missing)} not in the dataset (actors: {available})")
    if val is not None and test is not None and set(val) & set(test):
        raise DatasetError(f"val_actors and test_actors overlap: {sorted(set(val) & set(test))}")
    rest = [a for a in available if a not in (val or []) + (test or [])]
    rest = [rest[i] for i in np.random.default_rng(seed).permutation(len(rest))]
    n = len(available)
    share = max(1, round(n / 6))
    if test is None:
        test, rest = sorted(rest[: share if n >= 2 else 0]), rest[share if n >= 2 else 0 :]
    if val is None:
        val, rest = sorted(rest[: share if n >= 3 else 0]), rest[share if n >= 3 else 0 :]
    return sorted(rest), val, test


def split_random(n: int, seed: int = 0) -> tuple[list[int], list[int], list[int]]:
    """Seeded random split of sample indices, ~2/3 train, 1/6 val, 1/6 test (actors may be shared)."""
    order = np.random.default_rng(seed).permutation(n).tolist()
    share = max(1, round(n / 6)) if n >= 3 else 0
    return sorted(order[2 * share :]), sorted(order[share : 2 * share]), sorted(order[:share])


def get_audiovisual_emotion_dataset(
    path: str | os.PathLike[str],
    sr: int = 22050,
    n_mfcc: int = 10,
    preprocess: bool = False,
    target_time: float = 3.6,
    input_fps: float | None = 30,
    save_frames: int = 15,
    target_im_size: int = 224,
    device: str | torch.device = "cpu",
    split: str = "actor",
    seed: int = 0,
    val_actors: Sequence[int] | None = None,
    test_actors: Sequence[int] | None = None,
    workers: int | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    face_detector: str = "haar",
    strict: bool = False,
) -> tuple[AudiovisualEmotionDataset, AudiovisualEmotionDataset, AudiovisualEmotionDataset]:
    """(train, val, test) datasets of a RAVDESS-layout folder (OpenDR-compatible signature).

    ``preprocess=True`` computes missing cache files (in ``workers`` processes, default one per
    core); ``preprocess=False`` requires a complete cache. ``sr`` and ``target_time`` are fixed by
    the model's MFCC geometry and only checked; ``input_fps`` is the expected frame rate (frames
    are always selected by each file's real rate; a mismatch is warned about). ``device`` is
    accepted for OpenDR compatibility; preprocessing runs on the CPU. The cache lives in
    ``cache_dir`` (default ``path/.avemotion_cache``) in a folder named by the parameters.
    ``face_detector`` is ``haar`` or ``mtcnn`` (``modes.FACE_DETECTORS``); train with the one the
    node will run, so the crops it sees look like the crops the model learned from.
    Only the training set is augmented. Clips preprocessing could not read are left out with one
    warning when they are listed in the cache's ``skipped.json``; ``strict=True`` refuses them.
    """
    if sr != SAMPLE_RATE or abs(target_time - WINDOW_SECONDS) > 1e-9:
        raise DatasetError(f"sr={sr}, target_time={target_time}: the model's input geometry (MFCC 10x156) is "
                           f"defined at sr={SAMPLE_RATE} and target_time={WINDOW_SECONDS}")
    if n_mfcc < 1 or save_frames < 1 or target_im_size < 8:
        raise DatasetError(f"invalid n_mfcc={n_mfcc}, save_frames={save_frames} or "
                           f"target_im_size={target_im_size}")
    if split not in ("actor", "random"):
        raise DatasetError(f"split must be 'actor' or 'random', got {split!r}")
    if face_detector not in FACE_DETECTORS:
        raise DatasetError(f"face_detector must be one of {FACE_DETECTORS}, got {face_detector!r}")
    torch.device(device)  # rejects malformed device strings early
    scan = scan_ravdess(path)
    if scan.unpaired:
        warnings.warn(f"{len(scan.unpaired)} RAVDESS files have no partner and are skipped, e.g. "
                      f"{scan.unpaired[0]}", stacklevel=2)
    if not scan.samples:
        raise DatasetError(f"no paired RAVDESS clips (video + audio) under {path}")
    if split == "actor":  # an impossible actor choice fails now, not after preprocessing every clip
        split_actors([s.actor for s in scan.samples], seed, val_actors, test_actors)
    params = FeatureParams(n_mfcc, save_frames, target_im_size, face_detector)
    cache = Path(cache_dir) if cache_dir is not None else Path(path) / ".avemotion_cache"
    cache = cache / params.key()
    if preprocess:
        preprocess_clips(scan.samples, cache, params, workers, input_fps, progress, strict)
    files = [cache_file(cache, s) for s in scan.samples]
    listed = {} if strict else read_skipped(cache)
    left_out = [f for f in files if not f.exists() and f.name in listed]
    if left_out:
        warnings.warn(f"{len(left_out)} of {len(files)} clips are left out: preprocessing could not read "
                      f"them (listed in {cache / 'skipped.json'}), e.g. {listed[left_out[0].name]['video']}",
                      stacklevel=2)
        kept = [k for k, f in enumerate(files) if f not in left_out]
        scan.samples, files = [scan.samples[k] for k in kept], [files[k] for k in kept]
        if not scan.samples:
            raise DatasetError(f"no clip of {path} could be preprocessed (see {cache / 'skipped.json'})")
    missing = [f for f in files if not f.exists()]
    if missing:
        raise DatasetError(f"{len(missing)} of {len(files)} clips are not in the feature cache {cache} "
                           f"(e.g. {missing[0].name}); call with preprocess=True")
    if split == "actor":
        groups = split_actors([s.actor for s in scan.samples], seed, val_actors, test_actors)
        parts = [[i for i, s in enumerate(scan.samples) if s.actor in group] for group in groups]
    else:
        if val_actors is not None or test_actors is not None:
            raise DatasetError("val_actors/test_actors only apply to split='actor'")
        parts = list(split_random(len(scan.samples), seed))
    for name, idx in zip(("validation", "test"), parts[1:], strict=True):
        if not idx:
            warnings.warn(f"the {name} split is empty (too few actors/clips)", stacklevel=2)
    train, val, test = (
        AudiovisualEmotionDataset([scan.samples[i] for i in idx], [files[i] for i in idx], augment=(k == 0),
                                  image_size=target_im_size)
        for k, idx in enumerate(parts)
    )
    log.info("RAVDESS %s: %d train / %d val / %d test clips, %d classes", path, len(train), len(val),
             len(test), len(EMOTIONS))
    return train, val, test
