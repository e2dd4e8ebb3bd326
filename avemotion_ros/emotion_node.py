"""``emotion_node``: audiovisual emotion recognition on live camera + microphone topics.

Data flow (``avemotion_core.stream``): subscription callbacks read each message's stamp and check
its fields, and the ``StreamScheduler`` decides which camera frames stand for the 0.24 s frame
lattice (about 4 a second; the rest are never decoded) and when a window is due. The resulting jobs
go to one inference thread (``StreamWorker``), where the ``FeatureStream`` decodes, face-tracks,
crops and encodes each lattice frame once, and classifies every window by running the window head
over the cached frame features; it publishes a ``vision_msgs/Classification`` stamped with the
window end. ``header.frame_id`` carries the eval mode (``audiovisual``, or ``onlyaudio`` while the
camera is stale or shows no face, ``onlyvideo`` while the microphone is stale). Every person in
view is tracked and classified on their own (``emotion/faces``, and ROS4HRI expressions with
``ros4hri``); ``emotion`` follows the primary face. Malformed messages and dropped windows are
counted per reason on ``/diagnostics``; nothing a publisher sends can stop the node. It is a
lifecycle node (see :class:`EmotionNode`).
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
import torch
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import SetParametersResult
from rclpy.executors import ExternalShutdownException
from rclpy.experimental import EventsExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from avemotion_core.category import Category
from avemotion_core.expression import check_labels
from avemotion_core.faces import make_cropper
from avemotion_core.fileio import ModelFileError
from avemotion_core.learner import AudiovisualEmotionLearner
from avemotion_core.stream import (
    FaceResult,
    FeatureStream,
    FrameJob,
    StreamScheduler,
    WindowJob,
    WindowResult,
    freeze_for_streaming,
)
from avemotion_core.stream import messages as convert
from avemotion_core.stream.node_config import ConfigError, NodeConfig, resolve_face_detector
from avemotion_ros import node_params
from avemotion_ros.qos_match import reliability_for
from avemotion_ros.shutdown import POLL_SECONDS, ShutdownRequest
from avemotion_ros.worker import StreamWorker

QOS_RECHECK_SECONDS = 0.5  # qos auto: how soon a best-effort publisher that appears is matched


class StartupError(RuntimeError):
    """The node cannot run with this configuration / model; the message says how to fix it."""


def _message_types(flavour: str, stamped: bool) -> tuple[Any, Any]:
    """(the vision_msgs module, audio message class) or a StartupError saying what to source."""
    hint = "source .build/ros_env.sh (modern audio) or .build/ros_env_raw.sh (raw audio) first"
    try:
        import vision_msgs.msg as vision
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
    return vision, audio_cls


def _ros4hri(labels: list[str] | None) -> Any:
    """``avemotion_ros.hri`` (and, for the expression output, the model's labels checked to map to
    ROS4HRI expressions)."""
    try:
        from avemotion_ros import hri
    except ImportError as exc:
        raise StartupError(f"ros4hri needs hri_msgs, which is not importable ({exc}); source "
                           ".build/ros_env.sh (or install ros-<distro>-hri-msgs)") from exc
    try:
        if labels is not None:
            check_labels(labels)
    except ValueError as exc:
        raise StartupError(f"ros4hri: {exc}") from exc
    return hri


def _window_header(win: WindowResult, frame_id: str = "") -> Header:
    """Every output of a window is stamped with the window's end (stream time)."""
    header = Header(frame_id=frame_id)
    header.stamp.sec, header.stamp.nanosec = convert.seconds_to_stamp(win.end)
    return header


def _ranked(category: Category) -> list[tuple[str, float]]:
    """Every class with its score, best first (what the published results list)."""
    return sorted(((label, float(p)) for label, p in category.scores.items()), key=lambda kv: kv[1],
                  reverse=True)


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


