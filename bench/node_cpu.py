"""CPU milliseconds per second of stream of the real ``emotion_node`` over DDS, beside another tree's node.

    python bench/node_cpu.py [--seconds 20] [--sizes 64 224] [--before REV] [--transport raw compressed]
                             [--faces 1 2 4] [--floor] [--repeats N] [--json PATH]

A publisher in this process streams a 30 fps 640x480 camera (a moving real face; ``rgb8`` Images, or
JPEG CompressedImages with ``--transport compressed``) and 16 kHz int16 audio in 1/30 s chunks, in
real time, to one node process at a time (reliable QoS, so every frame arrives). The node's CPU time
(user + system, ``/proc/<pid>/stat``) over the stream, divided by the stream's seconds, is the
headline figure, also split by thread; beside it the per-window latency (result arrival minus window
end stamp) p50/p95 and the modes published. ``--before REV`` runs the node of that git revision (a
worktree of this repository) first, in its own process, with its own defaults, so both columns come
from one run on one machine; ``--repeats N`` alternates the two N times and compares medians (a 15 s
run moves by +-20-30 ms/s from one run to the next). ``--floor`` also measures a process that
subscribes to the same topics with the node's executor (EventsExecutor) and does nothing: what rclpy
and DDS cost before any of our code runs. ``--faces 2 4`` shows that many people at once (the
astronaut and LFW faces in a 2x2 grid, each moving a little), each tracked and classified on its own
(``max_faces`` 4).
Needs the ROS env (``make setup``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from avemotion_ros.ros_env import subprocess_env  # noqa: E402
from bench.ros_session import checkout, ros_session  # noqa: E402

PREFIX = "/nodecpu"
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int, tid: int | None = None) -> float:
    stat = Path(f"/proc/{pid}/stat" if tid is None else f"/proc/{pid}/task/{tid}/stat")
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def thread_cpu(pid: int) -> Counter[str]:
    """CPU seconds per thread name (the main thread runs the executor; DDS and torch have their own)."""
    out: Counter[str] = Counter()
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            out[(task / "comm").read_text().strip()] += cpu_seconds(pid, int(task.name))
        except (OSError, ValueError):
            pass  # the thread ended meanwhile
    return out


def camera_frames(n: int = 30) -> list[np.ndarray]:
    """640x480 frames with a 256 px real face moving a little (the face a robot camera sees)."""
    from avemotion_ros.tools.av_publisher import face_frames

    out = []
    for i, face in enumerate(face_frames(n, 256)):
        canvas = np.full((480, 640, 3), 40, np.uint8)
        x = 180 + int(20 * np.sin(2 * np.pi * i / n))
        canvas[100:356, x : x + 256] = face
        out.append(canvas)
    return out


def people_frames(people: int, n: int = 30) -> list[np.ndarray]:
    """640x480 frames with ``people`` real faces (2..4) in a 2x2 grid, each moving a little."""
    import cv2
    from skimage import data

    faces = [cv2.resize(data.astronaut()[10:230, 113:333], (150, 150), interpolation=cv2.INTER_AREA)]
    lfw = data.lfw_subset()
    for k in (0, 1, 2):
        grey = cv2.resize((lfw[k] * 255).astype(np.uint8), (150, 150), interpolation=cv2.INTER_CUBIC)
        faces.append(np.repeat(grey[:, :, None], 3, axis=2))
    out = []
    for i in range(n):
        canvas = np.full((480, 640, 3), 40, np.uint8)
        dx = int(20 * np.sin(2 * np.pi * i / n))
        for p in range(people):
            x, y = 85 + 320 * (p % 2) + dx, 45 + 240 * (p // 2)
            canvas[y : y + 150, x : x + 150] = faces[p]
        out.append(canvas)
    return out


SINK = """
import sys, rclpy
from rclpy.experimental import EventsExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy
from audio_common_msgs.msg import AudioStamped
from sensor_msgs.msg import CompressedImage, Image
rclpy.init()
node = rclpy.create_node("avemotion_floor")
qos = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
compressed = sys.argv[1] == "compressed"
node.create_subscription(CompressedImage if compressed else Image,
                         sys.argv[2] + ("/compressed" if compressed else "/camera"), lambda m: None, qos)
