"""Launch ``emotion_node`` with a parameters file plus optional per-launch overrides.

    ros2 launch avemotion_ros emotion.launch.py image_topic:=/cam/image audio_topic:=/mic hop_seconds:=0.24

Every override argument defaults to '' = "keep the value from params_file", so editing the YAML is
never silently undone by a launch default. The shipped params file leaves ``face_detector: ""`` and
``image_size: 0``, meaning "as the model's metadata.json records" (``avemotion download`` writes
224 px + mtcnn for OpenDR's RAVDESS model); set them only to deliberately deviate.
``launch`` / ``launch_ros`` are imported only inside ``generate_launch_description`` so this file
(and ``overrides``) can be imported and checked where those packages are not installed (they are not on PyPI).
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

from avemotion_core.node_config import NodeConfig

OVERRIDABLE = (
    "image_topic", "compressed_image_topic", "audio_topic", "audio_flavour", "output_topic", "device",
    "model_path", "fusion", "labels", "window_seconds", "hop_seconds", "face_detector", "image_size",
    "min_confidence", "debug_image", "qos",
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


def generate_launch_description():
    from launch.actions import DeclareLaunchArgument, OpaqueFunction
    from launch.substitutions import LaunchConfiguration
    from launch_ros.actions import Node

    from launch import LaunchDescription

    def node_action(context, *args, **kwargs):
        values = {name: LaunchConfiguration(name).perform(context) for name in OVERRIDABLE}
        params_file = LaunchConfiguration("params_file").perform(context)
        return [Node(package="avemotion_ros", executable="emotion_node", name="emotion_node", output="screen",
                     parameters=[params_file, overrides(values)])]

    arguments = [DeclareLaunchArgument("params_file", default_value=default_params_file(),
                                       description="YAML with emotion_node parameters")]
    arguments += [
        DeclareLaunchArgument(name, default_value="", description=f"override {name} ('' = from params_file)")
        for name in OVERRIDABLE
    ]
    return LaunchDescription([*arguments, OpaqueFunction(function=node_action)])
