"""How many camera frames reach a subscriber over DDS, by resolution, QoS and Fast DDS transport.

    python bench/qos_delivery.py [--seconds 5] [--sizes 640x480 1280x720] [--pub reliable best_effort]
                                 [--sub sensor_data reliable auto] [--transport default profile-cam]
                                 [--receiver plain node] [--json PATH]

A publisher process (``avemotion_ros.tools.camera_publisher``) streams ``rgb8`` Images at 30 fps,
paced on a wall clock as a camera driver does, with reliable (depth 10) or best-effort (depth 5)
QoS. A receiver process subscribes with one of the node's ``qos`` choices: ``sensor_data`` (best
effort, depth 50), ``reliable`` (depth 50) or ``auto`` (the node only: it follows the publisher).
The receiver is a plain rclpy subscriber on the node's executor (isolates DDS) or the real
``emotion_node`` (camera only; frames counted from its ``/diagnostics`` ``frames`` counter). Each
row prints the share of published frames received, the receiver's CPU ms per second of stream
(``/proc``), the 1-minute load average, and the host's UDP datagrams dropped for full socket buffers
meanwhile (``/proc/net/snmp``).

Transport settings (``TRANSPORTS``: the environment of the publisher and of the receiver):
  default       Fast DDS as it comes (shared memory + UDPv4 on one host; 512 KiB SHM segment)
  udp           FASTDDS_BUILTIN_TRANSPORTS=UDPv4 on both sides (no shared memory)
  udp-4mb       the same with 4 MiB socket buffers (net.core.rmem_max here is 4 MiB)
  async         RMW_FASTRTPS_PUBLICATION_MODE=ASYNCHRONOUS in the publisher
  profile-recv  config/fastdds_large_data.xml (8 MiB SHM segment) in the receiver only
  profile-cam   that profile in the camera publisher only (what README asks of a best-effort driver)
  profile-both  both
A best-effort publisher with a reliable subscription is incompatible QoS (nothing is delivered);
those rows are left out. Needs the ROS env (``make setup``).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from avemotion_ros.ros_env import subprocess_env  # noqa: E402
from bench.node_cpu import cpu_seconds  # noqa: E402

PROFILE = ROOT / "config" / "fastdds_large_data.xml"
TRANSPORTS = {  # name -> (publisher env, receiver env)
    "default": ({}, {}),
    "udp": ({"FASTDDS_BUILTIN_TRANSPORTS": "UDPv4"}, {"FASTDDS_BUILTIN_TRANSPORTS": "UDPv4"}),
    "udp-4mb": ({"FASTDDS_BUILTIN_TRANSPORTS": "UDPv4?sockets_size=4194304"},
                {"FASTDDS_BUILTIN_TRANSPORTS": "UDPv4?sockets_size=4194304"}),
    "async": ({"RMW_FASTRTPS_PUBLICATION_MODE": "ASYNCHRONOUS"}, {}),
    "profile-recv": ({}, {"FASTDDS_DEFAULT_PROFILES_FILE": str(PROFILE)}),
    "profile-cam": ({"FASTDDS_DEFAULT_PROFILES_FILE": str(PROFILE)}, {}),
    "profile-both": ({"FASTDDS_DEFAULT_PROFILES_FILE": str(PROFILE)},
                     {"FASTDDS_DEFAULT_PROFILES_FILE": str(PROFILE)}),
}
FPS = 30.0

SUBSCRIBER = """
import signal, sys, rclpy
from rclpy.experimental import EventsExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import Image
stop = []
signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
node = rclpy.create_node("qos_bench_receiver")
best_effort = sys.argv[2] == "sensor_data"
qos = QoSProfile(depth=50, reliability=ReliabilityPolicy.BEST_EFFORT if best_effort
                 else ReliabilityPolicy.RELIABLE)
count = [0]
node.create_subscription(Image, sys.argv[1], lambda m: count.__setitem__(0, count[0] + 1), qos)
executor = EventsExecutor()
executor.add_node(node)
while not stop:
    executor.spin_once(timeout_sec=0.1)
