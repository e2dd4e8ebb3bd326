"""``emotion_node`` parameters that the main node scenario does not exercise, on real node processes.

Node starts cost seconds of imports each, so one test runs four nodes at once, fed by one publisher:

- ``a``: CompressedImage (JPEG) camera showing a tilted head (found by MTCNN, not by Haar),
  custom ``labels``, ``face_detector: mtcnn``,
  ``max_frame_side`` below the camera's size, ``debug_image``, a ``min_confidence`` every window
  passes, one malformed image mid-stream and a camera that stops: checks published labels, the
  debug image's size and content (camera frame, label text, face box around the face), and the
  diagnostics level/message going OK -> WARN.
- ``b``: raw Image camera, *unstamped* audio (``audio_stamped: false``, ``audio_common_msgs/Audio``
  stamped on arrival), ``face_detector: none``, ``min_confidence: 1.0``: every window is inferred
  in ``audiovisual`` mode and then dropped and counted, nothing is published, diagnostics stay OK.
- ``labels`` naming 2 classes for an 8-class model, and ``audio_flavour: raw`` in a process whose
  ``audio_common_msgs`` is the modern one: both must refuse to start (exit 2, one clear line).

Assertions are about the behaviour under test, not exact window counts or timing.
"""

from __future__ import annotations

import array
import json
import subprocess
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from media_helpers import ASTRONAUT_FACE_CENTRE
from ros_support import ros_env  # noqa: F401
from test_ros_node import start_node, stop_node, write_params

from avemotion_core.labels import EMOTIONS

START_TIMEOUT = 120.0  # four nodes import torch at once on a shared 2-core machine
LABELS = [f"class_{k}" for k in range(8)]
FPS, RATE, SECONDS, CAMERA_STOPS, STALE_AFTER = 30, 16000, 9.0, 6.5, 1.0
SIDE, MAX_SIDE = 320, 200  # the camera's frames and the node's max_frame_side
MALFORMED_AT = 5.0  # seconds into the stream: one undecodable JPEG for node a
YELLOW = np.array([255, 255, 0])  # the debug label's colour (RGB)
OK, WARN = 0, 1  # diagnostic_msgs/DiagnosticStatus levels


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    from avemotion_core.learner import AudiovisualEmotionLearner

    path = tmp_path_factory.mktemp("model") / "ia"
    AudiovisualEmotionLearner(fusion="ia").save(str(path))
    return path


class Outputs:
    """Everything one node publishes: classifications, debug images, every diagnostics status."""

    def __init__(self, node, prefix: str):
        from diagnostic_msgs.msg import DiagnosticArray
        from sensor_msgs.msg import Image
        from vision_msgs.msg import Classification

        self.emotions: list = []
        self.debug: list = []
        self.statuses: list[tuple[int, str, dict[str, str]]] = []  # (level, message, values)
        self.emotion_sub = node.create_subscription(Classification, f"{prefix}/emotion",
                                                    self.emotions.append, 50)
        node.create_subscription(Image, f"{prefix}/debug", self.debug.append, 50)
        node.create_subscription(DiagnosticArray, f"{prefix}/diagnostics", self._on_diag, 50)

    def _on_diag(self, msg) -> None:
        s = msg.status[0]
        level = int.from_bytes(s.level, "little") if isinstance(s.level, bytes) else int(s.level)
        self.statuses.append((level, s.message, {kv.key: kv.value for kv in s.values}))

    def counter(self, key: str) -> float:
        return float(self.statuses[-1][2].get(key, 0)) if self.statuses else 0.0


def stamp_of(msg) -> float:
    return msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9


def set_stamp(msg, t: float) -> None:
    from avemotion_core.stream.messages import seconds_to_stamp

    msg.header.stamp.sec, msg.header.stamp.nanosec = seconds_to_stamp(t)


