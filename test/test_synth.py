"""Synthetic RAVDESS generator: exact layout and naming, determinism, emotion-dependent prosody."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

from avemotion_core.data import synth
from avemotion_core.media.audio import load_audio
from avemotion_core.media.video import probe_video, read_frames

REPO = Path(__file__).resolve().parents[1]
EMOTIONS = "neutral,sad,surprised"  # codes 01, 04, 08


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    """Two actors x three emotions x one statement, through the command line with two workers."""
    out = tmp_path_factory.mktemp("ravdess")
    cmd = [sys.executable, "-m", "avemotion_core.data.synth", str(out), "--actors", "2",
           "--emotions", EMOTIONS,
           "--statements", "1", "--repetitions", "1", "--seed", "0", "--workers", "2"]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return out


def test_layout_and_names_match_ravdess(generated: Path) -> None:
    expected = set()
    for actor in (1, 2):
        for emotion in (1, 4, 8):
            stem = f"01-{emotion:02d}-01-01-01-{actor:02d}"
            expected |= {f"Actor_{actor:02d}/02-{stem}.mp4", f"Actor_{actor:02d}/03-{stem}.wav"}
    found = {str(p.relative_to(generated)) for p in generated.rglob("*") if p.is_file()}
    assert found == expected  # nothing else either: no temp files left behind


def test_media_formats_match_ravdess(generated: Path) -> None:
    for wav in generated.rglob("03-*.wav"):
        info = sf.info(wav)
        assert (info.samplerate, info.channels, info.subtype, info.format) == (48000, 1, "PCM_16", "WAV")
        video = wav.with_name("02" + wav.name[2:]).with_suffix(".mp4")
        vinfo = probe_video(video)
        assert vinfo.fps == pytest.approx(30.0)
        assert 3.5 - 1e-6 <= vinfo.duration <= 4.0 + 1e-6
        assert not vinfo.has_audio  # modality 02 is video-only
        assert info.frames / info.samplerate == pytest.approx(vinfo.n_frames / 30, abs=1e-3)
        with av.open(str(video)) as container:
            assert container.streams.video[0].codec_context.name == "h264"


def test_plan_follows_ravdess_design() -> None:
    clips = synth.plan_clips(actors=2, emotions="all", statements=2, repetitions=2, intensities=2)
    # per actor: neutral 2 statements x 2 repetitions (normal only) + 7 emotions x 2 x 2 x 2 = 60 trials
    assert len(clips) == 2 * 60
    assert not [c for c in clips if c.emotion == 1 and c.intensity == 2]
    assert synth.ClipSpec(3, 2, 1, 2, 11).name(2) == "02-01-03-02-01-02-11"
    assert synth.ClipSpec(3, 2, 1, 2, 11).actor_dir == "Actor_11"
    assert synth.parse_emotions("happy,4") == [3, 4]


def test_odd_actors_male_even_female_voices() -> None:
    assert all("+m" in synth._voice(a) for a in range(1, 25, 2))
    assert all("+f" in synth._voice(a) for a in range(2, 25, 2))


@pytest.mark.parametrize("kwargs", [{"actors": 25}, {"actors": 0}, {"emotions": "joy"}, {"statements": 3},
                                    {"repetitions": 0}])
def test_bad_arguments_are_clear_errors(kwargs) -> None:
    with pytest.raises(synth.SynthError):
        synth.plan_clips(**kwargs)


def test_deterministic_and_independent_of_workers(generated: Path, tmp_path: Path) -> None:
    """In-process, one worker: byte-identical wav and identical frames to the 2-worker CLI run."""
    clip = synth.ClipSpec(emotion=4, intensity=1, statement=1, repetition=1, actor=2)
    synth.generate_clip(clip, tmp_path, seed=0)
    for modality, ext in ((3, "wav"), (2, "mp4")):
        rel = f"Actor_02/{clip.name(modality)}.{ext}"
        if ext == "wav":
            assert (tmp_path / rel).read_bytes() == (generated / rel).read_bytes()
        else:
            idx = list(range(0, probe_video(generated / rel).n_frames, 9))
            a, b = read_frames(tmp_path / rel, idx), read_frames(generated / rel, idx)
            assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    other = tmp_path / "seed1"
    synth.generate_clip(clip, other, seed=1)
    wav = f"Actor_02/{clip.name(3)}.wav"
    assert (other / wav).read_bytes() != (tmp_path / wav).read_bytes()


def median_f0(x: np.ndarray, sr: int) -> float:
    """Median F0 (Hz) of voiced 40 ms frames by normalised autocorrelation (60-400 Hz)."""
    n = int(0.04 * sr)
    frames = [x[i : i + n] for i in range(0, len(x) - n, n // 2)]
    loud = max(float(np.sum(f**2)) for f in frames)
    lo, hi = int(sr / 400), int(sr / 60)
    f0s = []
    for f in frames:
        f = f - f.mean()
        energy = float(np.sum(f**2))
        if energy < 0.1 * loud:
            continue
        ac = np.correlate(f, f, "full")[n - 1 :] / energy
        lag = lo + int(np.argmax(ac[lo:hi]))
        if ac[lag] > 0.5:
            f0s.append(sr / lag)
    assert len(f0s) > 5, "too few voiced frames"
    return float(np.median(f0s))


def test_prosody_differs_between_emotions(generated: Path) -> None:
    sr = 16000
    for actor in (1, 2):
        folder = generated / f"Actor_{actor:02d}"
        speech = {e: load_audio(folder / f"03-01-{e:02d}-01-01-01-{actor:02d}.wav", sr) for e in (1, 4, 8)}
        f0 = {e: median_f0(x, sr) for e, x in speech.items()}
        rms = {e: float(np.sqrt(np.mean(x**2))) for e, x in speech.items()}
        # sad: low and quiet; surprised: high and loud; neutral in between.
        assert f0[4] * 1.15 < f0[1] and f0[1] * 1.15 < f0[8], f0
        assert rms[4] * 1.3 < rms[1] and rms[1] * 1.2 < rms[8], rms


def test_video_differs_between_emotions(generated: Path) -> None:
    """The face's colour/motion carries the emotion: mean frames of two emotions differ clearly."""
    folder = generated / "Actor_01"
    means = {}
    for e in (4, 8):
        path = folder / f"02-01-{e:02d}-01-01-01-01.mp4"
        frames = np.stack(read_frames(path, list(range(3, 104, 7)))).astype(np.float32)
        means[e] = frames.mean(axis=0)
    assert np.abs(means[4] - means[8]).mean() > 5.0


@pytest.mark.parametrize("size", [(321, 240), (32, 32)])
def test_bad_frame_size_is_a_clear_error(size, tmp_path: Path) -> None:
    with pytest.raises(synth.SynthError, match="frame size"):
        synth.generate_dataset(tmp_path, actors=1, emotions="neutral", statements=1, frame_size=size)


def test_missing_speech_tools_give_a_clear_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty PATH: no espeak-ng, no sox
    with pytest.raises(synth.SynthError, match="apt-get install espeak-ng sox"):
        synth.generate_dataset(tmp_path / "out", actors=1, emotions="neutral", statements=1, progress=False)
    assert synth.main([str(tmp_path / "out"), "--actors", "1"]) == 2
    assert not (tmp_path / "out").exists() or not os.listdir(tmp_path / "out")