print(f"received {count[0]}", flush=True)
"""


def udp_errors() -> dict[str, int]:
    """Host-wide UDP datagrams dropped for a full receive / send buffer (``/proc/net/snmp``)."""
    lines = [ln.split() for ln in Path("/proc/net/snmp").read_text().splitlines() if ln.startswith("Udp:")]
    values = dict(zip(lines[0][1:], (int(v) for v in lines[1][1:]), strict=True))
    return {k: values[k] for k in ("RcvbufErrors", "SndbufErrors")}


def node_frames(diagnostics: list, timeout: float = 5.0) -> int | None:
    """Frames the node's scheduler took in (its ``frames`` counter) from its last /diagnostics."""
    end = time.monotonic() + timeout
    while time.monotonic() < end and not diagnostics:
        time.sleep(0.05)
    if not diagnostics:
        return None
    values = {kv.key: kv.value for kv in diagnostics[-1].status[0].values}
    return int(values.get("frames", 0))


def run_case(width: int, height: int, pub_qos: str, sub_qos: str, transport: str, receiver: str,
             seconds: float, tmp: Path) -> dict:
    """One publisher + one receiver process; the share of frames delivered and the receiver's CPU."""
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray

    case = f"s{width}x{height}/{pub_qos}/{sub_qos}/{transport.replace('-', '_')}/{receiver}"
    topic = f"/qosbench_{os.getpid()}/{case}/image"
    diag_topic = f"/qosbench_{os.getpid()}/diagnostics"
    pub_env, sub_env = (dict(subprocess_env("modern")) for _ in range(2))
    pub_env.update(TRANSPORTS[transport][0])
    sub_env.update(TRANSPORTS[transport][1])
    diagnostics: list = []
    helper = None
    if receiver == "node":
        params = tmp / "params.yaml"
        params.write_text(yaml.safe_dump({"emotion_node": {"ros__parameters": {
            "image_topic": topic, "audio_topic": "", "output_topic": "/qosbench/emotion",
            "diagnostics_topic": diag_topic, "diagnostics_period": 0.25, "qos": sub_qos}}}))
        code = "import sys; from avemotion_ros.emotion_node import main; sys.exit(main())"
        argv = [sys.executable, "-c", code, "--ros-args", "--params-file", str(params)]
        helper = rclpy.create_node("qos_bench_diag")
        helper.create_subscription(DiagnosticArray, diag_topic, diagnostics.append, 10)
    else:
        argv = [sys.executable, "-c", SUBSCRIBER, topic, sub_qos]
    for env in (pub_env, sub_env):
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    log = open(tmp / "receiver.log", "w+")
    receiver_proc = subprocess.Popen(argv, env=sub_env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    if receiver == "node":  # wait until it is active (model loaded), so frames are not lost to start-up
        end = time.monotonic() + 120
        while time.monotonic() < end and receiver_proc.poll() is None and "ready" not in (
                tmp / "receiver.log").read_text():
            rclpy.spin_once(helper, timeout_sec=0.1)
    time.sleep(0.5)
    pub_argv = [sys.executable, "-m", "avemotion_ros.tools.camera_publisher", "--topic", topic,
                "--size", f"{width}x{height}", "--fps", str(FPS), "--seconds", str(seconds),
                "--reliability", pub_qos]
    pub_proc = subprocess.Popen(pub_argv, env=pub_env, cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
    # CPU is counted from when the publisher starts streaming (it waits ~1 s for matching first)
    cpu0, udp0 = cpu_seconds(receiver_proc.pid), udp_errors()
    try:
        pub_out, _ = pub_proc.communicate(timeout=seconds + 90)
    except subprocess.TimeoutExpired:
        pub_proc.kill()
        pub_out = pub_proc.communicate()[0]
    time.sleep(0.3)
    udp = {k: v - udp0[k] for k, v in udp_errors().items()}
    cpu = cpu_seconds(receiver_proc.pid) - cpu0 if receiver_proc.poll() is None else float("nan")
    received: int | None = None
    if helper is not None:  # read the counter once it has stopped moving (the executor drained)
        last, end = None, time.monotonic() + 10
        while time.monotonic() < end:
            diagnostics.clear()
            rclpy.spin_once(helper, timeout_sec=0.5)
            value = node_frames(diagnostics, 0)
            if value is not None and value == last:
                break
            last = value if value is not None else last
        received = last
        helper.destroy_node()
    receiver_proc.send_signal(signal.SIGTERM if receiver == "plain" else signal.SIGINT)
    try:
        receiver_proc.wait(30)
    except subprocess.TimeoutExpired:
        receiver_proc.kill()
    log.seek(0)
    text = log.read()
    if receiver == "plain":
        lines = [ln for ln in text.splitlines() if ln.startswith("received ")]
        received = int(lines[-1].split()[1]) if lines else None
    published = next((int(ln.split()[1]) for ln in pub_out.splitlines() if ln.startswith("published ")), None)
    late = next((float(ln.split()[3]) for ln in pub_out.splitlines() if ln.startswith("published ")), None)
    if published is None or received is None:
        raise SystemExit(f"case {topic} failed:\npublisher: {pub_out}\nreceiver: {text}")
    return {"size": f"{width}x{height}", "publisher": pub_qos, "subscriber": sub_qos, "transport": transport,
            "receiver": receiver, "published": published, "received": received,
            "delivered_pct": 100.0 * received / published, "publisher_late_s": late,
            "receiver_cpu_ms_per_s": 1e3 * cpu / seconds, "loadavg": os.getloadavg()[0],
            "udp_buffer_drops": udp}


def udp_note(row: dict) -> str:
    drops = row["udp_buffer_drops"]
    return f"udp drops rcv {drops['RcvbufErrors']} snd {drops['SndbufErrors']}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--sizes", nargs="+", default=["640x480", "1280x720"])
    ap.add_argument("--pub", nargs="+", default=["reliable", "best_effort"],
                    choices=("reliable", "best_effort"))
    ap.add_argument("--sub", nargs="+", default=["sensor_data", "reliable", "auto"],
                    choices=("sensor_data", "reliable", "auto"), help="auto: the node's qos=auto (node only)")
    ap.add_argument("--transport", nargs="+", default=["default", "profile-cam"], choices=tuple(TRANSPORTS))
    ap.add_argument("--receiver", nargs="+", default=["plain"], choices=("plain", "node"))
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    from bench.model_forward import machine_line
    from bench.ros_session import ros_session

    rows = []
    print(f"{'size':>9} {'publisher':>11} {'subscriber':>11} {'transport':>12} {'receiver':>8} "
          f"{'delivered':>13} {'recv CPU ms/s':>13} {'load1':>5}", flush=True)
    with ros_session():
        for size in args.sizes:
            width, height = (int(v) for v in size.split("x"))
            for transport in args.transport:
                for pub_qos in args.pub:
                    for sub_qos in args.sub:
                        if pub_qos == "best_effort" and sub_qos == "reliable":
                            continue  # incompatible QoS: never matched
                        for receiver in args.receiver:
                            if sub_qos == "auto" and receiver == "plain":
                                continue
                            with tempfile.TemporaryDirectory(prefix="avemotion_qos_") as tmp:
                                row = run_case(width, height, pub_qos, sub_qos, transport, receiver,
                                               args.seconds, Path(tmp))
                            rows.append(row)
                            print(f"{size:>9} {pub_qos:>11} {sub_qos:>11} {transport:>12} {receiver:>8} "
                                  f"{row['received']:4d}/{row['published']:<4d}{row['delivered_pct']:4.0f}% "
                                  f"{row['receiver_cpu_ms_per_s']:13.1f} {row['loadavg']:5.2f} "
                                  f"{udp_note(row)}", flush=True)
    print(machine_line(0))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
