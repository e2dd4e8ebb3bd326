"""Launch ``emotion_node`` with a parameters file, topic remaps and optional per-launch overrides.

    ros2 launch avemotion_ros emotion.launch.py image_topic:=/cam/image audio_topic:=/mic hop_seconds:=0.24
    ros2 launch avemotion_ros emotion.launch.py namespace:=robot1   # /robot1/camera/image_raw ...

The node's topics are relative (``image``, ``audio``, ``emotion``); ``image_topic``,
``audio_topic`` and ``output_topic`` name what they are remapped to. Their defaults are relative
too, so a ``namespace`` moves all of them, as ROS users expect. Every other override argument
defaults to '' = "keep the value from params_file", so editing the YAML is never silently undone
by a launch default. The shipped params file leaves ``face_detector: ""`` and ``image_size: 0``,
meaning "as the model's metadata.json records" (``avemotion download`` writes 224 px + mtcnn for
OpenDR's RAVDESS model); set them only to deliberately deviate. ``autostart:=false`` leaves the
(lifecycle) node unconfigured for a lifecycle manager. The node runs with
``config/fastdds_large_data.xml`` as its Fast DDS profile (``fastdds_profile:=''`` for none; an
exported ``FASTDDS_DEFAULT_PROFILES_FILE`` wins): the camera driver needs the same profile for
best-effort frames over 512 KiB (README, BENCHMARKS.md). ``launch`` / ``launch_ros`` are imported
only inside ``generate_launch_description`` so this file (and ``overrides``, ``remappings``) can
be imported and checked where those packages are not installed (they are not on PyPI).
"""

from __future__ import annotations

import os
from dataclasses import fields
from pathlib import Path
from typing import Any

from avemotion_core.stream.node_config import NodeConfig

# launch argument -> (the node's relative topic it remaps, default target)
REMAPS = {
    "image_topic": ("image", "camera/image_raw"),
    "audio_topic": ("audio", "audio"),
    "output_topic": ("emotion", "emotion"),
}
OVERRIDABLE = (
    "compressed_image_topic", "audio_flavour", "device", "model_path", "fusion", "labels",
    "window_seconds", "hop_seconds", "face_detector", "image_size", "min_confidence", "debug_image",
    "qos", "autostart", "max_faces", "track_timeout", "primary_face", "faces_topic", "ros4hri", "face_source",
    "ros4hri_image",
)
_TYPES = {f.name: type(f.default) for f in fields(NodeConfig)}


def default_params_file() -> str:
    """The installed share/avemotion_ros/config/emotion.yaml, else the source tree's copy."""
    try:
        from ament_index_python.packages import get_package_share_directory

        installed = Path(get_package_share_directory("avemotion_ros")) / "config" / "emotion.yaml"
        if installed.is_file():
            return str(installed)
    except (ImportError, LookupError, OSError):  # no ament index (source tree, plain venv)
        pass
    return str(Path(__file__).resolve().parents[1] / "config" / "emotion.yaml")


def fastdds_profile_file() -> str:
    """The shipped Fast DDS profile (8 MiB shared-memory segment): installed copy, else the source tree's."""
    return str(Path(default_params_file()).with_name("fastdds_large_data.xml"))


def fastdds_env(profile: str, environ: dict[str, str]) -> dict[str, str]:
    """The node's extra environment: the profile unless '' or the user already chose one."""
    if not profile or "FASTDDS_DEFAULT_PROFILES_FILE" in environ:
        return {}
    return {"FASTDDS_DEFAULT_PROFILES_FILE": profile}


def overrides(values: dict[str, str]) -> dict[str, Any]:
    """Typed node parameters from the non-empty launch argument strings (validated like the node)."""
    out: dict[str, Any] = {}
    for name, text in values.items():
        if name not in OVERRIDABLE:
            raise ValueError(f"{name} is not an overridable launch argument")
        if text == "":
            continue
        kind = _TYPES[name]
        if kind is bool:
            if text.lower() not in ("true", "false"):
                raise ValueError(f"{name} must be true or false, got {text!r}")
            out[name] = text.lower() == "true"
        else:
            out[name] = kind(text)
    NodeConfig.from_values(out)  # fail at launch time, not inside the node
    return out


def remappings(values: dict[str, str]) -> list[tuple[str, str]]:
    """(node topic, target) pairs from the topic launch arguments ('' = the default target)."""
    for name, target in values.items():
        if name not in REMAPS:
            raise ValueError(f"{name} is not a topic launch argument")
        if any(c.isspace() for c in target):
            raise ValueError(f"{name}={target!r}: a topic name has no spaces")
    return [(topic, values.get(name) or default) for name, (topic, default) in REMAPS.items()]


def generate_launch_description():
    from launch.actions import DeclareLaunchArgument, OpaqueFunction
    from launch.substitutions import LaunchConfiguration
    from launch_ros.actions import Node

    from launch import LaunchDescription

    def node_action(context, *args, **kwargs):
        def value(name: str) -> str:
            return LaunchConfiguration(name).perform(context)

        return [Node(package="avemotion_ros", executable="emotion_node", name="emotion_node", output="screen",
                     namespace=value("namespace"),
                     parameters=[value("params_file"), overrides({n: value(n) for n in OVERRIDABLE})],
                     remappings=remappings({n: value(n) for n in REMAPS}),
                     additional_env=fastdds_env(value("fastdds_profile"), dict(os.environ)))]

    arguments = [DeclareLaunchArgument("params_file", default_value=default_params_file(),
                                       description="YAML with emotion_node parameters"),
                 DeclareLaunchArgument("namespace", default_value="", description="the node's namespace"),
                 DeclareLaunchArgument("fastdds_profile", default_value=fastdds_profile_file(),
                                       description="Fast DDS XML profile for the node ('' = none; an "
                                       "exported FASTDDS_DEFAULT_PROFILES_FILE wins)")]
    arguments += [
        DeclareLaunchArgument(name, default_value=target, description=f"what '{topic}' is remapped to")
        for name, (topic, target) in REMAPS.items()
    ]
    arguments += [
        DeclareLaunchArgument(name, default_value="", description=f"override {name} ('' = from params_file)")
        for name in OVERRIDABLE
    ]
    return LaunchDescription([*arguments, OpaqueFunction(function=node_action)])
