"""inference_data: windows from real mp4 files (moving astronaut + espeak-ng speech).

The clip carries a time marker in both modalities: frames 120..129 (4.0-4.33 s at 30 fps) are
white and the audio has a loud noise burst at 4.0-4.1 s. A window taken anywhere must see both
markers at the same moment, which is what OpenDR's start-of-clip frames + centre-cropped audio broke.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from media_helpers import moving_astronaut, speech

from avemotion_core.data.inference_data import load_clip_window, load_inference_data
from avemotion_core.faces import FaceCropper
from avemotion_core.media.audio import AudioError
from avemotion_core.media.video import VideoError, write_video

FPS, SR = 30, 22050
HOP_SECONDS = 512 / SR


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("clip")
    voice, sr = speech(tmp)
    assert sr == SR
    track = np.zeros(6 * SR, np.float32)
    track[: min(len(voice), 3 * SR)] = voice[: 3 * SR]
    track[4 * SR : 4 * SR + SR // 10] = 0.9 * np.random.default_rng(0).uniform(-1, 1, SR // 10)
    frames = moving_astronaut(6 * FPS, (180, 240), size=180, step=1)
    for i in range(120, 130):
        frames[i] = np.full_like(frames[i], 255)
    names = {"av": "av.mp4", "mute": "mute.mp4", "wav": "track.wav", "short": "short.mp4"}
    paths = {key: tmp / name for key, name in names.items()}
    write_video(paths["av"], frames, FPS, track, SR)
    write_video(paths["mute"], frames, FPS)
    sf.write(paths["wav"], track, SR)
    write_video(paths["short"], frames[:60], FPS, track[: 2 * SR], SR)
    return paths


@pytest.fixture(scope="module")
def cropper() -> FaceCropper:
    return FaceCropper(size=32)


def _markers(window) -> tuple[int, float]:
    """(slot of the brightest frame, time in the window of the loudest MFCC frame)."""
    slot = int(np.argmax(window.frames.reshape(len(window.frames), -1).mean(axis=1)))
    return slot, float(np.argmax(window.mfcc[0]) * HOP_SECONDS)


@pytest.mark.parametrize(("start", "slot", "marker_time"), [(2.0, 8, 2.0), (1.0, 13, 3.0)])
def test_audio_and_video_come_from_the_same_interval(clip, cropper, start, slot, marker_time):
    w = load_clip_window(clip["av"], start=start, cropper=cropper, image_size=32)
    found_slot, found_time = _markers(w)
    assert found_slot == slot
    assert abs(found_time - marker_time) < 0.1
    assert w.n_frames == 15 and w.faces_missing <= 2  # the white frame has no face


def test_default_window_is_centred_and_faces_are_cropped(clip, cropper):
    w = load_clip_window(clip["av"], cropper=cropper, image_size=32)  # 6 s clip: starts at 1.2 s
    _, found_time = _markers(w)
    assert abs(found_time - 2.8) < 0.1
    assert w.frames.shape == (15, 32, 32, 3) and w.faces_missing <= 2


def test_separate_wav_equals_own_track(clip, cropper):
    own = load_clip_window(clip["av"], start=2.0, cropper=cropper, image_size=32)
    sep = load_clip_window(clip["mute"], clip["wav"], start=2.0, cropper=cropper, image_size=32)
    np.testing.assert_array_equal(own.frames, sep.frames)
    assert np.corrcoef(own.mfcc[0], sep.mfcc[0])[0, 1] > 0.99  # AAC is lossy, timing identical
    assert _markers(sep) == _markers(own)


def test_short_clip_is_padded(clip, cropper):
    w = load_clip_window(clip["short"], cropper=cropper, image_size=32)
    assert w.n_frames == 8  # indices 3..53 exist in 60 frames, 60..103 do not
    assert not w.frames[8:].any() and w.boxes[8:] == [None] * 7
    tail = w.mfcc[:, int(2.2 / HOP_SECONDS) :]
    assert np.ptp(tail, axis=1).max() < 1e-3  # zero-padded audio after 2 s: constant (floor) MFCC


def test_load_inference_data_tensors_and_split(clip, cropper):
    audio, video = load_inference_data(None, clip["av"], cropper=cropper, image_size=32)
    assert audio.shape == (10, 156) and video.shape == (3, 15, 32, 32)
    audio, video = load_inference_data(clip["wav"], clip["mute"], split=True, cropper=cropper, image_size=32)
    assert audio.shape == (2, 10, 156) and video.shape == (2, 3, 15, 32, 32)  # 0-3.6 s, 3.6-6 s
    # The second window starts at 3.6 s: both markers 0.4 s into it.
    brightest = int(video[1].mean(dim=(0, 2, 3)).argmax())
    assert brightest == 2 and abs(float(audio[1, 0].argmax()) * HOP_SECONDS - 0.4) < 0.1
    audio, _ = load_inference_data(None, clip["short"], split=True, cropper=cropper, image_size=32)
    assert audio.shape == (1, 10, 156)


def test_audio_only_input(clip):
    audio, video = load_inference_data(clip["wav"], None, image_size=32)
    assert audio.shape == (10, 156) and video.shape == (3, 15, 32, 32) and not video.any()
    # Centre 3.6 s of the 6 s track starts at 1.2 s: the burst (4.0 s) is 2.8 s in.
    assert abs(float(audio[0].argmax()) * HOP_SECONDS - 2.8) < 0.1
    audio, video = load_inference_data(clip["wav"], None, split=True, image_size=32)
    assert audio.shape == (2, 10, 156) and video.shape == (2, 3, 15, 32, 32)
    assert abs(float(audio[1, 0].argmax()) * HOP_SECONDS - 0.4) < 0.1
    with pytest.raises(ValueError, match="audio_path, video_path or both"):
        load_inference_data(None, None)


def test_bad_inputs_raise(clip, cropper, tmp_path):
    # missing / unreadable / audio-only files: test_video.test_bad_files_raise_clear_errors
    with pytest.raises(AudioError, match="no audio stream"):
        load_clip_window(clip["mute"], cropper=cropper, image_size=32)
    with pytest.raises(VideoError, match="outside the clip"):
        load_clip_window(clip["av"], start=6.5, cropper=cropper, image_size=32)
    sf.write(tmp_path / "one_second.wav", np.zeros(SR, np.float32), SR)
    with pytest.raises(AudioError, match="ends before the window"):
        load_clip_window(clip["mute"], tmp_path / "one_second.wav", start=3.0, cropper=cropper, image_size=32)


def test_learner_reads_clips_at_the_models_crop_size_with_opendr_keywords(clip):
    """OpenDR's signature, with the crop size, frame count and audio geometry taken from the model."""
    from avemotion_core.learner import AudiovisualEmotionLearner

    learner = AudiovisualEmotionLearner(image_size=32)
    audio, video = learner.load_inference_data(clip["wav"], clip["mute"], 3.6, 22050, 30, 15)
    assert audio.shape == (10, 156) and video.shape == (3, 15, 32, 32)
    same = learner.load_inference_data(clip["wav"], clip["mute"], target_time=3.6, sr=22050, input_fps=30,
                                       save_frames=15, target_im_size=32)
    assert all(np.array_equal(x, y) for x, y in zip((audio, video), same, strict=True))
    for kwargs, match in (
        (dict(target_im_size=224), "model takes 32 px"),
        (dict(image_size=64), "model takes 32 px"),
        (dict(target_im_size=32, image_size=64), "disagree"),
        (dict(save_frames=10), "takes 15 frames"),
        (dict(sr=16000), "input geometry"),
        (dict(target_time=3.0), "input geometry"),
    ):
        with pytest.raises(ValueError, match=match):
            learner.load_inference_data(clip["wav"], clip["mute"], **kwargs)
    with pytest.warns(UserWarning, match="is 30.00 fps, not 25"):
        learner.load_inference_data(clip["wav"], clip["mute"], input_fps=25)


