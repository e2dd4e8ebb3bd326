"""Hostile input against the real ``emotion_node`` process over Fast DDS (issue 14 A-D, issue 11 5-6).

One node run covers decompression bombs on the compressed topic, integer values for float
parameters (params file and ``-p``), ``ros2 param describe`` / ``set`` through the parameter
services, and a SIGINT storm plus SIGTERM in the middle of an audio flood; a second node is
stopped by SIGTERM alone. Start-up refusals run as concurrent processes. Node starts cost ~10 s
each on a 2-core machine, hence the grouping.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from ros_support import ros_env  # noqa: F401
from test_convert import jpeg_bytes, png_bytes
from test_model_files import with_metadata
from test_ros_node import NODE, START_TIMEOUT, Listener, model_dir, topics  # noqa: F401


def start(env: dict[str, str], tmp_path: Path, name: str, params: dict, *extra: str) -> tuple:
    """The node renamed to ``name`` (own parameter services) with ``params`` from a YAML file."""
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"/**": {"ros__parameters": params}}))
    log = tmp_path / f"{name}.log"
    cmd = [NODE, "--ros-args", "-r", f"__node:={name}", "--params-file", str(path), *extra]
    return subprocess.Popen(cmd, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT), log


def wait(future, what: str, timeout: float = 15.0):
    end = time.monotonic() + timeout
    while not future.done():
        if time.monotonic() > end:
            pytest.fail(f"no answer to {what}")
        time.sleep(0.02)
    return future.result()


def exit_code(proc: subprocess.Popen, log: Path, timeout: float = 30.0) -> int:
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(f"emotion_node still running {timeout} s after the signals:\n{log.read_text()}")


def test_bombs_int_floats_live_parameters_and_a_signal_storm(ros_env, model_dir, tmp_path):  # noqa: F811
    from audio_common_msgs.msg import AudioStamped
    from diagnostic_msgs.msg import DiagnosticArray
    from rcl_interfaces.msg import ParameterType
    from rclpy.parameter import Parameter
    from rclpy.parameter_client import AsyncParameterClient
    from sensor_msgs.msg import CompressedImage, Image

    from avemotion_core.stream import messages as convert

    prefix = "/robust"
    params = dict(**topics(prefix), model_path=str(model_dir), image_size=64, qos="reliable", num_threads=1,
                  diagnostics_period=0.5, compressed_image_topic=f"{prefix}/compressed",
                  debug_image_topic=f"{prefix}/debug", window_seconds=4)  # an int for a double (D)
    proc, log = start(ros_env, tmp_path, "emotion_robust", params, "-p", "hop_seconds:=1")
    term_params = dict(**topics("/term"), model_path=str(model_dir), image_size=64)
    term, term_log = start(ros_env, tmp_path, "emotion_term", term_params)
    listener = Listener(prefix)
    node = listener.node
    debug_images: list = []
    node.create_subscription(Image, f"{prefix}/debug", debug_images.append, 10)
    diag_times: list[float] = []
    node.create_subscription(DiagnosticArray, f"{prefix}/diagnostics",
                             lambda _: diag_times.append(time.monotonic()), 10)
    compressed_pub = node.create_publisher(CompressedImage, f"{prefix}/compressed", 10)
    audio_pub = node.create_publisher(AudioStamped, f"{prefix}/audio", 100)
    client = AsyncParameterClient(node, "emotion_robust")
    term_listener = Listener("/term")
    try:
        listener.wait_for(lambda: compressed_pub.get_subscription_count() > 0
                          and audio_pub.get_subscription_count() > 0 and client.services_are_ready(),
                          START_TIMEOUT, proc, log, "the node's subscriptions and parameter services")
        # A, 4: bombs are counted drops, the node lives on and still decodes a good frame
        t0 = float(int(time.time()))
        payloads = [png_bytes(40000, 40000), jpeg_bytes(30000, 30000), bytes(jpeg_bytes(64, 48))]
        for i, data in enumerate(payloads):
            msg = CompressedImage(format="png" if i == 0 else "jpeg", data=data)
            msg.header.stamp.sec, msg.header.stamp.nanosec = convert.seconds_to_stamp(t0 + i * 0.1)
            compressed_pub.publish(msg)
        listener.wait_for(lambda: listener.counter("malformed_compressed_too_large") == 2
                          and listener.counter("frames") == 1, 20, proc, log, "the bombs to be counted")

        # D, 11.5: the integers were taken as doubles; descriptors say what each parameter accepts
        got = wait(client.get_parameters(["window_seconds", "hop_seconds"]), "get_parameters").values
        assert [v.double_value or v.integer_value for v in got] == [4, 1], got
        names = ["max_delay", "hop_seconds", "min_confidence", "qos_depth", "audio_flavour"]
        desc = {d.name: d for d in wait(client.describe_parameters(names), "describe").descriptors}
        assert desc["max_delay"].floating_point_range[0].to_value == 5.0 and desc["max_delay"].read_only
        assert desc["hop_seconds"].read_only and desc["hop_seconds"].description
        assert not desc["min_confidence"].read_only
        assert desc["qos_depth"].integer_range[0].from_value == 1
        assert desc["qos_depth"].type == ParameterType.PARAMETER_INTEGER
        assert "raw" in desc["audio_flavour"].additional_constraints

        # B, 11.5: ros2 param set is validated; live parameters apply at once
        def set_one(name: str, value) -> tuple[bool, str]:
            result = wait(client.set_parameters([Parameter(name, value=value)]), f"set {name}").results[0]
            return result.successful, result.reason

        for name, value, why in (("hop_seconds", 0.25, "read-only"), ("max_delay", 1e9, "read-only"),
                                 ("min_confidence", 2.0, "range"), ("min_confidence", "high", "number"),
                                 ("diagnostics_period", 1e-6, "range")):
            ok, reason = set_one(name, value)
            assert not ok and why in reason, (name, value, reason)
        assert set_one("debug_image", True) == (True, "")
        assert set_one("diagnostics_period", 0.1) == (True, "")
        time.sleep(1.0)
        recent = [t for t in diag_times if t > time.monotonic() - 1.0]
        assert len(recent) >= 6, f"{len(recent)} diagnostics in the last second at diagnostics_period 0.1"

        # C, 11.6: an audio flood; debug images appear, then min_confidence 1 (an int) drops every window
        flooding = threading.Event()
        flooding.set()

        def flood() -> None:
            chunk = np.zeros(160, np.float32)
            k = 0
            while flooding.is_set():
                msg = convert.fill_audio(AudioStamped(), chunk, 16000)
                msg.header.stamp.sec, msg.header.stamp.nanosec = convert.seconds_to_stamp(t0 + k * 0.01)
                audio_pub.publish(msg)
                k += 1

        flooder = threading.Thread(target=flood, daemon=True)
        flooder.start()
        listener.wait_for(lambda: len(debug_images) > 0, 60, proc, log, "a debug image (set live)")
        assert set_one("min_confidence", 1) == (True, "")
        got = wait(client.get_parameters(["min_confidence"]), "get min_confidence").values[0]
        assert (got.type, got.double_value) == (ParameterType.PARAMETER_DOUBLE, 1.0), got
        listener.wait_for(lambda: listener.counter("windows_dropped_low_confidence") >= 2, 60, proc, log,
                          "windows dropped by the live min_confidence")
        proc.send_signal(signal.SIGINT)
        for _ in range(10):  # ros2 launch / systemd: more signals while the node is cleaning up
            time.sleep(0.02)
            proc.send_signal(signal.SIGINT)
        proc.send_signal(signal.SIGTERM)
        code = exit_code(proc, log)
        flooding.clear()
        flooder.join()
        term_listener.wait_for(lambda: term_listener.emotion_sub.get_publisher_count() > 0, START_TIMEOUT,
                               term, term_log, "the second node")
        term.send_signal(signal.SIGTERM)
        term_code = exit_code(term, term_log)
    finally:
        for p in (proc, term):
            if p.poll() is None:
                p.kill()
        listener.close()
        term_listener.close()
    text = log.read_text()
    print(json.dumps(listener.diagnostics, indent=1))
    assert code == 0 and "Traceback" not in text, f"exit {code}:\n{text}"
    assert term_code == 0 and "Traceback" not in term_log.read_text(), term_log.read_text()


def test_startup_refuses_bad_parameters_and_metadata(ros_env, model_dir, tmp_path):  # noqa: F811
    base = dict(model_path=str(model_dir), image_size=64)

    def bad_meta(name: str, **changes) -> str:
        return str(with_metadata(tmp_path, name, model_dir, **changes))

    cases = {
        "max_delay": (dict(base, max_delay=1e9), "max_delay"),
        "string_for_double": (dict(base, hop_seconds="fast"), "hop_seconds"),
        "double_for_int": (dict(base, image_size=64.5), "image_size"),
        "num_class_null": (dict(base, model_path=bad_meta("nc", num_class=None)), "num_class"),
        "labels_5": (dict(base, model_path=bad_meta("lb", labels=5)), "labels"),
        "sha_abc": (dict(base, model_path=bad_meta("sha", sha256="abc")), "sha256"),
    }
    procs = {name: start(ros_env, tmp_path, f"bad_{name}", params) for name, (params, _) in cases.items()}
    try:
        for name, (proc, log) in procs.items():
            code = exit_code(proc, log, START_TIMEOUT)
            text = log.read_text()
            lines = [line for line in text.splitlines() if line.strip()]
            assert code == 2, f"{name}: exit {code}\n{text}"
            assert "Traceback" not in text and len(lines) == 1, f"{name}:\n{text}"
            assert lines[0].startswith("emotion_node: error:") and cases[name][1] in lines[0], text
    finally:  # a node that accepted its bad value must not outlive the test
        for proc, _ in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