class EmotionNode(LifecycleNode):
    """A managed node (REP-2002), as yolo_ros and ROS4HRI's recognizer are.

    - create: parameters are declared and ``/diagnostics`` reports the lifecycle state;
    - configure: parameters validated, model loaded and frozen, cropper and publishers made;
    - activate: a fresh stream timeline, the inference thread, the subscriptions;
    - deactivate: subscriptions and thread stopped (nothing is published);
    - cleanup: model and publishers released (CUDA memory too).

    A failed configure returns FAILURE with the reason on ``/diagnostics`` (and in the log); the
    node stays unconfigured. ``main`` drives configure + activate unless ``autostart`` is false.
    """

    def __init__(self, **kwargs: Any):
        super().__init__("emotion_node", **kwargs)
        try:
            node_params.declare(self)
        except ConfigError as exc:
            raise StartupError(f"invalid parameters: {exc}") from exc
        self.autostart = bool(self.get_parameter("autostart").value)
        self.cfg: NodeConfig | None = None
        self.error = ""  # why the last configure failed, reported on /diagnostics
        self.lock = threading.Lock()  # scheduler + counters: callbacks vs worker vs diagnostics
        self.counts: Counter[str] = Counter()
        self.latency_ms: deque[float] = deque(maxlen=100)
        self.infer_ms: deque[float] = deque(maxlen=100)
        self.last_mode = ""
        self.last_label = ""
        self.learner: AudiovisualEmotionLearner | None = None
        self.image_size = 0  # the crop size and detector configure chose (reported on /diagnostics)
        self.face_detector = ""
        self.scheduler: StreamScheduler | None = None
        self.features: FeatureStream | None = None
        self.worker: StreamWorker | None = None
        self.pub: Any = None
        self.debug_pub: Any = None
        self.faces_pub: Any = None
        self._expression_pubs: dict[str, Any] = {}  # ROS4HRI: one per live face track
        self._crop_subs: dict[str, Any] = {}  # face_source ros4hri: one per upstream face id
        self._crops: dict[str, Any] = {}  # ... and its newest crop message
        self.inputs: dict[str, tuple[Any, str, Any]] = {}  # name -> (message type, topic, callback)
        self.subscriptions_: dict[str, Any] = {}
        self.qos_timer: Any = None
        self.add_on_set_parameters_callback(self._on_set_parameters)
        # /diagnostics runs in every state: it is where a lifecycle manager's operator sees why
        # configure failed. Its topic and period are range-checked by their descriptors already.
        diag_topic = self.get_parameter("diagnostics_topic").value
        self.diag_pub = self.create_publisher(DiagnosticArray, diag_topic, 10)
        self.diag_timer = self.create_timer(self.get_parameter("diagnostics_period").value,
                                            self._publish_diagnostics)

    # ------------------------------------------------------------------ lifecycle
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            self._configure()
        except (StartupError, ConfigError) as exc:
            self.error = str(exc)
            self._release()
            if not self.autostart:  # with autostart, main prints it as the one error line and exits
                self.get_logger().error(f"configure failed: {exc}")
            self._publish_diagnostics()
            return TransitionCallbackReturn.FAILURE
        self.error = ""
        return TransitionCallbackReturn.SUCCESS

    def _configure(self) -> None:
        try:
            self.cfg = cfg = node_params.read(self)
        except ConfigError as exc:
            raise StartupError(f"invalid parameters: {exc}") from exc
        self._vision, self._audio_cls = _message_types(cfg.audio_flavour, cfg.audio_stamped)
        self.learner = load_learner(cfg)
        self.image_size = cfg.image_size or self.learner.image_size
        traced = self.learner.image_size
        if self.learner.exported and self.image_size != traced:
            raise StartupError(f"the TorchScript export in {cfg.model_dir()} was traced at {traced} px; "
                               f"set image_size to 0 or {traced}")
        if self.image_size > cfg.max_frame_side:
            raise StartupError(f"max_frame_side {cfg.max_frame_side} < image_size {self.image_size}")
        if cfg.num_threads:
            torch.set_num_threads(cfg.num_threads)
            cv2.setNumThreads(cfg.num_threads)  # the face detector's pool: ~10 ms/s less CPU with 3 faces
        export = self.learner.exported  # before freezing, which makes every model a graph
        frozen = freeze_for_streaming(self.learner, self.image_size)
        if frozen:
            self.get_logger().warning(frozen)
        self.face_detector = resolve_face_detector(cfg.face_detector, self.learner.face_detector)
        self.cropper = make_cropper(self.face_detector, self.image_size)
        self.raw_format = cfg.raw_format() if cfg.audio_flavour == "raw" else None
        if cfg.ros4hri or cfg.face_source == "ros4hri":
            self._hri = _ros4hri(self.learner.labels if cfg.ros4hri else None)
        self.pub = self.create_lifecycle_publisher(self._vision.Classification, cfg.output_topic, 10)
        self.faces_pub = (self.create_lifecycle_publisher(self._vision.Detection2DArray, cfg.faces_topic, 10)
                          if cfg.faces_topic else None)
        # made even while debug_image is off, so that switching it on at run time publishes at once
        self.debug_pub = self.create_lifecycle_publisher(Image, cfg.debug_image_topic, 2)
        from_model = [name for name in ("image_size", "face_detector") if not getattr(cfg, name)]
        derived = f" [{', '.join(from_model)} from the model]" if from_model else ""
        self.get_logger().info(
            f"emotion_node configured: model {cfg.model_dir()} "
            f"({'TorchScript export, ' if export else ''}fusion {self.learner.fusion}, "
            f"{self.learner.num_class} classes, {cfg.device}, "
            f"frames encoded by {self.learner.frame_runtime}), crops {self.image_size} px "
            f"({self.face_detector}){derived}")

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        cfg = self.cfg
        assert cfg is not None and self.learner is not None
        stream_cfg = cfg.stream_config()
        with self.lock:  # a new timeline: nothing from before a deactivate reaches a window after it
            self.scheduler = StreamScheduler(stream_cfg)
            self.features = FeatureStream(self.learner, self.cropper, stream_cfg, decode=self._decode,
                                          keep_frames=cfg.debug_image, max_faces=cfg.max_faces,
                                          track_timeout=cfg.track_timeout, primary_face=cfg.primary_face,
                                          given_faces=cfg.face_source == "ros4hri")
        self.worker = StreamWorker(self._encode, self._infer)
        # The callbacks only read stamps, check fields and keep audio (well under a millisecond), so
        # one executor thread serves them; decoding and the model run on the worker thread.
        camera = cfg.face_source == "camera"
        inputs = {"image": (Image, cfg.image_topic if camera else "", lambda m: self._on_frame(m, "image")),
                  "compressed": (CompressedImage, cfg.compressed_image_topic if camera else "",
                                 lambda m: self._on_frame(m, "compressed")),
                  "audio": (self._audio_cls, cfg.audio_topic, self._on_audio)}
        if not camera:  # REP-155 topics are absolute; each id's crops are followed in _on_tracked
            inputs["tracked"] = (self._hri.IdsList, f"{self._hri.FACES_NS}/tracked", self._on_tracked)
        self.inputs = {name: spec for name, spec in inputs.items() if spec[1]}
        self.subscriptions_ = {}
        self._match_qos()
        if cfg.qos == "auto":  # publishers come and go: follow their reliability (qos_match)
            self.qos_timer = self.create_timer(QOS_RECHECK_SECONDS, self._match_qos)
        self.get_logger().info(
            f"emotion_node ready: image '{self._resolved(cfg.image_topic)}', compressed "
            f"'{self._resolved(cfg.compressed_image_topic)}', audio '{self._resolved(cfg.audio_topic)}' "
            f"({cfg.audio_flavour}); window {cfg.window_seconds} s every {stream_cfg.hop:.2f} s "
            f"-> '{self.pub.topic_name}'")
        if stream_cfg.hop_note():
            self.get_logger().warning(stream_cfg.hop_note())
        return super().on_activate(state)

    def _resolved(self, topic: str) -> str:
        """A topic as the graph sees it (namespace and remaps applied), for the ready line."""
        return self.resolve_topic_name(topic) if topic else ""

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_streaming()
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def _match_qos(self) -> None:
        """(Re)subscribe each input with the reliability ``qos`` asks for given its publishers now."""
        for name, (msg_type, topic, callback) in self.inputs.items():
            resolved = self.resolve_topic_name(topic)
            offered = [info.qos_profile.reliability for info in self.get_publishers_info_by_topic(resolved)]
            want = reliability_for(self.cfg.qos, offered)
            current = self.subscriptions_.get(name)
            if current is not None and current.qos_profile.reliability == want:
                continue
            if current is not None:
                self.destroy_subscription(current)
                with self.lock:
                    self.counts["qos_switches"] += 1
                self.get_logger().info(f"{name} input '{resolved}' now subscribed "
                                       f"{want.name.lower().replace('_', ' ')} to match its publishers")
            self.subscriptions_[name] = self.create_subscription(
                msg_type, topic, callback, QoSProfile(depth=self.cfg.qos_depth, reliability=want))

    def _stop_streaming(self) -> None:
        if self.qos_timer is not None:
            self.destroy_timer(self.qos_timer)
            self.qos_timer = None
        for sub in [*self.subscriptions_.values(), *self._crop_subs.values()]:
            self.destroy_subscription(sub)
        self.subscriptions_ = {}
        self._crop_subs.clear()
        self._crops.clear()
        if self.worker is not None:
            self.worker.stop()
            self.worker = None

    def _release(self) -> None:
        """Everything configure made, so that a new configure starts clean (and the GPU is free)."""
        self._stop_streaming()
        for pub in (self.pub, self.debug_pub, self.faces_pub):
            if pub is not None:
                self.destroy_lifecycle_publisher(pub)
        self.pub = self.debug_pub = self.faces_pub = None
        for pub in self._expression_pubs.values():
            self.destroy_publisher(pub)
        self._expression_pubs.clear()
        cuda = self.learner is not None and self.learner.device.type == "cuda"
        self.learner = self.features = self.scheduler = None
        self.cfg = None
        if cuda:
            torch.cuda.empty_cache()

    def _on_set_parameters(self, params: list[Parameter]) -> SetParametersResult:
        """``ros2 param set``: the whole config is re-validated; live parameters apply at once.

        rclpy has already refused read-only parameters and values outside the descriptor ranges;
        this adds the checks that need the other values (and integers for doubles). Before
        configure there is no config yet: configure validates everything together.
        """
        if self.cfg is None:
            return SetParametersResult(successful=True)
        try:
            cfg = self.cfg.changed({p.name: p.value for p in params})
        except ConfigError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        if cfg.diagnostics_period != self.cfg.diagnostics_period:
            self.diag_timer.timer_period_ns = round(cfg.diagnostics_period * 1e9)
        if self.features is not None:
            self.features.keep_frames = cfg.debug_image  # the debug image draws on the window's frame
        self.cfg = cfg
        return SetParametersResult(successful=True)

    # ------------------------------------------------------------------ input callbacks
    def _malformed(self, kind: str, exc: convert.ConversionError, what: str = "message") -> None:
        with self.lock:
            self.counts[f"malformed_{kind}_{exc.reason}"] += 1
        self.get_logger().warning(f"dropped {kind} {what}: {exc}", throttle_duration_sec=2.0)

    def _on_frame(self, msg: Any, kind: str) -> None:
        compressed = kind == "compressed"
        try:
            stamp = convert.frame_stamp(msg, compressed)  # no pixel is touched here
        except convert.ConversionError as exc:
            self._malformed(kind, exc)
            return
        with self.lock:
            jobs = self.scheduler.add_frame(stamp, msg, kind)
        self._dispatch(jobs)

    def _on_tracked(self, msg: Any) -> None:
        """``face_source: ros4hri``: the upstream ids at one instant become one lattice frame holding
        each id's newest crop (hri_face_detect publishes the crops before the list, same stamp)."""
        try:
            stamp = convert.stamp_seconds(msg.header)
        except convert.ConversionError as exc:
            self._malformed("ros4hri", exc)
            return
        ids = self._followed_ids(list(dict.fromkeys(msg.ids)))
        for gone in [i for i in self._crop_subs if i not in ids]:
            self.destroy_subscription(self._crop_subs.pop(gone))
            self._crops.pop(gone, None)
        payload = {i: self._crops[i] for i in ids if self._crop_is_current(i, stamp)}
        with self.lock:
            jobs = self.scheduler.add_frame(stamp, payload, "ros4hri")
        self._dispatch(jobs)

    def _crop_is_current(self, face_id: str, stamp: float) -> bool:
        """Whether ``face_id`` has a crop from this instant's neighbourhood: a listed face whose crops
        stopped more than ``track_timeout`` ago (a broken face stream upstream) is left out of the
        frame (counted), not classified again and again from its last crop as if still in view."""
        crop = self._crops.get(face_id)
        if crop is None:
            return False
        try:
            age = stamp - convert.stamp_seconds(crop.header)
        except convert.ConversionError:
            return True  # decoding refuses it and counts why
        if age <= self.cfg.track_timeout:
            return True
        with self.lock:
            self.counts["ros4hri_crops_stale"] += 1
        self.get_logger().warning(f"ROS4HRI face {face_id!r} is listed, but its newest crop is {age:.1f} s "
                                  "old: not classified until its crops resume", throttle_duration_sec=5.0)
        return False

    def _followed_ids(self, listed: list[str]) -> list[str]:
        """The upstream ids to classify, in list order: at most ``max_faces``, as the camera's tracker
        keeps. The ids already followed keep their place, then new ones in the order listed (the list
        carries no face size); the rest are counted and named in a warning, and get no subscription:
        a crowd, or a broken upstream listing thousands of ids, costs no more than ``max_faces``."""
        chosen = {i for i in listed if i in self._crop_subs}
        over = []
        for face_id in listed:
            if face_id in chosen:
                continue
            if len(chosen) >= self.cfg.max_faces:
                over.append(face_id)
            elif self._follow_face(face_id):
                chosen.add(face_id)
        if over:
            with self.lock:
                self.counts["ros4hri_faces_over_max_faces"] += len(over)
            self.get_logger().warning(
                f"following {len(chosen)} of {len(chosen) + len(over)} ROS4HRI faces (max_faces "
                f"{self.cfg.max_faces}); not classified: {', '.join(map(repr, over[:8]))}"
                f"{' ...' if len(over) > 8 else ''}", throttle_duration_sec=5.0)
        return [i for i in listed if i in chosen]

    def _follow_face(self, face_id: str) -> bool:
        """Subscribe to a new upstream id's crops; False (counted) for an id no topic can carry."""
        if face_id in self._crop_subs:
            return True
        topic = f"{self._hri.FACES_NS}/{face_id}/{self.cfg.ros4hri_image}"
        try:
            qos = self.subscriptions_["tracked"].qos_profile  # as hri_face_detect publishes
            self._crop_subs[face_id] = self.create_subscription(
                Image, topic, lambda m, i=face_id: self._crops.__setitem__(i, m), qos)
        except Exception as exc:  # noqa: BLE001 - rclpy raises several types for a bad name
            with self.lock:
                self.counts["malformed_ros4hri_id"] += 1
            self.get_logger().warning(f"ignored ROS4HRI face id {face_id!r}: {exc}",
                                      throttle_duration_sec=2.0)
            return False
        return True

    def _on_audio(self, msg: Any) -> None:
        # Without a header the chunk is taken to have ended on arrival.
        arrival = None if self.cfg.audio_stamped else self.get_clock().now().nanoseconds * 1e-9
        try:
            stamp, samples, rate = convert.audio_from_msg(msg, self.raw_format, arrival)
        except convert.ConversionError as exc:
            self._malformed("audio", exc)
            return
        with self.lock:
            jobs = self.scheduler.add_audio(stamp, samples, rate)
        self._dispatch(jobs)

    def _dispatch(self, jobs: list[FrameJob | WindowJob]) -> None:
        events, self.scheduler.events = self.scheduler.events, []
        for event in events:
            self.get_logger().warning(event)
        self.worker.submit(jobs)

    # ------------------------------------------------------------------ inference thread
    def _decode(self, job: FrameJob) -> np.ndarray | dict[str, np.ndarray]:
        side = self.cfg.max_frame_side
        if job.kind != "ros4hri":
            return convert.frame_from_msg(job.payload, job.kind == "compressed", side)[1]
        # upstream face crops by id: a malformed one is dropped alone (counted), so one broken face
        # stream upstream does not take the lattice frame from everyone else in view
        crops = {}
        for face_id, msg in job.payload.items():
            try:
                crops[face_id] = convert.frame_from_msg(msg, False, side)[1]
            except convert.ConversionError as exc:
                self._malformed("ros4hri", exc, f"face {face_id!r} crop")
        return crops

    def _encode(self, batch: list[FrameJob]) -> None:
        """Worker-thread entry for lattice frames: decode, track, crop, encode (each frame once)."""
        try:
            self.features.run_frames(batch)
        except Exception as exc:  # noqa: BLE001 - thread boundary
            if not self.context.ok():
                return
            with self.lock:
                self.counts["frames_dropped_error"] += len(batch)
            self.get_logger().error(f"encoding {len(batch)} frames failed: {exc!r}",
                                    throttle_duration_sec=2.0)

    def _infer(self, job: WindowJob, submitted: float) -> None:
        """Worker-thread entry for windows: a failure is logged and counted; the worker keeps serving."""
        try:
            self._infer_and_publish(job, submitted)
        except Exception as exc:  # noqa: BLE001 - thread boundary
            if not self.context.ok():
                return  # shutting down: the publishers are gone
            with self.lock:
                self.counts["windows_dropped_error"] += 1
            self.get_logger().error(f"inference failed for window ending {job.end:.3f}: {exc!r}",
                                    throttle_duration_sec=2.0)

    def _infer_and_publish(self, job: WindowJob, submitted: float) -> None:
        t0 = time.monotonic()
        win = self.features.run_window(job)
        if win is None:  # neither a face nor audio: counted by the feature stream
            return
        cat = win.category
        done = time.monotonic()
        with self.lock:
            self.infer_ms.append((done - t0) * 1e3)
            self.latency_ms.append((done - submitted) * 1e3)
            if cat.confidence < self.cfg.min_confidence:
                self.counts["windows_dropped_low_confidence"] += 1
                return
            self.counts["windows_published"] += 1
            changed = win.mode != self.last_mode
            self.last_mode, self.last_label = win.mode, cat.description
        if changed:
            why = {"onlyaudio": "camera stale or no face",
                   "onlyvideo": "audio stale"}.get(win.mode, "both fresh")
            self.get_logger().info(f"inference mode -> {win.mode} ({why})")
        self.pub.publish(self._classification_msg(win))
        faces = [f for f in win.faces if f.category.confidence >= self.cfg.min_confidence]
        if self.faces_pub is not None:
            self.faces_pub.publish(self._faces_msg(win, faces))
        if self.cfg.ros4hri:
            self._publish_expressions(win, faces)
        if self.cfg.debug_image:
            self.debug_pub.publish(self._debug_msg(win))

    def _classification_msg(self, win: WindowResult) -> Any:
        msg = self._vision.Classification(header=_window_header(win, win.mode))
        msg.results = [self._vision.ObjectHypothesis(class_id=label, score=p)
                       for label, p in _ranked(win.category)]
        return msg

    def _faces_msg(self, win: WindowResult, faces: list[FaceResult]) -> Any:
        """One Detection2D per tracked face: its track id, crop box (image pixels) and every score."""
        v = self._vision
        msg = v.Detection2DArray(header=_window_header(win))
        for face in faces:
            det = v.Detection2D(header=msg.header, id=face.track_id)
            (cx, cy), b = face.box.center, face.box
            det.bbox.center.position.x, det.bbox.center.position.y = float(cx), float(cy)
            det.bbox.size_x, det.bbox.size_y = float(b.width), float(b.height)
            det.results = [v.ObjectHypothesisWithPose(hypothesis=v.ObjectHypothesis(class_id=label, score=p))
                           for label, p in _ranked(face.category)]
            msg.detections.append(det)
        return msg

    def _publish_expressions(self, win: WindowResult, faces: list[FaceResult]) -> None:
        """``hri_msgs/Expression`` per face; a face's publisher lives as long as its track."""
        hri = self._hri
        live = self.features.live_tracks()
        for track_id in [t for t in self._expression_pubs if t not in live]:
            self.destroy_publisher(self._expression_pubs.pop(track_id))
        header = _window_header(win, win.mode)
        for face in faces:
            pub = self._expression_pubs.get(face.track_id)
            if pub is None:
                pub = self._expression_pubs[face.track_id] = self.create_publisher(
                    hri.Expression, hri.expression_topic(face.track_id), 10)
            scores = face.category.scores
            pub.publish(hri.expression_msg(header, list(scores), list(scores.values())))

    def _debug_msg(self, win: WindowResult) -> Image:
        """The window's newest frame with every tracked face's box, id and label, and the main label."""
        canvas = np.zeros((240, 320, 3), np.uint8) if win.frame is None else win.frame.copy()
        if win.frame is not None:
            boxes = [(f.box, f"{f.track_id} {f.category.description}") for f in win.faces]
            last = next((b for b in reversed(win.boxes) if b is not None), None)
            if not boxes and last is not None:
                boxes = [(last, "")]
            for box, label in boxes:
                cv2.rectangle(canvas, (int(box.x0), int(box.y0)), (int(box.x1), int(box.y1)), (0, 255, 0), 2)
                cv2.putText(canvas, label, (int(box.x0), max(12, int(box.y0) - 4)), cv2.FONT_HERSHEY_SIMPLEX,
                            0.45, (0, 255, 0), 1)
        text = f"{win.category.description} {win.category.confidence:.2f} [{win.mode}]"
        cv2.putText(canvas, text, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 0), 2)
        return convert.fill_image(Image(header=_window_header(win)), canvas, "rgb8")

    # ------------------------------------------------------------------ diagnostics
    def counters(self) -> dict[str, float]:
        """Node, scheduler and feature-stream counters merged (also what /diagnostics reports).

        The scheduler's and feature stream's counters are those of the current activation."""
        with self.lock:
            merged: dict[str, float] = {}
            if self.scheduler is not None and self.features is not None:
                merged.update(self.scheduler.stats)
                merged.update(dict(self.features.stats))  # the worker's counters (a C-level copy)
            merged.update(self.counts)
            if self.worker is not None:
                merged["windows_dropped_busy"] = self.worker.windows_replaced
                merged["frames_dropped_busy"] = self.worker.frames_dropped
            for name, values in (("latency_ms", self.latency_ms), ("infer_ms", self.infer_ms)):
                if values:
                    merged[f"{name}_last"] = values[-1]
                    merged[f"{name}_mean"] = statistics.fmean(values)
                    merged[f"{name}_max"] = max(values)
        return merged

    def _publish_diagnostics(self) -> None:
        values = self.counters()
        lifecycle = self._state_machine.current_state[1]
        status = DiagnosticStatus(name="emotion_node: pipeline", hardware_id="avemotion")
        degraded = self.last_mode not in ("", "audiovisual")
        malformed = sum(v for k, v in values.items() if k.startswith("malformed_"))
        if self.error:
            status.level = DiagnosticStatus.ERROR
            status.message = f"{lifecycle}: configure failed: {self.error}"
        elif lifecycle != "active":
            status.level = DiagnosticStatus.WARN
            status.message = f"{lifecycle}: not processing"
        else:
            status.level = DiagnosticStatus.WARN if degraded or malformed else DiagnosticStatus.OK
            published = int(values.get("windows_published", 0))
            status.message = (f"mode {self.last_mode or 'waiting'}; last {self.last_label or '-'}; "
                              f"{published} published, {int(malformed)} malformed")
        status.values = [KeyValue(key="lifecycle_state", value=lifecycle),
                         KeyValue(key="mode", value=self.last_mode),
                         KeyValue(key="face_detector", value=self.face_detector),
                         KeyValue(key="image_size", value=str(self.image_size))] + [
            KeyValue(key=k, value=f"{v:.1f}" if isinstance(v, float) else str(v))
            for k, v in sorted(values.items())
        ]
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = self.get_clock().now().to_msg()
        self.diag_pub.publish(msg)


