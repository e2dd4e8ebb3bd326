"""rosbag2 support without ROS (``rosbags``): the message types and ``avemotion bag-from-clip``.

Why a recorder here: the replay tool must be testable end to end without a robot, so a RAVDESS
clip is turned into exactly what a robot records: ``sensor_msgs/Image`` (rgb8) or
``CompressedImage`` (jpeg) frames at the clip's frame rate and ``audio_common_msgs`` audio chunks,
every header stamped with the time its first pixel/sample was captured and logged when it would
have been received (after the whole chunk was recorded). Both rosbag2 storages (mcap, sqlite3).
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np

from avemotion_core.cli.common import UsageError, existing_path, positive_int

ROS_INTERFACES = Path(__file__).resolve().parents[2] / "ros_interfaces"
AUDIO_PACKAGE_DIRS = {"modern": "audio_common_msgs", "raw": "audio_common_msgs_raw"}
IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")
# audio message type -> (flavour, stamped), as the node's audio_flavour / audio_stamped parameters
AUDIO_TYPES = {
    "audio_common_msgs/msg/AudioStamped": ("modern", True),
    "audio_common_msgs/msg/Audio": ("modern", False),
    "audio_common_msgs/msg/AudioDataStamped": ("raw", True),
    "audio_common_msgs/msg/AudioData": ("raw", False),
}
STORAGES = ("mcap", "sqlite3")


def typestore(audio_flavour: str = "modern"):
    """ROS 2 Kilted types plus the audio_common_msgs flavour read from ``ros_interfaces/*.msg``.

    The two flavours both define ``audio_common_msgs/msg/AudioData`` (differently), so one store
    holds one flavour.
    """
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    folder = ROS_INTERFACES / AUDIO_PACKAGE_DIRS[audio_flavour] / "msg"
    files = sorted(folder.glob("*.msg"))
    if not files:
        raise UsageError(f"no audio_common_msgs definitions in {folder} (run from a source checkout)")
    store = get_typestore(Stores.ROS2_KILTED)
    types: dict = {}
    for f in files:
        types.update(get_types_from_msg(f.read_text(), f"audio_common_msgs/msg/{f.stem}"))
    store.register(types)
    return store


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "bag-from-clip",
        help="record a clip into a rosbag2 (camera + audio topics) for replay",
        description="Write a rosbag2 (mcap or sqlite3) holding a clip's frames as camera messages "
        "and its audio as audio_common_msgs chunks, stamped as a live recording would be.",
    )
    p.add_argument(
        "clips",
        nargs="+",
        metavar="CLIP",
        help="video files, recorded back to back (audio: --audio, the RAVDESS 03-*.wav partner "
        "of a 02-*.mp4, or the clip's own track)",
    )
    p.add_argument("--out", required=True, help="bag directory to create (must not exist)")
    p.add_argument("--audio", default=None, help="separate audio file starting with the (single) clip")
    p.add_argument(
        "--labels-out",
        default=None,
        help="also write a replay labels CSV (start,end,label from RAVDESS file names)",
    )
    p.add_argument("--storage", choices=STORAGES, default="mcap")
    p.add_argument("--image-topic", default="/camera/image_raw")
    p.add_argument("--compressed", action="store_true", help="write sensor_msgs/CompressedImage (jpeg)")
    p.add_argument("--audio-topic", default="/audio")
    p.add_argument(
        "--audio-flavour",
        choices=("modern", "raw"),
        default="modern",
        help="modern: AudioStamped (int16_data); raw: AudioDataStamped (int16 bytes)",
    )
    p.add_argument("--audio-rate", type=positive_int, default=16000, help="sample rate of the chunks")
    p.add_argument("--chunk-ms", type=positive_int, default=100, help="audio chunk length (default 100 ms)")
    p.add_argument(
        "--start",
        type=float,
        default=1_700_000_000.0,
        help="header stamp of the first frame, in seconds (default 1700000000)",
    )
    return p


def _stamp(store, t: float, frame_id: str):
    from avemotion_core.stream.messages import seconds_to_stamp

    sec, nsec = seconds_to_stamp(t)
    time_cls = store.types["builtin_interfaces/msg/Time"]
    return store.types["std_msgs/msg/Header"](stamp=time_cls(sec=sec, nanosec=nsec), frame_id=frame_id)


def _image_msg(store, rgb: np.ndarray, header, compressed: bool):
    import cv2

    if compressed:
        ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
        if not ok:
            raise OSError("OpenCV could not encode a frame as JPEG")
        return store.types["sensor_msgs/msg/CompressedImage"](
            header=header, format="jpeg", data=data.reshape(-1)
        )
    h, w = rgb.shape[:2]
    return store.types["sensor_msgs/msg/Image"](
        header=header,
        height=h,
        width=w,
        encoding="rgb8",
        is_bigendian=0,
        step=w * 3,
        data=rgb.reshape(-1).copy(),
    )


def _audio_msg(store, pcm: np.ndarray, rate: int, header, flavour: str):
    t = store.types
    if flavour == "raw":
        data = np.frombuffer(pcm.astype("<i2").tobytes(), np.uint8)
        return t["audio_common_msgs/msg/AudioDataStamped"](
            header=header, audio=t["audio_common_msgs/msg/AudioData"](data=data)
        )
    empty = {
        name: np.zeros(0, dtype)
        for name, dtype in (
            ("float32_data", np.float32),
            ("int32_data", np.int32),
            ("int8_data", np.int8),
            ("uint8_data", np.uint8),
        )
    }
    data = t["audio_common_msgs/msg/AudioData"](int16_data=pcm, **empty)
    info = t["audio_common_msgs/msg/AudioInfo"](format=8, channels=1, rate=rate, chunk=len(pcm))
    return t["audio_common_msgs/msg/AudioStamped"](
        header=header, audio=t["audio_common_msgs/msg/Audio"](audio_data=data, info=info)
    )


def _clip_audio(video: Path, audio: Path | None, has_audio: bool, rate: int) -> np.ndarray:
    """The clip's audio at ``rate`` as int16 PCM."""
    from avemotion_core.cli.infer import audio_partner
    from avemotion_core.media.audio import load_audio

    source = audio or audio_partner(video) or (video if has_audio else None)
    if source is None:
        raise UsageError(f"{video} has no audio track and no 03-*.wav partner; pass --audio")
    track = load_audio(source, rate)
    return np.clip(np.round(track * 32768.0), -32768, 32767).astype(np.int16)


def ravdess_label(video: Path) -> str | None:
    """Emotion name from a RAVDESS file name (field 3), or None for other names."""
    from avemotion_core.labels import EMOTIONS

    fields = video.stem.split("-")
    if len(fields) == 7 and all(f.isdigit() for f in fields) and 1 <= int(fields[2]) <= len(EMOTIONS):
        return EMOTIONS[int(fields[2]) - 1]
    return None


def clips_to_bag(
    clips: list[tuple[Path, Path | None]],
    out: Path,
    storage: str = "mcap",
    image_topic: str = "/camera/image_raw",
    audio_topic: str = "/audio",
    compressed: bool = False,
    audio_flavour: str = "modern",
    audio_rate: int = 16000,
    chunk_ms: int = 100,
    start: float = 1_700_000_000.0,
) -> tuple[dict[str, int], list[tuple[float, float, Path]]]:
    """Record ``(video, audio or None)`` clips back to back into a new bag, written atomically
    (built in a temp dir beside ``out`` and renamed at the end).

    Each clip's audio is padded/cut to its video's length so both streams stay aligned across
    clips. Returns message counts per topic and each clip's (start, end) in seconds from the bag start.
    """
    from rosbags.rosbag2 import StoragePlugin, Writer

    from avemotion_core.media.video import probe_video, read_frames

    store = typestore(audio_flavour)
    image_type = IMAGE_TYPES[1] if compressed else IMAGE_TYPES[0]
    audio_type = "audio_common_msgs/msg/" + ("AudioDataStamped" if audio_flavour == "raw" else "AudioStamped")
    chunk = max(1, int(round(audio_rate * chunk_ms / 1000)))
    counts = {image_topic: 0, audio_topic: 0}
    spans: list[tuple[float, float, Path]] = []
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.") as staging:
        tmp_bag = Path(staging) / out.name
        plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
        with Writer(tmp_bag, version=9, storage_plugin=plugin) as writer:
            img_conn = writer.add_connection(image_topic, image_type, typestore=store)
            aud_conn = writer.add_connection(audio_topic, audio_type, typestore=store)
            offset = 0.0
            for video, audio in clips:
                info = probe_video(video)
                pcm = _clip_audio(video, audio, info.has_audio, audio_rate)
                n = int(round(info.duration * audio_rate))  # cut/pad at the end: audio starts with video
                pcm = np.concatenate([pcm[:n], np.zeros(max(0, n - len(pcm)), np.int16)])
                t0 = start + offset
                # (receive time ns, kind, index): a frame arrives when captured, a chunk once complete
                events = [(int(round((t0 + i / info.fps) * 1e9)), 0, i) for i in range(info.n_frames)]
                events += [
                    (int(round((t0 + (k + min(chunk, len(pcm) - k)) / audio_rate) * 1e9)), 1, k)
                    for k in range(0, len(pcm), chunk)
                ]
                events.sort()
                frames: dict[int, np.ndarray] = {}
                for log_ns, kind, idx in events:
                    if kind == 0:
                        if idx not in frames:  # decode in blocks: a clip's raw frames may not fit in memory
                            wanted = list(range(idx, min(idx + 64, info.n_frames)))
                            frames = dict(zip(wanted, read_frames(video, wanted), strict=False))
                        if idx not in frames:
                            continue  # the stream ended before its packet count said (dropped frame)
                        header = _stamp(store, t0 + idx / info.fps, "camera")
                        msg = _image_msg(store, frames.pop(idx), header, compressed)
                        writer.write(img_conn, log_ns, store.serialize_cdr(msg, image_type))
                        counts[image_topic] += 1
                    else:
                        header = _stamp(store, t0 + idx / audio_rate, "microphone")
                        msg = _audio_msg(store, pcm[idx : idx + chunk], audio_rate, header, audio_flavour)
                        writer.write(aud_conn, log_ns, store.serialize_cdr(msg, audio_type))
                        counts[audio_topic] += 1
                spans.append((offset, offset + info.duration, video))
                offset += info.duration
        os.replace(tmp_bag, out)
    return counts, spans


def run(args: argparse.Namespace) -> int:
    from avemotion_core.cli.common import write_csv

    clips = [existing_path(c, "clip", "file") for c in args.clips]
    audio = existing_path(args.audio, "audio", "file") if args.audio else None
    if audio is not None and len(clips) > 1:
        raise UsageError("--audio applies to a single clip; several clips take their own audio")
    out = Path(args.out)
    if out.exists():
        raise UsageError(f"{out} exists already; rosbag2 output must be a new directory")
    if args.start <= 0:
        raise UsageError("--start must be > 0 (a zero stamp means 'unset' to the node)")
    labels = [ravdess_label(c) for c in clips]
    if args.labels_out and None in labels:
        bad = clips[labels.index(None)]
        raise UsageError(f"--labels-out needs RAVDESS file names (emotion in field 3), not {bad.name}")
    counts, spans = clips_to_bag(
        [(c, audio) for c in clips],
        out,
        args.storage,
        args.image_topic,
        args.audio_topic,
        args.compressed,
        args.audio_flavour,
        args.audio_rate,
        args.chunk_ms,
        args.start,
    )
    if args.labels_out:
        rows = [
            [round(a, 6), round(b, 6), label, v.name] for (a, b, v), label in zip(spans, labels, strict=True)
        ]
        write_csv(args.labels_out, ["start", "end", "label", "clip"], rows)
    summary = ", ".join(f"{topic}: {n}" for topic, n in counts.items())
    print(f"wrote {args.storage} bag {out} ({summary} messages, {spans[-1][1]:.2f} s)")
    return 0