def test_onlyvideo_needs_no_audio(clip):
    """A silent video can be classified from its faces alone; other modes name what is missing."""
    from avemotion_core.learner import AudiovisualEmotionLearner

    learner = AudiovisualEmotionLearner(image_size=32)
    audio, video = learner.load_inference_data(None, clip["mute"], split=True, mode="onlyvideo")
    assert video.shape == (2, 3, 15, 32, 32) and audio.shape == (2, 10, 156)
    assert torch.equal(audio, audio[:1].expand_as(audio))  # silence: every window's MFCC the same
    with pytest.raises(AudioError, match="no audio stream: give its audio file separately"):
        learner.load_inference_data(None, clip["mute"], split=True)


def test_only_the_audio_under_the_windows_is_decoded(clip, cropper, tmp_path):
    """A long recording beside a short video: the part past the windows is never decoded.

    The wav goes on past the end of the video's last window (7.2 s) with a minute of NaN:
    load_audio rejects NaN, so decoding that part at all fails. The windows must equal those
    from the clean track.
    """
    track, sr = sf.read(clip["wav"], dtype="float32")
    silence, tail = np.zeros(2 * SR, np.float32), np.full(60 * SR, np.nan, np.float32)
    sf.write(tmp_path / "long.wav", np.concatenate([track, silence, tail]), sr, subtype="FLOAT")
    clean = load_inference_data(clip["wav"], clip["mute"], split=True, cropper=cropper, image_size=32)
    long = load_inference_data(tmp_path / "long.wav", clip["mute"], split=True, cropper=cropper,
                               image_size=32)
    np.testing.assert_allclose(long[0], clean[0], atol=1e-4)
    centre = load_clip_window(clip["mute"], tmp_path / "long.wav", cropper=cropper, image_size=32)
    reference = load_clip_window(clip["mute"], clip["wav"], cropper=cropper, image_size=32)
    np.testing.assert_allclose(centre.mfcc, reference.mfcc, atol=1e-3)
