"""Per-message cost of the node's audio path, from the message to the sample ring, by chunk size.

    python bench/audio_overhead.py [--seconds 8] [--chunks 1600@16000 256@48000 16@16000 16@48000 1@16000]
                                   [--before REV] [--no-dds] [--json PATH]

Microphone drivers send anything from one sample to a tenth of a second per message; the node's cost
per message must stay small enough that a 48 kHz driver in 256-sample chunks (~190 messages/s)
costs little. Two measurements, one run:

1. In process (no DDS): microseconds per message of what the node's audio callback runs
   (``audio_from_msg`` + ``StreamScheduler.add_audio`` under the node's lock), and of rclpy's own
   deserialisation of an ``AudioStamped`` (``rclpy.serialization.deserialize_message``, what the
   executor does for every message before our callback), for 1 ... 1600-sample chunks.
2. Over DDS (unless ``--no-dds``): the real ``emotion_node`` (audio only) fed int16 ``AudioStamped``
   in real time at each chunk size and rate, beside a do-nothing subscriber on the node's executor:
   CPU ms per second of stream (``/proc``), and from the two the cost of one message in the node
   above the floor; with the windows published and their latency. The publisher runs in this
   process; its achieved message rate is printed (a Python publisher tops out near 10k/s here).
``--before REV`` measures that git revision (a worktree) the same way in the same run, first, and
prints the ratios. Needs the ROS env (``make setup``).
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
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
# --before runs this script again with the other tree's avemotion packages imported first
TREE = Path(os.environ.get("AVEMOTION_BENCH_TREE", ROOT))
sys.path[:0] = [str(TREE), str(ROOT)]

import avemotion_core.stream  # noqa: E402, F401  (from TREE, before bench.node_cpu puts ROOT first)
from avemotion_ros.ros_env import subprocess_env  # noqa: E402
from bench.node_cpu import cpu_seconds  # noqa: E402

PREFIX = "/audiooverhead"
SINK = f"""
import signal, rclpy
from rclpy.experimental import EventsExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.signals import SignalHandlerOptions
from audio_common_msgs.msg import AudioStamped
stop = []
signal.signal(signal.SIGINT, lambda *a: stop.append(1))
rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
node = rclpy.create_node("audio_floor")
node.create_subscription(AudioStamped, "{PREFIX}/audio", lambda m: None,
                         QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE))
executor = EventsExecutor()
executor.add_node(node)
while not stop:
    executor.spin_once(timeout_sec=0.1)
"""


def chunk_spec(text: str) -> tuple[int, int]:
    """``SAMPLES@RATE`` -> (samples per message, rate)."""
    samples, rate = text.split("@")
    return int(samples), int(rate)


def messages(chunk: int, rate: int, seconds: float) -> list:
    """int16 AudioStamped chunks of a 440 Hz tone (stamps are set when sent)."""
    from audio_common_msgs.msg import AudioStamped

    from avemotion_core.stream import messages as convert

    n = int(seconds * rate) // chunk
    t = np.arange(n * chunk) / rate
    tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    return [convert.fill_audio(AudioStamped(), tone[i * chunk:(i + 1) * chunk], rate) for i in range(n)]


def in_process_us(chunk: int, rate: int, count: int = 3000) -> dict[str, float]:
    """µs per message: rclpy deserialisation, and the node's callback body (conversion + scheduler)."""
    from audio_common_msgs.msg import AudioStamped
    from rclpy.serialization import deserialize_message, serialize_message

    from avemotion_core.stream import StreamScheduler
    from avemotion_core.stream import messages as convert

    msgs = messages(chunk, rate, count * chunk / rate)
    t0 = 1_700_000_000.0
    for i, msg in enumerate(msgs):
        msg.header.stamp.sec, msg.header.stamp.nanosec = convert.seconds_to_stamp(t0 + i * chunk / rate)
    wire = [serialize_message(m) for m in msgs]
    start = time.perf_counter()
    for blob in wire:
        deserialize_message(blob, AudioStamped)
    deserialise = (time.perf_counter() - start) / len(wire)
    scheduler, lock = StreamScheduler(), threading.Lock()
    start = time.perf_counter()
    for msg in msgs:
        stamp, samples, r = convert.audio_from_msg(msg, None, None)
        with lock:
            scheduler.add_audio(stamp, samples, r)
    callback = (time.perf_counter() - start) / len(msgs)
    assert scheduler.stats["audio_chunks"] == len(msgs), scheduler.stats
    return {"deserialise_us": deserialise * 1e6, "callback_us": callback * 1e6}


