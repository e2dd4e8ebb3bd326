"""``avemotion infer``: label + confidence per 3.6 s window of one clip or a folder of clips."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from avemotion_core.cli.common import (
    CliError,
    UsageError,
    add_device,
    existing_path,
    image_size,
    load_learner,
    write_csv,
    write_json,
)
from avemotion_core.cli.train import EVAL_MODES
from avemotion_core.modes import FACE_DETECTORS

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".avi", ".mov", ".webm")


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "infer",
        help="classify the 3.6 s windows of clips",
        description="Print label and confidence for every consecutive 3.6 s window of a "
        "clip (mp4 with audio), of --video + --audio, of --audio alone (onlyaudio mode), or of every "
        "video in a folder (a RAVDESS video-only 02-*.mp4 uses its 03-*.wav partner).",
    )
    p.add_argument("inputs", nargs="*", help="video files and/or folders")
    p.add_argument("--video", default=None, help="a video file whose audio is in --audio")
    p.add_argument("--audio", default=None,
                   help="audio file (wav, flac, ...) starting with --video; alone: audio-only input")
    p.add_argument("--model", default=None, help="model directory (default: the embedded model)")
    p.add_argument("--mode", choices=EVAL_MODES, default=None,
                   help="eval mode (default audiovisual; onlyaudio for --audio alone); onlyvideo reads "
                   "no audio")
    p.add_argument(
        "--image-size", type=image_size, default=None, help="face crop size (default: the model's)"
    )
    p.add_argument("--face-detector", choices=FACE_DETECTORS, default=None,
                   help="default: the detector the model's metadata records (else haar); mtcnn finds "
                   "smaller and turned faces")
    p.add_argument("--json", default=None, metavar="PATH", help="write results as JSON ('-' = stdout)")
    p.add_argument("--csv", default=None, metavar="PATH", help="write results as CSV ('-' = stdout)")
    p.add_argument("--strict", action="store_true",
                   help="fail (exit 1) when a clip holds less video/audio than its container declares "
                   "(default: a warning)")
    add_device(p)
    return p


def audio_partner(video: Path) -> Path | None:
    """The RAVDESS audio-only file of a video-only clip: ``03`` + the rest of the name, as .wav."""
    if video.name.startswith("02-"):
        wav = video.with_name("03" + video.stem[2:] + ".wav")
        if wav.is_file():
            return wav
    return None


def collect_clips(args: argparse.Namespace) -> list[tuple[Path | None, Path | None]]:
    """(video, audio) pairs named by the arguments, folders expanded recursively and sorted.

    ``--audio`` without ``--video`` is one audio-only clip (video None), classified alone.
    """
    clips: list[tuple[Path | None, Path | None]] = []
    if args.audio and not args.video:
        if args.inputs:
            raise UsageError("--audio without --video classifies that audio file alone; "
                             "classify the video inputs in another run")
        return [(None, existing_path(args.audio, "audio", "file"))]
    if args.video:
        video = existing_path(args.video, "video", "file")
        audio = existing_path(args.audio, "audio", "file") if args.audio else None
        clips.append((video, audio))
    for item in args.inputs:
        path = existing_path(item, "input")
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file())
            if not found:
                raise UsageError(f"no video files ({', '.join(VIDEO_EXTENSIONS)}) under {path}")
            clips += [(v, audio_partner(v)) for v in found]
        else:
            clips.append((path, audio_partner(path)))
    if not clips:
        raise UsageError("nothing to classify: give a clip, a folder, --video [--audio] or --audio")
    return clips


def _has_audio_track(video: Path) -> bool | None:
    """Whether a container holds an audio stream (None when it cannot be opened: that clip's own
    error is reported when it is classified)."""
    import av

    try:
        with av.open(str(video)) as container:
            return bool(container.streams.audio)
    except (av.error.FFmpegError, UnicodeDecodeError, OSError):
        return None


def resolve_mode(args: argparse.Namespace, clips: list[tuple[Path | None, Path | None]]) -> str:
    """The eval mode to run, checked against what the clips hold, with errors that name the flags."""
    if clips[0][0] is None:  # --audio alone
        if args.mode not in (None, "onlyaudio"):
            raise UsageError(f"--audio without --video has no video to classify in --mode {args.mode}; "
                             "use --mode onlyaudio (the default there) or add --video")
        return "onlyaudio"
    mode = args.mode or "audiovisual"
    (video, audio), single = clips[0], len(clips) == 1
    if mode != "onlyvideo" and single and audio is None and _has_audio_track(video) is False:
        raise UsageError(f"{video} has no audio track: pass its sound with --audio FILE, "
                         "or use --mode onlyvideo")
    return mode


def classify_clip(learner, video: Path | None, audio: Path | None, mode: str, size: int,
                  face_detector: str = "haar") -> tuple[list[dict], str | None]:
    """One row per window of the node's streaming engine: span, label, confidence, the mode run and
    how much of the window was real (audio, frames, detected faces); plus, when the clip holds less
    than its container declares, the line that says so (None for a whole clip)."""
    from avemotion_core.faces import make_cropper
    from avemotion_core.media.coverage import media_coverage
    from avemotion_core.stream.media import classify_media

    read: dict[str, float] = {}
    results = classify_media(learner, make_cropper(face_detector, size), video, audio,
                             mode=None if mode == "audiovisual" else mode, read=read)
    coverage = media_coverage(video, audio, read)
    short = [c.describe() for c in coverage if c.short]
    shortfall = f"{video if video is not None else audio}: " + ", ".join(short) if short else None
    media = {c.kind: c.as_dict() for c in coverage}
    rows = [
        {
            "clip": str(video if video is not None else audio),
            "audio": str(audio) if audio else "",
            "window": k,
            "start": round(r.start, 3),
            "end": round(r.end, 3),
            "label": r.category.description,
            "confidence": r.category.confidence,
            "mode": r.mode,
            "audio_coverage": round(r.audio_coverage, 3),
            "frame_coverage": round(r.frame_coverage, 3),
            "face_coverage": round(r.face_coverage, 3),
            "scores": r.category.scores,
            "media": media,
        }
        for k, r in enumerate(results)
    ]
    return rows, shortfall


def run(args: argparse.Namespace) -> int:
    clips = collect_clips(args)
    args.mode = resolve_mode(args, clips)
    learner = load_learner(args.model, args.device)
    if args.image_size is not None and args.image_size != learner.image_size:
        raise UsageError(f"--image-size {args.image_size} differs from the model's {learner.image_size} px "
                         "face crops; leave it out to use the model's")
    from avemotion_core.stream import freeze_for_streaming
    from avemotion_core.stream.node_config import resolve_face_detector

    detector = resolve_face_detector(args.face_detector, learner.face_detector)
    flags = (("--image-size", args.image_size), ("--face-detector", args.face_detector))
    derived = [flag for flag, value in flags if value is None]
    print(f"avemotion infer: {args.image_size or learner.image_size} px crops, {detector} face detector"
          + (f" ({' and '.join(derived)} from the model)" if derived else ""), file=sys.stderr)

    frozen = freeze_for_streaming(learner, args.image_size or learner.image_size)  # as the node does
    if frozen:
        print(f"avemotion infer: {frozen}", file=sys.stderr)
    rows: list[dict] = []
    failed: list[str] = []
    short: list[str] = []
    for video, audio in clips:
        try:
            clip_rows, shortfall = classify_clip(learner, video, audio, args.mode,
                                                 args.image_size or learner.image_size, detector)
        except ValueError as exc:  # VideoError/AudioError: one unreadable clip must not stop a folder
            failed.append(f"{video}: {exc}")
            continue
        rows += clip_rows
        if shortfall:
            short.append(shortfall)
            if not args.strict:
                print(f"avemotion infer: warning: {shortfall} (truncated or damaged?)", file=sys.stderr)
    quiet = "-" in (args.json, args.csv)
    if not quiet:
        for r in rows:
            span = f"[{r['start']:6.1f}-{r['end']:6.1f} s]"
            full = r["mode"] == "audiovisual" and min(r["audio_coverage"], r["face_coverage"]) == 1
            cover = "" if full else (
                f"  [{r['mode']}; audio {r['audio_coverage']:.0%}, face {r['face_coverage']:.0%}]")
            print(f"{r['clip']}  {span}  {r['label']:<10} {r['confidence']:.3f}{cover}")
    if args.json:
        write_json(args.json, rows)
    if args.csv:
        labels = list(learner.labels)
        header = ["clip", "audio", "window", "start", "end", "label", "confidence", "mode",
                  "audio_coverage", "frame_coverage", "face_coverage", *labels]
        write_csv(
            args.csv, header, [[r[k] for k in header[:11]] + [r["scores"][lb] for lb in labels] for r in rows]
        )
    if failed:
        raise CliError(f"{len(failed)} of {len(clips)} clips could not be read:\n  " + "\n  ".join(failed))
    if short and args.strict:
        more = f" (and {len(short) - 1} more clips)" if len(short) > 1 else ""
        raise CliError(f"{short[0]}{more}; --strict refuses clips shorter than their container declares")
    return 0
