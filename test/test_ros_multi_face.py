"""The real node over DDS with two real people in view: per-face outputs and ROS4HRI expressions.

A 640x480 camera shows the astronaut and an LFW face moving towards each other, crossing and
parting; the LFW face leaves after 6.5 s. The node publishes one ``Detection2D`` per tracked face
on ``faces_topic`` and, with ``ros4hri: true``, ``hri_msgs/Expression`` per face id.
"""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest
from ros_support import ros_env  # noqa: F401
from test_multi_face import LEAVES, SECONDS, centres, frame
from test_ros_node import START_TIMEOUT, model_dir, start_node, stop_node, write_params  # noqa: F401

from avemotion_core.expression import expression_from_scores

FPS, RATE = 10, 16000


def test_two_faces_get_stable_ids_boxes_and_ros4hri_expressions(ros_env, model_dir, tmp_path):  # noqa: F811
    import rclpy
    from hri_msgs.msg import Expression
    from rclpy.executors import SingleThreadedExecutor
    from vision_msgs.msg import Classification, Detection2DArray

    from avemotion_ros.tools.av_publisher import AVPublisher

    prefix = f"/mf{os.getpid()}"
    params = write_params(tmp_path, "node", model_path=str(model_dir), image_size=64, qos="reliable",
                          image_topic=f"{prefix}/camera", audio_topic=f"{prefix}/audio",
                          output_topic=f"{prefix}/emotion", faces_topic=f"{prefix}/faces",
                          diagnostics_topic=f"{prefix}/diagnostics", ros4hri=True, max_faces=4,
                          track_timeout=1.0)
    log = tmp_path / "node.log"
    proc = start_node(ros_env, params, log)
    if not rclpy.ok():
        rclpy.init()
    node = rclpy.create_node(f"multi_face_test_{os.getpid()}")
    got: dict[str, list] = {"faces": [], "emotion": []}
    expressions: dict[str, list] = {f"face{i}": [] for i in range(1, 5)}
    node.create_subscription(Detection2DArray, f"{prefix}/faces", got["faces"].append, 50)
    node.create_subscription(Classification, f"{prefix}/emotion", got["emotion"].append, 50)
    expression_subs = {i: node.create_subscription(Expression, f"/humans/faces/{i}/expression",
                                                   expressions[i].append, 50) for i in expressions}
    rig = AVPublisher(node, f"{prefix}/camera", f"{prefix}/audio")
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    threading.Thread(target=executor.spin, daemon=True).start()
    try:
        end = time.monotonic() + START_TIMEOUT
        while not rig.wait_for_subscribers(0.5):
            assert proc.poll() is None and time.monotonic() < end, log.read_text()
        t0 = time.time()
        rng = np.random.default_rng(0)
        frames = [frame(i / FPS) for i in range(int(SECONDS * FPS))]
        audio = (0.1 * rng.standard_normal(int(SECONDS * RATE))).astype(np.float32)
        rig.play(frames, FPS, audio, RATE, t0=t0)
        time.sleep(3.0)  # the last windows and the publisher clean-up
        # B's track ended (timeout after it left) and with it its expression publisher
        b_ids = set()
        deadline = time.monotonic() + 10
        while True:
            owners = assign(got["faces"], t0)
            b_ids = {i for i, who in owners.items() if who == "B"}
            if b_ids and all(expression_subs[i].get_publisher_count() == 0 for i in b_ids):
                break
            assert time.monotonic() < deadline, (owners, {i: s.get_publisher_count()
                                                          for i, s in expression_subs.items()})
            time.sleep(0.2)
    finally:
        code = stop_node(proc)
        executor.shutdown()
        node.destroy_node()
    text = log.read_text()
    assert code == 0 and "Traceback" not in text, text

    owners = assign(got["faces"], t0)
    assert sorted(owners.values()) == ["A", "B"], owners  # two stable ids, one per person, over 12 s
    a_id = next(i for i, who in owners.items() if who == "A")
    late = [m for m in got["faces"] if stamp(m) - t0 - 3.6 > LEAVES]
    assert late and all([d.id for d in m.detections] == [a_id] for m in late)
    assert len(got["emotion"]) >= len(got["faces"]) - 1 > 10

    # ROS4HRI: one Expression per face per window, field by field against that window's Detection2D
    by_stamp = {(round(stamp(m), 3), d.id): d for m in got["faces"] for d in m.detections}
    checked = 0
    for face_id, msgs in expressions.items():
        for msg in msgs:
            det = by_stamp[(round(stamp(msg), 3), face_id)]
            labels = [r.hypothesis.class_id for r in det.results]
            want = expression_from_scores(labels, [r.hypothesis.score for r in det.results])
            assert msg.expression == want.expression and msg.expression in {
                Expression.NEUTRAL, Expression.ANGRY, Expression.SAD, Expression.HAPPY, Expression.SURPRISED,
                Expression.DISGUSTED, Expression.SCARED}
            assert msg.confidence == pytest.approx(want.confidence, abs=1e-6)
            assert msg.valence == pytest.approx(want.valence, abs=1e-6)
            assert msg.arousal == pytest.approx(want.arousal, abs=1e-6)
            assert -1 <= msg.valence <= 1 and -1 <= msg.arousal <= 1 and 0 < msg.confidence <= 1
            checked += 1
    assert {i for i, m in expressions.items() if m} == set(owners), expressions.keys()
    assert checked >= 10


def stamp(msg) -> float:
    return msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9


def assign(faces_msgs: list, t0: float) -> dict[str, str]:
    """Which person each Detection2D id is: its box centre is nearest that face at the window end
    (within half a face); an id seen on both people fails here."""
    owners: dict[str, str] = {}
    for msg in faces_msgs:
        truth = centres(stamp(msg) - t0)
        if truth["B"] is None:  # B has left: its track, until it ends, is where B was last seen
            truth["B"] = centres(LEAVES - 0.1)["B"]
        for det in msg.detections:
            x, y = det.bbox.center.position.x, det.bbox.center.position.y
            person, (tx, ty) = min(((p, c) for p, c in truth.items() if c is not None),
                                   key=lambda pc: np.hypot(x - pc[1][0], y - pc[1][1]))
            assert np.hypot(x - tx, y - ty) < 75, (det.id, stamp(msg) - t0, x, y, truth)
            assert owners.setdefault(det.id, person) == person, (det.id, stamp(msg) - t0)
            assert len(det.results) == 8 and det.bbox.size_x > 50
    return owners
