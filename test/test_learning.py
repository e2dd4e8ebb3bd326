"""The learner really learns: the label is carried by the audio only, the video only, or both.

An informative modality holds a class-specific pattern in noise (two raised MFCC rows; a colour
tint or darkening of the frames); an uninformative one is noise with the same range. Trained
with ``zerodrop``, the model must beat chance clearly on held-out samples, and the ``onlyaudio``
/ ``onlyvideo`` eval modes must follow the modality that carries the label.

Kept small for CPU CI: 32x32 frames, 2 frames per clip, 4 classes, one intra-op thread (the
model is many small ops, where threads only add overhead). Batch size 2 gives BatchNorm's
running statistics enough updates to settle within the short run.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from torch.utils.data import TensorDataset

from avemotion_core.learner import AudiovisualEmotionLearner

NUM_CLASS = 4
SIZE = 32
FRAMES = 2
CHANCE = 1 / NUM_CLASS


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _make(n: int, audio_informative: bool, video_informative: bool, seed: int) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % NUM_CLASS
    audio = torch.randn(n, 10, 156, generator=g)
    video = torch.rand(n, 3, FRAMES, SIZE, SIZE, generator=g) * 0.6
    for i, k in enumerate(labels.tolist()):
        if audio_informative:  # like a pitch/energy change: two coefficients raised all window long
            audio[i, 2 * k : 2 * k + 2] += 1.5
        if video_informative:  # like a lighting/colour change of the face: a tint, or darker
            if k < 3:
                video[i, k] += 0.4
            else:
                video[i] *= 0.5
    return TensorDataset(audio, video, labels)


@pytest.mark.parametrize(
    "audio_inf,video_inf",
    [(True, False), (False, True), (True, True)],
    ids=["audio-carries-label", "video-carries-label", "both-carry-label"],
)
def test_fit_learns_from_the_informative_modality(audio_inf: bool, video_inf: bool, tmp_path) -> None:
    train = _make(32, audio_inf, video_inf, seed=1)
    test = _make(32, audio_inf, video_inf, seed=2)
    learner = AudiovisualEmotionLearner(
        num_class=NUM_CLASS,
        seq_length=FRAMES,
        fusion="ia",
        mod_drop="zerodrop",
        lr=0.01,
        lr_steps=[100],
        iters=8,
        batch_size=2,
        n_workers=0,
        seed=0,
        image_size=SIZE,
        # the same weights either way (test_train_memory.py: equal gradients), a third less time here
        checkpoint_frames=False,
    )
    hist = learner.fit(train, logging_path=str(tmp_path), silent=True)
    assert hist["train_loss"][-1] < hist["train_loss"][0]

    modes = ("audiovisual", "onlyaudio", "onlyvideo")
    acc = {mode: learner.eval(test, silent=True, mode=mode)["acc"] for mode in modes}
    assert acc["audiovisual"] >= 0.6, acc
    for informative, mode in ((audio_inf, "onlyaudio"), (video_inf, "onlyvideo")):
        if informative:
            assert acc[mode] >= 0.6, acc
        else:
            assert acc[mode] <= CHANCE + 0.2, acc
