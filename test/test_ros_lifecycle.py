"""``emotion_node`` as a managed node, driven through the real ``lifecycle_msgs`` services over DDS.

One node (relative topics, started in a namespace with a remap, ``autostart: false``) goes through
configure / activate / deactivate / activate / deactivate / cleanup while a microphone streams; a
second one with a broken model fails its configure and says why on ``/diagnostics``, and stays up.
"""

from __future__ import annotations

import os
import threading
import time

import numpy as np
from ros_support import ros_env  # noqa: F401
from test_ros_node import START_TIMEOUT, model_dir, start_node, stop_node, write_params  # noqa: F401

RATE = 16000


class Manager:
    """A lifecycle manager's view of one node: its services, its outputs, a live microphone."""

    def __init__(self, node, ns: str, image_remap: str):
        from audio_common_msgs.msg import AudioStamped
        from diagnostic_msgs.msg import DiagnosticArray
        from lifecycle_msgs.srv import ChangeState, GetState
        from sensor_msgs.msg import Image
        from vision_msgs.msg import Classification

        self.node, self.ns = node, ns
        self.change = node.create_client(ChangeState, f"{ns}/emotion_node/change_state")
        self.get = node.create_client(GetState, f"{ns}/emotion_node/get_state")
        self.emotions: list = []
        self.diagnostics: list = []
        self.emotion_sub = node.create_subscription(Classification, f"{ns}/emotion", self.emotions.append, 50)
        node.create_subscription(DiagnosticArray, f"{ns}/diagnostics", self.diagnostics.append, 10)
        self.image_pub = node.create_publisher(Image, f"{ns}/{image_remap}", 10)
        self.audio_pub = node.create_publisher(AudioStamped, f"{ns}/audio", 10)

    def call(self, client, request, timeout: float = 60.0):
        future = client.call_async(request)
        end = time.monotonic() + timeout
        while not future.done():
            assert time.monotonic() < end, f"no answer from {client.srv_name}"
            time.sleep(0.05)
        return future.result()

    def transition(self, transition_id: int) -> bool:
        from lifecycle_msgs.srv import ChangeState

        request = ChangeState.Request()
        request.transition.id = transition_id
        return self.call(self.change, request).success

    def state(self) -> str:
        from lifecycle_msgs.srv import GetState

        return self.call(self.get, GetState.Request()).current_state.label

    def last_status(self, timeout: float = 10.0):
        seen = len(self.diagnostics)
        end = time.monotonic() + timeout
        while len(self.diagnostics) == seen:
            assert time.monotonic() < end, "no /diagnostics"
            time.sleep(0.05)
        return self.diagnostics[-1].status[0]


