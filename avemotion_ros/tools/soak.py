"""Soak run of the real node: a live talking face over DDS for minutes, every window accounted for.

    python -m avemotion_ros.tools.soak --seconds 600 [--qos auto|sensor_data|reliable] [--model DIR]
        [--json report.json]

Starts ``emotion_node`` (the console script) in its own process and streams a stamped 30 fps
``rgb8`` camera and a 16 kHz microphone into it in real time, as a robot's drivers would. Reports

- end-to-end latency of every window: arrival of its ``/emotion`` message here minus the window
  end stamp, i.e. from the moment the window's last sample was recorded to the result being
  usable by a subscriber (windowing wait + face crops + MFCC + model + DDS);
- the node's resident memory (VmRSS) when its first result arrives and at the end of the stream;
- the window ledger from the node's own ``/diagnostics`` counters: every window the stream made
  due is published or dropped under a named reason, and nothing is left unexplained.

Exit status 0 when the node survived, published every window it accounted as published, and
the ledger balances. ``test/test_soak.py`` runs a short version; BENCHMARKS.md has 10 minutes.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from avemotion_core.fileio import atomic_write_bytes
from avemotion_ros.ros_env import RosEnvMissing, activate_in_process

PREFIX = "/avemotion_soak"
# Counters of the node that end a window's life other than being published.
DROP_REASONS = ("windows_dropped_low_confidence", "windows_dropped_error", "windows_dropped_busy",
                "windows_dropped_no_face")


@dataclass
class SoakReport:
    """What one soak run measured; ``problems()`` says whether it passed and why not."""

    seconds: float
    fps: float
    audio_rate: int
    hop_seconds: float
    qos: str = "auto"
    frames_sent: int = 0
    chunks_sent: int = 0
    node_exit_code: int | None = None
    received: int = 0
    expected_windows: int = 0
    counters: dict[str, float] = field(default_factory=dict)
    latency_ms: dict[str, float] = field(default_factory=dict)
    rss_mb_first_result: float = 0.0
    rss_mb_end: float = 0.0
    rss_mb_max: float = 0.0
    rss_samples: list[tuple[float, float]] = field(default_factory=list)
    modes: dict[str, int] = field(default_factory=dict)
    # (window end - stream start, latency ms, mode) of every result received
    results: list[tuple[float, float, str]] = field(default_factory=list)

    def ledger(self) -> dict[str, float]:
        """Windows cut by the node vs. their fates; both sides should be equal."""
        c = self.counters
        fates = {k: c.get(k, 0.0) for k in ("windows_published", *DROP_REASONS)}
        return {"windows_cut": c.get("windows", 0.0), "fates": sum(fates.values()), **fates,
                "windows_dropped_no_data": c.get("windows_dropped_no_data", 0.0)}

    def problems(self) -> list[str]:
        """What went wrong, in words; empty when the run passed."""
        out = []
        if self.node_exit_code != 0:
            out.append(f"node exit code {self.node_exit_code}")
        led = self.ledger()
        if led["windows_cut"] != led["fates"]:
            out.append(f"{led['windows_cut']:.0f} windows cut but {led['fates']:.0f} published or dropped")
        made_due = led["windows_cut"] + led["windows_dropped_no_data"]
        if abs(made_due - self.expected_windows) > 1:
            out.append(f"the stream made {self.expected_windows} windows due, "
                       f"the node accounts for {made_due:.0f}")
        if self.received != self.counters.get("windows_published", -1):
            out.append(f"received {self.received} results, node says it published "
                       f"{self.counters.get('windows_published', 0):.0f}")
        malformed = sum(v for k, v in self.counters.items() if k.startswith("malformed_"))
        if malformed:
            out.append(f"{malformed:.0f} of our own messages were counted malformed")
        return out

    def summary(self) -> str:
        led = self.ledger()
        lat = self.latency_ms
        lines = [
            f"soak: {self.seconds:.0f} s at {self.fps:g} fps + {self.audio_rate} Hz, "
            f"hop {self.hop_seconds} s, input QoS {self.qos}; node exit code {self.node_exit_code}",
            f"messages: node took {self.counters.get('frames', 0):.0f} of {self.frames_sent} frames and "
            f"{self.counters.get('audio_chunks', 0):.0f} of {self.chunks_sent} audio chunks",
            f"windows: {self.expected_windows} due by the stream; node cut {led['windows_cut']:.0f}, "
            f"published {led['windows_published']:.0f}, received {self.received}; dropped: "
            + ", ".join(f"{k.removeprefix('windows_')} {v:.0f}" for k, v in led.items()
                        if k.startswith("windows_") and k not in ("windows_cut", "windows_published")),
            f"modes: {self.modes}",
            "end-to-end latency (last sample -> /emotion received) ms: "
            + ", ".join(f"{k} {v:.0f}" for k, v in lat.items()),
            f"node RSS MB: {self.rss_mb_first_result:.1f} at first result, {self.rss_mb_end:.1f} at end "
            f"({self.rss_mb_end - self.rss_mb_first_result:+.1f}), max {self.rss_mb_max:.1f}",
        ]
        problems = self.problems()
        lines.append("result: OK" if not problems else "result: FAILED - " + "; ".join(problems))
        return "\n".join(lines)


def rss_mb(pid: int) -> float:
    """Resident set size of a live process in MiB (Linux /proc), 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    q = np.percentile(values, [50, 95, 99])
    return {"n": float(len(values)), "p50": q[0], "p95": q[1], "p99": q[2], "max": max(values),
            "mean": statistics.fmean(values)}


