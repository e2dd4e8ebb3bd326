"""``emotion_node``: audiovisual emotion recognition on live camera + microphone topics.

Data flow: subscription callbacks decode messages (``convert``), stamp-align them in a
``StreamWindower`` and hand each due window to one inference thread (``LatestWins``); that thread
builds features through ``window.build_window`` (the same path as training) and publishes a
``vision_msgs/Classification`` stamped with the window end. ``header.frame_id`` carries the eval
mode (``audiovisual``, or ``onlyaudio`` / ``onlyvideo`` while a modality is stale). Malformed
messages and dropped windows are counted per reason on ``/diagnostics``; nothing a publisher sends
can stop the node.
"""

from __future__ import annotations

import statistics
import sys
import threading
import time
from collections import Counter, deque
from typing import Any

import cv2
import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image

from avemotion_core import messages as convert
from avemotion_core.faces import make_cropper
from avemotion_core.fileio import ModelFileError
from avemotion_core.learner import AudiovisualEmotionLearner
from avemotion_core.node_config import ConfigError, NodeConfig
from avemotion_core.streaming import StreamWindow, StreamWindower
from avemotion_ros.worker import LatestWins


class StartupError(RuntimeError):
    """The node cannot run with this configuration / model; the message says how to fix it."""


def _message_types(flavour: str, stamped: bool) -> tuple[Any, Any, Any]:
    """(Classification, ObjectHypothesis, audio message class) or a StartupError saying what to source."""
    hint = "source .build/ros_env.sh (modern audio) or .build/ros_env_raw.sh (raw audio) first"
    try:
        from vision_msgs.msg import Classification, ObjectHypothesis
    except ImportError as exc:
        raise StartupError(f"vision_msgs is not importable ({exc}); {hint}") from exc
    name = {("modern", True): "AudioStamped", ("modern", False): "Audio",
            ("raw", True): "AudioDataStamped", ("raw", False): "AudioData"}[(flavour, stamped)]
    try:
        import audio_common_msgs.msg as audio_msgs
    except ImportError as exc:
        raise StartupError(f"audio_common_msgs is not importable ({exc}); {hint}") from exc
    audio_cls = getattr(audio_msgs, name, None)
    probe = "audio_data" if flavour == "modern" else "data"
    if audio_cls is None or (name in ("Audio", "AudioData") and not hasattr(audio_cls(), probe)):
        raise StartupError(
            f"audio_flavour={flavour!r} needs audio_common_msgs/{name}, which this audio_common_msgs "
            f"({audio_msgs.__file__}) lacks: it is the other flavour; {hint}"
        )
    return Classification, ObjectHypothesis, audio_cls


def load_learner(cfg: NodeConfig) -> AudiovisualEmotionLearner:
    """The model named by the parameters, or a StartupError that says what is wrong with it."""
    path = cfg.model_dir()
    try:
        learner = AudiovisualEmotionLearner.from_model_dir(path, device=cfg.device, fusion=cfg.fusion or None)
    except (ModelFileError, ValueError, OSError) as exc:
        raise StartupError(f"cannot load model from {path}: {exc}") from exc
    except RuntimeError as exc:  # e.g. device='cuda' without CUDA
        raise StartupError(str(exc)) from exc
    labels = cfg.label_list()
    if labels is not None:
        if len(labels) != learner.num_class:
            raise StartupError(
                f"labels parameter has {len(labels)} names but the model has {learner.num_class} classes"
            )
        learner.labels = labels
    return learner


