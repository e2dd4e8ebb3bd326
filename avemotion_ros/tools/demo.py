"""End-to-end demo: the real node, on the embedded model, fed a generated recording over DDS.

    python -m avemotion_ros.tools.demo [--model DIR] [--emotions happy,sad,angry]   (or: make demo)

Generates RAVDESS-style clips (a real face acting out each emotion, espeak-ng speech) with the
dataset generator, starts ``emotion_node`` in its own process, plays the clips back to back as a
live camera + microphone (stamped, real time) and prints every emotion the node publishes. Exits
0 when the node published at least one result and shut down cleanly.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from avemotion_ros.ros_env import RosEnvMissing, subprocess_env

PREFIX = "/avemotion_demo"
HELD_OUT_ACTORS = (3, 5)


def ensure_ros_env() -> None:
    """Re-execute this module with the built interfaces' environment unless it is already active.

    The dynamic loader reads LD_LIBRARY_PATH only at start-up, so the variables cannot be set
    from inside; re-executing once is what sourcing ``.build/ros_env.sh`` in a shell would do.
    """
    if os.environ.get("AVEMOTION_AUDIO_FLAVOUR") == "modern":
        return
    try:
        env = subprocess_env("modern")
    except RosEnvMissing as exc:
        sys.exit(f"demo: {exc}")
    os.execve(sys.executable, [sys.executable, "-m", "avemotion_ros.tools.demo", *sys.argv[1:]], env)


def make_recording(
    emotions: list[str], workdir: Path, rate: int
) -> tuple[list[np.ndarray], np.ndarray, list]:
    """Frames (30 fps) and audio (``rate`` Hz) of one clip per emotion, plus (start, end, label)."""
    from avemotion_core.data.synth import FPS, ClipSpec, generate_clip
    from avemotion_core.labels import EMOTIONS
    from avemotion_core.media.audio import load_audio
    from avemotion_core.media.video import probe_video, read_frames

    frames: list[np.ndarray] = []
    audio: list[np.ndarray] = []
    spans = []
    t = 0.0
    for i, name in enumerate(emotions):
        clip = ClipSpec(
            emotion=EMOTIONS.index(name) + 1,
            intensity=2 if name != "neutral" else 1,
            statement=i % 2 + 1,
            repetition=1,
            # Actors 3 and 5 were held out when the embedded model was trained (test / validation
            # actors in its TRAINING.json), so the demo shows faces and voices it never learned from.
            actor=HELD_OUT_ACTORS[i % len(HELD_OUT_ACTORS)],
        )
        wav, mp4 = generate_clip(clip, workdir, seed=7)
        info = probe_video(mp4)
        clip_frames = read_frames(mp4, list(range(info.n_frames)))
        seconds = len(clip_frames) / FPS
        clip_audio = load_audio(wav, sr=rate)[: int(round(seconds * rate))]
        clip_audio = np.pad(clip_audio, (0, int(round(seconds * rate)) - len(clip_audio)))
        frames += clip_frames
        audio.append(clip_audio)
        spans.append((t, t + seconds, name))
        t += seconds
    return frames, np.concatenate(audio).astype(np.float32), spans


def playing_at(spans: list, t: float) -> str:
    """The emotion of the clip that filled most of the 3.6 s window ending at ``t``."""
    overlaps = {name: max(0.0, min(end, t) - max(start, t - 3.6)) for start, end, name in spans}
    return max(overlaps, key=overlaps.get)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="", help="model directory (default: the embedded model)")
    ap.add_argument("--emotions", default="happy,sad,angry,neutral")
    ap.add_argument("--rate", type=int, default=16000, help="microphone sample rate")
    args = ap.parse_args(argv)
    ensure_ros_env()
    os.environ.setdefault("ROS_DOMAIN_ID", str(random.randint(1, 100)))
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")

    import rclpy
    import yaml
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.duration import Duration
    from vision_msgs.msg import Classification

    from avemotion_core.stream.node_config import NodeConfig
    from avemotion_ros.tools.av_publisher import AVPublisher

    model = NodeConfig(model_path=args.model).model_dir()
    if not (model / "metadata.json").is_file():
        print(
            f"demo: no model at {model}; pass --model DIR (saved by AudiovisualEmotionLearner.save)",
            file=sys.stderr,
        )
        return 1
    emotions = [e.strip() for e in args.emotions.split(",") if e.strip()]
    with tempfile.TemporaryDirectory(prefix="avemotion_demo_") as tmp:
        tmpdir = Path(tmp)
        print(f"demo: generating {len(emotions)} clips ({', '.join(emotions)}) ...", flush=True)
        frames, audio, spans = make_recording(emotions, tmpdir / "clips", args.rate)
        params = tmpdir / "params.yaml"
        params.write_text(
            yaml.safe_dump(
                {
                    "emotion_node": {
                        "ros__parameters": {
                            "image_topic": f"{PREFIX}/camera",
                            "audio_topic": f"{PREFIX}/audio",
                            "output_topic": f"{PREFIX}/emotion",
                            "diagnostics_topic": f"{PREFIX}/diagnostics",
                            "model_path": str(model),
                            "qos": "reliable",
                        }
                    }
                }
            )
        )
        print(
            f"demo: starting emotion_node on {model} (ROS_DOMAIN_ID={os.environ['ROS_DOMAIN_ID']}) ...",
            flush=True,
        )
        node_proc = subprocess.Popen(
            [sys.executable, "-m", "avemotion_ros.emotion_node", "--ros-args", "--params-file", str(params)]
        )
        rclpy.init()
        node = rclpy.create_node("avemotion_demo")
        results: list[Classification] = []

        def on_emotion(msg: Classification) -> None:
            results.append(msg)
            t = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9 - t0
            top = ", ".join(f"{r.class_id} {r.score:.2f}" for r in msg.results[:3])
            truth = playing_at(spans, t)
            print(
                f"  window ending +{t:5.2f} s [{msg.header.frame_id}]: {top}  (playing: {truth})",
                flush=True,
            )

        node.create_subscription(Classification, f"{PREFIX}/emotion", on_emotion, 50)
        diagnostics: dict[str, str] = {}

        def on_diagnostics(msg: DiagnosticArray) -> None:
            diagnostics.update({kv.key: kv.value for kv in msg.status[0].values})

        node.create_subscription(DiagnosticArray, f"{PREFIX}/diagnostics", on_diagnostics, 10)
        spinner = threading.Thread(target=rclpy.spin, args=(node,), daemon=True)
        pub = AVPublisher(node, f"{PREFIX}/camera", f"{PREFIX}/audio")
        t0 = float(int(time.time()))
        try:
            deadline = time.monotonic() + 180
            while not (pub.image_pub.get_subscription_count() and pub.audio_pub.get_subscription_count()):
                if node_proc.poll() is not None or time.monotonic() > deadline:
                    print("demo: emotion_node did not come up", file=sys.stderr)
                    return 1
                time.sleep(0.1)
            spinner.start()
            time.sleep(0.5)
            print(f"demo: streaming {len(frames) / 30:.1f} s of camera + microphone ...", flush=True)
            pub.play(frames, 30.0, audio, args.rate, t0=t0)
            for p in (pub.image_pub, pub.audio_pub):
                p.wait_for_all_acked(Duration(seconds=5))
            time.sleep(4.0)  # the last window is cut at the end of the stream; let inference finish
        finally:
            if node_proc.poll() is None:
                node_proc.send_signal(signal.SIGINT)
            code = node_proc.wait(30)
            node.destroy_node()
            rclpy.try_shutdown()
    print(f"demo: {len(results)} emotions published; node exit code {code}")
    print("demo: node counters: " + ", ".join(f"{k}={v}" for k, v in sorted(diagnostics.items())))
    return 0 if results and code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
