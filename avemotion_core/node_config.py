"""The node's parameters: defaults, validation and the derived windowing config (no ROS import).

``config/emotion.yaml`` repeats these defaults for users to copy; a test keeps the two in sync.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from avemotion_core.faces import FACE_DETECTORS
from avemotion_core.messages import RawAudioFormat
from avemotion_core.streaming import StreamConfig

DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "avemotion_core" / "assets" / "default_model"
AUDIO_FLAVOURS = ("modern", "raw")
QOS_PROFILES = ("sensor_data", "reliable")
DEVICES = ("cpu", "cuda")


class ConfigError(ValueError):
    """An invalid parameter value: the node refuses to start rather than guess."""


@dataclass(frozen=True)
class NodeConfig:
    """All ``emotion_node`` parameters with their defaults (ROS parameter name = field name).

    Empty strings mean "derive": ``model_path`` -> the embedded default model, ``fusion`` and
    ``labels`` (comma separated) -> the model's metadata, ``compressed_image_topic`` -> not
    subscribed. ``header.frame_id`` of each published Classification carries the eval mode
    (``audiovisual`` / ``onlyaudio`` / ``onlyvideo``) because the message has no free field.
    """

    image_topic: str = "/camera/image_raw"
    compressed_image_topic: str = ""
    audio_topic: str = "/audio"
    audio_flavour: str = "modern"
    audio_stamped: bool = True
    raw_audio_format: str = "int16"
    raw_audio_rate: int = 16000
    raw_audio_channels: int = 1
    output_topic: str = "/emotion"
    diagnostics_topic: str = "/diagnostics"
    qos: str = "sensor_data"
    qos_depth: int = 50
    device: str = "cpu"
    num_threads: int = 0
    model_path: str = ""
    fusion: str = ""
    labels: str = ""
    window_seconds: float = 3.6
    hop_seconds: float = 0.5
    stale_after: float = 2.0
    max_delay: float = 1.0
    face_detector: str = "haar"
    image_size: int = 0
    max_frame_side: int = 640
    min_confidence: float = 0.0
    debug_image: bool = False
    debug_image_topic: str = "~/debug_image"
    diagnostics_period: float = 1.0

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {f.name: f.default for f in fields(cls)}

    @classmethod
    def from_values(cls, values: dict[str, Any]) -> NodeConfig:
        """Build and validate from parameter values (unknown names are a ConfigError)."""
        unknown = set(values) - set(cls.defaults())
        if unknown:
            raise ConfigError(f"unknown parameters: {sorted(unknown)}")
        cfg = cls(**{**cls.defaults(), **values})
        cfg.validate()
        return cfg

    def validate(self) -> None:
        for name, allowed in (("audio_flavour", AUDIO_FLAVOURS), ("qos", QOS_PROFILES),
                              ("face_detector", FACE_DETECTORS), ("device", DEVICES)):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{name}={getattr(self, name)!r} is not one of {allowed}")
        if not self.image_topic and not self.compressed_image_topic and not self.audio_topic:
            raise ConfigError("no input topic: set image_topic, compressed_image_topic or audio_topic")
        if self.image_size != 0 and self.image_size < 32:
            raise ConfigError(f"image_size must be 0 (the model's) or >= 32, got {self.image_size}")
        if self.max_frame_side < self.image_size:
            raise ConfigError(f"max_frame_side {self.max_frame_side} < image_size {self.image_size}")
        if self.qos_depth < 1 or self.diagnostics_period <= 0 or self.num_threads < 0:
            raise ConfigError("qos_depth must be >= 1, diagnostics_period > 0, num_threads >= 0")
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ConfigError(f"min_confidence must be in [0, 1], got {self.min_confidence}")
        try:
            self.stream_config()
            self.raw_format()
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc

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
