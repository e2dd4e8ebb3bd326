"""audio.py on real speech (espeak-ng) and real containers (mp4 written by write_video)."""

from __future__ import annotations

from fractions import Fraction

import av
import librosa
import numpy as np
import pytest
import soundfile as sf
from media_helpers import moving_astronaut, speech

from avemotion_core.labels import MFCC_FRAMES, WINDOW_SAMPLES
from avemotion_core.media import audio
from avemotion_core.media.video import write_video


@pytest.fixture(scope="module")
def voice(tmp_path_factory) -> tuple[np.ndarray, int]:
    return speech(tmp_path_factory.mktemp("speech"))


def test_mfcc_matches_librosa_on_speech_noise_and_silence(voice):
    """Reference: librosa on float64 input, where its FFT adds no rounding worth the name.

    librosa on float32 input (what OpenDR feeds it) is also checked, with a tolerance for the
    float32 FFT: its error is relative to a frame's loudest bin and grows through the log for
    bins near the 80 dB floor; on one CI machine it reached 0.026 on c0 (values around -400).
    """
    x, sr = voice
    assert sr == 22050
    rng = np.random.default_rng(0)
    signals = [
        audio.fit_length(x, WINDOW_SAMPLES),
        (0.1 * rng.standard_normal(WINDOW_SAMPLES)).astype(np.float32),
        np.zeros(WINDOW_SAMPLES, np.float32),
        x[:30000],  # other lengths too
    ]
    for s in signals:
        ours = audio.mfcc(s, 22050, 10)
        ref = librosa.feature.mfcc(y=s.astype(np.float64), sr=22050, n_mfcc=10)
        assert ours.dtype == np.float32 and ours.shape == ref.shape
        np.testing.assert_allclose(ours, ref, rtol=0, atol=2.5e-4)
        np.testing.assert_allclose(ours, librosa.feature.mfcc(y=s, sr=22050, n_mfcc=10), rtol=0, atol=0.1)
    assert audio.mfcc(signals[0]).shape == (10, MFCC_FRAMES)
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(audio.mfcc(x, 22050, 20), librosa.feature.mfcc(y=x64, sr=22050, n_mfcc=20),
                               rtol=0, atol=2.5e-4)
    x16 = librosa.resample(x, orig_sr=22050, target_sr=16000)  # another rate: its own mel filterbank
    ref16 = librosa.feature.mfcc(y=x16.astype(np.float64), sr=16000, n_mfcc=10)
    np.testing.assert_allclose(audio.mfcc(x16, 16000), ref16, rtol=0, atol=2.5e-4)


def test_load_wav_equals_file_and_resamples(voice, tmp_path):
    x, sr = voice
    sf.write(tmp_path / "v.wav", x, sr)
    np.testing.assert_allclose(audio.load_audio(tmp_path / "v.wav"), x, atol=1e-4)  # int16 quantisation
    y = audio.load_audio(tmp_path / "v.wav", sr=16000)
    assert y.dtype == np.float32 and abs(len(y) - round(len(x) * 16000 / 22050)) <= 1
    # Same speech content at the new rate: compare against librosa's own resampler (soxr).
    ref = librosa.resample(x, orig_sr=22050, target_sr=16000)
    n = min(len(ref), len(y))
    assert np.corrcoef(ref[:n], y[:n])[0, 1] > 0.99


def test_stereo_flac_is_mixed_to_mono(voice, tmp_path):
    x, sr = voice
    sf.write(tmp_path / "s.flac", np.stack([x, np.zeros_like(x)], axis=1), sr)
    np.testing.assert_allclose(audio.load_audio(tmp_path / "s.flac"), x / 2, atol=1e-4)


def test_resample_keeps_frequency_and_level():
    t = np.arange(16000) / 16000
    x = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    y = audio.resample(x, 16000, 22050)
    assert len(y) == 22050
    spectrum = np.abs(np.fft.rfft(y[1000:-1000] * np.hanning(len(y) - 2000)))
    peak_hz = np.argmax(spectrum) * 22050 / (len(y) - 2000)
    assert abs(peak_hz - 440) < 2
    assert abs(np.abs(y[1000:-1000]).max() - 0.5) < 0.01
    np.testing.assert_array_equal(audio.resample(x, 16000, 16000), x)


def test_fit_length_pads_crops_and_keeps_exact():
    x = np.arange(10, dtype=np.float32) + 1
    np.testing.assert_array_equal(audio.fit_length(x, 12), np.r_[x, 0, 0])
    np.testing.assert_array_equal(audio.fit_length(x, 6), x[2:8])
    np.testing.assert_array_equal(audio.fit_length(x, 10), x)  # OpenDR returned [] here


def test_mp4_audio_track_is_decoded_and_time_aligned(tmp_path):
    sr = 22050
    a = np.zeros(2 * sr, np.float32)
    a[sr : sr + 300] = 0.8  # a click at exactly 1.0 s
    write_video(tmp_path / "c.mp4", moving_astronaut(50, (64, 64), 48), 25, a, sr)
    y = audio.load_audio(tmp_path / "c.mp4")
    assert abs(len(y) - len(a)) < 2048  # AAC pads its last frame
    onset = int(np.argmax(np.abs(y) > 0.3))
    assert abs(onset - sr) <= 32
    y16 = audio.load_audio(tmp_path / "c.mp4", sr=16000)
    assert abs(int(np.argmax(np.abs(y16) > 0.3)) - 16000) <= 32


