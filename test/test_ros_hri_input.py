"""ROS4HRI input mode: the real node takes faces from an ``hri_face_detect``-like publisher over DDS.

``face_source: ros4hri`` runs no face detector: it follows ``/humans/faces/tracked`` and each id's
``cropped`` image, and publishes ``expression`` for those upstream ids. Here "alice" (the astronaut)
is tracked throughout, "bob" (an LFW face) from 1 s to 6 s, and "carol" from 7 s. "mallory", from
1.5 s on, sends crops in an encoding no decoder takes: only her crops are dropped. "frank", listed
from 0.5 s on, sends no crop after 4 s: he is not classified from his last crop ever after. With
``max_faces`` 4, "dave", listed fifth from 2 s to 5 s, is left alone: no subscription, no output.
"""

from __future__ import annotations

import math
import os
import threading
import time

import numpy as np
import pytest
from ros_support import ros_env  # noqa: F401
from test_multi_face import ASTRO, LFW
from test_ros_node import START_TIMEOUT, model_dir, start_node, stop_node, write_params  # noqa: F401

from avemotion_core.expression import expression_from_scores

SECONDS, RATE = 11.0, 16000


def test_ros4hri_input_follows_upstream_ids_and_publishes_their_expressions(ros_env, model_dir,  # noqa: F811
                                                                             tmp_path):
    import rclpy
    from hri_msgs.msg import Expression
    from rclpy.executors import SingleThreadedExecutor
    from vision_msgs.msg import Detection2DArray

    from avemotion_ros.tools.av_publisher import AVPublisher
    from avemotion_ros.tools.hri_faces_publisher import FaceTrack, HriFacesPublisher

    prefix = f"/hri{os.getpid()}"
    params = write_params(tmp_path, "node", model_path=str(model_dir), image_size=64, qos="reliable",
                          face_source="ros4hri", ros4hri=True, max_faces=4, image_topic="",
                          audio_topic=f"{prefix}/audio", output_topic=f"{prefix}/emotion",
                          faces_topic=f"{prefix}/faces", diagnostics_topic=f"{prefix}/diagnostics")
    log = tmp_path / "node.log"
    proc = start_node(ros_env, params, log)
    if not rclpy.ok():
        rclpy.init()
    node = rclpy.create_node(f"hri_input_test_{os.getpid()}")
    faces: list = []
    node.create_subscription(Detection2DArray, f"{prefix}/faces", faces.append, 50)
    names = ("alice", "bob", "carol", "frank", "mallory", "dave")
    expressions: dict[str, list] = {name: [] for name in names}
    subs = {name: node.create_subscription(Expression, f"/humans/faces/{name}/expression", got.append, 50)
            for name, got in expressions.items()}
    detector = HriFacesPublisher(node, [FaceTrack("alice", ASTRO, 0.0, math.inf),
                                        FaceTrack("bob", LFW, 1.0, 6.0),
                                        FaceTrack("carol", LFW[:, ::-1].copy(), 7.0, math.inf),
                                        FaceTrack("frank", ASTRO[::-1].copy(), 0.5, math.inf,
                                                  crops_until=4.0),
                                        FaceTrack("mallory", LFW, 1.5, math.inf),
                                        FaceTrack("dave", ASTRO[:, ::-1].copy(), 2.0, 5.0)])
    detector._crops["mallory"].encoding = "32FC1"  # as broken upstream: each of her crops is refused
    mic = AVPublisher(node, f"{prefix}/unused_camera", f"{prefix}/audio")
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    threading.Thread(target=executor.spin, daemon=True).start()
    try:
        end = time.monotonic() + START_TIMEOUT
        while not (detector.wait_for_subscribers(0.5) and mic.audio_pub.get_subscription_count()):
            assert proc.poll() is None and time.monotonic() < end, log.read_text()
        t0 = time.time()
        audio = (0.1 * np.random.default_rng(0).standard_normal(int(SECONDS * RATE))).astype(np.float32)
        talk = threading.Thread(target=lambda: mic.play([], 1.0, audio, RATE, t0=t0, video_until=0))
        talk.start()
        # while alice, bob, frank, mallory and dave are listed: who the node subscribed to for crops
        crop_readers: list[tuple[int, int]] = []
        look = threading.Timer(max(0.0, t0 + 4.0 - time.time()), lambda: crop_readers.append(
            tuple(node.count_subscribers(f"/humans/faces/{i}/cropped") for i in ("bob", "dave"))))
        look.start()
        detector.play(SECONDS, rate=10.0, t0=t0)
        talk.join()
        look.join()
        time.sleep(2.0)
        bob_publishers = subs["bob"].get_publisher_count()
        alice_publishers = subs["alice"].get_publisher_count()
    finally:
        detector.close()
        code = stop_node(proc)
        executor.shutdown()
        node.destroy_node()
    text = log.read_text()
    assert code == 0 and "Traceback" not in text, text

    seen = {d.id for m in faces for d in m.detections}
    # the upstream ids, none of our own; dave, listed fifth, over max_faces; mallory: every crop refused
    assert seen == {"alice", "bob", "carol", "frank"}, seen
    assert "dropped ros4hri face 'mallory' crop" in text, text
    assert crop_readers == [(1, 0)], crop_readers
    assert not expressions["dave"] and not expressions["mallory"]
    assert all(len(d.results) == 8 for m in faces for d in m.detections)
    # bob left at 6 s: his expression publisher went with him; alice's is still there
    assert bob_publishers == 0 and alice_publishers == 1, (bob_publishers, alice_publishers)
    assert expressions["alice"] and expressions["bob"] and expressions["carol"] and expressions["frank"]
    by_stamp = {(round(stamp(m), 3), d.id): d for m in faces for d in m.detections}
    for face_id, msgs in expressions.items():
        for msg in msgs:
            det = by_stamp[(round(stamp(msg), 3), face_id)]
            want = expression_from_scores([r.hypothesis.class_id for r in det.results],
                                          [r.hypothesis.score for r in det.results])
            assert msg.expression == want.expression
            assert (msg.confidence, msg.valence, msg.arousal) == pytest.approx(
                (want.confidence, want.valence, want.arousal), abs=1e-6)
            t = stamp(msg) - t0
            if face_id == "bob":  # a window is reported while its face showed in half of it
                assert 1.0 + 1.8 - 0.3 <= t <= 6.0 + 1.8 + 0.3, t
            if face_id == "carol":
                assert t >= 7.0 + 1.8 - 0.3, t
            if face_id == "frank":  # his last crop counts for track_timeout (1 s)
                assert t <= 4.0 + 1.0 + 1.8 + 0.3, t


def stamp(msg) -> float:
    return msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
