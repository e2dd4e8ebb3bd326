"""The streaming engine: lattice, clock, scheduling, and the per-frame feature cache vs the full model."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from media_helpers import astronaut, paste

from avemotion_core.faces import FaceCropper
from avemotion_core.learner import AudiovisualEmotionLearner
from avemotion_core.stream import (
    FeatureStream,
    FrameJob,
    StreamConfig,
    StreamScheduler,
    WindowJob,
    run_jobs,
)
from avemotion_core.window import audio_features

T0 = 1_700_000_000.25  # a realistic epoch stamp: float precision must not break alignment
RATES = st.sampled_from([16000, 22050, 44100, 48000])
FPS = st.sampled_from([15, 30, 60])
FAST = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PERIOD = 0.24


def events(seconds: float, fps: float, rate: int, chunk: int, t0: float = T0, jitter: float = 0.0,
           seed: int = 0):
    """Interleaved (stamp, kind, payload); a frame's payload is its index, audio sample n is n / rate."""
    rng = np.random.default_rng(seed)
    ev = [(t0 + i / fps + (rng.uniform(-jitter, jitter) if jitter else 0.0), "v", i)
          for i in range(int(seconds * fps))]
    for c in range(int(seconds * rate) // chunk):
        ramp = (np.arange(c * chunk, (c + 1) * chunk) / rate).astype(np.float32)
        ev.append((t0 + c * chunk / rate, "a", ramp))
    ev.sort(key=lambda e: e[0])
    return ev


def schedule(s: StreamScheduler, ev, rate: int) -> list:
    jobs = []
    for stamp, kind, payload in ev:
        jobs += s.add_frame(stamp, payload) if kind == "v" else s.add_audio(stamp, payload, rate)
    return jobs


def nearest_frames(stamps: np.ndarray, origin: float, ks: range, tol: float) -> dict[int, float]:
    """Independent reference: for each lattice instant, the nearest stamp if within tolerance."""
    out = {}
    for k in ks:
        t = origin + (k + 0.5) * PERIOD
        j = int(np.argmin(np.abs(stamps - t)))
        if abs(stamps[j] - t) <= tol:
            out[k] = float(stamps[j])
    return out


@FAST
@given(fps=FPS, rate=RATES, chunk=st.sampled_from([256, 1600, 4096]), jitter=st.sampled_from([0.0, 0.01]),
       drop=st.sampled_from([0.0, 0.3]), seed=st.integers(0, 1000))
def test_lattice_takes_the_nearest_frame_once_and_windows_share_frames(fps, rate, chunk, jitter, drop, seed):
    rng = np.random.default_rng(seed)
    ev = [e for e in events(8.0, fps, rate, chunk, jitter=jitter, seed=seed)
          if e[1] == "a" or rng.random() >= drop]
    frames = np.array(sorted(e[0] for e in ev if e[1] == "v"))
    s = StreamScheduler()
    jobs = schedule(s, ev, rate)
    frame_jobs = [j for j in jobs if isinstance(j, FrameJob)]
    windows = [j for j in jobs if isinstance(j, WindowJob)]
    origin = min(e[0] for e in ev)
    # each instant decided at most once, by the frame nearest to it (independent reference)
    ks = [j.k for j in frame_jobs]
    assert len(ks) == len(set(ks))
    reference = nearest_frames(frames, origin, range(max(ks) + 1), 0.12)
    assert {j.k: j.stamp for j in frame_jobs} == reference
    # only lattice frames are handed over for decoding: ~4 a second, not the camera rate
    assert len(frame_jobs) <= 8.0 / PERIOD + 1
    assert s.stats["frames"] == len(frames)
    # windows on the lattice, hop 2 steps, each over its own 15 instants
    ends = np.array([w.end for w in windows])
    assert ends[0] == pytest.approx(origin + 3.6, abs=1e-6)
    assert np.allclose(np.diff(ends), 2 * PERIOD, atol=1e-6)
    for w in windows:
        assert w.first_k == 2 * w.index
        assert w.frame_stamps == tuple(reference.get(k) for k in range(w.first_k, w.first_k + 15))
        assert w.audio.shape == (int(round(3.6 * rate)),)
        assert w.has_audio
        if w.start >= T0:  # (a jittered first frame may start the clock just before the audio)
            assert w.audio[0] == pytest.approx(w.start - T0, abs=1.5 / rate)  # the ramp encodes time
            assert w.audio_coverage == 1.0


def test_hop_is_rounded_to_lattice_steps_with_a_note():
    assert StreamConfig().hop_steps == 2 and StreamConfig().hop_note() is None
    cfg = StreamConfig(hop_seconds=0.5)
    assert cfg.hop_steps == 2 and cfg.hop == pytest.approx(0.48)
    assert "2 steps = 0.480 s" in cfg.hop_note()
    assert StreamConfig(hop_seconds=3.6).hop_steps == 15
    for bad in (dict(hop_seconds=0.1), dict(hop_seconds=0), dict(frame_tolerance=0.2),
                dict(max_delay=float("inf")), dict(min_face_coverage=2.0)):
        with pytest.raises(ValueError):
            StreamConfig(**bad)


@FAST
@given(fps=FPS, rate=RATES, seed=st.integers(0, 2**31 - 1))
def test_disorder_is_dropped_and_counted_never_raised(fps, rate, seed):
    rng = np.random.default_rng(seed)
    noisy = []
    for e in events(5.0, fps, rate, 1024):
        noisy.append(e)
        if rng.random() < 0.1:
            noisy.append(e)
    for i in range(len(noisy) - 1):
        if rng.random() < 0.05:
            noisy[i], noisy[i + 1] = noisy[i + 1], noisy[i]
    s = StreamScheduler()
    schedule(s, noisy, rate)
    st_ = s.stats
    dropped = sum(v for k, v in st_.items() if k.startswith(("frames_dropped", "audio_dropped")))
    assert st_["frames"] + st_["audio_chunks"] + dropped == len(noisy)
    assert st_["stream_restarts_time_jump"] == 0


def test_one_outlier_stamp_is_dropped_and_a_real_jump_restarts_after_confirmation():
    rate = 16000
    ev = events(10.0, 30, rate, 1600)
    s = StreamScheduler()
    jobs = []
    for stamp, kind, payload in ev:
        if kind == "v" and payload in (100, 160):  # one frame in 2038, one 10 minutes in the past
            stamp = 2_150_000_000.0 if payload == 100 else stamp - 600
        jobs += s.add_frame(stamp, payload) if kind == "v" else s.add_audio(stamp, payload, rate)
    windows = [j for j in jobs if isinstance(j, WindowJob)]
    assert s.stats["stream_restarts_time_jump"] == 0
    assert s.stats["stamps_dropped_outlier"] == 2 and s.stats["frames_dropped_clock_jump"] == 2
    assert [round(w.end - T0, 2) for w in windows] == [round(3.6 + 0.48 * n, 2) for n in range(len(windows))]
    assert len(windows) == int((10.0 - 3.6) / 0.48) + 1
    # a bag looping every 4.5 s: each loop restarts the timeline (logged), windows keep coming
    loop = events(4.5, 30, rate, 1600)
    s = StreamScheduler()
    counts = []
    for _ in range(3):
        jobs = schedule(s, loop, rate)
        counts.append(sum(isinstance(j, WindowJob) for j in jobs))
    assert s.stats["stream_restarts_time_jump"] == 2 and len(s.events) == 2 and "by -4.4" in s.events[0]
    assert counts[0] == 2 and counts[1] >= 1 and counts[2] >= 1, counts


def test_camera_stopping_switches_to_onlyaudio_and_back():
    rate = 16000
    ev = [e for e in events(12.0, 30, rate, 1600) if not (e[1] == "v" and 4.0 <= e[0] - T0 < 9.0)]
    windows = [j for j in schedule(StreamScheduler(), ev, rate) if isinstance(j, WindowJob)]
    for w in windows:
        end = w.end - T0
        if end <= 4.0 + 1.0:
            assert w.has_video, end
        elif end <= 9.0:  # stale_after = 1 s after the last frame
            assert not w.has_video, end
        elif w.start >= 9.0 - 3.6 + 0.12 * 0 and end > 9.0 + 1.8 + 0.24:  # over half the instants again
            assert w.has_video, end
    assert windows[-1].has_video and windows[-1].frame_coverage > 0.5


def test_missing_audio_gives_no_audio_and_no_data_gives_nothing():
    s = StreamScheduler()
    jobs = [j for i in range(6 * 30) for j in s.add_frame(T0 + i / 30, i)]
    windows = [j for j in jobs if isinstance(j, WindowJob)]
    assert windows and all(w.has_video and not w.has_audio and w.audio_rate == 0 for w in windows)
    assert StreamScheduler().finish() == []


def test_bad_arrays_raise_and_bad_chunks_are_counted():
    s = StreamScheduler()
    with pytest.raises(ValueError):
        s.add_audio(T0, np.zeros((2, 4), np.float32), 16000)
    with pytest.raises(ValueError):
        s.add_audio(T0, np.zeros(4, np.float32), 0)
    assert s.add_audio(T0, np.array([0.0, np.nan], np.float32), 16000) == []
    s.add_audio(T0, np.zeros(0, np.float32), 16000)
    s.add_frame(float("nan"), 0)
    assert s.stats["audio_dropped_non_finite"] == 1 and s.stats["audio_dropped_empty"] == 1
    assert s.stats["frames_dropped_bad_stamp"] == 1


def test_audio_gap_is_zero_filled_and_memory_stays_bounded():
    rate = 48000
    s = StreamScheduler()
    t = T0
    jobs = []
    for c in range(200):  # 20 s of 0.1 s chunks with a 1 s gap after 2 s
        if c == 20:
            t += 1.0
        jobs += s.add_audio(t, np.ones(4800, np.float32), rate)
        t += 0.1
    assert s.stats["audio_gaps"] == 1 and s.stats["audio_gap_samples"] == pytest.approx(rate, abs=2)
    spanning = [j for j in jobs if isinstance(j, WindowJob) and j.start < T0 + 3.0 and j.end > T0 + 2.0]
    assert spanning and all(j.audio_coverage < 1.0 for j in spanning)
    assert s.timeline.audio.capacity <= s.config.keep_seconds * rate + 4800 + 1


def test_short_recording_gives_one_window_marked_with_its_coverage_and_no_window_past_the_end():
    rate = 16000
    s = StreamScheduler()
    jobs = schedule(s, events(2.0, 30, rate, 1600), rate) + s.finish()
    windows = [j for j in jobs if isinstance(j, WindowJob)]
    assert len(windows) == 1 and windows[0].audio_coverage == pytest.approx(2.0 / 3.6, abs=0.01)
    s = StreamScheduler(StreamConfig(hop_seconds=3.6, max_delay=0.0))
    jobs = schedule(s, events(5.0, 30, rate, 1600), rate) + s.finish()
    assert [round(j.end - T0, 2) for j in jobs if isinstance(j, WindowJob)] == [3.6]


# ---------------------------------------------------------------------------- feature cache vs full model
def face_stream(seconds: float, fps: float, rate: int, t0: float = T0, blank_from: float | None = None):
    """Real frames (the astronaut sliding across 240x320) with real-valued audio."""
    face = astronaut(200)
    rng = np.random.default_rng(1)
    ev = []
    for i in range(int(seconds * fps)):
        frame = paste((240, 320), face, 10 + (i * 2) % 100, 20)
        if blank_from is not None and i / fps >= blank_from:
            frame = np.full((240, 320, 3), 30, np.uint8)
        ev.append((t0 + i / fps, "v", frame))
    for c in range(int(seconds * 10)):
        ev.append((t0 + c * 0.1, "a", (0.1 * rng.standard_normal(rate // 10)).astype(np.float32)))
    ev.sort(key=lambda e: e[0])
    return ev


def run_stream(learner, ev, rate, mode=None, size=64):
    s = StreamScheduler()
    fs = FeatureStream(learner, FaceCropper(size=size), s.config, keep_crops=True)
    jobs = schedule(s, ev, rate)
    return jobs, run_jobs(fs, jobs, mode), fs, s


@pytest.mark.parametrize("fusion", ["ia", "it", "lt"])
def test_head_over_cached_features_equals_the_full_model(fusion):
    torch.manual_seed(0)
    learner = AudiovisualEmotionLearner(fusion=fusion, image_size=64)
    rate = 16000
    # missing lattice frames (half a second of camera lost) and a clock restart in the middle
    ev = [e for e in face_stream(5.0, 30, rate) if not (e[1] == "v" and 2.0 <= e[0] - T0 < 2.5)]
    ev += face_stream(4.5, 30, rate, t0=T0 - 50.0)
    s = StreamScheduler()
    fs = FeatureStream(learner, FaceCropper(size=64), s.config, keep_crops=True)
    checked = Counter()
    for job in schedule(s, ev, rate):
        if isinstance(job, FrameJob):
            fs.run_frames([job])
            continue
        for mode in ("audiovisual", "onlyaudio", "onlyvideo"):
            r = fs.run_window(job, mode)
            video = torch.from_numpy(r.crops).permute(3, 0, 1, 2).float() / 255  # zeros where missing
            full = learner.infer(audio_features(job.audio, job.audio_rate), video, mode=mode)
            got = np.array([r.category.scores[k] for k in learner.labels])
            want = np.array([full.scores[k] for k in learner.labels])
            assert np.abs(got - want).max() < 1e-5, (mode, job.epoch, job.index)
            checked[(job.epoch, r.frames_present < 15)] += 1
    assert s.stats["stream_restarts_time_jump"] == 1
    # both timelines were checked, and windows with missing frames among them
    assert checked[(1, True)] and checked[(2, False)], checked


def test_each_lattice_frame_is_cropped_and_encoded_once():
    learner = AudiovisualEmotionLearner(image_size=64)
    rate = 16000
    jobs, results, fs, _ = run_stream(learner, face_stream(10.0, 30, rate), rate)
    n_frames = sum(isinstance(j, FrameJob) for j in jobs)
    encoded = fs.stats["frames_encoded"]  # tracker steps + encodings, one per lattice frame
    assert encoded == n_frames and n_frames in (41, 42)  # one per 0.24 s, not 15 per window
    assert len(results) * 15 >= 5 * encoded
    assert all(r.mode == "audiovisual" and r.faces_found == 15 for r in results)
    # consecutive windows share 13 frames with identical crops (one causal track, not one per window)
    a, b = results[3], results[4]
    assert np.array_equal(a.crops[2:], b.crops[:13]) and a.boxes[2:] == b.boxes[:13]


def test_windows_without_a_face_run_onlyaudio_and_degenerate_frames_are_missing():
    learner = AudiovisualEmotionLearner(image_size=64)
    rate = 16000
    _, results, fs, _ = run_stream(learner, face_stream(12.0, 30, rate, blank_from=5.0), rate)
    modes = [(round(r.end - T0, 2), r.mode, r.face_coverage) for r in results]
    assert modes[0][1] == "audiovisual" and modes[-1][1] == "onlyaudio", modes
    assert fs.stats["windows_video_without_face"] >= 1
    assert all(fc < 0.5 for _, m, fc in modes if m == "onlyaudio")
    tiny = [(T0 + i / 30, "v", np.zeros((1, 1, 3), np.uint8)) for i in range(6 * 30)]
    tiny += [e for e in face_stream(6.0, 30, rate) if e[1] == "a"]
    tiny.sort(key=lambda e: e[0])
    _, results, fs, _ = run_stream(learner, tiny, rate)
    assert results and all(r.mode == "onlyaudio" for r in results)
    assert fs.stats["frames_dropped_degenerate"] == 25


def test_a_window_waiting_for_late_audio_keeps_all_its_frames():
    """Frames decided while a window waits up to max_delay for a lagging microphone must not push
    the window's own frames out of the feature ring (they would silently count as missing)."""
    learner = AudiovisualEmotionLearner(image_size=64)
    rate, lag = 16000, 4.0
    cfg = StreamConfig(max_delay=5.0, stale_after=6.0)
    s = StreamScheduler(cfg)
    fs = FeatureStream(learner, FaceCropper(size=64), cfg)
    ev = [(t + (lag if kind == "a" else 0.0), t, kind, p) for t, kind, p in events(9.0, 30, rate, 1600)]
    ev.sort(key=lambda e: e[0])  # delivery order: the audio arrives 4 s after it was recorded
    jobs = []
    for _, stamp, kind, payload in ev:
        frame = np.full((48, 64, 3), payload % 256, np.uint8) if kind == "v" else None
        jobs += s.add_frame(stamp, frame) if kind == "v" else s.add_audio(stamp, payload, rate)
    results = run_jobs(fs, jobs)
    assert len(results) >= 5 and all(r.frames_present == 15 for r in results), \
        [r.frames_present for r in results]


def test_clock_guard_confirms_a_jump_with_every_live_modality_or_after_stale_after():
    """The rules of ClockGuard's docstring on hand-picked stamps (jump 5 s, 3 messages, 1 s)."""
    from avemotion_core.stream.clock import ClockGuard

    def guard() -> ClockGuard:
        g = ClockGuard(jump=5.0, confirm=3, live_after=1.0)
        # audio exactly stale_after before the newest stamp still counts as live
        assert [g.check(99.0, "audio"), g.check(100.0, "video")] == ["ok", "ok"]
        return g

    g = guard()
    assert g.check(105.0, "video") == "ok"  # exactly `jump` away is still the same timeline
    g = guard()
    assert [g.check(t, m) for t, m in ((200.0, "video"), (200.01, "audio"), (200.03, "video"))] == [
        "hold", "hold", "restart"]  # the third message, both live modalities agree
    g = guard()  # a message exactly `jump` from the held timeline's newest stamp continues it
    assert [g.check(t, m) for t, m in ((200.0, "video"), (205.0, "video"), (205.01, "audio"))] == [
        "hold", "hold", "restart"]
    g = guard()  # audio is live: video alone must wait
    assert [g.check(t, "video") for t in (200.0, 200.5, 200.75, 201.0)] == ["hold", "hold", "hold", "restart"]
    assert g.outliers == 0  # confirmed after 1 s of the new timeline (audio died with the jump)


def test_frame_lattice_statuses_and_decisions_on_hand_picked_stamps():
    """Instants at 0.5, 1.5, 2.5, ... (period 1, tolerance 0.25): the nearest frame within tolerance;
    a frame that stands for an instant, or may still, is "kept" (decoded); any other is "skipped"."""
    from avemotion_core.stream.lattice import FrameLattice

    lat = FrameLattice(origin=0.0, period=1.0, tolerance=0.25)
    assert lat.offer(0.45, "a") == ("kept", [])  # may still be the nearest to 0.5
    assert lat.offer(0.45, "same") == ("duplicate", [])
    assert lat.offer(0.40, "older") == ("out_of_order", [])
    assert lat.offer(0.52, "b") == ("kept", [(0, 0.52, "b")])  # nearer to 0.5 than "a"
    assert lat.offer(1.0, "c") == ("skipped", [])  # 0.5 from 1.5: no instant needs it
    assert lat.offer(3.55, "d") == ("kept", [(3, 3.55, "d")])  # 1.5 and 2.5 had no frame in tolerance
    assert lat.offer(4.25, "e") == ("kept", [])  # 0.25 before 4.5: tolerance is inclusive
    assert lat.flush(6) == [(4, 4.25, "e")]


def test_frame_lattice_tolerance_is_inclusive_when_deciding():
    from avemotion_core.stream.lattice import FrameLattice

    lat = FrameLattice(origin=0.0, period=1.0, tolerance=0.25)
    assert lat.offer(0.75, "x") == ("kept", [(0, 0.75, "x")])  # 0.25 after 0.5
    assert lat.offer(3.75, "y") == ("kept", [(3, 3.75, "y")])  # 0.25 after 3.5, past two empty instants
    assert lat.offer(4.5, "z") == ("kept", [(4, 4.5, "z")])  # exactly on an instant: decided at once