node.create_subscription(AudioStamped, sys.argv[2] + "/audio", lambda m: None, qos)
executor = EventsExecutor()
executor.add_node(node)
try:
    while True:
        executor.spin_once(timeout_sec=0.2)
except BaseException:
    pass
"""


def jpeg_publisher(node, frames: list):
    """An AVPublisher whose camera sends each frame as a JPEG CompressedImage (encoded up front)."""
    import cv2
    from sensor_msgs.msg import CompressedImage

    from avemotion_core.stream import messages as convert
    from avemotion_ros.tools.av_publisher import AVPublisher

    jpegs = {id(f): cv2.imencode(".jpg", cv2.cvtColor(f, cv2.COLOR_RGB2BGR))[1].tobytes() for f in frames}

    class JpegPublisher(AVPublisher):
        def __init__(self) -> None:
            super().__init__(node, f"{PREFIX}/unused", f"{PREFIX}/audio")
            self.image_pub = node.create_publisher(CompressedImage, f"{PREFIX}/compressed", 30)

        def publish_frame(self, stamp: float, rgb: np.ndarray) -> None:
            msg = CompressedImage(format="jpeg", data=jpegs[id(rgb)])
            msg.header.stamp.sec, msg.header.stamp.nanosec = convert.seconds_to_stamp(stamp)
            self.image_pub.publish(msg)

    return JpegPublisher()


def run_node(tree: Path | None, size: int, seconds: float, frames: list, audio: np.ndarray, rate: int,
             transport: str = "raw", threads: int | None = None, faces: int = 1,
             max_faces: int | None = None) -> dict:
    """Stream into one process and measure it: the node of ``tree``, or the do-nothing floor (None)."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from vision_msgs.msg import Classification

    from avemotion_ros.tools.av_publisher import AVPublisher

    with tempfile.TemporaryDirectory(prefix="avemotion_nodecpu_") as tmp:
        params = Path(tmp) / "params.yaml"
        camera = ({"image_topic": "", "compressed_image_topic": f"{PREFIX}/compressed"}
                  if transport == "compressed" else {"image_topic": f"{PREFIX}/camera"})
        params.write_text(yaml.safe_dump({"emotion_node": {"ros__parameters": {
            **camera, "audio_topic": f"{PREFIX}/audio",
            "output_topic": f"{PREFIX}/emotion", "diagnostics_topic": f"{PREFIX}/diagnostics",
            "image_size": size, "qos": "reliable",
            **({} if max_faces is None else {"max_faces": max_faces}),
            **({} if threads is None else {"num_threads": threads})}}}))
        env = subprocess_env("modern")
        env["PYTHONPATH"] = os.pathsep.join([str(tree or ROOT), env.get("PYTHONPATH", "")])
        code = "import sys; from avemotion_ros.emotion_node import main; sys.exit(main())"
        argv = ([sys.executable, "-c", SINK, transport, PREFIX] if tree is None else
                [sys.executable, "-c", code, "--ros-args", "--params-file", str(params)])
        log = open(Path(tmp) / "node.log", "w")
        proc = subprocess.Popen(argv, env=env, cwd=tree or ROOT, stdout=log, stderr=subprocess.STDOUT)
        node = rclpy.create_node("avemotion_nodecpu")
        arrivals: list[tuple[float, float, str]] = []
        node.create_subscription(
            Classification, f"{PREFIX}/emotion",
            lambda m: arrivals.append((m.header.stamp.sec + m.header.stamp.nanosec * 1e-9, time.time(),
                                       m.header.frame_id)), 100)
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        threading.Thread(target=executor.spin, daemon=True).start()
        pub = (jpeg_publisher(node, frames) if transport == "compressed"
               else AVPublisher(node, f"{PREFIX}/camera", f"{PREFIX}/audio"))
        try:
            if not pub.wait_for_subscribers(180) or proc.poll() is not None:
                raise SystemExit(f"node of {tree} did not start:\n{(Path(tmp) / 'node.log').read_text()}")
            time.sleep(2.0)  # model loaded and idle: start counting from here
            cpu0, threads0 = cpu_seconds(proc.pid), thread_cpu(proc.pid)
            t0 = time.time()
            pub.play(frames, 30.0, audio, rate, t0=t0, chunk_seconds=1 / 30)
            time.sleep(1.0)  # the last window's inference
            cpu = cpu_seconds(proc.pid) - cpu0
            threads = thread_cpu(proc.pid)
            threads.subtract(threads0)
        finally:
            proc.terminate()
            proc.wait(30)
            executor.shutdown()
            node.destroy_node()
    latency = [(arrived - end) * 1e3 for end, arrived, _ in arrivals]
    return {
        "tree": str(tree), "image_size": size, "seconds": seconds, "transport": transport, "threads": threads,
        "faces": faces,
        "cpu_ms_per_stream_second": 1e3 * cpu / seconds,
        "windows": len(arrivals), "modes": dict(Counter(m for *_, m in arrivals)),
        "latency_ms_p50": float(np.percentile(latency, 50)) if latency else None,
        "latency_ms_p95": float(np.percentile(latency, 95)) if latency else None,
        "cpu_ms_per_stream_second_by_thread": {name: round(1e3 * v / seconds, 1)
                                               for name, v in threads.most_common() if v > 0},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 224])
    ap.add_argument("--before", default=None, help="git revision to compare with (run first)")
    ap.add_argument("--transport", nargs="+", default=["raw"], choices=("raw", "compressed"),
                    help="camera messages: rgb8 Images (raw) and/or JPEG CompressedImages")
    ap.add_argument("--floor", action="store_true", help="also measure a subscriber that does nothing")
    ap.add_argument("--threads", type=int, default=None,
                    help="the nodes' num_threads (default: each revision's own default)")
    ap.add_argument("--faces", type=int, nargs="+", default=[1], choices=(1, 2, 3, 4),
                    help="people in view at once (default 1)")
    ap.add_argument("--max-faces", type=int, default=None, help="the node's max_faces (default: its own)")
    ap.add_argument("--repeats", type=int, default=1,
                    help="runs per tree and setting, the trees alternating; the ratio is of the medians")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    from avemotion_ros.tools.av_publisher import speech_track
    from bench.model_forward import machine_line

    rate = 16000
    speech = speech_track(min(args.seconds, 20.0), rate)
    audio = np.resize(speech, int(args.seconds * rate)).astype(np.float32)
    rows = []
    with ros_session(localhost=False), checkout(args.before) as worktree:
        trees = ([(f"before ({args.before})", worktree)] if worktree else []) + [("this tree", ROOT)]
        for transport in args.transport:
            if args.floor:
                rows.append(run_node(None, 0, args.seconds, camera_frames(), audio, rate, transport))
                rows[-1]["name"] = "do-nothing subscriber"
                print(f"{'do-nothing subscriber':>24} {transport:>10}: "
                      f"{rows[-1]['cpu_ms_per_stream_second']:6.1f} CPU ms per stream s "
                      f"{rows[-1]['cpu_ms_per_stream_second_by_thread']}", flush=True)
            for people, size in ((p, s) for p in args.faces for s in args.sizes):
                frames = camera_frames() if people == 1 else people_frames(people)
                medians = {}
                for name, tree in trees * args.repeats:  # alternating: a slow spell hits both trees
                    row = run_node(tree, size, args.seconds, frames, audio, rate, transport, args.threads,
                                   people, args.max_faces)
                    row["name"] = name
                    rows.append(row)
                    medians.setdefault(name, []).append(row["cpu_ms_per_stream_second"])
                    print(f"{name:>24} {transport:>10} {people} face(s) {size:4d} px: "
                          f"{row['cpu_ms_per_stream_second']:6.1f} "
                          f"CPU ms per stream s; {row['windows']} windows {row['modes']}; latency p50 "
                          f"{row['latency_ms_p50']:.0f} ms, p95 {row['latency_ms_p95']:.0f} ms\n{'':>26}"
                          f"by thread: {row['cpu_ms_per_stream_second_by_thread']}", flush=True)
                if args.before:
                    before, after = (float(np.median(v)) for v in medians.values())
                    print(f"{'':>24} {transport:>10} {people} face(s) {size:4d} px: median {before:.1f} -> "
                          f"{after:.1f} ms/s ({args.repeats} run(s) each): {before / after:.2f}x less CPU "
                          "per second of stream", flush=True)
    print(machine_line(0))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