def test_audio_stream_starting_late_is_shifted_to_video_time(tmp_path):
    """An audio track that starts 0.5 s after the first video frame keeps its place in time."""
    sr = 22050
    a = np.zeros(2 * sr, np.float32)
    a[sr : sr + 300] = 0.8  # 1.0 s into the audio stream = 1.5 s into the video
    with av.open(str(tmp_path / "late.mp4"), "w", format="mp4") as out:
        vs = out.add_stream("libx264", rate=25)
        vs.width, vs.height, vs.pix_fmt = 64, 64, "yuv420p"
        ast = out.add_stream("aac", rate=sr)
        ast.layout = "mono"
        for i in range(75):
            vf = av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), format="rgb24")
            vf.pts = i
            out.mux(vs.encode(vf))
        out.mux(vs.encode(None))
        af = av.AudioFrame.from_ndarray(a[None], format="flt", layout="mono")
        af.sample_rate, af.pts, af.time_base = sr, sr // 2, Fraction(1, sr)
        out.mux(ast.encode(af))
        out.mux(ast.encode(None))
    y = audio.load_audio(tmp_path / "late.mp4")
    assert not np.any(np.abs(y[: sr // 3]) > 0.01)  # silence before the stream starts
    assert abs(int(np.argmax(np.abs(y) > 0.3)) - int(1.5 * sr)) <= 32


def test_bad_inputs_raise_clear_errors(tmp_path):
    with pytest.raises(audio.AudioError, match="not found"):
        audio.load_audio(tmp_path / "missing.wav")
    (tmp_path / "junk.wav").write_text("not audio at all")
    with pytest.raises(audio.AudioError, match="cannot open"):
        audio.load_audio(tmp_path / "junk.wav")
    write_video(tmp_path / "silent.mp4", moving_astronaut(5, (64, 64), 48), 25)
    with pytest.raises(audio.AudioError, match="no audio stream"):
        audio.load_audio(tmp_path / "silent.mp4")
    sf.write(tmp_path / "empty.wav", np.zeros(0, np.float32), 22050)
    with pytest.raises(audio.AudioError, match="zero samples"):
        audio.load_audio(tmp_path / "empty.wav")
    bad = np.zeros(1000, np.float32)
    bad[10] = np.nan
    sf.write(tmp_path / "nan.wav", bad, 22050, subtype="FLOAT")
    with pytest.raises(audio.AudioError, match="NaN"):
        audio.load_audio(tmp_path / "nan.wav")
    bad[10] = np.inf
    with pytest.raises(audio.AudioError, match="NaN or inf"):
        audio.mfcc(bad)
    with pytest.raises(audio.AudioError, match="1-D"):
        audio.mfcc(np.zeros((2, 1000), np.float32))
    with pytest.raises(audio.AudioError, match="empty"):
        audio.mfcc(np.zeros(0, np.float32))
    with pytest.raises(audio.AudioError, match="floating point"):
        audio.mfcc(np.zeros(1000, np.int16))
    with pytest.raises(audio.AudioError, match="positive"):
        audio.resample(np.zeros(100, np.float32), 0, 22050)
    with pytest.raises(audio.AudioError, match="positive"):
        audio.fit_length(np.zeros(3, np.float32), 0)


@pytest.mark.parametrize("container", ["wav", "mp4"])
def test_a_span_equals_the_same_samples_of_the_whole_file(voice, tmp_path, container):
    """start/duration decode only a span, and give what slicing the fully decoded file gives."""
    x, sr = voice
    x = np.tile(x, 3)[: 6 * sr]
    if container == "wav":
        path = tmp_path / "s.wav"  # 48 kHz stereo, as a microphone recording: resampled and mixed
        x48 = audio.resample(x, sr, 48000)
        sf.write(path, np.stack([x48, 0.5 * x48], axis=1), 48000)
    else:
        path = tmp_path / "s.mp4"
        write_video(path, moving_astronaut(150, (64, 64), 48), 25, x, sr)
    whole = audio.load_audio(path)
    for start, duration in ((0.0, 2.0), (1.3, 3.6), (4.0, None), (5.5, 3.6)):
        part = audio.load_audio(path, start=start, duration=duration)
        a0 = int(round(start * 22050))
        expected = whole[a0 : None if duration is None else a0 + int(round(duration * 22050))]
        assert len(part) == len(expected), (start, duration)
        if container == "wav":
            np.testing.assert_allclose(part, expected, atol=1e-4)
        else:  # AAC restarted mid-stream differs by its noise substitution (~1 % RMS), not in time
            rms = float(np.sqrt(np.mean(expected**2)))
            assert float(np.sqrt(np.mean((part - expected) ** 2))) < 0.02 * rms, (start, duration)
    with pytest.raises(audio.AudioError, match="zero samples at 7.00 s"):
        audio.load_audio(path, start=7.0, duration=1.0)
