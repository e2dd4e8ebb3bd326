"""The node's parameters: defaults, ranges, validation and the derived windowing config (no ROS import).

Each field of :class:`NodeConfig` carries its description, its allowed values (a range or a set of
choices) and whether it may change while the node runs, as ``dataclasses.field`` metadata: the
node turns these into the ``ParameterDescriptor``s that ``ros2 param describe`` shows, and every
value -- from a params file, ``-p``, ``ros2 param set`` or ``replay`` -- is checked here, so a
value that would exhaust memory or CPU (``max_delay: 1e9``) is refused with a reason instead of
crashing the node later. ``config/emotion.yaml`` repeats the defaults; a test keeps the two in sync.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from avemotion_core.labels import DEFAULT_MODEL
from avemotion_core.modes import FACE_DETECTORS, FACE_SOURCES, PRIMARY_FACES
from avemotion_core.stream.config import MAX_FRAME_BACKLOG, StreamConfig
from avemotion_core.stream.messages import AUDIO_FORMATS, MAX_AUDIO_CHANNELS, MAX_AUDIO_RATE, RawAudioFormat

AUDIO_FLAVOURS = ("modern", "raw")
QOS_PROFILES = ("auto", "sensor_data", "reliable")
DEVICES = ("cpu", "cuda")
# Decoded 4:3 frames at up to max_frame_side that the node may hold: the inference thread's backlog,
# plus, with debug_image, one per lattice instant of the history (defaults: 28 MB).
FRAME_BUFFER_BUDGET_MB = 1024


FALLBACK_FACE_DETECTOR = "haar"  # for models that do not record theirs (all before metadata had it)


def resolve_face_detector(setting: str | None, recorded: str | None) -> str:
    """The detector to run: an explicit setting, else the one the model's training crops were cut
    with (its metadata), else haar. A model sees faces framed as in training only this way."""
    return setting or recorded or FALLBACK_FACE_DETECTOR


class ConfigError(ValueError):
    """An invalid parameter value: the node refuses to start (or a ``param set``) rather than guess."""


@dataclass(frozen=True)
class ParamSpec:
    """What a parameter accepts: ``low``..``high`` (numbers, inclusive) or ``choices`` (strings)."""

    name: str
    default: Any
    description: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    live: bool = False  # may change while the node runs (``ros2 param set``); others need a restart


def _param(default: Any, description: str, *, low: float | None = None, high: float | None = None,
           choices: tuple[str, ...] = (), live: bool = False) -> Any:
    return field(default=default, metadata=dict(description=description, low=low, high=high,
                                                choices=choices, live=live))


@dataclass(frozen=True)
class NodeConfig:
    """All ``emotion_node`` parameters with their defaults (ROS parameter name = field name).

    Empty strings (and ``image_size: 0``) mean "derive": ``model_path`` -> the embedded default
    model; ``fusion``, ``labels`` (comma separated), ``face_detector`` and ``image_size`` -> the
    model's metadata; ``compressed_image_topic`` -> not subscribed. ``header.frame_id`` of each
    published Classification carries the eval mode
    (``audiovisual`` / ``onlyaudio`` / ``onlyvideo``) because the message has no free field.
    """

    image_topic: str = _param("image", "sensor_msgs/Image camera topic ('' = none); relative names resolve "
                              "in the node's namespace and follow remaps (the launch file remaps image)")
    compressed_image_topic: str = _param("", "sensor_msgs/CompressedImage topic ('' = not subscribed)")
    audio_topic: str = _param("audio", "audio_common_msgs topic ('' = none)")
    audio_flavour: str = _param("modern", "modern: AudioStamped (typed arrays + AudioInfo); raw: "
                                "AudioDataStamped (uint8 bytes read as raw_audio_*)", choices=AUDIO_FLAVOURS)
    audio_stamped: bool = _param(True, "false: subscribe to Audio / AudioData without header "
                                 "(stamped on arrival)")
    raw_audio_format: str = _param("int16", "raw flavour only: sample format",
                                   choices=tuple(AUDIO_FORMATS.values()))
    raw_audio_rate: int = _param(16000, "raw flavour only: sample rate in Hz", low=1000, high=MAX_AUDIO_RATE)
    raw_audio_channels: int = _param(1, "raw flavour only: interleaved channels (averaged to mono)",
                                     low=1, high=MAX_AUDIO_CHANNELS)
    output_topic: str = _param("emotion", "vision_msgs/Classification; header.stamp = window end, "
                               "frame_id = eval mode")
    diagnostics_topic: str = _param("/diagnostics", "diagnostic_msgs/DiagnosticArray with counters and "
                                    "latency")
    qos: str = _param("auto", "input subscriptions: auto (reliable, or best effort while a publisher on "
                      "the topic is best effort: re-checked every 0.5 s), sensor_data (best effort) or "
                      "reliable", choices=QOS_PROFILES)
    qos_depth: int = _param(50, "input subscription queue depth", low=1, high=100)
    device: str = _param("cpu", "torch device", choices=DEVICES)
    num_threads: int = _param(1, "torch and OpenCV CPU threads (0 = their defaults); 1 by default: the "
                              "engine encodes a frame or two per hop, where a second thread's spin-waiting "
                              "costs more CPU than it saves time", low=0, high=256)
    model_path: str = _param("", "model directory (metadata.json + weights); '' = embedded default model")
    fusion: str = _param("", "ia | it | lt; '' = from the model's metadata")
    labels: str = _param("", "comma-separated class names; '' = from the model's metadata")
    window_seconds: float = _param(3.6, "audio/video window length in seconds (the model was trained on 3.6)",
                                   low=1.0, high=10.0)
    hop_seconds: float = _param(0.48, "seconds of stream (message stamp) time between windows, rounded to "
                                "whole frame-lattice steps of window_seconds / 15 (0.24 s)",
                                low=0.12, high=10.0)
    stale_after: float = _param(2.0, "seconds without data after which a modality is stale "
                                "(-> onlyaudio / onlyvideo)", low=0.1, high=60.0)
    max_delay: float = _param(1.0, "seconds a due window waits for a lagging modality (buffers hold "
                              "this much more history)", low=0.0, high=5.0)
    face_detector: str = _param("", "'' (the one the model's metadata records, else haar) | haar | mtcnn "
                                "(smaller and turned faces, more CPU) | none (input already shows a "
                                "cropped face)", choices=("", *FACE_DETECTORS))
    image_size: int = _param(0, "face crop size fed to the model: 0 (the model's own size) or 32..512",
                             low=0, high=512)
    max_faces: int = _param(4, "people tracked and classified at once, largest faces first (1: one person, "
                            "cropped exactly as the training clips)", low=1, high=16)
    track_timeout: float = _param(1.0, "seconds a face track survives without its face before it ends",
                                  low=0.1, high=10.0)
    primary_face: str = _param("largest", "whose emotion output_topic reports: largest | most_centred | "
                               "longest_tracked", choices=PRIMARY_FACES)
    faces_topic: str = _param("emotion/faces", "vision_msgs/Detection2DArray: one Detection2D per tracked "
                              "face (id, box, every class score) per window ('' = not published)")
    ros4hri: bool = _param(False, "also publish hri_msgs/Expression on /humans/faces/<id>/expression per "
                           "tracked face (ROS4HRI, REP-155)")
    face_source: str = _param("camera", "camera: detect and track faces in image_topic / "
                              "compressed_image_topic; ros4hri: take hri_face_detect's ids and face crops "
                              "(/humans/faces/tracked, /humans/faces/<id>/<ros4hri_image>)",
                              choices=FACE_SOURCES)
    ros4hri_image: str = _param("cropped", "face_source ros4hri: which per-id image to read",
                                choices=("cropped", "aligned"))
    max_frame_side: int = _param(640, "frames are downscaled on arrival so their longest side is at most "
                                 "this (bounds memory)", low=32, high=4096)
    min_confidence: float = _param(0.0, "windows whose top score is below this are not published (counted)",
                                   low=0.0, high=1.0, live=True)
    debug_image: bool = _param(False, "publish the window's middle frame with the label on debug_image_topic",
                               live=True)
    debug_image_topic: str = _param("~/debug_image", "sensor_msgs/Image debug output")
    autostart: bool = _param(True, "configure and activate at start (false: stay unconfigured for a "
                             "lifecycle manager)")
    diagnostics_period: float = _param(1.0, "seconds between /diagnostics messages", low=0.05, high=3600.0,
                                       live=True)

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {f.name: f.default for f in fields(cls)}

    @classmethod
    def specs(cls) -> list[ParamSpec]:
        """Every parameter's default, description and allowed values (for ParameterDescriptors)."""
        return [ParamSpec(f.name, f.default, **f.metadata) for f in fields(cls)]

    @classmethod
    def from_values(cls, values: dict[str, Any]) -> NodeConfig:
        """Build and validate from parameter values (unknown names are a ConfigError).

        An integer is accepted for a float parameter (ROS users write ``hop_seconds: 1``); any
        other type mismatch is a ConfigError naming the parameter.
        """
        unknown = set(values) - set(cls.defaults())
        if unknown:
            raise ConfigError(f"unknown parameters: {sorted(unknown)}")
        typed = {name: _typed(name, cls.defaults()[name], value) for name, value in values.items()}
        cfg = cls(**{**cls.defaults(), **typed})
        cfg.validate()
        return cfg

    def values(self) -> dict[str, Any]:
        return asdict(self)

    def changed(self, values: dict[str, Any]) -> NodeConfig:
        """This config with some parameters changed, validated as a whole (a ``ros2 param set``).

        Only ``live`` parameters may change; the others size buffers, subscriptions or the model
        when the node starts.
        """
        fixed = sorted(name for name, value in values.items()
                       if name in self.defaults() and not _spec(name).live and value != getattr(self, name))
        if fixed:
            raise ConfigError(f"{', '.join(fixed)} cannot change while the node runs; restart it")
        return self.from_values({**self.values(), **values})

    def validate(self) -> None:
        for spec in self.specs():
            value = getattr(self, spec.name)
            _typed(spec.name, spec.default, value)
            if spec.choices and value not in spec.choices:
                raise ConfigError(f"{spec.name}={value!r} is not one of {spec.choices}")
            if spec.low is not None and not spec.low <= value <= spec.high:
                raise ConfigError(f"{spec.name}={value} is outside [{spec.low}, {spec.high}]")
        video = self.face_source == "ros4hri" or self.image_topic or self.compressed_image_topic
        if not video and not self.audio_topic:
            raise ConfigError("no input topic: set image_topic, compressed_image_topic or audio_topic, "
                              "or face_source ros4hri")
        if self.image_size != 0 and self.image_size < 32:
            raise ConfigError(f"image_size must be 0 (the model's) or >= 32, got {self.image_size}")
        if self.max_frame_side < self.image_size:
            raise ConfigError(f"max_frame_side {self.max_frame_side} < image_size {self.image_size}")
        try:
            stream = self.stream_config()
            self.raw_format()
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
        held = MAX_FRAME_BACKLOG + 1 + (stream.history_instants if self.debug_image else 0)
        frame_mb = self.max_frame_side**2 * 3 * 3 / 4 / 2**20
        if held * frame_mb > FRAME_BUFFER_BUDGET_MB:
            raise ConfigError(
                f"{held} decoded frames at max_frame_side {self.max_frame_side} need about "
                f"{held * frame_mb:.0f} MB (limit {FRAME_BUFFER_BUDGET_MB} MB); lower max_frame_side"
                + (" or switch off debug_image" if self.debug_image else ""))

    def stream_config(self) -> StreamConfig:
        return StreamConfig(window_seconds=self.window_seconds, hop_seconds=self.hop_seconds,
                            stale_after=self.stale_after, max_delay=self.max_delay)

    def raw_format(self) -> RawAudioFormat:
        return RawAudioFormat(self.raw_audio_format, self.raw_audio_rate, self.raw_audio_channels)

    def model_dir(self) -> Path:
        return Path(self.model_path).expanduser() if self.model_path else DEFAULT_MODEL

    def label_list(self) -> list[str] | None:
        names = [s.strip() for s in self.labels.split(",") if s.strip()]
        return names or None


def _spec(name: str) -> ParamSpec:
    return next(spec for spec in NodeConfig.specs() if spec.name == name)


def _typed(name: str, default: Any, value: Any) -> Any:
    """``value`` as the type of ``default``: an int (not a bool) becomes a float; else a ConfigError."""
    kind = type(default)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if type(value) is not kind:
        raise ConfigError(f"{name} must be {'a number' if kind is float else kind.__name__}, "
                          f"got {value!r} ({type(value).__name__})")
    if kind is float and not math.isfinite(value):
        raise ConfigError(f"{name} must be finite, got {value}")
    return value
