"""``avemotion replay``: run a recorded rosbag2 through the node's exact processing, offline.

Messages are checked and decoded by ``avemotion_core.stream.messages`` (the node's decoders) and run
through the node's streaming engine (``avemotion_core.stream``: scheduler, per-frame feature
cache, window head) configured from the node's own parameter defaults
(``avemotion_core.stream.node_config.NodeConfig``) -- so what replay reports is what the robot would have
published. One deliberate difference: the node keeps only the newest window when inference falls
behind (latest wins); replay classifies every window.

Outputs: per-window predictions (CSV/JSON), processing latency per window (p50/p95), the
decoder/windower counters and, given a labels CSV of time ranges, accuracy + confusion matrix.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avemotion_core.cli.bag import AUDIO_TYPES, IMAGE_TYPES, typestore
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
from avemotion_core.cli.confusion_png import confusion_rows, save_confusion_png
from avemotion_core.modes import FACE_DETECTORS


@dataclass(frozen=True)
class LabelRange:
    start: float
    end: float
    label: str


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "replay",
        help="run a rosbag2 recording through the node's pipeline and score it",
        description="Replay camera + audio topics of a rosbag2 (mcap or sqlite3) through the same "
        "decoding, windowing, face cropping and inference as emotion_node.",
    )
    p.add_argument("bag", help="rosbag2 directory (or its .mcap/.db3 file's folder)")
    p.add_argument(
        "--image-topic",
        default=None,
        help="sensor_msgs/Image or CompressedImage topic (default: the only one in the bag)",
    )
    p.add_argument(
        "--audio-topic", default=None, help="audio_common_msgs topic (default: the only one in the bag)"
    )
    p.add_argument("--model", default=None, help="model directory (default: the embedded model)")
    p.add_argument(
        "--labels",
        default=None,
        help="CSV with columns start,end,label (seconds from the bag start; label = emotion)",
    )
    p.add_argument(
        "--image-size", type=image_size, default=None, help="face crop size (default: the model's)"
    )
    p.add_argument(
        "--face-detector",
        choices=FACE_DETECTORS,
        default=None,
        help="mtcnn finds smaller and turned faces at more CPU; 'none' for topics already showing a "
        "cropped face (default, as the node: the one the model records, else haar)",
    )
    p.add_argument("--hop", type=float, default=None, help="seconds between windows (node default 0.5)")
    p.add_argument(
        "--raw-audio-format", default=None, help="raw audio flavour: sample format (node default int16)"
    )
    p.add_argument(
        "--raw-audio-rate", type=int, default=None, help="raw audio flavour: rate (node default 16000)"
    )
    p.add_argument(
        "--raw-audio-channels", type=int, default=None, help="raw audio flavour: channels (default 1)"
    )
    p.add_argument("--csv", default=None, metavar="PATH", help="per-window predictions as CSV ('-' = stdout)")
    p.add_argument("--json", default=None, metavar="PATH", help="windows + summary as JSON ('-' = stdout)")
    p.add_argument(
        "--out-dir",
        default=None,
        help="write windows.csv, summary.json and, with --labels, confusion.csv/.png here",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads, as the node's num_threads (default: torch's choice)",
    )
    p.add_argument("--strict", action="store_true",
                   help="fail (exit 1) when fewer messages could be read than the bag declares "
                   "(default: a warning)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_device(p)
    return p


def read_labels(path: Path) -> list[LabelRange]:
    """Time ranges from a CSV with a header naming ``start``, ``end`` and ``label`` (or ``emotion``)."""
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UsageError(f"cannot read labels {path}: {exc}") from exc
    if not rows:
        raise UsageError(f"labels {path} has no rows (expected a header start,end,label and ranges)")
    key = "label" if "label" in rows[0] else "emotion"
    if not {"start", "end", key} <= set(rows[0]):
        raise UsageError(f"labels {path} needs columns start,end,label; found {list(rows[0])}")
    ranges = []
    for n, row in enumerate(rows, start=2):
        try:
            start, end = float(row["start"]), float(row["end"])
        except (TypeError, ValueError) as exc:
            raise UsageError(f"labels {path} line {n}: start/end must be numbers ({exc})") from exc
        if not np.isfinite([start, end]).all() or end <= start:
            raise UsageError(f"labels {path} line {n}: need start < end, got {start}, {end}")
        ranges.append(LabelRange(start, end, str(row[key]).strip()))
    return ranges


def label_at(ranges: list[LabelRange], t: float) -> str | None:
    """The label whose range contains ``t`` (a window's centre), if any."""
    for r in ranges:
        if r.start <= t < r.end:
            return r.label
    return None


def _pick_topic(reader, wanted: str | None, types: tuple[str, ...], what: str) -> tuple[str, str] | None:
    """(topic, msgtype) for ``what``; None when the bag has no such topic and none was asked for."""
    topics = {c.topic: c.msgtype for c in reader.connections}
    listing = ", ".join(f"{t} [{m}]" for t, m in sorted(topics.items())) or "none"
    if wanted is not None:
        if wanted not in topics:
            raise UsageError(f"{what} topic {wanted!r} is not in the bag; topics: {listing}")
        if topics[wanted] not in types:
            raise UsageError(
                f"{what} topic {wanted} has type {topics[wanted]}, which replay cannot decode; "
                f"supported: {', '.join(types)}"
            )
        return wanted, topics[wanted]
    matches = sorted((t, m) for t, m in topics.items() if m in types)
    if len(matches) > 1:
        names = ", ".join(t for t, _ in matches)
        raise UsageError(f"several {what} topics ({names}); choose one with --{what}-topic")
    return matches[0] if matches else None


def _node_config(args: argparse.Namespace, image_topic: str | None, audio: tuple[str, str] | None):
    """The node's parameters (its defaults + the replay's options), validated by the node's code."""
    from avemotion_core.stream.node_config import ConfigError, NodeConfig

    values: dict = {}
    for name in ("image_size", "face_detector", "raw_audio_format", "raw_audio_rate", "raw_audio_channels"):
        if getattr(args, name) is not None:
            values[name] = getattr(args, name)
    if args.hop is not None:
        values["hop_seconds"] = args.hop
    if args.threads is not None:
        values["num_threads"] = args.threads
    if audio is not None:
        values["audio_flavour"], values["audio_stamped"] = AUDIO_TYPES[audio[1]]
    values["image_topic"] = image_topic or ""
    values["audio_topic"] = audio[0] if audio else ""
    try:
        return NodeConfig.from_values(values)
    except ConfigError as exc:
        raise UsageError(str(exc)) from exc


def replay(args: argparse.Namespace) -> dict:
    """Run the bag and return ``{"windows": [...], "summary": {...}}``."""
    from rosbags.rosbag2 import Reader
    from rosbags.rosbag2.errors import ReaderError
    from tqdm import tqdm

    from avemotion_core.faces import make_cropper
    from avemotion_core.stream import FeatureStream, StreamScheduler, WindowJob, freeze_for_streaming
    from avemotion_core.stream import messages as convert
    from avemotion_core.stream.node_config import resolve_face_detector

    bag_path = existing_path(args.bag, "bag")
    ranges = read_labels(existing_path(args.labels, "labels", "file")) if args.labels else None
    try:
        reader = Reader(bag_path)
        reader.open()
    except ReaderError as exc:
        raise CliError(f"cannot open rosbag2 {bag_path}: {exc}") from exc
    try:
        image = _pick_topic(reader, args.image_topic, IMAGE_TYPES, "image")
        audio = _pick_topic(reader, args.audio_topic, tuple(AUDIO_TYPES), "audio")
        if image is None and audio is None:
            listing = ", ".join(f"{c.topic} [{c.msgtype}]" for c in reader.connections) or "none"
            raise UsageError(f"no camera or audio topic in {bag_path}; topics: {listing}")
        cfg = _node_config(args, image[0] if image else None, audio)
        store = typestore(cfg.audio_flavour)
        learner = load_learner(args.model, args.device)
        image_size = cfg.image_size or learner.image_size  # as the node: 0 = the model's own size
        if cfg.num_threads:  # as the node does
            import torch

            torch.set_num_threads(cfg.num_threads)
        frozen = freeze_for_streaming(learner, image_size)  # as the node does
        if frozen:
            print(f"replay: {frozen}", file=sys.stderr)
        stream_cfg = cfg.stream_config()
        if stream_cfg.hop_note():
            print(f"replay: {stream_cfg.hop_note()}", file=sys.stderr)
        scheduler = StreamScheduler(stream_cfg)

        def decode(job):  # the node's _decode
            return convert.frame_from_msg(job.payload, job.kind == "compressed", cfg.max_frame_side)[1]

        detector = resolve_face_detector(cfg.face_detector, learner.face_detector)  # as the node
        features = FeatureStream(learner, make_cropper(detector, image_size), stream_cfg, decode)
        raw_format = cfg.raw_format() if cfg.audio_flavour == "raw" else None
        chosen = {sel[0] for sel in (image, audio) if sel is not None}
        wanted = [c for c in reader.connections if c.topic in chosen]
        bag_start = reader.start_time * 1e-9
        bag_seconds = reader.duration * 1e-9
        counts: Counter[str] = Counter()
        rows: list[dict] = []
        latencies: list[float] = []  # per window: the window head (frames are encoded as they arrive)
        frame_ms = 0.0
        t_run = time.perf_counter()
        quiet = args.no_progress or "-" in (args.csv, args.json)
        declared: Counter[str] = Counter()
        for c in wanted:
            declared[c.topic] += c.msgcount
        read: Counter[str] = Counter({topic: 0 for topic in declared})
        messages = tqdm(
            _read_bag(reader.messages(connections=wanted), bag_path, declared.total()),
            total=declared.total(),
            desc="replay",
            unit="msg",
            disable=quiet,
            leave=False,
        )
        for conn, log_ns, raw in messages:
            read[conn.topic] += 1
            is_image = image is not None and conn.topic == image[0]
            kind = "image" if is_image else "audio"
            try:
                msg = store.deserialize_cdr(raw, conn.msgtype)
            except Exception:  # noqa: BLE001 - any corrupt payload is one dropped message
                counts[f"malformed_{kind}_deserialize"] += 1
                continue
            counts[f"{kind}_messages"] += 1
            try:
                if is_image:  # the node's _on_frame: the stamp and field checks, no pixels
                    compressed = conn.msgtype.endswith("CompressedImage")
                    kind = "compressed" if compressed else "image"
                    jobs = scheduler.add_frame(convert.frame_stamp(msg, compressed), msg, kind)
                else:  # the node's _on_audio; unstamped audio ended when it was logged
                    arrival = None if cfg.audio_stamped else log_ns * 1e-9
                    jobs = scheduler.add_audio(*convert.audio_from_msg(msg, raw_format, arrival))
            except convert.ConversionError as exc:
                counts[f"malformed_{kind}_{exc.reason}"] += 1
                continue
            for job in jobs:  # the node's worker: frames encoded once, windows from the cache
                t0 = time.perf_counter()
                if not isinstance(job, WindowJob):
                    features.run_frames([job])
                    frame_ms += (time.perf_counter() - t0) * 1e3
                    continue
                win = features.run_window(job)
                if win is None:
                    continue
                ms = (time.perf_counter() - t0) * 1e3
                latencies.append(ms)
                centre = (win.start + win.end) / 2 - bag_start
                truth = label_at(ranges, centre) if ranges is not None else None
                cat = win.category
                rows.append(
                    {
                        "window": len(rows),
                        "start": round(win.start - bag_start, 4),
                        "end": round(win.end - bag_start, 4),
                        "stamp_end": round(win.end, 6),
                        "mode": win.mode,
                        "label": cat.description,
                        "confidence": cat.confidence,
                        "true_label": truth or "",
                        "faces_missing": win.frames_present - win.faces_found,
                        "face_coverage": round(win.face_coverage, 4),
                        "audio_coverage": round(win.audio_coverage, 4),
                        "frame_coverage": round(win.frame_coverage, 4),
                        "latency_ms": round(ms, 3),
                        "scores": cat.scores,
                    }
                )
    finally:
        reader.close()
    if not counts.get("image_messages") and not counts.get("audio_messages"):
        raise CliError(f"the bag {bag_path} has no messages on the selected topics")
    summary = {
        "bag": str(bag_path),
        "image_topic": image[0] if image else None,
        "audio_topic": audio[0] if audio else None,
        "windows": len(rows),
        "bag_seconds": bag_seconds,
        "wall_seconds": time.perf_counter() - t_run,
        "latency_ms": _percentiles(latencies),
        "frame_encoding_ms_per_window": frame_ms / len(rows) if rows else None,
        "modes": dict(Counter(r["mode"] for r in rows)),
        "messages": {t: {"read": read[t], "declared": declared[t]} for t in sorted(declared)},
        "counters": {**{k: int(v) for k, v in scheduler.stats.items()},
                     **{k: int(v) for k, v in features.stats.items()}, **dict(counts)},
    }
    if ranges is not None:
        summary["scoring"] = _score(rows, list(learner.labels))
    return {"windows": rows, "summary": summary}


def _read_bag(messages: Iterable, bag_path: Path, declared: int) -> Iterator:
    """The bag's messages; damage found while reading (a corrupt sqlite3 page, a broken mcap chunk)
    ends the replay with one line naming the bag and how far it got of the ``declared`` messages,
    whatever the storage plugin raised. Only the reader is guarded: an error in our own processing
    still shows its traceback."""
    count, it = 0, iter(messages)
    while True:
        try:
            item = next(it)
        except StopIteration:
            return
        except Exception as exc:  # noqa: BLE001 - each storage plugin has its own error types
            raise CliError(f"the bag {bag_path} is damaged after {count} of {declared} declared messages: "
                           f"{type(exc).__name__}: {exc}") from exc
        count += 1
        yield item


def shortfall(summary: dict) -> str | None:
    """One line when fewer messages were read than the bag's index declares (garbage inside can make
    the storage plugin skip records without an error), else None."""
    short = {t: c for t, c in summary["messages"].items() if c["read"] < c["declared"]}
    if not short:
        return None
    counts = ", ".join(f"{t}: read {c['read']} of {c['declared']} declared messages"
                       for t, c in short.items())
    return f"the bag {summary['bag']} is short: {counts}"


def _percentiles(values: list[float]) -> dict:
    if not values:
        return {"p50": None, "p95": None, "max": None, "mean": None}
    arr = np.asarray(values)
    return {
        "p50": float(np.percentile(arr, 50)),
        "p95": float(np.percentile(arr, 95)),
        "max": float(arr.max()),
        "mean": float(arr.mean()),
    }


def _score(rows: list[dict], labels: list[str]) -> dict:
    """Accuracy and confusion over windows whose centre lies in a labelled range."""
    scored = [r for r in rows if r["true_label"]]
    unknown = sorted({r["true_label"] for r in scored} - set(labels))
    if unknown:
        raise UsageError(f"labels file uses {unknown}, which the model does not know ({', '.join(labels)})")
    index = {name: i for i, name in enumerate(labels)}
    matrix = np.zeros((len(labels), len(labels)), np.int64)
    for r in scored:
        matrix[index[r["true_label"]], index[r["label"]]] += 1
    correct = int(np.trace(matrix))
    return {
        "labelled_windows": len(scored),
        "unlabelled_windows": len(rows) - len(scored),
        "acc": correct / len(scored) if scored else None,
        "labels": labels,
        "confusion_matrix": matrix.tolist(),
    }


CSV_FIELDS = (
    "window",
    "start",
    "end",
    "stamp_end",
    "mode",
    "label",
    "confidence",
    "true_label",
    "faces_missing",
    "face_coverage",
    "audio_coverage",
    "frame_coverage",
    "latency_ms",
)


def run(args: argparse.Namespace) -> int:
    if args.hop is not None and args.hop <= 0:
        raise UsageError(f"--hop must be > 0, got {args.hop}")
    result = replay(args)
    rows, summary = result["windows"], result["summary"]
    short = shortfall(summary)
    if short and args.strict:
        raise CliError(f"{short}; --strict refuses a bag that holds less than it declares")
    if short:
        print(f"avemotion replay: warning: {short} (damaged?)", file=sys.stderr)
    table = [[r[k] for k in CSV_FIELDS] for r in rows]
    if args.csv:
        write_csv(args.csv, CSV_FIELDS, table)
    if args.json:
        write_json(args.json, result)
    if args.out_dir:
        out = Path(args.out_dir)
        out.mkdir(parents=True, exist_ok=True)
        write_csv(out / "windows.csv", CSV_FIELDS, table)
        write_json(out / "summary.json", summary)
        if "scoring" in summary:
            sc = summary["scoring"]
            header, crow = confusion_rows(sc["confusion_matrix"], sc["labels"])
            write_csv(out / "confusion.csv", header, crow)
            acc = "n/a" if sc["acc"] is None else f"{sc['acc']:.3f}"
            save_confusion_png(
                out / "confusion.png",
                sc["confusion_matrix"],
                sc["labels"],
                f"replay acc {acc} (n={sc['labelled_windows']})",
            )
    if "-" not in (args.csv, args.json):
        lat = summary["latency_ms"]
        print(
            f"{summary['windows']} windows from {summary['bag_seconds']:.1f} s of bag "
            f"in {summary['wall_seconds']:.1f} s; modes {summary['modes']}"
        )
        if lat["p50"] is not None:
            print(
                f"latency per window: p50 {lat['p50']:.1f} ms, p95 {lat['p95']:.1f} ms, "
                f"max {lat['max']:.1f} ms"
            )
        dropped = {k: v for k, v in summary["counters"].items() if "dropped" in k or "malformed" in k}
        if dropped:
            print(f"dropped: {dropped}")
        if "scoring" in summary:
            sc = summary["scoring"]
            acc = "n/a" if sc["acc"] is None else f"{sc['acc']:.4f}"
            print(
                f"accuracy {acc} over {sc['labelled_windows']} labelled windows "
                f"({sc['unlabelled_windows']} unlabelled)"
            )
    if not rows:
        raise CliError(
            "no window was produced (the bag is shorter than one window, or every message was "
            "dropped: see the counters above)"
        )
    return 0