def test_node_parameters_end_to_end(ros_env, model_dir, tmp_path):  # noqa: F811
    import rclpy
    from audio_common_msgs.msg import Audio, AudioStamped
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import CompressedImage, Image

    from avemotion_core.stream import messages as convert
    from avemotion_ros.tools.av_publisher import face_frames, speech_track

    common = dict(model_path=str(model_dir), image_size=64, qos="reliable", qos_depth=50, num_threads=1,
                  diagnostics_period=0.5, max_delay=1.0, stale_after=STALE_AFTER)
    a, b = "/cov_a", "/cov_b"
    configs = {
        "a": dict(common, image_topic="", compressed_image_topic=f"{a}/jpeg", audio_topic=f"{a}/audio",
                  output_topic=f"{a}/emotion", diagnostics_topic=f"{a}/diagnostics",
                  labels=", ".join(LABELS), face_detector="mtcnn", max_frame_side=MAX_SIDE,
                  min_confidence=0.05, debug_image=True, debug_image_topic=f"{a}/debug"),
        "b": dict(common, image_topic=f"{b}/camera", audio_topic=f"{b}/audio", audio_stamped=False,
                  output_topic=f"{b}/emotion", diagnostics_topic=f"{b}/diagnostics",
                  face_detector="none", min_confidence=1.0),
        "labels": dict(model_path=str(model_dir), labels="calm,angry"),
        "flavour": dict(model_path=str(model_dir), audio_flavour="raw"),
    }
    procs = {}
    for name, params in configs.items():
        log = tmp_path / f"{name}.log"
        procs[name] = (start_node(ros_env, write_params(tmp_path, name, **params), log), log)

    if not rclpy.ok():
        rclpy.init()
    node = rclpy.create_node("coverage_rig")
    out = {"a": Outputs(node, a), "b": Outputs(node, b)}
    jpeg_pub = node.create_publisher(CompressedImage, f"{a}/jpeg", 50)
    audio_a = node.create_publisher(AudioStamped, f"{a}/audio", 50)
    image_b = node.create_publisher(Image, f"{b}/camera", 50)
    audio_b = node.create_publisher(Audio, f"{b}/audio", 50)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()

    frames = face_frames(FPS, SIDE)
    # node a's camera shows the head tilted by 35 degrees (about the face centre): MTCNN finds it in
    # every frame, the Haar cascade in none, so audiovisual windows show that mtcnn is what runs
    centre = tuple(float(c) * SIDE / 512 for c in ASTRONAUT_FACE_CENTRE)
    tilt = cv2.getRotationMatrix2D(centre, 35, 1.0)
    tilted = [cv2.warpAffine(f, tilt, (SIDE, SIDE), borderMode=cv2.BORDER_REFLECT) for f in frames]
    jpegs = [cv2.imencode(".jpg", cv2.cvtColor(f, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])[1]
             for f in tilted]
    decoded = [cv2.cvtColor(cv2.imdecode(j, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB) for j in jpegs]
    speech = speech_track(SECONDS, RATE)
    chunk = RATE // 10
    try:
        # the two start-up failures: exit 2 with one line naming the problem
        for name, expected in (("labels", "labels parameter has 2 names but the model has 8 classes"),
                               ("flavour", "it is the other flavour")):
            proc, log = procs[name]
            try:
                code = proc.wait(START_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                pytest.fail(f"{name}: node did not refuse to start:\n{log.read_text()}")
            text = log.read_text()
            assert code == 2 and "emotion_node: error:" in text and expected in text, text
            assert "Traceback" not in text, text

        def ready() -> bool:
            for name in ("a", "b"):
                if procs[name][0].poll() is not None:
                    pytest.fail(f"node {name} exited:\n{procs[name][1].read_text()}")
            return (all(p.get_subscription_count() > 0 for p in (jpeg_pub, audio_a, image_b, audio_b))
                    and out["a"].emotion_sub.get_publisher_count() > 0
                    and out["b"].emotion_sub.get_publisher_count() > 0)

        end = time.monotonic() + START_TIMEOUT
        while not ready():
            assert time.monotonic() < end, "nodes did not subscribe in time"
            time.sleep(0.2)
        time.sleep(0.5)

        # one real-time stream for both nodes; node b's audio has no header (stamped on arrival)
        t0 = time.time()
        events = [(i / FPS, 0, i) for i in range(int(SECONDS * FPS))]
        events += [((k + 1) * chunk / RATE, 1, k) for k in range(len(speech) // chunk)]
        events.sort()
        wall0 = time.monotonic()
        malformed_sent = False
        for send_at, kind, i in events:
            delay = wall0 + send_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            if kind == 0:
                if i / FPS >= CAMERA_STOPS:
                    continue
                jpeg = CompressedImage(format="jpeg", data=jpegs[i % FPS].tobytes())
                set_stamp(jpeg, t0 + i / FPS)
                jpeg_pub.publish(jpeg)
                raw = convert.fill_image(Image(), frames[i % FPS], "rgb8")
                set_stamp(raw, t0 + i / FPS)
                image_b.publish(raw)
                if not malformed_sent and i / FPS >= MALFORMED_AT:
                    jpeg_pub.publish(CompressedImage(format="jpeg", data=jpegs[0].tobytes()))  # unset stamp
                    malformed_sent = True
            else:
                samples = speech[i * chunk : (i + 1) * chunk]
                stamped = convert.fill_audio(AudioStamped(), samples, RATE, "int16")
                set_stamp(stamped, t0 + i * chunk / RATE)
                audio_a.publish(stamped)
                unstamped = Audio()
                unstamped.info.format, unstamped.info.rate, unstamped.info.channels = 8, RATE, 1
                unstamped.info.chunk = chunk
                pcm = np.clip(np.round(samples * 32768), -32768, 32767).astype(np.int16)
                unstamped.audio_data.int16_data = array.array("h", pcm.tobytes())
                audio_b.publish(unstamped)
        n_frames = sum(1 for i in range(int(SECONDS * FPS)) if i / FPS < CAMERA_STOPS)
        n_chunks = len(speech) // chunk

        def settled(o: Outputs) -> bool:
            done = o.counter("windows_published") + o.counter("windows_dropped_low_confidence") \
                + o.counter("windows_dropped_busy") + o.counter("windows_dropped_error")
            return o.counter("audio_chunks") >= n_chunks and o.counter("windows") >= 3 \
                and done >= o.counter("windows")

        end = time.monotonic() + 90
        while not (settled(out["a"]) and settled(out["b"])):
            for name in ("a", "b"):
                if procs[name][0].poll() is not None:
                    pytest.fail(f"node {name} exited:\n{procs[name][1].read_text()}")
            assert time.monotonic() < end, {k: o.statuses[-1:] for k, o in out.items()}
            time.sleep(0.2)
        time.sleep(1.2)  # a last diagnostics period after the final window
    finally:
        codes = {name: stop_node(proc) for name, (proc, _) in procs.items()}
        executor.shutdown()
        node.destroy_node()
    for name in ("a", "b"):
        assert codes[name] == 0, procs[name][1].read_text()

    # ---- node a: compressed camera end to end, custom labels, min_confidence passed
    oa = out["a"]
    log_a = procs["a"][1].read_text()
    malformed = {k: v for k, v in oa.statuses[-1][2].items() if k.startswith("malformed_") and float(v)}
    assert list(malformed) == ["malformed_compressed_bad_stamp"] and float(malformed.popitem()[1]) == 1
    assert oa.emotions, log_a
    assert oa.counter("windows_published") == len(oa.emotions)
    assert oa.counter("windows_dropped_low_confidence") == 0
    for msg in oa.emotions:
        scores = [r.score for r in msg.results]
        assert sorted(r.class_id for r in msg.results) == sorted(LABELS)  # the labels parameter, not EMOTIONS
        assert not set(EMOTIONS) & {r.class_id for r in msg.results}
        assert scores == sorted(scores, reverse=True) and abs(sum(scores) - 1) < 1e-5
        assert scores[0] >= 0.05
    modes = [(stamp_of(m) - t0, m.header.frame_id) for m in oa.emotions]
    assert any(mode == "audiovisual" for end, mode in modes if end <= CAMERA_STOPS), modes  # mtcnn found
    assert oa.counter("windows_mode_audiovisual") > oa.counter("windows_video_without_face"), oa.statuses[-1]
    assert modes[-1][1] == "onlyaudio", modes  # the camera stopped

    # debug images: one per published window, at its stamp, downscaled to max_frame_side, showing
    # the camera frame (decoded JPEG, resized as the node must) with the label drawn in yellow
    assert len(oa.debug) == len(oa.emotions)
    assert sorted(stamp_of(d) for d in oa.debug) == sorted(stamp_of(m) for m in oa.emotions)
    references = [cv2.resize(f, (MAX_SIDE, MAX_SIDE), interpolation=cv2.INTER_AREA).astype(int)
                  for f in decoded]
    checked = 0
    for dbg, msg in zip(oa.debug, oa.emotions, strict=True):
        if msg.header.frame_id != "audiovisual":
            continue  # a stale camera's debug image is not a camera frame
        img = convert.image_to_rgb(dbg)
        assert img.shape == (MAX_SIDE, MAX_SIDE, 3)  # max_frame_side shrank the 320 px frames
        body = img[40:].astype(int)  # below the label band
        close = max((np.abs(body - r[40:]).max(axis=2) <= 6).mean() for r in references)
        assert close > 0.9, close  # a camera frame of the window, as downscaled on arrival (+ overlays)
        band = img[:40].reshape(-1, 3).astype(int)
        yellow = np.all(np.abs(band - YELLOW) < 40, axis=1).sum()
        assert yellow > 100, yellow  # the label text
        green = (img[..., 0] < 60) & (img[..., 1] > 200) & (img[..., 2] < 60)  # the face box outline
        ys, xs = np.nonzero(green)
        assert green.sum() > 50, green.sum()
        cx, cy = (c * MAX_SIDE / 512 for c in ASTRONAUT_FACE_CENTRE)
        assert xs.min() < cx < xs.max() and ys.min() < cy < ys.max(), (xs.min(), xs.max(), ys.min(), ys.max())
        checked += 1
    assert checked >= 1

    # diagnostics: OK while audiovisual and clean, WARN once a message was malformed / camera stale
    levels = [(lvl, m) for lvl, m, _ in oa.statuses]
    ok = [m for lvl, m in levels if lvl == OK and m.startswith("mode audiovisual")]
    assert ok and all(m.endswith(", 0 malformed") for m in ok), levels
    assert any(f"last {name};" in m for m in ok for name in LABELS), ok  # label names in the message
    first_malformed = next(i for i, (_, m) in enumerate(levels) if m.endswith(", 1 malformed"))
    assert all(lvl == WARN for lvl, _ in levels[first_malformed:]), levels
    assert levels[-1][1].startswith("mode onlyaudio;"), levels[-1]
    assert "published, 1 malformed" in levels[-1][1]

    # ---- node b: unstamped audio aligned by arrival, face_detector none, min_confidence 1.0
    ob = out["b"]
    log_b = procs["b"][1].read_text()
    assert not ob.emotions and not ob.counter("windows_published"), log_b
    dropped = ob.counter("windows_dropped_low_confidence")
    assert dropped >= 3 and dropped == ob.counter("windows") - ob.counter("windows_dropped_busy") \
        - ob.counter("windows_dropped_error"), ob.statuses[-1]
    assert ob.counter("audio_chunks") == n_chunks and ob.counter("frames") == n_frames, ob.statuses[-1]
    # arrival-stamped audio lines up with the camera's stamps: no window lacked fresh audio
    fresh_audio = ob.counter("windows_mode_audiovisual") + ob.counter("windows_mode_onlyaudio")
    assert fresh_audio >= 3 and ob.counter("windows_mode_onlyvideo") == 0, json.dumps(ob.statuses[-1][2])
    assert ob.counter("stamps_dropped_outlier") == 0
    assert all(lvl == OK for lvl, _, _ in ob.statuses), ob.statuses[-1][:2]
    assert ob.statuses[-1][1] == "mode waiting; last -; 0 published, 0 malformed"
    # face_detector none: the frames already show a face, so while the camera runs the video branch
    # is used (audiovisual), not treated as "no face found" (onlyaudio)
    assert ob.counter("windows_mode_audiovisual") >= 3, json.dumps(ob.statuses[-1][2])
