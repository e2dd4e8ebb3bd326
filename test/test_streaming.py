"""Properties of the time-aligned windower: alignment, rates, drops, gaps, staleness, memory."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from avemotion_core.streaming import StreamConfig, StreamWindower

T0 = 1_700_000_000.25  # a realistic epoch stamp: float precision must not break alignment
RATES = st.sampled_from([16000, 22050, 44100, 48000])
FPS = st.sampled_from([15, 30, 60])
FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def frame_for(i: int) -> np.ndarray:
    """A tiny frame whose pixel value encodes its index (mod 256) so selection can be checked."""
    return np.full((4, 4, 3), i % 256, np.uint8)


def events(seconds: float, fps: int, rate: int, chunk: int, t0: float = T0):
    """Interleaved (stamp, kind, payload) of a perfect stream; audio sample n has value n / rate."""
    ev = [(t0 + i / fps, "v", i) for i in range(int(seconds * fps))]
    n_chunks = int(seconds * rate) // chunk
    for c in range(n_chunks):
        ramp = (np.arange(c * chunk, (c + 1) * chunk) / rate).astype(np.float32)
        ev.append((t0 + c * chunk / rate, "a", ramp))
    ev.sort(key=lambda e: e[0])
    return ev


def feed(w: StreamWindower, ev, rate: int) -> None:
    for stamp, kind, payload in ev:
        if kind == "v":
            w.add_frame(stamp, frame_for(payload))
        else:
            w.add_audio(stamp, payload, rate)


@FAST
@given(fps=FPS, rate=RATES, chunk=st.sampled_from([256, 1024, 4096]), hop=st.sampled_from([0.25, 0.5, 1.0]))
def test_perfect_stream_windows_are_aligned(fps, rate, chunk, hop):
    cfg = StreamConfig(hop_seconds=hop)
    w = StreamWindower(cfg)
    feed(w, events(6.0, fps, rate, chunk), rate)
    wins = w.poll()
    assert wins, "a 6 s stream must yield windows"
    ends = np.array([x.end for x in wins])
    assert ends[0] == pytest.approx(T0 + cfg.window_seconds, abs=1e-6)
    assert np.allclose(np.diff(ends), hop, atol=1e-6)
    for win in wins:
        assert win.mode == "audiovisual"
        assert win.audio_rate == rate
        assert win.audio.shape == (int(round(3.6 * rate)),)
        # the ramp encodes time: the first sample of the window is its start time (one sample slack)
        assert win.audio[0] == pytest.approx(win.start - T0, abs=1.5 / rate)
        assert win.audio_coverage == 1.0 and win.frame_coverage == 1.0
        # frames: one per slot, evenly spread, each the one nearest its slot centre
        slots = win.start + (np.arange(15) + 0.5) * 3.6 / 15
        stamps = np.array(win.frame_stamps, float)
        assert np.all(np.abs(stamps - slots) <= 0.5 / fps + 1e-6)
        assert np.all(np.diff(stamps) > 0)
        for f, s in zip(win.frames, stamps, strict=True):
            assert f[0, 0, 0] == int(round((s - T0) * fps)) % 256


@FAST
@given(fps=FPS, rate=RATES, seed=st.integers(0, 2**31 - 1))
def test_disorder_is_dropped_and_counted_never_raised(fps, rate, seed):
    rng = np.random.default_rng(seed)
    ev = events(5.0, fps, rate, 1024)
    # duplicate some messages and swap some neighbours: the windower must count, not crash
    noisy = []
    for e in ev:
        noisy.append(e)
        if rng.random() < 0.1:
            noisy.append(e)
    for i in range(0, len(noisy) - 1):
        if rng.random() < 0.05:
            noisy[i], noisy[i + 1] = noisy[i + 1], noisy[i]
    w = StreamWindower()
    feed(w, noisy, rate)
    s = w.stats
    dropped = sum(v for k, v in s.items() if k.startswith(("frames_dropped", "audio_dropped")))
    accepted = s["frames"] + s["audio_chunks"]
    assert accepted + dropped == len(noisy)
    assert s["frames_dropped_duplicate"] + s["audio_dropped_duplicate"] >= 1 or len(noisy) == len(ev)
    for win in w.poll():
        assert np.all(np.diff([t for t in win.frame_stamps if t is not None]) >= 0)


@FAST
@given(rate=RATES, gap=st.floats(0.2, 2.0))
def test_audio_gap_is_zero_filled_and_counted(rate, gap):
    w = StreamWindower()
    chunk = rate // 10
    t = T0
    for c in range(60):  # 6 s of 0.1 s chunks with one gap after 2 s
        if c == 20:
            t += gap
        w.add_audio(t, np.ones(chunk, np.float32), rate)
        t += chunk / rate
    assert w.stats["audio_gaps"] == 1
    assert w.stats["audio_gap_samples"] == pytest.approx(gap * rate, abs=2)
    wins = w.poll()
    assert all(win.mode == "onlyaudio" for win in wins)
    spans_gap = [win for win in wins if win.start < T0 + 2.0 + gap and win.end > T0 + 2.0]
    assert spans_gap
    for win in spans_gap:
        overlap = min(win.end, T0 + 2.0 + gap) - max(win.start, T0 + 2.0)
        assert int(np.count_nonzero(win.audio == 0)) == pytest.approx(overlap * rate, abs=2)
        assert win.audio_coverage == pytest.approx(1.0 - overlap / 3.6, abs=1e-3)


def test_camera_stopping_switches_to_onlyaudio_and_back():
    rate, fps = 16000, 30
    w = StreamWindower()
    ev = [e for e in events(12.0, fps, rate, 1600) if not (e[1] == "v" and 4.0 <= e[0] - T0 < 9.0)]
    feed(w, ev, rate)
    modes = [(round(x.end - T0, 2), x.mode) for x in w.poll()]
    assert ("onlyaudio" in dict(modes).values()) and modes[0][1] == "audiovisual"
    assert modes[-1][1] == "audiovisual", modes  # camera came back at 9 s; last window ends ~12 s
    for end, mode in modes:
        if 4.0 + 1.0 + 0.1 < end <= 9.0:  # stale_after = 1 s after the last frame
            assert mode == "onlyaudio", (end, mode)


def test_missing_audio_gives_onlyvideo_and_no_data_gives_nothing():
    w = StreamWindower()
    for i in range(6 * 30):
        w.add_frame(T0 + i / 30, frame_for(i))
    wins = w.poll()
    assert wins and all(x.mode == "onlyvideo" and x.audio_rate == 0 for x in wins)
    assert StreamWindower().poll() == []


def test_silence_is_audio_not_missing():
    w = StreamWindower()
    for c in range(50):
        w.add_audio(T0 + c * 0.1, np.zeros(4410, np.float32), 44100)
    wins = w.poll()
    assert wins and all(x.has_audio and x.audio_coverage == 1.0 for x in wins)


def test_rejects_bad_arrays_and_counts_bad_chunks():
    w = StreamWindower()
    with pytest.raises(ValueError):
        w.add_frame(T0, np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError):
        w.add_audio(T0, np.zeros((2, 4), np.float32), 16000)
    with pytest.raises(ValueError):
        w.add_audio(T0, np.zeros(4, np.float32), 0)
    assert not w.add_audio(T0, np.array([0.0, np.nan], np.float32), 16000)
    assert not w.add_audio(T0, np.zeros(0, np.float32), 16000)
    assert not w.add_frame(float("nan"), frame_for(0))
    assert w.stats["audio_dropped_non_finite"] == 1 and w.stats["audio_dropped_empty"] == 1
    with pytest.raises(ValueError):
        StreamConfig(hop_seconds=0)


@settings(max_examples=8, deadline=None)
@given(fps=FPS, rate=RATES, chunk=st.sampled_from([480, 4800]))
def test_memory_is_bounded_by_one_window(fps, rate, chunk):
    cfg = StreamConfig()
    w = StreamWindower(cfg)
    feed(w, events(3 * cfg.keep_seconds, fps, rate, chunk), rate)
    assert len(w.frames) <= cfg.keep_seconds * fps + 2
    assert w.audio.capacity <= cfg.keep_seconds * rate + chunk + 1
    assert len(w.pending) <= w.max_pending


def test_stall_skips_ahead_instead_of_backfilling():
    w = StreamWindower()
    feed(w, events(5.0, 30, 16000, 1600), 16000)
    w.poll()
    feed(w, events(5.0, 30, 16000, 1600, t0=T0 + 100.0), 16000)
    assert w.stats["windows_skipped_stall"] > 100
    assert w.stats["audio_restarts"] == 1
    wins = w.poll()
    assert [round(x.end - T0, 2) for x in wins] == [103.6, 104.1, 104.6]
    assert all(x.mode == "audiovisual" and x.audio_coverage == 1.0 for x in wins)


def test_rate_change_restarts_audio():
    w = StreamWindower()
    for c in range(20):
        w.add_audio(T0 + c * 0.1, np.ones(1600, np.float32), 16000)
    for c in range(20, 60):
        w.add_audio(T0 + c * 0.1, np.ones(4800, np.float32), 48000)
    assert w.stats["audio_restarts"] == 1
    assert w.poll()[-1].audio_rate == 48000


def test_windows_build_model_inputs_through_the_shared_path():
    from skimage import data

    face = np.ascontiguousarray(data.astronaut()[::2, ::2])  # 256x256 RGB with one face
    rate = 16000
    w = StreamWindower()
    tone = (0.3 * np.sin(2 * np.pi * 220 * np.arange(1600) / rate)).astype(np.float32)
    for i in range(int(4.2 * 30)):
        w.add_frame(T0 + i / 30, face)
    for c in range(42):
        w.add_audio(T0 + c * 0.1, tone, rate)
    win = w.poll()[0]
    audio, video = win.build(image_size=64).to_tensors()
    assert audio.shape == (10, 156) and video.shape == (3, 15, 64, 64)
    assert float(video.mean()) > 0.1  # real crops, not padding
    win.has_video = False
    _, blank = win.build(image_size=64).to_tensors()
    assert float(blank.abs().sum()) == 0.0  # a stale camera is passed as absent, not as old frames


def test_resolution_change_restarts_video_history():
    w = StreamWindower()
    for i in range(30):
        w.add_frame(T0 + i / 30, np.zeros((4, 4, 3), np.uint8))
    w.add_frame(T0 + 1.0, np.zeros((8, 6, 3), np.uint8))
    assert w.stats["frames_resolution_changes"] == 1 and len(w.frames) == 1


def test_clock_jumping_back_restarts_the_stream() -> None:
    """A sim-time reset or a looping bag: stamps restart far in the past. The windower must start a
    new timeline (counted) instead of rejecting every later message as out of order."""
    rate = 16000
    w = StreamWindower(StreamConfig(hop_seconds=0.5))
    feed(w, events(6.0, 30, rate, 1600), rate)
    before = w.poll()
    assert before
    feed(w, events(6.0, 30, rate, 1600, t0=100.0), rate)
    after = w.poll()
    assert w.stats["stream_restarts_time_jump"] == 1
    assert after and after[0].end == pytest.approx(100.0 + 3.6, abs=1e-6)
    assert all(win.mode == "audiovisual" for win in after)
    assert w.stats["frames_dropped_out_of_order"] == 0 and w.stats["audio_dropped_out_of_order"] == 0
