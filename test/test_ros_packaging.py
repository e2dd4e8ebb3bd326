"""Launch file, parameter file and package manifest: checked without a ROS install.

``launch`` / ``launch_ros`` are not on PyPI, so the launch description itself is only built where
they are installed (a real ROS 2 system); everywhere the launch file is imported and its override
logic, which is plain Python, is exercised.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml

from avemotion_core.stream.node_config import ConfigError, NodeConfig

ROOT = Path(__file__).resolve().parents[1]


def load_launch_module():
    spec = importlib.util.spec_from_file_location("emotion_launch", ROOT / "launch" / "emotion.launch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_params_file_matches_node_defaults():
    doc = yaml.safe_load((ROOT / "config" / "emotion.yaml").read_text())
    assert doc["/**/emotion_node"]["ros__parameters"] == NodeConfig.defaults()


def test_node_config_rejects_bad_values():
    for bad in (
        dict(audio_flavour="mp3"),
        dict(hop_seconds=0.0),
        dict(image_size=8),
        dict(min_confidence=2.0),
        dict(raw_audio_format="int24"),
        dict(no_such_param=1),
        dict(image_topic="", audio_topic=""),
    ):
        with pytest.raises(ConfigError):
            NodeConfig.from_values(bad)


def test_launch_overrides_are_typed_and_validated():
    launch = load_launch_module()
    got = launch.overrides(
        {
            "hop_seconds": "0.25",
            "debug_image": "True",
            "image_size": "112",
            "model_path": "",
            "audio_flavour": "raw",
        }
    )
    assert got == {"hop_seconds": 0.25, "debug_image": True, "image_size": 112, "audio_flavour": "raw"}
    assert set(launch.OVERRIDABLE) <= set(NodeConfig.defaults())
    assert Path(launch.default_params_file()).is_file()
    # topics: relative names in the node, remapped by the launch file (relative targets by default,
    # so that a namespace moves them); the node's defaults are the remapped names
    assert launch.remappings({}) == [("image", "camera/image_raw"), ("audio", "audio"),
                                     ("emotion", "emotion")]
    assert launch.remappings({"image_topic": "/cam/image", "output_topic": ""})[::2] == [
        ("image", "/cam/image"), ("emotion", "emotion")]
    defaults = NodeConfig.defaults()
    assert [defaults[name] for name in launch.REMAPS] == [topic for topic, _ in launch.REMAPS.values()]
    for bad in ({"hop_seconds": "0.5"}, {"image_topic": "/a b"}):
        with pytest.raises(ValueError):
            launch.remappings(bad)
    for bad in (
        {"hop_seconds": "fast"},
        {"debug_image": "yes"},
        {"audio_flavour": "mp3"},
        {"num_threads": "2"},
    ):
        with pytest.raises(ValueError):
            launch.overrides(bad)


def test_launch_description_builds_where_launch_ros_exists():
    launch = load_launch_module()
    if importlib.util.find_spec("launch_ros") is None:
        with pytest.raises(ImportError):  # the clear failure users get without launch_ros
            launch.generate_launch_description()
        pytest.skip("launch_ros is not installed (not on PyPI): description built only on a ROS 2 system")
    description = launch.generate_launch_description()
    names = {a.name for a in description.entities if hasattr(a, "default_value")}
    assert {"params_file", "namespace", *launch.REMAPS, *launch.OVERRIDABLE} <= names


def test_package_manifest_is_valid_format3():
    from catkin_pkg.package import parse_package

    pkg = parse_package(str(ROOT / "package.xml"))
    assert pkg.name == "avemotion_ros" and pkg.package_format == 3
    deps = {d.name for d in pkg.exec_depends}
    assert {"rclpy", "sensor_msgs", "std_msgs", "vision_msgs", "audio_common_msgs", "diagnostic_msgs"} <= deps
    for interface in ("vision_msgs", "audio_common_msgs", "audio_common_msgs_raw", "hri_msgs"):
        sub = parse_package(str(ROOT / "ros_interfaces" / interface / "package.xml"))
        assert sub.package_format == 3 and "rosidl_interface_packages" in {
            g.name for g in sub.member_of_groups
        }


def test_ament_index_finds_the_launch_file_params_and_node_as_ros2_launch_and_run_do(tmp_path):
    """`make setup` registers avemotion_ros in .build/install (on AMENT_PREFIX_PATH in ros_env.sh).

    Resolved the way the ros2 CLI resolves it: ``ros2 launch PKG FILE`` walks the share directory of
    ``get_package_share_directory`` (not following directory symlinks) for FILE; ``ros2 run PKG EXE``
    runs the executable file ``<get_package_prefix>/lib/PKG/EXE``. The executable must be the node.
    """
    import os
    import subprocess

    from ament_index_python.packages import get_package_prefix, get_package_share_directory

    from avemotion_ros.ros_env import RosEnvMissing, subprocess_env

    try:
        env = subprocess_env("modern")
    except RosEnvMissing as exc:
        pytest.fail(f"{exc}: `make setup` builds it")
    prefixes = env["AMENT_PREFIX_PATH"]
    old = os.environ.get("AMENT_PREFIX_PATH")
    os.environ["AMENT_PREFIX_PATH"] = prefixes
    try:
        share = Path(get_package_share_directory("avemotion_ros"))
        prefix = Path(get_package_prefix("avemotion_ros"))
    finally:
        if old is None:
            os.environ.pop("AMENT_PREFIX_PATH")
        else:
            os.environ["AMENT_PREFIX_PATH"] = old
    found = {name: Path(root) / name for root, _, files in os.walk(share) for name in files}
    assert found["emotion.launch.py"].read_bytes() == (ROOT / "launch" / "emotion.launch.py").read_bytes()
    assert (share / "config" / "emotion.yaml").resolve() == ROOT / "config" / "emotion.yaml"
    assert (share / "package.xml").resolve() == ROOT / "package.xml"
    node = prefix / "lib" / "avemotion_ros" / "emotion_node"
    assert node.is_file() and os.access(node, os.X_OK), node
    proc = subprocess.run([str(node), "--ros-args", "-p", f"model_path:={tmp_path / 'none'}"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "emotion_node: error: cannot load model" in proc.stderr and "Traceback" not in proc.stderr
