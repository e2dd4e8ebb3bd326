"""Recorded media through the streaming engine: what ``avemotion infer`` runs on a clip."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from avemotion_core.faces import FaceCropper
from avemotion_core.labels import SAMPLE_RATE, WINDOW_SECONDS
from avemotion_core.media.audio import load_audio
from avemotion_core.media.video import probe_video, read_frames
from avemotion_core.stream.config import StreamConfig
from avemotion_core.stream.features import FeatureStream, WindowResult
from avemotion_core.stream.scheduler import FrameJob, StreamScheduler, WindowJob

AUDIO_CHUNK_SECONDS = 0.1


def classify_media(learner: Any, cropper: FaceCropper, video_path: str | os.PathLike | None,
                   audio_path: str | os.PathLike | None, mode: str | None = None,
                   hop_seconds: float = WINDOW_SECONDS,
                   read: dict[str, float] | None = None) -> list[WindowResult]:
    """Consecutive windows of a video and/or its audio, classified exactly as the node would.

    Frame ``i`` is stamped ``i / fps`` and audio sample ``n`` ``n / 22050`` (a separate audio file
    starts with the video), so both modalities share the stream clock from 0. Only the frames the
    lattice picks are decoded, a window's worth at a time, so memory stays bounded for long videos;
    the audio is decoded only for the video's duration. Windows past the end of the media are not
    classified; a clip shorter than one window gives one window whose coverage says how much of it
    is real. ``audio_path=None`` with a video uses the video's own track unless ``mode`` is
    ``onlyvideo``; ``mode=None`` lets the engine choose per window (``onlyaudio`` where the frames
    show no face). ``read``, when given, receives the seconds of video and audio that were
    actually there (``coverage.media_coverage`` compares them with the container's header).
    """
    if video_path is None and audio_path is None:
        raise ValueError("give a video, an audio file or both")
    config = StreamConfig(hop_seconds=hop_seconds, max_delay=0.0)
    scheduler = StreamScheduler(config)
    events: list[tuple[float, int, Any]] = []  # (stamp, order, frame index | audio chunk)
    duration = None
    read = {} if read is None else read
    if video_path is not None:
        info = probe_video(video_path)
        duration = read["video"] = info.duration
        events += [(i / info.fps, 1, i) for i in range(info.n_frames)]
    if mode != "onlyvideo":
        track = load_audio(audio_path if audio_path is not None else video_path, SAMPLE_RATE,
                           duration=duration)
        read["audio"] = len(track) / SAMPLE_RATE
        step = int(AUDIO_CHUNK_SECONDS * SAMPLE_RATE)
        events += [(n / SAMPLE_RATE, 0, track[n : n + step]) for n in range(0, len(track), step)]
    events.sort(key=lambda e: (e[0], e[1]))

    def frames_of(batch: list[FrameJob]) -> dict[int, np.ndarray]:
        indices = sorted({job.payload for job in batch})
        return dict(zip(indices, read_frames(video_path, indices), strict=False))

    decoded: dict[int, np.ndarray] = {}
    features = FeatureStream(learner, cropper, config, decode=lambda job: decoded[job.payload])
    results: list[WindowResult] = []
    pending: list[FrameJob] = []

    def run(jobs: list) -> None:
        for job in jobs:
            if isinstance(job, FrameJob):
                pending.append(job)
                continue
            assert isinstance(job, WindowJob)
            if pending:
                decoded.clear()
                decoded.update(frames_of(pending))
                features.run_frames([j for j in pending if j.payload in decoded])
                pending.clear()
            result = features.run_window(job, mode)
            if result is not None:
                results.append(result)

    for stamp, kind, payload in events:
        run(scheduler.add_frame(stamp, payload) if kind else scheduler.add_audio(stamp, payload, SAMPLE_RATE))
    run(scheduler.finish())
    return results