def wait(predicate, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_lifecycle_transitions_and_a_failed_configure(ros_env, model_dir, tmp_path):  # noqa: F811
    import rclpy
    from audio_common_msgs.msg import AudioStamped
    from diagnostic_msgs.msg import DiagnosticStatus
    from lifecycle_msgs.msg import Transition
    from rclpy.executors import SingleThreadedExecutor

    from avemotion_core.stream import messages as convert

    ns, bad_ns = f"/lc{os.getpid()}", f"/lcbad{os.getpid()}"
    # no topic parameters: the node's relative defaults, moved by the namespace, 'image' remapped
    good = write_params(tmp_path, "good", model_path=str(model_dir), image_size=64, autostart=False,
                        diagnostics_topic="diagnostics", diagnostics_period=0.2, hop_seconds=0.48)
    bad = write_params(tmp_path, "bad", model_path=str(tmp_path / "no_model"), autostart=False,
                       diagnostics_topic="diagnostics", diagnostics_period=0.2)
    procs = {name: start_node(ros_env, params, tmp_path / f"{name}.log", "-r", f"__ns:={space}",
                              *(["-r", "image:=front/image"] if name == "good" else []))
             for name, params, space in (("good", good, ns), ("bad", bad, bad_ns))}
    if not rclpy.ok():
        rclpy.init()
    node = rclpy.create_node(f"lifecycle_manager_{os.getpid()}")
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    threading.Thread(target=executor.spin, daemon=True).start()
    m, b = Manager(node, ns, "front/image"), Manager(node, bad_ns, "image")
    stop_audio = threading.Event()

    def microphone() -> None:  # 0.1 s chunks of noise in real time, stamped with the wall clock
        rng = np.random.default_rng(0)
        while not stop_audio.is_set():
            msg = AudioStamped()
            convert.fill_audio(msg, (rng.standard_normal(RATE // 10) * 0.1).astype(np.float32), RATE, "int16")
            msg.header.stamp.sec, msg.header.stamp.nanosec = convert.seconds_to_stamp(time.time())
            m.audio_pub.publish(msg)
            time.sleep(0.1)

    mic = threading.Thread(target=microphone, daemon=True)
    try:
        for mgr, name in ((m, "good"), (b, "bad")):
            wait(lambda mgr=mgr: mgr.get.service_is_ready() and mgr.change.service_is_ready(),
                 START_TIMEOUT, f"{name} node's lifecycle services")
        # created: unconfigured, nothing subscribed or published, diagnostics already running
        assert m.state() == "unconfigured"
        status = m.last_status()
        assert status.level == DiagnosticStatus.WARN and status.message.startswith("unconfigured")
        assert m.audio_pub.get_subscription_count() == 0 and m.emotion_sub.get_publisher_count() == 0

        # the failing configure: FAILURE, the reason on /diagnostics and in the log, node still up
        assert not b.transition(Transition.TRANSITION_CONFIGURE)
        assert b.state() == "unconfigured"
        status = b.last_status()
        assert status.level == DiagnosticStatus.ERROR, status.message
        assert "cannot load model" in status.message, status.message
        assert procs["bad"].poll() is None
        log = (tmp_path / "bad.log").read_text()
        assert "configure failed: cannot load model" in log and "Traceback" not in log, log

        assert m.transition(Transition.TRANSITION_CONFIGURE) and m.state() == "inactive"
        wait(lambda: m.emotion_sub.get_publisher_count() > 0, 10, "the /emotion publisher")
        assert m.audio_pub.get_subscription_count() == 0  # inputs only once active

        mic.start()
        assert m.transition(Transition.TRANSITION_ACTIVATE) and m.state() == "active"
        # subscribed where the namespace and the remap put the topics
        wait(lambda: m.audio_pub.get_subscription_count() > 0 and m.image_pub.get_subscription_count() > 0,
             10, f"subscriptions to {ns}/audio and {ns}/front/image")
        wait(lambda: len(m.emotions) >= 2, 30, "windows while active")

        assert m.transition(Transition.TRANSITION_DEACTIVATE) and m.state() == "inactive"
        wait(lambda: m.audio_pub.get_subscription_count() == 0, 10, "unsubscribing")
        time.sleep(0.5)  # anything in flight lands
        quiet = len(m.emotions)
        time.sleep(3.0)  # the microphone keeps going: an inactive node publishes nothing
        assert len(m.emotions) == quiet
        assert m.last_status().message.startswith("inactive")

        assert m.transition(Transition.TRANSITION_ACTIVATE)
        wait(lambda: len(m.emotions) >= quiet + 2, 30, "windows after reactivation")
        # a new timeline: the windows after reactivation are stamped after the pause
        assert convert.stamp_seconds(m.emotions[-1].header) > convert.stamp_seconds(
            m.emotions[quiet - 1].header) + 3.0

        assert m.transition(Transition.TRANSITION_DEACTIVATE)
        assert m.transition(Transition.TRANSITION_CLEANUP) and m.state() == "unconfigured"
        wait(lambda: m.emotion_sub.get_publisher_count() == 0, 10, "the /emotion publisher to go")
    finally:
        stop_audio.set()
        codes = {name: stop_node(proc) for name, proc in procs.items()}
        executor.shutdown()
        node.destroy_node()
    for name, code in codes.items():
        text = (tmp_path / f"{name}.log").read_text()
        assert code == 0 and "Traceback" not in text, f"{name}: exit {code}\n{text}"