def expected_windows(seconds: float, window: float, hop: float, fps: float) -> int:
    """Windows the node's clock makes due: ends t0+window, +hop, ... up to the last frame's stamp."""
    last = seconds - 1.0 / fps
    return max(0, math.floor((last - window) / hop + 1e-9) + 1)


def run_soak(seconds: float, model: str = "", fps: float = 30.0, rate: int = 16000, hop: float = 0.48,
             node_log: Path | None = None, start_timeout: float = 180.0, progress: bool = True,
             qos: str = "auto") -> SoakReport:
    """Start the node, stream for ``seconds``, collect everything; needs the modern ROS env active."""
    import rclpy
    import yaml
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.duration import Duration
    from rclpy.executors import SingleThreadedExecutor
    from vision_msgs.msg import Classification

    from avemotion_ros.tools.av_publisher import AVPublisher, face_frames, speech_track

    chunk = int(round(0.1 * rate))  # AVPublisher.play's default chunk_seconds
    report = SoakReport(seconds=seconds, fps=fps, audio_rate=rate, hop_seconds=hop, qos=qos,
                        frames_sent=int(seconds * fps), chunks_sent=int(seconds * rate) // chunk,
                        expected_windows=expected_windows(seconds, 3.6, hop, fps))
    speech = speech_track(min(seconds, 30.0), rate)  # looped: espeak for 10 minutes adds nothing
    audio = np.resize(speech, int(seconds * rate)).astype(np.float32)
    frames = face_frames()
    with tempfile.TemporaryDirectory(prefix="avemotion_soak_") as tmp:
        params = Path(tmp) / "params.yaml"
        params.write_text(yaml.safe_dump({"emotion_node": {"ros__parameters": {
            "image_topic": f"{PREFIX}/camera", "audio_topic": f"{PREFIX}/audio",
            "output_topic": f"{PREFIX}/emotion", "diagnostics_topic": f"{PREFIX}/diagnostics",
            "model_path": model, "hop_seconds": hop, "qos": qos, "diagnostics_period": 1.0}}}))
        log = node_log.open("w") if node_log else subprocess.DEVNULL
        node_exe = str(Path(sys.executable).parent / "emotion_node")
        proc = subprocess.Popen([node_exe, "--ros-args", "--params-file", str(params)],
                                stdout=log, stderr=subprocess.STDOUT)
        if not rclpy.ok():
            rclpy.init()
        node = rclpy.create_node("avemotion_soak")
        arrivals: list[tuple[float, float, str]] = []  # (window end stamp, arrival wall time, mode)
        diagnostics: dict[str, float] = {}

        def on_emotion(msg: Classification) -> None:
            arrivals.append((msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9, time.time(),
                             msg.header.frame_id))
            if not report.rss_mb_first_result:
                report.rss_mb_first_result = rss_mb(proc.pid)

        def on_diagnostics(msg: DiagnosticArray) -> None:
            values = {}
            for kv in msg.status[0].values:
                try:
                    values[kv.key] = float(kv.value)
                except ValueError:
                    pass  # 'mode' and other words
            diagnostics.update(values)

        node.create_subscription(Classification, f"{PREFIX}/emotion", on_emotion, 100)
        node.create_subscription(DiagnosticArray, f"{PREFIX}/diagnostics", on_diagnostics, 10)
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        spinner = threading.Thread(target=executor.spin, daemon=True)
        spinner.start()
        pub = AVPublisher(node, f"{PREFIX}/camera", f"{PREFIX}/audio")
        stop_sampling = threading.Event()
        t0 = 0.0  # stream start stamp

        def sample_rss() -> None:
            start = time.monotonic()
            while not stop_sampling.wait(2.0):
                report.rss_samples.append((round(time.monotonic() - start, 1), round(rss_mb(proc.pid), 1)))
                if progress and len(report.rss_samples) % 30 == 0:
                    print(f"soak: +{report.rss_samples[-1][0]:.0f} s, {len(arrivals)} results, "
                          f"RSS {report.rss_samples[-1][1]:.1f} MB", flush=True)

        try:
            if not pub.wait_for_subscribers(start_timeout) or proc.poll() is not None:
                raise RuntimeError(f"emotion_node did not subscribe within {start_timeout} s "
                                   f"(exit code {proc.poll()})")
            threading.Thread(target=sample_rss, daemon=True).start()
            if progress:
                print(f"soak: streaming {seconds:.0f} s into emotion_node (pid {proc.pid}) ...", flush=True)
            t0 = time.time()
            pub.play(frames, fps, audio, rate, t0=t0)
            report.rss_mb_end = rss_mb(proc.pid)
            for p in (pub.image_pub, pub.audio_pub):
                p.wait_for_all_acked(Duration(seconds=5))
            # The last window is cut by the last messages; wait until the node's ledger settles.
            deadline = time.monotonic() + 15.0
            while time.monotonic() < deadline:
                time.sleep(1.5)
                report.counters = dict(diagnostics)
                report.received = len(arrivals)
                if (report.ledger()["windows_cut"] == report.ledger()["fates"]
                        and report.received == report.counters.get("windows_published")):
                    break
        finally:
            stop_sampling.set()
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
            try:
                report.node_exit_code = proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                report.node_exit_code = proc.wait()
            executor.shutdown()
            node.destroy_node()
    report.counters = dict(diagnostics)
    report.received = len(arrivals)
    report.latency_ms = percentiles([(arrived - end) * 1e3 for end, arrived, _ in arrivals])
    report.rss_mb_max = max((mb for _, mb in report.rss_samples), default=0.0)
    report.results = [(round(end - t0, 3), round((arrived - end) * 1e3, 1), mode)
                      for end, arrived, mode in arrivals]
    report.modes = dict(sorted(Counter(mode for *_, mode in arrivals).items()))
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=600.0, help="stream length (default 10 minutes)")
    ap.add_argument("--model", default="", help="model directory (default: the embedded model)")
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--rate", type=int, default=16000, help="microphone sample rate")
    ap.add_argument("--hop", type=float, default=0.48, help="node hop_seconds (whole 0.24 s lattice steps)")
    ap.add_argument("--qos", choices=("auto", "sensor_data", "reliable"), default="auto",
                    help="the node's input QoS (default auto, as the node's default)")
    ap.add_argument("--node-log", type=Path, help="write the node's output here")
    ap.add_argument("--json", type=Path, help="write the full report (with RSS samples) here")
    args = ap.parse_args(argv)
    if args.seconds < 5:
        ap.error("--seconds must be at least 5 (one 3.6 s window plus start-up)")
    try:
        activate_in_process("modern")  # also in os.environ, which the node's process inherits
    except RosEnvMissing as exc:
        sys.exit(f"soak: {exc}")
    os.environ.setdefault("ROS_DOMAIN_ID", str(random.randint(1, 100)))
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    import rclpy

    report = run_soak(args.seconds, args.model, args.fps, args.rate, args.hop, args.node_log, qos=args.qos)
    rclpy.try_shutdown()
    print(report.summary(), flush=True)
    if args.json:
        atomic_write_bytes(args.json, json.dumps(asdict(report), indent=2).encode())
    return 0 if not report.problems() else 1


if __name__ == "__main__":
    sys.exit(main())
