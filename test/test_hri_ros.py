"""ROS4HRI messages over real rclpy/DDS: ``hri_msgs/Expression`` from scores, and the face publisher.

- A child process builds ``hri_msgs/Expression`` messages from probability vectors with
  ``avemotion_ros.hri.expression_msg`` and publishes them; this process receives them and checks
  every field against hand-computed values (Russell & Mehrabian 1977, Table 4) and every constant
  against upstream ros4hri/hri_msgs 2.0.0.
- ``HriFacesPublisher`` plays a two-face schedule; a subscriber checks the tracked-id lists, the
  128x128 bgr8 crops (pixel for pixel), the rois, and that a face's topics go away with the face.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from ros_support import ros_env  # noqa: F401

from avemotion_core.expression import EXPRESSION_OF
from avemotion_core.labels import EMOTIONS

ROOT = Path(__file__).resolve().parents[1]

# Every constant of hri_msgs/Expression.msg in ros4hri/hri_msgs 2.0.0 (humble-devel), by hand.
UPSTREAM_CONSTANTS = {
    "NEUTRAL": "neutral", "ANGRY": "angry", "SAD": "sad", "HAPPY": "happy", "SURPRISED": "surprised",
    "DISGUSTED": "disgusted", "SCARED": "scared", "PLEADING": "pleading", "VULNERABLE": "vulnerable",
    "DESPAIRED": "despaired", "GUILTY": "guilty", "DISAPPOINTED": "disappointed",
    "EMBARRASSED": "embarrassed", "HORRIFIED": "horrified", "SKEPTICAL": "skeptical",
    "ANNOYED": "annoyed", "FURIOUS": "furious", "SUSPICIOUS": "suspicious", "REJECTED": "rejected",
    "BORED": "bored", "TIRED": "tired", "ASLEEP": "asleep", "CONFUSED": "confused", "AMAZED": "amazed",
    "EXCITED": "excited",
}
UPSTREAM_FIELDS = {
    "Expression": {"header": "std_msgs/Header", "expression": "string", "valence": "float",
                   "arousal": "float", "confidence": "float"},
    "IdsList": {"header": "std_msgs/Header", "ids": "sequence<string>"},
    "NormalizedRegionOfInterest2D": {"header": "std_msgs/Header", "xmin": "float", "ymin": "float",
                                     "xmax": "float", "ymax": "float", "c": "float"},
}


def _one_hot(name: str) -> list[float]:
    return [1.0 if n == name else 0.0 for n in EMOTIONS]


# (labels, probs) -> (expression, confidence, valence, arousal), computed by hand from the table.
CASES = [
    # .5*-.51 + .3*.81 + .2*-.63 = -.138 ; .5*.59 + .3*.51 + .2*-.27 = .394
    ((list(EMOTIONS), [{"angry": .5, "happy": .3, "sad": .2}.get(n, 0.0) for n in EMOTIONS]),
     ("angry", 0.5, -0.138, 0.394)),
    # neutral+calm pooled = .6 ; .3*.68 + .4*.81 = .528 ; .3*-.46 + .4*.51 = .066
    ((["neutral", "calm", "happy"], [0.3, 0.3, 0.4]), ("neutral", 0.6, 0.528, 0.066)),
    # .2*.40 + .5*-.64 + .3*-.60 = -.42 ; .2*.67 + .5*.60 + .3*.35 = .539
    ((["surprised", "fearful", "disgust"], [0.2, 0.5, 0.3]), ("scared", 0.5, -0.42, 0.539)),
    ((list(EMOTIONS), _one_hot("disgust")), ("disgusted", 1.0, -0.60, 0.35)),
]

PUBLISHER = """
import json, sys, time
import rclpy
from rclpy.duration import Duration
from hri_msgs.msg import Expression
from std_msgs.msg import Header
from avemotion_ros.hri import expression_msg, expression_topic

face_id, cases = sys.argv[1], json.loads(sys.argv[2])
rclpy.init()
node = rclpy.create_node("expression_publisher")
pub = node.create_publisher(Expression, expression_topic(face_id), 10)
end = time.monotonic() + 60
while not pub.get_subscription_count():
    if time.monotonic() > end:
        sys.exit("no subscriber")
    time.sleep(0.05)