class EmotionNode(Node):
    def __init__(self, **kwargs: Any):
        super().__init__("emotion_node", **kwargs)
        for name, default in NodeConfig.defaults().items():
            self.declare_parameter(name, default)
        values = {name: self.get_parameter(name).value for name in NodeConfig.defaults()}
        try:
            self.cfg = cfg = NodeConfig.from_values(values)
        except ConfigError as exc:
            raise StartupError(f"invalid parameters: {exc}") from exc
        types = _message_types(cfg.audio_flavour, cfg.audio_stamped)
        self._classification, self._hypothesis, audio_cls = types
        self.learner = load_learner(cfg)
        self.image_size = cfg.image_size or self.learner.image_size
        traced = self.learner.image_size
        if self.learner.exported and self.image_size != traced:
            raise StartupError(f"the TorchScript export in {cfg.model_dir()} was traced at {traced} px; "
                               f"set image_size to 0 or {traced}")
        if self.image_size > cfg.max_frame_side:
            raise StartupError(f"max_frame_side {cfg.max_frame_side} < image_size {self.image_size}")
        if cfg.num_threads:
            import torch

            torch.set_num_threads(cfg.num_threads)
        self.cropper = make_cropper(cfg.face_detector, self.image_size)
        self.windower = StreamWindower(cfg.stream_config())
        self.raw_format = cfg.raw_format() if cfg.audio_flavour == "raw" else None
        self.lock = threading.Lock()  # windower + counters: callbacks vs worker vs diagnostics
        self.counts: Counter[str] = Counter()
        self.latency_ms: deque[float] = deque(maxlen=100)
        self.infer_ms: deque[float] = deque(maxlen=100)
        self.last_mode = ""
        self.last_label = ""

        # sensor_data = best effort (a late camera frame is worth nothing), with a deeper queue
        best_effort = cfg.qos == "sensor_data"
        reliability = ReliabilityPolicy.BEST_EFFORT if best_effort else ReliabilityPolicy.RELIABLE
        qos = QoSProfile(depth=cfg.qos_depth, reliability=reliability)
        self.pub = self.create_publisher(self._classification, cfg.output_topic, 10)
        self.diag_pub = self.create_publisher(DiagnosticArray, cfg.diagnostics_topic, 10)
        self.debug_pub = self.create_publisher(Image, cfg.debug_image_topic, 2) if cfg.debug_image else None
        # The callbacks only decode and buffer (about a millisecond each), so one executor thread
        # serves them; the model runs on the worker thread below.
        if cfg.image_topic:
            on_image = lambda m: self._on_frame(m, "image")  # noqa: E731
            self.create_subscription(Image, cfg.image_topic, on_image, qos)
        if cfg.compressed_image_topic:
            on_compressed = lambda m: self._on_frame(m, "compressed")  # noqa: E731
            self.create_subscription(CompressedImage, cfg.compressed_image_topic, on_compressed, qos)
        if cfg.audio_topic:
            self.create_subscription(audio_cls, cfg.audio_topic, self._on_audio, qos)
        self.worker: LatestWins[StreamWindow] = LatestWins(self._infer)
        self.create_timer(cfg.diagnostics_period, self._publish_diagnostics)
        self.get_logger().info(
            f"emotion_node ready: model {cfg.model_dir()} ({'TorchScript, ' if self.learner.exported else ''}"
            f"fusion {self.learner.fusion}, "
            f"{self.learner.num_class} classes, {cfg.device}); image '{cfg.image_topic}', "
            f"compressed '{cfg.compressed_image_topic}', audio '{cfg.audio_topic}' ({cfg.audio_flavour}); "
            f"window {cfg.window_seconds} s every {cfg.hop_seconds} s -> '{cfg.output_topic}'"
        )

    # ------------------------------------------------------------------ input callbacks
    def _malformed(self, kind: str, exc: convert.ConversionError) -> None:
        with self.lock:
            self.counts[f"malformed_{kind}_{exc.reason}"] += 1
        self.get_logger().warning(f"dropped {kind} message: {exc}", throttle_duration_sec=2.0)

    def _on_frame(self, msg: Any, kind: str) -> None:
        try:
            stamp, rgb = convert.frame_from_msg(msg, kind == "compressed", self.cfg.max_frame_side)
        except convert.ConversionError as exc:
            self._malformed(kind, exc)
            return
        with self.lock:
            self.windower.add_frame(stamp, rgb)
            windows = self.windower.poll()
        self._dispatch(windows)

    def _on_audio(self, msg: Any) -> None:
        # Without a header the chunk is taken to have ended on arrival.
        arrival = None if self.cfg.audio_stamped else self.get_clock().now().nanoseconds * 1e-9
        try:
            stamp, samples, rate = convert.audio_from_msg(msg, self.raw_format, arrival)
        except convert.ConversionError as exc:
            self._malformed("audio", exc)
            return
        with self.lock:
            self.windower.add_audio(stamp, samples, rate)
            windows = self.windower.poll()
        self._dispatch(windows)

    def _dispatch(self, windows: list[StreamWindow]) -> None:
        for win in windows:  # all but the newest are superseded right away: latest wins
            self.worker.submit(win)

    # ------------------------------------------------------------------ inference thread
    def _infer(self, win: StreamWindow, submitted: float) -> None:
        """Worker-thread entry: any failure is logged and counted, and the worker keeps serving."""
        try:
            self._infer_and_publish(win, submitted)
        except Exception as exc:  # noqa: BLE001 - thread boundary
            if not self.context.ok():
                return  # shutting down: the publishers are gone
            with self.lock:
                self.counts["windows_dropped_error"] += 1
            self.get_logger().error(f"inference failed for window ending {win.end:.3f}: {exc!r}",
                                    throttle_duration_sec=2.0)

    def _infer_and_publish(self, win: StreamWindow, submitted: float) -> None:
        t0 = time.monotonic()
        audio, video = win.build(cropper=self.cropper, image_size=self.image_size).to_tensors()
        cat = self.learner.infer(audio, video, mode=win.mode)
        done = time.monotonic()
        with self.lock:
            self.infer_ms.append((done - t0) * 1e3)
            self.latency_ms.append((done - submitted) * 1e3)
            self.counts[f"windows_mode_{win.mode}"] += 1
            if cat.confidence < self.cfg.min_confidence:
                self.counts["windows_dropped_low_confidence"] += 1
                return
            self.counts["windows_published"] += 1
            changed = win.mode != self.last_mode
            self.last_mode, self.last_label = win.mode, cat.description
        if changed:
            stale = {"onlyaudio": "camera stale", "onlyvideo": "audio stale"}.get(win.mode, "both fresh")
            self.get_logger().info(f"inference mode -> {win.mode} ({stale})")
        self.pub.publish(self._classification_msg(win, cat))
        if self.debug_pub is not None:
            self._publish_debug(win, cat.description, cat.confidence)

    def _classification_msg(self, win: StreamWindow, cat: Any) -> Any:
        msg = self._classification()
        msg.header.stamp.sec, msg.header.stamp.nanosec = convert.seconds_to_stamp(win.end)
        msg.header.frame_id = win.mode
        ranked = sorted(cat.scores.items(), key=lambda kv: kv[1], reverse=True)
        msg.results = [self._hypothesis(class_id=label, score=float(p)) for label, p in ranked]
        return msg

    def _publish_debug(self, win: StreamWindow, label: str, confidence: float) -> None:
        frame = np.ascontiguousarray(win.frames[len(win.frames) // 2]) if win.has_video else \
            np.zeros((240, 320, 3), np.uint8)
        canvas = frame.copy()
        cv2.putText(canvas, f"{label} {confidence:.2f} [{win.mode}]", (8, 24), cv2.FONT_HERSHEY_SIMPLEX,
                    0.6, (255, 255, 0), 2)
        msg = convert.fill_image(Image(), canvas, "rgb8")
        msg.header.stamp.sec, msg.header.stamp.nanosec = convert.seconds_to_stamp(win.end)
        self.debug_pub.publish(msg)

    # ------------------------------------------------------------------ diagnostics
    def counters(self) -> dict[str, float]:
        """Node and windower counters merged (also what /diagnostics reports)."""
        with self.lock:
            merged: dict[str, float] = dict(self.windower.stats)
            merged.update(self.counts)
            merged["windows_dropped_busy"] = self.worker.replaced
            for name, values in (("latency_ms", self.latency_ms), ("infer_ms", self.infer_ms)):
                if values:
                    merged[f"{name}_last"] = values[-1]
                    merged[f"{name}_mean"] = statistics.fmean(values)
                    merged[f"{name}_max"] = max(values)
        return merged

    def _publish_diagnostics(self) -> None:
        values = self.counters()
        status = DiagnosticStatus(name="emotion_node: pipeline", hardware_id="avemotion")
        degraded = self.last_mode not in ("", "audiovisual")
        malformed = sum(v for k, v in values.items() if k.startswith("malformed_"))
        status.level = DiagnosticStatus.WARN if degraded or malformed else DiagnosticStatus.OK
        status.message = (f"mode {self.last_mode or 'waiting'}; last {self.last_label or '-'}; "
                          f"{int(values.get('windows_published', 0))} published, {int(malformed)} malformed")
        status.values = [KeyValue(key="mode", value=self.last_mode)] + [
            KeyValue(key=k, value=f"{v:.1f}" if isinstance(v, float) else str(v))
            for k, v in sorted(values.items())
        ]
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = self.get_clock().now().to_msg()
        self.diag_pub.publish(msg)

    def shutdown(self) -> None:
        self.worker.stop()


def main(args: list[str] | None = None) -> int:
    rclpy.init(args=args)
    try:
        node = EmotionNode()
    except StartupError as exc:
        print(f"emotion_node: error: {exc}", file=sys.stderr, flush=True)
        rclpy.try_shutdown()
        return 2
    try:
        # Not MultiThreadedExecutor: under a 30 fps camera + microphone its spinning thread ran at
        # 100 % of a core (mostly system time) and kept the GIL from the inference thread; the soak
        # measured windows at 5 s instead of 0.1 s and half the frames lost (BENCHMARKS.md;
        # rclpy issue 1452 reports the same overhead).
        rclpy.spin(node, executor=SingleThreadedExecutor())
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