def main(args: list[str] | None = None) -> int:
    """Run the node until SIGINT / SIGTERM (exit 0), or exit 2 with one line on a start-up error.

    With ``autostart`` (default) the node is configured and activated here, so ``ros2 run`` and
    ``ros2 launch`` start processing at once; with ``autostart: false`` it waits, unconfigured, for
    a lifecycle manager (``ros2 lifecycle set /emotion_node configure``).

    rclpy's signal handlers are off: a signal only sets ``stop`` (see ``avemotion_ros.shutdown``),
    so the context is never shut down under the running executor and repeated signals during
    clean-up are ignored.
    """
    stop = ShutdownRequest()
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    try:
        node = EmotionNode()
        if node.autostart and (node.trigger_configure() != TransitionCallbackReturn.SUCCESS
                               or node.trigger_activate() != TransitionCallbackReturn.SUCCESS):
            raise StartupError(node.error or "activation failed")
    except StartupError as exc:
        print(f"emotion_node: error: {exc}", file=sys.stderr, flush=True)
        rclpy.try_shutdown()
        return 2
    # rclpy's EventsExecutor (C++, experimental since Jazzy) dispatches the ~60 camera + audio
    # callbacks a second without rebuilding a Python wait set each time: 15 % less node CPU than
    # SingleThreadedExecutor over DDS (BENCHMARKS.md, bench/node_cpu.py). Not MultiThreadedExecutor:
    # its spinning thread ran at 100 % of a core and starved the inference thread (rclpy issue 1452).
    executor = EventsExecutor()
    executor.add_node(node)
    try:
        while not stop.requested and rclpy.ok():
            executor.spin_once(timeout_sec=POLL_SECONDS)
    except ExternalShutdownException:
        pass
    finally:
        if stop.requested:
            node.get_logger().info(f"{stop.signal.name}: shutting down")
        node._release()  # the inference thread stops before the publishers it uses are destroyed
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
