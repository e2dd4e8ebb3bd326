"""RAVDESS dataset: name parsing and pairing, splits, the resumable feature cache, item tensors."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from avemotion_core.data import dataset as ds
from avemotion_core.data.inference_data import load_clip_window
from avemotion_core.data.synth import generate_dataset

SIZE = 64  # small crops keep the test fast; the cache is keyed by it


def touch(root: Path, *names: str) -> None:
    for name in names:
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"")


# ----------------------------------------------------------------------------- names and pairing


def test_parse_name_fields_and_label() -> None:
    name = ds.RavdessName.parse("02-01-06-02-01-02-12")
    assert (name.modality, name.emotion, name.intensity, name.statement, name.repetition, name.actor) == (
        2, 6, 2, 1, 2, 12)
    assert name.label == 5  # fearful
    assert name.utterance == "01-06-02-01-02-12"


@pytest.mark.parametrize("stem", ["02-01-06-02-01-02", "02-01-09-01-01-01-01", "04-01-01-01-01-01-01",
                                  "02-01-01-01-01-01-25", "2-1-1-1-1-1-1", "video"])
def test_malformed_names_are_rejected(stem: str) -> None:
    with pytest.raises(ds.DatasetError):
        ds.RavdessName.parse(stem)


def test_scan_counts_each_utterance_once_and_reports_unpaired(tmp_path: Path) -> None:
    touch(tmp_path,
          "Actor_01/01-01-03-01-01-01-01.mp4", "Actor_01/02-01-03-01-01-01-01.mp4",
          "Actor_01/03-01-03-01-01-01-01.wav",  # AV + video-only + audio: one sample
          "Actor_01/01-01-05-01-01-01-01.mp4",  # AV alone: one sample, audio from its own track
          "Actor_01/02-01-04-01-01-01-01.mp4",  # video without audio: unpaired
          "Actor_02/03-01-02-01-02-01-02.wav",  # audio without video: unpaired
          "Actor_02/.tmp_abc.mp4")  # a writer's temp file: ignored
    scan = ds.scan_ravdess(tmp_path)
    found = [(s.utterance, s.video.name, s.audio.name if s.audio else None, s.label) for s in scan.samples]
    assert found == [
        ("01-03-01-01-01-01", "02-01-03-01-01-01-01.mp4", "03-01-03-01-01-01-01.wav", 2),
        ("01-05-01-01-01-01", "01-01-05-01-01-01-01.mp4", None, 4),
    ]
    assert sorted(p.name for p in scan.unpaired) == ["02-01-04-01-01-01-01.mp4", "03-01-02-01-02-01-02.wav"]
    assert scan.duplicates == 1


def test_scan_errors(tmp_path: Path) -> None:
    with pytest.raises(ds.DatasetError, match="does not exist"):
        ds.scan_ravdess(tmp_path / "nope")
    touch(tmp_path, "file.txt")
    with pytest.raises(ds.DatasetError, match="not a directory"):
        ds.scan_ravdess(tmp_path / "file.txt")
    with pytest.raises(ds.DatasetError, match="no RAVDESS files"):
        ds.scan_ravdess(tmp_path)
    touch(tmp_path, "Actor_01/02-01-03-01-01-01-01.mp4", "Actor_01/03-01-03-01-01-01-01.wav",
          "Actor_01/clip.mp4", "Actor_01/02-01-03-01-01-01-01.wav")
    with pytest.raises(ds.DatasetError) as err:
        ds.scan_ravdess(tmp_path)
    assert "clip.mp4" in str(err.value) and "modality 02 is not a .wav" in str(err.value)


def test_get_dataset_bad_inputs(tmp_path: Path) -> None:
    with pytest.raises(ds.DatasetError, match="does not exist"):
        ds.get_audiovisual_emotion_dataset(tmp_path / "missing")
    touch(tmp_path, "Actor_01/03-01-03-01-01-01-01.wav")
    with pytest.raises(ds.DatasetError, match="no paired"), pytest.warns(UserWarning, match="no partner"):
        ds.get_audiovisual_emotion_dataset(tmp_path)
    for kwargs in ({"sr": 16000}, {"target_time": 2.0}, {"split": "speaker"}, {"target_im_size": 0}):
        with pytest.raises(ds.DatasetError):
            ds.get_audiovisual_emotion_dataset(tmp_path, **kwargs)


# ----------------------------------------------------------------------------- splits


def test_paper_split_when_all_24_actors() -> None:
    train, val, test = ds.split_actors(range(1, 25))
    assert test == [5, 10, 16, 19] and val == [11, 13, 18, 22] and len(train) == 16


@pytest.mark.parametrize("n", [3, 4, 7, 12, 24])
def test_seeded_actor_split_is_disjoint_and_reproducible(n: int) -> None:
    actors = list(range(1, n + 1))
    if n == 24:  # explicit choice overrides the paper split; the rest is shuffled
        train, val, test = ds.split_actors(actors, seed=3, test_actors=[1, 2])
        assert test == [1, 2]
    else:
        train, val, test = ds.split_actors(actors, seed=3)
        assert len(val) == len(test) == max(1, round(n / 6))
    assert not (set(train) & set(val) or set(train) & set(test) or set(val) & set(test))
    assert sorted(train + val + test) == actors
    assert (train, val, test) == ds.split_actors(actors, seed=3, test_actors=[1, 2] if n == 24 else None)


def test_actor_split_errors() -> None:
    with pytest.raises(ds.DatasetError, match="overlap"):
        ds.split_actors([1, 2, 3, 4], val_actors=[1], test_actors=[1])
    with pytest.raises(ds.DatasetError, match="not in the dataset"):
        ds.split_actors([1, 2, 3, 4], test_actors=[9])


def test_random_split_covers_everything_once() -> None:
    train, val, test = ds.split_random(30, seed=1)
    assert sorted(train + val + test) == list(range(30))
    assert len(val) == len(test) == 5
    assert (train, val, test) == ds.split_random(30, seed=1) != ds.split_random(30, seed=2)


def test_augmentation_is_per_clip_flip_and_rotation() -> None:
    frames = np.zeros((15, 32, 32, 3), np.uint8)
    frames[:, 10:22, 2:8] = 255  # a bar on the left
    torch.manual_seed(0)
    outs = [ds.augment_frames(frames) for _ in range(40)]
    assert all(o.shape == frames.shape and o.dtype == np.uint8 for o in outs)
    assert all(all(np.array_equal(o[0], o[k]) for k in range(15)) for o in outs)  # same for all frames
    flipped = [o[:, :, 16:].sum() > o[:, :, :16].sum() for o in outs]
    assert 8 <= sum(flipped) <= 32
    assert len({o.tobytes() for o in outs}) > 30  # rotation angle varies


# ----------------------------------------------------------------------------- real clips and the cache


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """3 actors x 2 emotions x 1 statement of real synthetic clips, preprocessed once (2 workers)."""
    root = tmp_path_factory.mktemp("ravdess")
    generate_dataset(root, actors=3, emotions="neutral,angry", statements=1, progress=False)
    ds.get_audiovisual_emotion_dataset(root, preprocess=True, target_im_size=SIZE, workers=2, progress=False)
    return root


def cache_dir(root: Path) -> Path:
    return root / ".avemotion_cache" / ds.FeatureParams(10, 15, SIZE).key()


def test_items_splits_and_shared_features(corpus: Path) -> None:
    train, val, test = ds.get_audiovisual_emotion_dataset(corpus, target_im_size=SIZE, seed=0)
    assert len(train) + len(val) + len(test) == 6
    assert len(train.actors) == len(val.actors) == len(test.actors) == 1
    assert len(set(train.actors) | set(val.actors) | set(test.actors)) == 3  # no actor in two splits
    assert train.augment and not val.augment and not test.augment
    audio, video, label = test[0]
    assert audio.shape == (10, 156) and audio.dtype == torch.float32
    assert video.shape == (3, 15, SIZE, SIZE) and video.dtype == torch.float32
    assert 0.0 <= float(video.min()) and float(video.max()) <= 1.0 and float(video.max()) > 0.2
    assert isinstance(label, int) and label in (0, 4)
    # the cache holds exactly what the shared inference path computes for that clip
    sample = test.samples[0]
    window = load_clip_window(sample.video, sample.audio, image_size=SIZE)
    assert np.array_equal(audio.numpy(), window.mfcc)
    assert torch.equal(video, window.to_tensors()[1])


def test_cache_is_reused_and_resumes_after_interruption(corpus: Path) -> None:
    cache = cache_dir(corpus)
    files = sorted(cache.glob("*.npz"))
    assert len(files) == 6 and not list(cache.glob(".*"))  # complete files only, no temp leftovers
    before = {f: f.stat().st_mtime_ns for f in files}
    samples = ds.scan_ravdess(corpus).samples
    params = ds.FeatureParams(10, 15, SIZE)
    assert ds.preprocess_clips(samples, cache, params, workers=1, progress=False) == ds.PreprocessReport(0, 6)
    # interrupted run: one clip never written, a temp file of a half-written one left behind
    lost = files[2]
    original = dict(np.load(lost))
    lost.unlink()
    stray = cache / f".{files[3].name}.abc123.tmp"
    stray.write_bytes(b"half")
    fresh = cache / f".{files[4].name}.def456.tmp"  # possibly a concurrent writer's: kept
    fresh.write_bytes(b"half")
    old = time.time() - 2 * ds.STALE_TEMP_SECONDS
    os.utime(stray, (old, old))
    with pytest.raises(ds.DatasetError, match="preprocess=True"):
        ds.get_audiovisual_emotion_dataset(corpus, target_im_size=SIZE)
    assert ds.preprocess_clips(samples, cache, params, workers=1, progress=False) == ds.PreprocessReport(1, 5)
    assert not stray.exists() and fresh.exists()
    fresh.unlink()
    assert all(f.stat().st_mtime_ns == t for f, t in before.items() if f != lost)
    redone = dict(np.load(lost))
    assert all(np.array_equal(original[k], redone[k]) for k in original)  # deterministic features


def test_cache_keys_follow_parameters_and_sources(corpus: Path, tmp_path: Path) -> None:
    assert ds.FeatureParams(10, 15, SIZE).key() != ds.FeatureParams(10, 15, SIZE * 2).key()
    with pytest.raises(ds.DatasetError, match="not in the feature cache"):
        ds.get_audiovisual_emotion_dataset(corpus, target_im_size=SIZE * 2)
    copy = tmp_path / "copy"
    shutil.copytree(corpus / "Actor_01", copy / "Actor_01")
    sample = ds.scan_ravdess(copy).samples[0]
    key = ds.cache_file(tmp_path, sample)
    sample.audio.write_bytes(sample.audio.read_bytes())  # replaced source -> new cache file name
    assert ds.cache_file(tmp_path, sample) != key


def test_mtcnn_crops_have_their_own_cache_and_find_the_faces(corpus: Path, tmp_path: Path) -> None:
    haar = ds.FeatureParams(10, 15, SIZE)
    mtcnn = ds.FeatureParams(10, 15, SIZE, "mtcnn")
    assert haar.key() != mtcnn.key()
    train, val, test = ds.get_audiovisual_emotion_dataset(corpus, preprocess=True, target_im_size=SIZE,
                                                          workers=1, progress=False, cache_dir=tmp_path,
                                                          face_detector="mtcnn")
    assert {f.parent.name for d in (train, val, test) for f in d.files} == {mtcnn.key()}
    assert all(int(np.load(f)["faces_missing"]) == 0 for d in (train, val, test) for f in d.files)
    with pytest.raises(ds.DatasetError, match="face_detector"):
        ds.get_audiovisual_emotion_dataset(corpus, target_im_size=SIZE, face_detector="retinaface")


def test_corrupt_cache_file_is_a_clear_error(corpus: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    shutil.copytree(cache_dir(corpus), cache / ds.FeatureParams(10, 15, SIZE).key())
    victim = sorted((cache / ds.FeatureParams(10, 15, SIZE).key()).glob("*.npz"))[0]
    victim.write_bytes(victim.read_bytes()[:100])
    datasets = ds.get_audiovisual_emotion_dataset(corpus, target_im_size=SIZE, cache_dir=cache)
    [(broken, index)] = [(d, i) for d in datasets for i, f in enumerate(d.files) if f.name == victim.name]
    with pytest.raises(ds.DatasetError, match="unreadable"):
        broken[index]


def test_random_split_and_av_only_clip(corpus: Path, tmp_path: Path) -> None:
    train, val, test = ds.get_audiovisual_emotion_dataset(corpus, target_im_size=SIZE, split="random", seed=0)
    assert (len(train), len(val), len(test)) == (4, 1, 1)
    # an utterance present only as a modality-01 mp4 is read with its own audio track
    root = tmp_path / "av"
    generate_dataset(root, actors=[2], emotions="angry", statements=1, write_av=True, progress=False)
    for f in root.rglob("0[23]-*"):
        f.unlink()
    with pytest.warns(UserWarning, match="empty"):
        train, val, test = ds.get_audiovisual_emotion_dataset(root, preprocess=True, target_im_size=SIZE,
                                                              workers=1, progress=False)
    assert len(train) == 1 and train.samples[0].audio is None
    audio, video, label = train[0]
    assert label == 4 and float(audio.abs().sum()) > 0 and video.shape == (3, 15, SIZE, SIZE)
