"""``avemotion infer``: label + confidence per 3.6 s window of one clip or a folder of clips."""

from __future__ import annotations

import argparse
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
from avemotion_core.labels import WINDOW_SECONDS

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".avi", ".mov", ".webm")


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "infer",
        help="classify the 3.6 s windows of clips",
        description="Print label and confidence for every consecutive 3.6 s window of a "
        "clip (mp4 with audio), of --video + --audio, or of every video in a "
        "folder (a RAVDESS video-only 02-*.mp4 uses its 03-*.wav partner).",
    )
    p.add_argument("inputs", nargs="*", help="video files and/or folders")
    p.add_argument("--video", default=None, help="a video file whose audio is in --audio")
    p.add_argument("--audio", default=None, help="audio file (wav, flac, ...) starting with --video")
    p.add_argument("--model", default=None, help="model directory (default: the embedded model)")
    p.add_argument("--mode", choices=EVAL_MODES, default="audiovisual", help="eval mode")
    p.add_argument(
        "--image-size", type=image_size, default=None, help="face crop size (default: the model's)"
    )
    p.add_argument("--json", default=None, metavar="PATH", help="write results as JSON ('-' = stdout)")
    p.add_argument("--csv", default=None, metavar="PATH", help="write results as CSV ('-' = stdout)")
    add_device(p)
    return p


def audio_partner(video: Path) -> Path | None:
    """The RAVDESS audio-only file of a video-only clip: ``03`` + the rest of the name, as .wav."""
    if video.name.startswith("02-"):
        wav = video.with_name("03" + video.stem[2:] + ".wav")
        if wav.is_file():
            return wav
    return None


def collect_clips(args: argparse.Namespace) -> list[tuple[Path, Path | None]]:
    """(video, audio or None) pairs named by the arguments, folders expanded recursively and sorted."""
    clips: list[tuple[Path, Path | None]] = []
    if args.audio and not args.video:
        raise UsageError("--audio needs --video")
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
        raise UsageError("nothing to classify: give a clip, a folder, or --video [--audio]")
    return clips


def classify_clip(learner, video: Path, audio: Path | None, mode: str, size: int) -> list[dict]:
    """One row per window: start/end seconds, label, confidence and every class score."""
    a, v = learner.load_inference_data(
        None if audio is None else str(audio), str(video), split=True, image_size=size
    )
    cats = learner.infer(a, v, mode=mode)
    return [
        {
            "clip": str(video),
            "audio": str(audio) if audio else "",
            "window": k,
            "start": round(k * WINDOW_SECONDS, 3),
            "end": round((k + 1) * WINDOW_SECONDS, 3),
            "label": c.description,
            "confidence": c.confidence,
            "mode": c.mode,
            "scores": c.scores,
        }
        for k, c in enumerate(cats)
    ]


def run(args: argparse.Namespace) -> int:
    clips = collect_clips(args)
    learner = load_learner(args.model, args.device)
    rows: list[dict] = []
    failed: list[str] = []
    for video, audio in clips:
        try:
            rows += classify_clip(learner, video, audio, args.mode, args.image_size or learner.image_size)
        except ValueError as exc:  # VideoError/AudioError: one unreadable clip must not stop a folder
            failed.append(f"{video}: {exc}")
    quiet = "-" in (args.json, args.csv)
    if not quiet:
        for r in rows:
            span = f"[{r['start']:6.1f}-{r['end']:6.1f} s]"
            print(f"{r['clip']}  {span}  {r['label']:<10} {r['confidence']:.3f}")
    if args.json:
        write_json(args.json, rows)
    if args.csv:
        labels = list(learner.labels)
        header = ["clip", "audio", "window", "start", "end", "label", "confidence", "mode", *labels]
        write_csv(
            args.csv, header, [[r[k] for k in header[:8]] + [r["scores"][lb] for lb in labels] for r in rows]
        )
    if failed:
        raise CliError(f"{len(failed)} of {len(clips)} clips could not be read:\n  " + "\n  ".join(failed))
    return 0