def run_dds(chunk: int, rate: int, seconds: float, floor: bool, tree: Path = TREE) -> dict:
    """Stream audio into the node (or the do-nothing floor) in real time; its CPU per stream second."""
    import rclpy
    from audio_common_msgs.msg import AudioStamped
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from vision_msgs.msg import Classification

    from avemotion_core.stream import messages as convert

    msgs = messages(chunk, rate, seconds)
    with tempfile.TemporaryDirectory(prefix="avemotion_audio_") as tmp:
        params = Path(tmp) / "params.yaml"
        params.write_text(yaml.safe_dump({"emotion_node": {"ros__parameters": {
            "image_topic": "", "audio_topic": f"{PREFIX}/audio", "output_topic": f"{PREFIX}/emotion",
            "diagnostics_topic": f"{PREFIX}/diagnostics", "image_size": 64}}}))
        env = subprocess_env("modern")
        env["PYTHONPATH"] = os.pathsep.join([str(tree), env.get("PYTHONPATH", "")])
        code = "import sys; from avemotion_ros.emotion_node import main; sys.exit(main())"
        argv = ([sys.executable, "-c", SINK] if floor else
                [sys.executable, "-c", code, "--ros-args", "--params-file", str(params)])
        log = open(Path(tmp) / "node.log", "w")
        proc = subprocess.Popen(argv, env=env, cwd=tree, stdout=log, stderr=subprocess.STDOUT)
        node = rclpy.create_node("audio_overhead")
        arrivals: list[tuple[float, float]] = []
        node.create_subscription(Classification, f"{PREFIX}/emotion", lambda m: arrivals.append(
            (m.header.stamp.sec + m.header.stamp.nanosec * 1e-9, time.time())), 100)
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        threading.Thread(target=executor.spin, daemon=True).start()
        pub = node.create_publisher(AudioStamped, f"{PREFIX}/audio",
                                    QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE))
        try:
            end = time.monotonic() + 180
            while not pub.get_subscription_count():
                if proc.poll() is not None or time.monotonic() > end:
                    raise SystemExit(f"receiver did not start:\n{(Path(tmp) / 'node.log').read_text()}")
                time.sleep(0.1)
            time.sleep(2.0)  # model loaded and idle: start counting from here
            cpu0, t0, wall0 = cpu_seconds(proc.pid), time.time(), time.monotonic()
            for i, msg in enumerate(msgs):
                send_at = wall0 + (i + 1) * chunk / rate  # a chunk leaves once all its samples exist
                delay = send_at - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                stamp = convert.seconds_to_stamp(t0 + i * chunk / rate)
                msg.header.stamp.sec, msg.header.stamp.nanosec = stamp
                pub.publish(msg)
            sent_seconds = time.monotonic() - wall0
            time.sleep(1.0)  # the last window's inference
            cpu = cpu_seconds(proc.pid) - cpu0
        finally:
            proc.send_signal(2)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
            executor.shutdown()
            node.destroy_node()
    stream_seconds = len(msgs) * chunk / rate
    latency = [(arrived - end) * 1e3 for end, arrived in arrivals]
    return {"cpu_ms_per_stream_second": 1e3 * cpu / stream_seconds,
            "achieved_msgs_per_s": len(msgs) / sent_seconds, "windows": len(arrivals),
            "latency_ms_p50": float(np.percentile(latency, 50)) if latency else None,
            "loadavg": os.getloadavg()[0]}


