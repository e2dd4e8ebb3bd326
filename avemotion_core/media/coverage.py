"""How much of a clip was read, against what its container declares (issue 14 item 13).

Why: a truncated mp4 whose index (``moov``) sits at the front still opens and decodes; the
demuxer simply stops where the bytes end. Without this comparison ``infer`` classified the 60 %
that was left and said nothing, so a damaged recording looked like a short, healthy one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import av

# Decoded media shorter than this share of the declared length is reported. AAC priming and the
# last frame's duration make honest files differ by a few tens of milliseconds, far below 5 %.
MIN_SHARE = 0.95


@dataclass(frozen=True)
class StreamCoverage:
    """Seconds of one stream that were read, and the seconds its container declares."""

    kind: str  # "video" or "audio"
    read: float
    declared: float

    @property
    def short(self) -> bool:
        return self.read < MIN_SHARE * self.declared

    def describe(self) -> str:
        return f"read {self.read:.2f} s of {self.declared:.2f} s declared ({self.kind})"

    def as_dict(self) -> dict[str, float]:
        return {"read_s": round(self.read, 3), "declared_s": round(self.declared, 3)}


def declared_seconds(path: str | os.PathLike, kind: str) -> float | None:
    """The duration the container's header states for its first ``kind`` stream, or None when it
    states none (raw streams) or the file cannot be opened (its reader reports that itself).

    The stream's own duration is preferred; the container's is the fallback (mkv/webm state only
    that one)."""
    try:
        with av.open(os.fspath(path)) as container:
            streams = container.streams.video if kind == "video" else container.streams.audio
            if not streams:
                return None
            stream = streams[0]
            if stream.duration and stream.time_base:
                return float(stream.duration * stream.time_base)
            if container.duration:
                return container.duration / av.time_base
    except (av.error.FFmpegError, UnicodeDecodeError, OSError):
        return None
    return None


def media_coverage(video: str | os.PathLike | None, audio: str | os.PathLike | None,
                   read: dict[str, float]) -> list[StreamCoverage]:
    """Coverage of each stream in ``read`` (seconds decoded per kind, as ``classify_media`` fills it).

    Audio is read only for the video's span, so its declared length is capped at the video's
    declared length: a sound file longer than its video is not "short".
    """
    out: list[StreamCoverage] = []
    video_declared = declared_seconds(video, "video") if video is not None else None
    if "video" in read and video_declared:
        out.append(StreamCoverage("video", read["video"], video_declared))
    if "audio" in read:
        declared = declared_seconds(audio if audio is not None else video, "audio")
        if declared and video_declared:
            declared = min(declared, video_declared)
        if declared:
            out.append(StreamCoverage("audio", read["audio"], declared))
    return out