time.sleep(0.3)
for i, (labels, probs) in enumerate(cases):
    header = Header()
    header.stamp.sec, header.stamp.nanosec, header.frame_id = 1_700_000_000 + i, 250_000_000, "camera"
    pub.publish(expression_msg(header, labels, probs))
pub.wait_for_all_acked(Duration(seconds=10))
node.destroy_node()
rclpy.try_shutdown()
"""


class Spinner:
    """A node of this process, spun in a background thread, that records what it receives."""

    def __init__(self, name: str):
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        if not rclpy.ok():
            rclpy.init()
        self.node = rclpy.create_node(name)
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def record(self, msg_type, topic: str) -> list:
        received: list = []
        self.node.create_subscription(msg_type, topic, received.append, 100)
        return received

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()


def wait_until(predicate, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_expression_from_scores_round_trips_between_processes(ros_env):  # noqa: F811
    from hri_msgs.msg import Expression, IdsList, NormalizedRegionOfInterest2D

    from avemotion_ros.hri import expression_topic

    for cls in (Expression, IdsList, NormalizedRegionOfInterest2D):
        assert cls.get_fields_and_field_types() == UPSTREAM_FIELDS[cls.__name__]
    topic = expression_topic("hriexp")
    assert topic == "/humans/faces/hriexp/expression"
    listener = Spinner("expression_listener")
    received = listener.record(Expression, topic)
    env = dict(ros_env, PYTHONPATH=os.pathsep.join([str(ROOT), ros_env.get("PYTHONPATH", "")]))
    child = subprocess.run([sys.executable, "-c", PUBLISHER, "hriexp", json.dumps([c for c, _ in CASES])],
                           env=env, capture_output=True, text=True, timeout=180)
    try:
        assert child.returncode == 0, child.stderr[-3000:]
        wait_until(lambda: len(received) == len(CASES), 10, f"{len(CASES)} expressions")
    finally:
        listener.close()
    for i, (msg, (_, expected)) in enumerate(zip(received, CASES, strict=True)):
        expression, confidence, valence, arousal = expected
        assert isinstance(msg, Expression)
        assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (1_700_000_000 + i, 250_000_000)
        assert msg.header.frame_id == "camera"
        assert msg.expression == expression
        # float32 on the wire: equal to the hand value rounded to float32
        for got, want in ((msg.confidence, confidence), (msg.valence, valence), (msg.arousal, arousal)):
            assert got == pytest.approx(float(np.float32(want)), abs=1e-7), (i, msg)
        for name, value in UPSTREAM_CONSTANTS.items():
            assert getattr(msg, name) == value
    assert set(EXPRESSION_OF.values()) <= set(UPSTREAM_CONSTANTS.values())


def _faces() -> list:
    from skimage import data

    from avemotion_ros.tools.hri_faces_publisher import FaceTrack

    astronaut = data.astronaut()[30:230, 140:340].copy()  # 200x200 around the face
    gradient = np.zeros((90, 160, 3), np.uint8)  # non-square, distinct channels: catches RGB/BGR swaps
    gradient[..., 0] = np.linspace(0, 255, 160, dtype=np.uint8)[None, :]
    gradient[..., 1] = np.linspace(0, 255, 90, dtype=np.uint8)[:, None]
    gradient[..., 2] = 40
    return [
        FaceTrack("alice", astronaut, 0.0, 1.25, roi=(0.1, 0.2, 0.4, 0.6), confidence=0.9),
        FaceTrack("bob", gradient, 0.65, 1.85, roi=(0.5, 0.1, 0.9, 0.5), confidence=0.75),
    ]


def expected_ids(t: float) -> list[str]:
    return [name for name, start, end in (("alice", 0.0, 1.25), ("bob", 0.65, 1.85)) if start <= t < end]


def test_faces_publisher_plays_the_schedule_like_hri_face_detect(ros_env):  # noqa: F811
    from hri_msgs.msg import IdsList, NormalizedRegionOfInterest2D
    from sensor_msgs.msg import Image

    from avemotion_ros.tools.hri_faces_publisher import HriFacesPublisher

    faces = _faces()
    listener = Spinner("faces_listener")
    tracked = listener.record(IdsList, "/humans/faces/tracked")
    per_face = {(f.face_id, kind): listener.record(cls, f"/humans/faces/{f.face_id}/{kind}")
                for f in faces for kind, cls in (("roi", NormalizedRegionOfInterest2D), ("cropped", Image),
                                                 ("aligned", Image))}
    rig = Spinner("faces_rig")
    pub = HriFacesPublisher(rig.node, faces)
    try:
        assert pub.wait_for_subscribers(30)
        rate, seconds = 10.0, 2.4
        t0 = pub.play(seconds, rate)
        n = int(seconds * rate)
        wait_until(lambda: len(tracked) == n, 10, f"{n} tracked lists")
        # a face's topics exist only while it is tracked: both have left by the end
        wait_until(lambda: all(rig.node.count_publishers(f"/humans/faces/{f.face_id}/cropped") == 0
                               for f in faces), 10, "the per-face publishers to go")
        assert rig.node.count_publishers("/humans/faces/tracked") == 1
    finally:
        pub.close()
        rig.close()
        listener.close()

    def offset(msg) -> float:
        return msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9 - t0

    offsets = [offset(m) for m in tracked]
    assert [round(t * rate) for t in offsets] == list(range(n))  # every instant, in order, on the grid
    for msg, t in zip(tracked, offsets, strict=True):
        assert list(msg.ids) == expected_ids(round(t * rate) / rate), t
        assert msg.header.frame_id == "camera"
    seen = {tuple(m.ids) for m in tracked}
    assert seen == {("alice",), ("alice", "bob"), ("bob",), ()}

    tracked_stamps = {(m.header.stamp.sec, m.header.stamp.nanosec): list(m.ids) for m in tracked}
    for face in faces:
        crop = cv2.resize(face.image, (128, 128), interpolation=cv2.INTER_AREA)[:, :, ::-1].tobytes()
        for kind in ("roi", "cropped", "aligned"):
            msgs = per_face[face.face_id, kind]
            assert len(msgs) >= 3, (face.face_id, kind, len(msgs))
            for msg in msgs:
                stamp = (msg.header.stamp.sec, msg.header.stamp.nanosec)
                assert face.face_id in tracked_stamps[stamp]  # same stamp as a list naming the face
                assert face.start <= offset(msg) < face.end
                assert msg.header.frame_id == "camera"
                if kind == "roi":
                    got = (msg.xmin, msg.ymin, msg.xmax, msg.ymax, msg.c)
                    assert got == pytest.approx((*face.roi, face.confidence), abs=1e-7)
                else:
                    assert (msg.width, msg.height, msg.encoding, msg.step) == (128, 128, "bgr8", 384)
                    assert msg.is_bigendian == 0
                    assert bytes(msg.data) == crop


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"face_id": "7up"}, "face '7up': not usable in a topic name"),
        ({"face_id": "a/b"}, "face 'a/b': not usable in a topic name"),
        ({"image": np.zeros((10, 10), np.uint8)}, "image must be RGB uint8 HxWx3"),
        ({"image": np.zeros((10, 10, 3), np.float32)}, "image must be RGB uint8 HxWx3"),
        ({"start": 2.0, "end": 1.0}, "needs a finite start before its end"),
        ({"start": math.nan}, "needs a finite start before its end"),
        ({"crops_until": math.nan}, "crops_until must be a time (or math.inf), got nan"),
        ({"roi": (0.5, 0.1, 0.4, 0.9)}, "is not a normalised (xmin, ymin, xmax, ymax) box"),
        ({"roi": (0.0, 0.0, 1.5, 1.0)}, "is not a normalised (xmin, ymin, xmax, ymax) box"),
        ({"confidence": 1.2}, "confidence 1.2 is not in [0, 1]"),
    ],
)
def test_faces_publisher_refuses_bad_schedules(ros_env, change, message):  # noqa: F811
    import dataclasses

    from avemotion_ros.tools.hri_faces_publisher import FaceTrack, HriFacesPublisher

    node = Spinner("faces_bad_schedule")
    good = FaceTrack("carol", np.zeros((8, 8, 3), np.uint8), 0.0, math.inf)
    try:
        HriFacesPublisher(node.node, [good])  # the baseline is accepted
        with pytest.raises(ValueError) as info:
            HriFacesPublisher(node.node, [dataclasses.replace(good, **change)])
        assert message in str(info.value) and "\n" not in str(info.value)
        with pytest.raises(ValueError, match="face ids must be unique"):
            HriFacesPublisher(node.node, [good, good])
    finally:
        node.close()