def in_process_table(chunks: list[int], before: Path | None) -> dict[str, dict[int, dict[str, float]]]:
    """In-process µs per message for this tree and, with ``before``, that tree (in a subprocess)."""
    out = {"this tree": {c: in_process_us(c, 16000) for c in chunks}}
    if before is not None:
        with tempfile.NamedTemporaryFile(suffix=".json") as f:
            env = {**os.environ, "AVEMOTION_BENCH_TREE": str(before),
                   "AVEMOTION_BUILD_DIR": os.environ.get("AVEMOTION_BUILD_DIR", str(ROOT / ".build"))}
            subprocess.run([sys.executable, __file__, "--no-dds", "--json", f.name, "--chunks",
                            *(f"{c}@16000" for c in chunks)], env=env, check=True, capture_output=True)
            rows = json.loads(Path(f.name).read_text())
        out = {"before": {r["chunk"]: r for r in rows if "callback_us" in r}, **out}
    return out


def measure(args: argparse.Namespace, before: Path | None) -> list[dict]:
    rows: list[dict] = []
    chunks = sorted({c for c, _ in args.chunks})
    print("in process, µs per message (deserialise = rclpy, callback = the node's audio path):", flush=True)
    table = in_process_table(chunks, before)
    for chunk in chunks:
        line = f"  {chunk:5d} samples:"
        for name, values in table.items():
            us = values[chunk]
            rows.append({"tree": name, "chunk": chunk, "deserialise_us": us["deserialise_us"],
                         "callback_us": us["callback_us"]})
            line += f"  [{name}] deserialise {us['deserialise_us']:6.1f}, callback {us['callback_us']:6.1f}"
        if before is not None:
            ratio = table["before"][chunk]["callback_us"] / table["this tree"][chunk]["callback_us"]
            line += f"  -> callback {ratio:.1f}x faster"
        print(f"{line}  (load {os.getloadavg()[0]:.2f})", flush=True)
    if args.no_dds:
        return rows
    print("over DDS, CPU ms per second of stream (node, do-nothing floor):", flush=True)
    trees = ([("before", before)] if before is not None else []) + [("this tree", TREE)]
    for chunk, rate in args.chunks:
        floor = run_dds(chunk, rate, args.seconds, floor=True)
        msg_rate = rate / chunk
        cpu = {}
        for name, tree in trees:
            node = run_dds(chunk, rate, args.seconds, floor=False, tree=tree)
            per_msg = (node["cpu_ms_per_stream_second"] - floor["cpu_ms_per_stream_second"]) * 1e3 / msg_rate
            cpu[name] = node["cpu_ms_per_stream_second"]
            rows.append({"tree": name, "chunk": chunk, "rate": rate, "node": node, "floor": floor,
                         "node_us_per_message_above_floor": per_msg})
            lat = node["latency_ms_p50"]
            sent = node["achieved_msgs_per_s"]
            print(f"  {chunk:5d} @ {rate:5d} Hz ({msg_rate:7.1f} msg/s, sent {sent:7.1f}/s) "
                  f"[{name}]: node {node['cpu_ms_per_stream_second']:6.1f}, floor "
                  f"{floor['cpu_ms_per_stream_second']:6.1f} ms/s -> {per_msg:6.1f} µs/msg above floor; "
                  f"{node['windows']} windows, latency p50 {'-' if lat is None else f'{lat:.0f}'} ms "
                  f"(load {node['loadavg']:.2f}/{floor['loadavg']:.2f})", flush=True)
        if before is not None:
            print(f"  {'':>24} {cpu['before'] / cpu['this tree']:.2f}x less node CPU", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--chunks", type=chunk_spec, nargs="+",
                    default=[chunk_spec(s) for s in ("1600@16000", "256@48000", "16@16000", "16@48000",
                                                     "1@16000")])
    ap.add_argument("--no-dds", action="store_true", help="only the in-process figures")
    ap.add_argument("--before", default=None, help="git revision to compare with (measured first)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    from bench.model_forward import machine_line
    from bench.ros_session import checkout, ros_session

    with ros_session(), checkout(args.before) as before:
        rows = measure(args, before)
    print(machine_line(0))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
